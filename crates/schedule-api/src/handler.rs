//! One HTTP request in, one response out. Every error becomes the API's error shape here;
//! nothing reaches API Gateway as a Lambda error.

use adpipe_domain::keys;
use adpipe_domain::{RunId, ScheduleId, TenantId};
use http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use serde::Serialize;
use tracing::Instrument;

use crate::error::{ApiError, ErrorCode};
use crate::insights;
use crate::request;
use crate::routes::{Matched, Operation, match_route};
use crate::service::{Api, Replayable};
use crate::signin;

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
        Operation::PutBudget => ok(api.put_budget(&tenant, id, request::json(body)?).await?),
        Operation::GetBudget => ok(api.budget(&tenant, id).await?),
        Operation::DeleteBudget => no_content(api.delete_budget(&tenant, id).await?),
        Operation::GetPacing => {
            let month = insights::month_param(req)?;
            ok(api.pacing(&tenant, id, month).await?)
        }
        Operation::ListAlerts => {
            let query = insights::AlertQuery::from_request(req)?;
            ok(api.alerts(&tenant, &query).await?)
        }
    }
}

/// `POST /v1/schedules`: the service answers a repeated `Idempotency-Key` with the first
/// result, which goes out as it was stored, marked `Idempotent-Replayed`.
async fn create_schedule(
    api: &Api,
    req: &Request,
    tenant: &TenantId,
    body: &[u8],
) -> Result<Response<Body>, ApiError> {
    let key = request::idempotency_key(req)?;
    match api
        .create_schedule_once(tenant, key.as_deref(), body)
        .await?
    {
        Replayable::Created(view) => created(view),
        Replayable::Replayed(answer) => {
            let status = StatusCode::from_u16(answer.status).map_err(|_| ApiError::internal())?;
            let mut response = with_body(status, answer.body);
            response
                .headers_mut()
                .insert("idempotent-replayed", HeaderValue::from_static("true"));
            Ok(response)
        }
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
