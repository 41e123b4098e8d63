//! Errors of the ports, and the one mapping from any error to the API's error shape
//! `{"error": {"code", "message", "field"?}}`.

use adpipe_domain::FieldError;
use http::StatusCode;
use serde::Serialize;
use thiserror::Error;

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
    pub code: &'static str,
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
    code: &'a str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
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
        Self::new(StatusCode::BAD_REQUEST, "invalid_request", message).with_field(field)
    }

    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("{what} not found"),
        )
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// A tenant's quota is reached: the message names the limit and how to get room.
    pub fn quota_exceeded(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "quota_exceeded", message)
    }

    /// Too many requests of one kind: try again after `seconds`.
    pub fn rate_limited(seconds: u64, message: impl Into<String>) -> Self {
        let mut e = Self::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", message);
        e.retry_after = Some(seconds);
        e
    }

    pub fn too_large(limit: usize) -> Self {
        Self::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {limit} bytes"),
        )
    }

    pub fn unavailable(dependency: &str) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "dependency_unavailable",
            format!("{dependency} did not complete the request; nothing was changed, try again"),
        )
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
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
            StoreError::NotFound => Self::new(StatusCode::NOT_FOUND, "not_found", "not found"),
            StoreError::Conflict(message) => Self::conflict(message),
            StoreError::Unavailable(detail) => DependencyError::new("DynamoDB", detail).into(),
            StoreError::Corrupt(detail) => {
                tracing::error!(%detail, "unreadable control-table item");
                Self::internal()
            }
        }
    }
}
