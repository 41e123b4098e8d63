//! One HTTP request in, one response out. Every error becomes the API's error shape here;
//! nothing reaches API Gateway as a Lambda error.

use adpipe_domain::{RunId, ScheduleId, TenantId};
use adpipe_domain::{hex, keys};
use chrono::{Duration, Utc};
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use crate::error::{ApiError, ErrorCode, StoreError};
use crate::ports::{IdempotencyRecord, StoredResponse};
use crate::request;
use crate::routes::{Matched, Operation, match_route};
use crate::service::Api;
use crate::signin;

/// How long an `Idempotency-Key` answers with its first result.
const IDEMPOTENCY_WINDOW: Duration = Duration::hours(24);

pub async fn handle(api: &Api, req: Request) -> Response<Body> {
    let span = tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), tenant = tracing::field::Empty, status = tracing::field::Empty);
    async {
        let response = route(api, &req)
            .await
            .unwrap_or_else(|e| error_response(&e));
        tracing::Span::current().record("status", response.status().as_u16());
        response
    }
    .instrument(span)
    .await
}

async fn route(api: &Api, req: &Request) -> Result<Response<Body>, ApiError> {
    let tenant = request::tenant(req, &api.config.tenant_claim)?;
    tracing::Span::current().record("tenant", tenant.as_str());
    let (operation, id) = match match_route(req.method(), req.uri().path()) {
        Matched::Found { operation, id } => (operation, id.unwrap_or_default()),
        Matched::NotFound => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                ErrorCode::NotFound,
                "no such route",
            ));
        }
        Matched::MethodNotAllowed(allowed) => {
            let mut response = error_response(&ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                ErrorCode::MethodNotAllowed,
                format!("use {}", allowed.join(", ")),
            ));
            if let Ok(value) = HeaderValue::from_str(&allowed.join(", ")) {
                response.headers_mut().insert(header::ALLOW, value);
            }
            return Ok(response);
        }
    };
    let body = request::body(req)?;
    match operation {
        Operation::CreateConnection => {
            created(api.create_connection(&tenant, request::json(body)?).await?)
        }
        Operation::ListConnections => {
            let page = request::page(req, |k| {
                parses_after::<adpipe_domain::ConnectionId>(k, keys::CONNECTION_PREFIX)
            })?;
            ok(api.connections(&tenant, &page).await?)
        }
        Operation::GetConnection => ok(api.connection(&tenant, id).await?),
        Operation::DeleteConnection => no_content(api.delete_connection(&tenant, id).await?),
        Operation::OAuthAuthorizeUrl => {
            let platform = signin::platform(id)?;
            request::only_query(req, &["redirect_uri", "state"])?;
            let redirect_uri = request::query_param(req, "redirect_uri")?;
            let state = request::query_param(req, "state")?;
            ok(api
                .authorize_url(&tenant, platform, redirect_uri, state)
                .await?)
        }
        Operation::OAuthToken => {
            let platform = signin::platform(id)?;
            created(
                api.connect_with_code(&tenant, platform, request::json(body)?)
                    .await?,
            )
        }
        Operation::CreateSchedule => create_schedule(api, req, &tenant, body).await,
        Operation::ListSchedules => {
            let page = request::page(req, |k| {
                parses_after::<ScheduleId>(k, keys::SCHEDULE_PREFIX)
            })?;
            ok(api.schedules(&tenant, &page).await?)
        }
        Operation::GetSchedule => ok(api.schedule(&tenant, id).await?),
        Operation::UpdateSchedule => ok(api
            .update_schedule(&tenant, id, request::json(body)?)
            .await?),
        Operation::DeleteSchedule => no_content(api.delete_schedule(&tenant, id).await?),
        Operation::RunSchedule => {
            json_response(StatusCode::ACCEPTED, &api.run_schedule(&tenant, id).await?)
        }
        Operation::ListRuns => {
            let page = request::page(req, |k| parses_after::<RunId>(k, keys::RUN_PREFIX))?;
            ok(api.runs(&tenant, id, &page).await?)
        }
    }
}

/// `POST /v1/schedules`, answering a repeated `Idempotency-Key` with its first result.
async fn create_schedule(
    api: &Api,
    req: &Request,
    tenant: &TenantId,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    let Some(key) = request::idempotency_key(req)? else {
        return created(api.create_schedule(tenant, request::json(body)?).await?);
    };
    let record = IdempotencyRecord {
        key_digest: hex(&Sha256::digest(key.as_bytes())),
        request_digest: request_digest(body),
        response: None,
        expires_at: Utc::now() + IDEMPOTENCY_WINDOW,
    };
    if let Some(stored) = api
        .store
        .idempotency_record(tenant, &record.key_digest)
        .await?
    {
        if stored.expires_at > Utc::now() {
            return replay(&stored, &record);
        }
    }
    api.store
        .claim_idempotency_key(tenant, &record)
        .await
        .map_err(|e| match e {
            StoreError::Conflict(_) => in_progress(),
            other => other.into(),
        })?;
    let outcome = match request::json(body) {
        Ok(parsed) => api.create_schedule(tenant, parsed).await,
        Err(e) => Err(e),
    };
    match outcome {
        Ok(view) => {
            let response_body = serde_json::to_string(&view).map_err(|_| ApiError::internal())?;
            let done = IdempotencyRecord {
                response: Some(StoredResponse {
                    status: 201,
                    body: response_body.clone(),
                }),
                ..record
            };
            if let Err(e) = api.store.complete_idempotency_key(tenant, &done).await {
                tracing::error!(error = %e, "schedule created, its Idempotency-Key result not stored");
            }
            Ok(with_body(StatusCode::CREATED, response_body))
        }
        Err(e) => {
            // A refused request made nothing: the client may fix it and reuse the key.
            if let Err(release) = api
                .store
                .release_idempotency_key(tenant, &record.key_digest)
                .await
            {
                tracing::error!(error = %release, "Idempotency-Key not released");
            }
            Err(e)
        }
    }
}

fn replay(
    stored: &IdempotencyRecord,
    request: &IdempotencyRecord,
) -> Result<Response<Body>, ApiError> {
    if stored.request_digest != request.request_digest {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used with another request body",
        )
        .with_field("Idempotency-Key"));
    }
    let Some(answer) = &stored.response else {
        return Err(in_progress());
    };
    let status = StatusCode::from_u16(answer.status).map_err(|_| ApiError::internal())?;
    let mut response = with_body(status, answer.body.clone());
    response
        .headers_mut()
        .insert("idempotent-replayed", HeaderValue::from_static("true"));
    Ok(response)
}

fn in_progress() -> ApiError {
    ApiError::conflict("a request with this Idempotency-Key is still in progress")
        .with_field("Idempotency-Key")
}

/// The body's canonical JSON (object keys sorted at every depth) when it parses, so
/// whitespace and key order don't make a retry look like another request. Sorted by hand:
/// serde_json keeps insertion order when any crate in the build enables `preserve_order`.
fn request_digest(body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_vec(&sorted(v)).ok());
    hex(&Sha256::digest(canonical.as_deref().unwrap_or(body)))
}

fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn parses_after<T: std::str::FromStr>(sort_key: &str, prefix: &str) -> bool {
    sort_key
        .strip_prefix(prefix)
        .is_some_and(|id| id.parse::<T>().is_ok())
}

fn ok<T: Serialize>(value: T) -> Result<Response<Body>, ApiError> {
    json_response(StatusCode::OK, &value)
}

fn created<T: Serialize>(value: T) -> Result<Response<Body>, ApiError> {
    json_response(StatusCode::CREATED, &value)
}

fn no_content(_: ()) -> Result<Response<Body>, ApiError> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = StatusCode::NO_CONTENT;
    Ok(response)
}

fn json_response<T: Serialize>(status: StatusCode, value: &T) -> Result<Response<Body>, ApiError> {
    let body = serde_json::to_string(value).map_err(|_| ApiError::internal())?;
    Ok(with_body(status, body))
}

fn with_body(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::Text(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

pub fn error_response(e: &ApiError) -> Response<Body> {
    if e.status.is_server_error() {
        tracing::warn!(code = e.code.as_str(), message = %e.message, "request failed");
    }
    let mut response = with_body(e.status, e.body());
    if let Some(seconds) = e.retry_after {
        response
            .headers_mut()
            .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
    }
    response
}
