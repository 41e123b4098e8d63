//! Reading a request: the tenant from the verified JWT, JSON bodies with the culprit field
//! named, and page parameters.

use adpipe_domain::TenantId;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use lambda_http::request::RequestContext;
use lambda_http::{Request, RequestExt};
use serde::de::DeserializeOwned;

use crate::error::ApiError;
use crate::ports::PageRequest;

/// Bodies over this size answer 413.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const DEFAULT_PAGE: u16 = 50;
pub const MAX_PAGE: u16 = 100;

/// The tenant named by the `claim` of the JWT that API Gateway verified. Nothing else in
/// the request (body, path, headers) can name a tenant.
pub fn tenant(req: &Request, claim: &str) -> Result<TenantId, ApiError> {
    let value = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx
            .authorizer
            .as_ref()
            .and_then(|a| a.jwt.as_ref())
            .and_then(|jwt| jwt.claims.get(claim))
            .cloned(),
        _ => None,
    };
    let value = value
        .ok_or_else(|| ApiError::unauthorized(format!("the token carries no `{claim}` claim")))?;
    value.parse().map_err(|_| {
        ApiError::unauthorized(format!(
            "the token's `{claim}` claim is not a valid tenant id"
        ))
    })
}

pub fn body(req: &Request) -> Result<&[u8], ApiError> {
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > MAX_BODY_BYTES {
        return Err(ApiError::too_large(MAX_BODY_BYTES));
    }
    Ok(bytes)
}

/// Parses a JSON body into `T`: a syntax error is a malformed request, a data error names
/// the field at fault.
pub fn json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::malformed("a JSON request body is required"));
    }
    let value: serde_json::Value = serde_json::from_slice(bytes)
        .map_err(|e| ApiError::malformed(format!("request body is not valid JSON: {e}")))?;
    serde_path_to_error::deserialize(value).map_err(path_error)
}

fn path_error(err: serde_path_to_error::Error<serde_json::Error>) -> ApiError {
    let path = err.path().to_string();
    let message = err.into_inner().to_string();
    // The path already ends at an unknown field; a missing one is named only in the message.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let field = match missing {
        Some(name) => join(&path, name),
        None if path == "." => "body".to_owned(),
        None => path,
    };
    ApiError::invalid(field, message)
}

fn join(path: &str, name: &str) -> String {
    if path == "." {
        name.to_owned()
    } else {
        format!("{path}.{name}")
    }
}

/// `limit` and `next_token` of a list call. `valid_key` checks a decoded token's sort key
/// belongs to the list being paged.
pub fn page(req: &Request, valid_key: impl Fn(&str) -> bool) -> Result<PageRequest, ApiError> {
    only_query(req, &["limit", "next_token"])?;
    page_params(req, valid_key)
}

/// [`page`] for a list that also takes other query parameters (the caller checks that no
/// unknown one is given, with [`only_query`]).
pub fn page_params(
    req: &Request,
    valid_key: impl Fn(&str) -> bool,
) -> Result<PageRequest, ApiError> {
    let query = req.query_string_parameters_ref();
    let limit = match query.and_then(|q| q.first("limit")) {
        None => DEFAULT_PAGE,
        Some(raw) => raw
            .parse::<u16>()
            .ok()
            .filter(|n| (1..=MAX_PAGE).contains(n))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!("limit must be a whole number from 1 to {MAX_PAGE}"),
                )
            })?,
    };
    let after = match query.and_then(|q| q.first("next_token")) {
        None => None,
        Some(token) => Some(
            decode_token(token)
                .filter(|k| valid_key(k))
                .ok_or_else(|| {
                    ApiError::invalid("next_token", "next_token is not one this list returned")
                })?,
        ),
    };
    Ok(PageRequest { limit, after })
}

/// Refuses query parameters other than `allowed`.
pub fn only_query(req: &Request, allowed: &[&str]) -> Result<(), ApiError> {
    let Some(query) = req.query_string_parameters_ref() else {
        return Ok(());
    };
    match query.iter().find(|(name, _)| !allowed.contains(name)) {
        Some((name, _)) => Err(ApiError::invalid(
            name,
            format!("unknown query parameter `{name}`; use {}", listing(allowed)),
        )),
        None => Ok(()),
    }
}

/// `a`, `a and b`, `a, b and c`.
fn listing(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, [])) => (*last).to_owned(),
        Some((last, rest)) => format!("{} and {last}", rest.join(", ")),
        None => String::new(),
    }
}

/// The one value of query parameter `name`, if given; given twice is refused.
pub fn query_param<'r>(req: &'r Request, name: &str) -> Result<Option<&'r str>, ApiError> {
    let values = req
        .query_string_parameters_ref()
        .and_then(|q| q.all(name))
        .unwrap_or_default();
    match values.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one)),
        _ => Err(ApiError::invalid(name, format!("give `{name}` once"))),
    }
}

/// Page tokens are opaque to clients; the tenant always comes from the JWT, so a token
/// cannot reach another tenant's items.
pub fn encode_token(sort_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(sort_key)
}

fn decode_token(token: &str) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(token).ok()?;
    String::from_utf8(bytes).ok()
}

pub fn idempotency_key(req: &Request) -> Result<Option<String>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    let key = value.to_str().ok().filter(|k| {
        !k.is_empty() && k.len() <= 255 && k.bytes().all(|b| (0x21..0x7f).contains(&b))
    });
    key.map(|k| Some(k.to_owned())).ok_or_else(|| {
        ApiError::invalid(
            "Idempotency-Key",
            "Idempotency-Key must be 1-255 visible ASCII characters",
        )
    })
}
