//! One fetch's conversation with `GET {base}/reports`: every call carries the connection's
//! access token as `Authorization: Bearer`, is retried within a budget and never past the
//! deadline, and is described in errors and logs by its parameters only (the token travels
//! in the header, never in the URL, an error or a log line).

use std::time::Duration;

use chrono::{DateTime, Utc};
use reqwest::StatusCode;

use super::YouTubeConnector;
use super::wire::{ErrorBody, GoogleError};
use crate::connectors::google_oauth::AccessToken;
use crate::connectors::retry::{sleep_before, time_left};
use crate::connectors::{BodyError, REQUEST_TIMEOUT, read_answer, transport_kind};
use crate::ports::{ConnectorError, Job};

/// Why a call did not answer.
#[derive(Debug)]
pub(super) enum CallError {
    /// 403 `forbidden` / `insufficientPermissions`: the caller decides whether asking for
    /// less (no monetary metrics) may help before it becomes [`ConnectorError::Auth`].
    Forbidden(String),
    /// 400 and other refusals of the request itself: [`ConnectorError::Permanent`] unless
    /// the caller knows better (a page past the last one YouTube lists).
    Refused(String),
    Failed(ConnectorError),
}

impl From<ConnectorError> for CallError {
    fn from(e: ConnectorError) -> Self {
        CallError::Failed(e)
    }
}

/// What a failed answer calls for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verdict {
    /// 401: the access token was refused; a fresh one may be accepted.
    Unauthorized,
    /// 403 other than quota or rate: the token's user may not read the channel (or the
    /// metrics asked for).
    Forbidden,
    /// The project's daily quota is spent: nothing will pass before Google resets it at
    /// midnight Pacific time, so no retry within the invocation.
    QuotaExhausted,
    /// 429, `rateLimitExceeded`, `userRateLimitExceeded`: back off and retry.
    Throttled,
    /// 5xx, timeouts, broken connections: back off and retry.
    Transient,
    /// 400 and anything else: the same request will fail the same way.
    Permanent,
}

/// How Google answered a failed call.
pub(super) fn classify(status: StatusCode, error: Option<&GoogleError>) -> Verdict {
    let has = |reason: &str| error.is_some_and(|e| e.has_reason(reason));
    let message = error.map(|e| e.message.as_str()).unwrap_or("");
    // A per-day limit reported as a rate limit ("Quota exceeded for quota metric 'Queries'
    // and limit 'Queries per day'") is exhausted all the same.
    let per_day = message.contains("per day");
    if has("quotaExceeded")
        || has("dailyLimitExceeded")
        || (per_day && message.contains("Quota exceeded"))
    {
        return Verdict::QuotaExhausted;
    }
    if has("rateLimitExceeded")
        || has("userRateLimitExceeded")
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        return Verdict::Throttled;
    }
    match status {
        StatusCode::UNAUTHORIZED => Verdict::Unauthorized,
        StatusCode::FORBIDDEN => Verdict::Forbidden,
        StatusCode::REQUEST_TIMEOUT => Verdict::Transient,
        s if s.is_server_error() => Verdict::Transient,
        _ => Verdict::Permanent,
    }
}

/// Google's error as the run record shows it: its message, then the HTTP status, Google's
/// status and the reason.
pub(super) fn describe(status: StatusCode, error: Option<&GoogleError>) -> String {
    let Some(e) = error else {
        return format!(
            "HTTP {} without a Google error in the body",
            status.as_u16()
        );
    };
    let mut facts = vec![format!("HTTP {}", status.as_u16())];
    facts.extend(e.status.iter().filter(|s| !s.is_empty()).cloned());
    facts.extend(e.reason().map(|r| format!("reason {r}")));
    let facts = facts.join(", ");
    if e.message.is_empty() {
        facts
    } else {
        format!("{} ({facts})", e.message)
    }
}

/// The calls of one fetch, sharing its access token.
pub(super) struct Session<'a> {
    conn: &'a YouTubeConnector,
    job: &'a Job,
    token: AccessToken,
    deadline: DateTime<Utc>,
}

impl<'a> Session<'a> {
    pub(super) async fn start(
        conn: &'a YouTubeConnector,
        job: &'a Job,
    ) -> Result<Session<'a>, ConnectorError> {
        let token = conn.oauth.access_token(job).await?;
        Ok(Self {
            conn,
            job,
            token,
            deadline: job.deadline,
        })
    }

    pub(super) fn token(&self) -> &AccessToken {
        &self.token
    }

    /// `GET {base}/reports?{params}`: the body of a 2xx answer. A 401 drops the cached
    /// token and tries once more with a fresh one; throttling and passing faults are
    /// retried with backoff; quota exhaustion fails at once, retryable by a later run.
    pub(super) async fn reports(
        &mut self,
        params: &[(&str, String)],
    ) -> Result<Vec<u8>, CallError> {
        let backoff = self.conn.backoff;
        let attempts = backoff.max_attempts.max(1);
        let what = describe_query(params);
        let mut refreshed = false;
        let mut attempt = 0;
        let mut last = String::new();
        while attempt < attempts {
            let (verdict, detail, retry_after) = match self.try_once(params).await? {
                Answer::Body(body) => return Ok(body),
                Answer::Failed {
                    verdict,
                    detail,
                    retry_after,
                } => (verdict, detail, retry_after),
            };
            let message = format!("youtube analytics reports ({what}): {detail}");
            match verdict {
                Verdict::Unauthorized if !refreshed => {
                    tracing::info!(error = %message, "youtube: access token refused; refreshing it once");
                    self.conn.oauth.forget(self.job);
                    self.token = self.conn.oauth.access_token(self.job).await?;
                    refreshed = true;
                }
                Verdict::Unauthorized => {
                    return Err(ConnectorError::Auth(format!(
                        "{message}; a freshly refreshed access token was refused too: connect the channel again"
                    ))
                    .into());
                }
                Verdict::Forbidden => return Err(CallError::Forbidden(message)),
                Verdict::QuotaExhausted => {
                    return Err(ConnectorError::Retryable(format!(
                        "{message}; the project's daily YouTube Analytics quota is spent: a run after Google resets it (midnight Pacific time) will go on"
                    ))
                    .into());
                }
                Verdict::Permanent => return Err(CallError::Refused(message)),
                Verdict::Throttled | Verdict::Transient => {
                    tracing::warn!(attempt, ?verdict, error = %message, "youtube call failed; retrying");
                    last = message;
                    attempt += 1;
                    if attempt < attempts {
                        let wait = backoff.retry_delay(attempt - 1).max(retry_after);
                        sleep_before(self.deadline, wait, "youtube").await?;
                    }
                }
            }
        }
        Err(ConnectorError::Retryable(format!("{last} (gave up after {attempts} attempts)")).into())
    }

    async fn try_once(&self, params: &[(&str, String)]) -> Result<Answer, ConnectorError> {
        let timeout = time_left(self.deadline, REQUEST_TIMEOUT)?;
        let response = self
            .conn
            .client
            .get(format!("{}/reports", self.conn.base))
            .query(params)
            .bearer_auth(&self.token.value)
            .timeout(timeout)
            .send()
            .await;
        let response = match response {
            Ok(r) => r,
            Err(e) => return Ok(Answer::transport(&e)),
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = match read_answer(response).await {
            Ok(body) => body,
            Err(BodyError::Transport(e)) => return Ok(Answer::transport(&e)),
            Err(e) => {
                return Ok(Answer::Failed {
                    verdict: Verdict::Permanent,
                    detail: e.describe(),
                    retry_after: Duration::ZERO,
                });
            }
        };
        tracing::debug!(
            status = status.as_u16(),
            bytes = body.len(),
            "youtube reports call"
        );
        if status.is_success() {
            return Ok(Answer::Body(body));
        }
        let error = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error);
        Ok(Answer::Failed {
            verdict: classify(status, error.as_ref()),
            detail: describe(status, error.as_ref()),
            retry_after,
        })
    }
}

enum Answer {
    Body(Vec<u8>),
    Failed {
        verdict: Verdict,
        detail: String,
        retry_after: Duration,
    },
}

impl Answer {
    /// A transport failure, without its URL or source chain (neither holds the token, but
    /// the kind of failure is what the run record needs).
    fn transport(e: &reqwest::Error) -> Self {
        Answer::Failed {
            verdict: Verdict::Transient,
            detail: transport_kind(e).to_owned(),
            retry_after: Duration::ZERO,
        }
    }
}

/// `Retry-After` in seconds, when Google sends it.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Duration {
    headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map(Duration::from_secs)
        .unwrap_or(Duration::ZERO)
}

/// The request as errors name it: its dates, dimensions and page.
fn describe_query(params: &[(&str, String)]) -> String {
    params
        .iter()
        .filter(|(k, _)| matches!(*k, "startDate" | "endDate" | "dimensions" | "startIndex"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::youtube::wire::ErrorDetail;

    fn error(code: u16, reason: &str, message: &str) -> GoogleError {
        GoogleError {
            code: Some(code),
            message: message.into(),
            errors: vec![ErrorDetail {
                message: message.into(),
                domain: "usageLimits".into(),
                reason: reason.into(),
            }],
            status: None,
        }
    }

    #[test]
    fn refusals_are_classified_by_reason_before_status() {
        let forbidden = StatusCode::FORBIDDEN;
        assert_eq!(
            classify(
                forbidden,
                Some(&error(
                    403,
                    "quotaExceeded",
                    "The request cannot be completed because you have exceeded your quota."
                ))
            ),
            Verdict::QuotaExhausted
        );
        assert_eq!(
            classify(
                forbidden,
                Some(&error(403, "userRateLimitExceeded", "slow down"))
            ),
            Verdict::Throttled
        );
        assert_eq!(
            classify(
                StatusCode::TOO_MANY_REQUESTS,
                Some(&error(
                    429,
                    "rateLimitExceeded",
                    "Quota exceeded for quota metric 'Queries' and limit 'Queries per day' of service"
                ))
            ),
            Verdict::QuotaExhausted
        );
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, None),
            Verdict::Throttled
        );
        assert_eq!(
            classify(forbidden, Some(&error(403, "forbidden", "Forbidden"))),
            Verdict::Forbidden
        );
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, None),
            Verdict::Unauthorized
        );
        assert_eq!(
            classify(StatusCode::SERVICE_UNAVAILABLE, None),
            Verdict::Transient
        );
        assert_eq!(
            classify(
                StatusCode::BAD_REQUEST,
                Some(&error(400, "badRequest", "The query is not supported."))
            ),
            Verdict::Permanent
        );
    }

    #[test]
    fn errors_are_described_by_googles_message_status_and_reason() {
        let mut e = error(400, "badRequest", "The query is not supported.");
        e.status = Some("INVALID_ARGUMENT".into());
        assert_eq!(
            describe(StatusCode::BAD_REQUEST, Some(&e)),
            "The query is not supported. (HTTP 400, INVALID_ARGUMENT, reason badRequest)"
        );
        assert_eq!(
            describe(StatusCode::BAD_GATEWAY, None),
            "HTTP 502 without a Google error in the body"
        );
    }
}
