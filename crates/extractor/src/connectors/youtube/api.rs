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
use crate::connectors::retry::{Attempt, Failure, Retry, Stop, Verdict, time_left};
use crate::connectors::{BodyError, REQUEST_TIMEOUT, read_answer, transport_error};
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

/// Which refusal a [`Verdict::Permanent`] YouTube answer was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Refusal {
    /// 403 other than quota or rate: the token's user may not read the channel (or the
    /// metrics asked for).
    Forbidden,
    /// The project's daily quota is spent: nothing will pass before Google resets it at
    /// midnight Pacific time, so no retry within the invocation.
    QuotaSpent,
    /// 400 and anything else: the same request will fail the same way.
    Request,
}

/// 429, `rateLimitExceeded`, `userRateLimitExceeded`, 5xx, timeouts, broken connections:
/// back off (at least the `Retry-After` the session adds) and retry.
const RETRY: Verdict<Refusal> = Verdict::RetryAfter(Duration::ZERO);

/// How Google answered a failed call; a 401 (the access token refused) is refreshed once.
pub(super) fn classify(status: StatusCode, error: Option<&GoogleError>) -> Verdict<Refusal> {
    let has = |reason: &str| error.is_some_and(|e| e.has_reason(reason));
    let message = error.map(|e| e.message.as_str()).unwrap_or("");
    // A per-day limit reported as a rate limit ("Quota exceeded for quota metric 'Queries'
    // and limit 'Queries per day'") is exhausted all the same.
    let per_day = message.contains("per day");
    if has("quotaExceeded")
        || has("dailyLimitExceeded")
        || (per_day && message.contains("Quota exceeded"))
    {
        return Verdict::Permanent(Refusal::QuotaSpent);
    }
    if has("rateLimitExceeded")
        || has("userRateLimitExceeded")
        || status == StatusCode::TOO_MANY_REQUESTS
    {
        return RETRY;
    }
    match status {
        StatusCode::UNAUTHORIZED => Verdict::RefreshOnce,
        StatusCode::FORBIDDEN => Verdict::Permanent(Refusal::Forbidden),
        StatusCode::REQUEST_TIMEOUT => RETRY,
        s if s.is_server_error() => RETRY,
        _ => Verdict::Permanent(Refusal::Request),
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
        let retry = Retry {
            platform: "youtube",
            backoff: self.conn.backoff,
            deadline: self.deadline,
        };
        let what = describe_query(params);
        let mut call = ReportsCall {
            session: self,
            params,
            what,
        };
        retry.run(&mut call).await.map_err(|stop| match stop {
            Stop::Permanent(Refusal::Forbidden, message) => CallError::Forbidden(message),
            Stop::Permanent(Refusal::Request, message) => CallError::Refused(message),
            Stop::Permanent(Refusal::QuotaSpent, message) => ConnectorError::Retryable(format!(
                "{message}; the project's daily YouTube Analytics quota is spent: a run after Google resets it (midnight Pacific time) will go on"
            ))
            .into(),
            Stop::Failed(e) => e.into(),
        })
    }

    async fn try_once(
        &self,
        params: &[(&str, String)],
    ) -> Result<Result<Vec<u8>, Failure<Refusal>>, ConnectorError> {
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
            Err(e) => return Ok(Err(Failure::transient(transport_error(&e)))),
        };
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = match read_answer(response).await {
            Ok(body) => body,
            Err(e @ BodyError::Transport(_)) => return Ok(Err(Failure::transient(e.describe()))),
            Err(e) => {
                return Ok(Err(Failure::new(
                    Verdict::Permanent(Refusal::Request),
                    e.describe(),
                )));
            }
        };
        tracing::debug!(
            status = status.as_u16(),
            bytes = body.len(),
            "youtube reports call"
        );
        if status.is_success() {
            return Ok(Ok(body));
        }
        let error = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error);
        let verdict = match classify(status, error.as_ref()) {
            Verdict::RetryAfter(_) => Verdict::RetryAfter(retry_after),
            verdict => verdict,
        };
        Ok(Err(Failure::new(verdict, describe(status, error.as_ref()))))
    }
}

/// One `reports` call as [`Retry::run`] repeats it.
struct ReportsCall<'s, 'a> {
    session: &'s mut Session<'a>,
    params: &'s [(&'s str, String)],
    /// The request as errors name it.
    what: String,
}

impl Attempt for ReportsCall<'_, '_> {
    type Output = Vec<u8>;
    type Refusal = Refusal;

    async fn once(&mut self) -> Result<Result<Vec<u8>, Failure<Refusal>>, ConnectorError> {
        let answer = self.session.try_once(self.params).await?;
        Ok(answer.map_err(|failure| Failure {
            message: format!(
                "youtube analytics reports ({}): {}",
                self.what, failure.message
            ),
            ..failure
        }))
    }

    /// Drops the refused token and gets a fresh one for the next try (and the rest of
    /// the fetch).
    async fn refresh(&mut self) -> Result<(), ConnectorError> {
        let Session { conn, job, .. } = *self.session;
        conn.oauth.forget(job);
        self.session.token = conn.oauth.access_token(job).await?;
        Ok(())
    }

    fn secrets(&self) -> Vec<&str> {
        vec![self.session.token.value.as_str()]
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
            Verdict::Permanent(Refusal::QuotaSpent)
        );
        assert_eq!(
            classify(
                forbidden,
                Some(&error(403, "userRateLimitExceeded", "slow down"))
            ),
            RETRY
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
            Verdict::Permanent(Refusal::QuotaSpent)
        );
        assert_eq!(classify(StatusCode::TOO_MANY_REQUESTS, None), RETRY);
        assert_eq!(
            classify(forbidden, Some(&error(403, "forbidden", "Forbidden"))),
            Verdict::Permanent(Refusal::Forbidden)
        );
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, None),
            Verdict::RefreshOnce
        );
        assert_eq!(classify(StatusCode::SERVICE_UNAVAILABLE, None), RETRY);
        assert_eq!(
            classify(
                StatusCode::BAD_REQUEST,
                Some(&error(400, "badRequest", "The query is not supported."))
            ),
            Verdict::Permanent(Refusal::Request)
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
