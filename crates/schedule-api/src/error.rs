//! Errors of the ports, the codes the API answers with, and the one mapping from any
//! error to the API's error shape `{"error": {"code", "message", "field"?}}`.

use std::fmt;

use adpipe_domain::FieldError;
use http::StatusCode;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use thiserror::Error;

/// Declares [`ErrorCode`] from `Variant = "wire string"` pairs, so its variants, their
/// strings and [`ErrorCode::ALL`] cannot drift apart.
macro_rules! error_codes {
    ($($(#[$doc:meta])* $variant:ident = $code:literal,)+) => {
        /// The `error.code` of an answer: one variant per code the API can answer, the
        /// enum of openapi.yaml's `Error` schema (tests/tests/openapi.rs compares the two).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum ErrorCode {
            $($(#[$doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in the order openapi.yaml lists them.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as the wire carries it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $code,)+
                }
            }
        }
    };
}

error_codes! {
    /// 400: a field, query parameter or header is invalid.
    InvalidRequest = "invalid_request",
    /// 400: the body is missing or not JSON.
    MalformedRequest = "malformed_request",
    /// 401: no valid tenant claim.
    Unauthorized = "unauthorized",
    /// 404: no such object or route.
    NotFound = "not_found",
    /// 405: the path does not take this method.
    MethodNotAllowed = "method_not_allowed",
    /// 409: in use, changed meanwhile, or an `Idempotency-Key` still in progress.
    Conflict = "conflict",
    /// 409: the `Idempotency-Key` was used with another body.
    IdempotencyKeyReused = "idempotency_key_reused",
    /// 409: a per-tenant quota is reached.
    QuotaExceeded = "quota_exceeded",
    /// 409: run-now while a run of the schedule is active or queued.
    RunInProgress = "run_in_progress",
    /// 413: the body is over the limit.
    PayloadTooLarge = "payload_too_large",
    /// 429: too many requests of one kind; `Retry-After` says when to try again.
    RateLimited = "rate_limited",
    /// 400: the OAuth `state` names no sign-in this tenant started, or another redirect URI.
    InvalidState = "invalid_state",
    /// 400: the platform refused the OAuth authorization code.
    InvalidCode = "invalid_code",
    /// 400: the platform refused the OAuth `redirect_uri`.
    RedirectUriMismatch = "redirect_uri_mismatch",
    /// 400: Google issued no refresh token.
    ConsentRequired = "consent_required",
    /// 400: the sign-in did not grant a scope the connection needs.
    InsufficientScope = "insufficient_scope",
    /// 500: unexpected failure.
    Internal = "internal",
    /// 503: an AWS dependency or a platform's OAuth endpoint failed.
    DependencyUnavailable = "dependency_unavailable",
    /// 503: the platform app credentials are missing or refused.
    OauthNotConfigured = "oauth_not_configured",
    /// 403, local mode only: the `Host` is not loopback (DNS rebinding).
    ForbiddenHost = "forbidden_host",
    /// 403, local mode only: a browser request from another origin.
    CrossOrigin = "cross_origin",
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<str>::deserialize(deserializer)?;
        ErrorCode::ALL
            .iter()
            .copied()
            .find(|code| code.as_str() == text)
            .ok_or_else(|| serde::de::Error::custom(format!("unknown error code `{text}`")))
    }
}

/// A failure of the control table.
#[derive(Debug, Error)]
pub enum StoreError {
    #[error("not found")]
    NotFound,
    /// A condition on the write failed: the item exists, changed, or is still in use.
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("DynamoDB: {0}")]
    Unavailable(String),
    #[error("a stored item could not be read: {0}")]
    Corrupt(String),
}

impl From<adpipe_dynamodb::Failure> for StoreError {
    fn from(f: adpipe_dynamodb::Failure) -> Self {
        match f {
            adpipe_dynamodb::Failure::Unavailable(detail) => Self::Unavailable(detail),
            adpipe_dynamodb::Failure::Corrupt(detail) => Self::Corrupt(detail),
        }
    }
}

/// A failure of EventBridge, Secrets Manager or Lambda: named for the answer the client gets.
#[derive(Debug, Error)]
#[error("{dependency}: {detail}")]
pub struct DependencyError {
    pub dependency: &'static str,
    /// For the log only: may name AWS resources, never secrets.
    pub detail: String,
}

impl DependencyError {
    pub fn new(dependency: &'static str, detail: impl Into<String>) -> Self {
        Self {
            dependency,
            detail: detail.into(),
        }
    }
}

/// An error answer. Its message is safe to show: no stack trace, no secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: ErrorCode,
    pub message: String,
    pub field: Option<String>,
    /// Seconds for the `Retry-After` header of a 429.
    pub retry_after: Option<u64>,
}

#[derive(Serialize)]
struct Envelope<'a> {
    error: Body<'a>,
}

#[derive(Serialize)]
struct Body<'a> {
    code: ErrorCode,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            field: None,
            retry_after: None,
        }
    }

    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidRequest, message).with_field(field)
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::MalformedRequest,
            message,
        )
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            format!("{what} not found"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::Conflict, message)
    }

    /// A tenant's quota is reached: the message names the limit and how to get room.
    pub fn quota_exceeded(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, ErrorCode::QuotaExceeded, message)
    }

    /// Too many requests of one kind: try again after `seconds`.
    pub fn rate_limited(seconds: u64, message: impl Into<String>) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            message,
        );
        e.retry_after = Some(seconds);
        e
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    pub fn unavailable(dependency: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::DependencyUnavailable,
            format!("{dependency} did not complete the request; nothing was changed, try again"),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error",
        )
    }

    /// The same answer for a request that spent an OAuth authorization code: a retry
    /// cannot reuse it, so a 5xx tells the client to start the sign-in again.
    pub fn after_spent_code(mut self) -> Self {
        if self.status.is_server_error() {
            let cause = self.message.split(';').next().unwrap_or_default();
            self.message = format!(
                "{cause}; nothing was created. The authorization code is used up: start the sign-in again."
            );
        }
        self
    }

    pub fn body(&self) -> String {
        let envelope = Envelope {
            error: Body {
                code: self.code,
                message: &self.message,
                field: self.field.as_deref(),
            },
        };
        serde_json::to_string(&envelope).unwrap_or_else(|_| {
            String::from(r#"{"error":{"code":"internal","message":"internal error"}}"#)
        })
    }
}

impl From<FieldError> for ApiError {
    fn from(e: FieldError) -> Self {
        Self::invalid(e.field, e.message)
    }
}

impl From<DependencyError> for ApiError {
    fn from(e: DependencyError) -> Self {
        tracing::error!(dependency = e.dependency, detail = %e.detail, "dependency failed");
        Self::unavailable(e.dependency)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound => {
                Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, "not found")
            }
            StoreError::Conflict(message) => Self::conflict(message),
            StoreError::Unavailable(detail) => DependencyError::new("DynamoDB", detail).into(),
            StoreError::Corrupt(detail) => {
                tracing::error!(%detail, "unreadable control-table item");
                Self::internal()
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_code_is_its_wire_string_in_json_and_back() {
        for &code in ErrorCode::ALL {
            let json = serde_json::to_value(code).unwrap();
            assert_eq!(json, serde_json::Value::from(code.as_str()), "{code:?}");
            assert_eq!(serde_json::from_value::<ErrorCode>(json).unwrap(), code);
        }
        assert!(serde_json::from_str::<ErrorCode>(r#""no_such_code""#).is_err());
    }

    #[test]
    fn the_body_names_the_code_as_a_string() {
        assert_eq!(
            ApiError::invalid("name", "too long").body(),
            r#"{"error":{"code":"invalid_request","message":"too long","field":"name"}}"#
        );
    }
}
