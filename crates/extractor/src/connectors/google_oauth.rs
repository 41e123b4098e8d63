//! Google OAuth 2.0 access tokens for the Google Ads and YouTube connectors: a connection
//! holds a refresh token; each call needs a short-lived access token, obtained by a form
//! POST to `GOOGLE_OAUTH_TOKEN_URL` with the app's client id and secret
//! (`grant_type=refresh_token`) and reused until shortly before it expires.
//!
//! - `invalid_grant` (revoked, expired, or issued to another client) is
//!   [`ConnectorError::Auth`]: the connection needs a new sign-in, never a retry.
//! - `invalid_client` / `unauthorized_client` mean the app credentials are wrong: a
//!   [`ConnectorError::Permanent`] naming the secret's fields, not their values.
//! - 429, 5xx and timeouts are retried with backoff within the deadline.
//!
//! Neither the refresh token, the client secret nor an access token appears in an error or
//! a log line; [`AccessToken`]'s `Debug` is redacted.
//!
//! A token's lifetime is counted from when its request was sent, not from when the answer
//! arrived, so a slow token endpoint never stretches it; expired entries leave the cache
//! whenever a new token enters it, so a warm process serving many connections does not
//! keep every token it ever had.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::StatusCode;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::connectors::retry::{Attempt, Backoff, Failure, Retry, Verdict, time_left};
use crate::connectors::{read_answer, transport_error};
use crate::ports::{ConnectorError, Job};

/// An access token is reused until this long before Google says it expires.
pub const EXPIRY_MARGIN: Duration = Duration::from_secs(300);
/// One exchange with the token endpoint.
pub const TOKEN_REQUEST_TIMEOUT: Duration = Duration::from_secs(20);

/// A short-lived access token and the scopes it carries.
#[derive(Clone)]
pub struct AccessToken {
    pub value: String,
    /// Space-separated scopes Google granted, when it said (it does on every refresh).
    pub scope: Option<String>,
}

impl AccessToken {
    /// Whether the token carries `scope` (a full scope URL).
    pub fn has_scope(&self, scope: &str) -> bool {
        self.scope
            .as_deref()
            .is_some_and(|s| s.split_whitespace().any(|granted| granted == scope))
    }
}

impl std::fmt::Debug for AccessToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AccessToken(<redacted>)")
    }
}

struct Cached {
    token: AccessToken,
    /// When to stop using it: expiry minus the margin.
    fresh_until: Instant,
}

/// Access tokens from refresh tokens, cached per (client id, refresh token) for the life of
/// the process: a warm Lambda reuses them across invocations until they near expiry.
pub struct GoogleOAuth {
    client: reqwest::Client,
    token_url: String,
    backoff: Backoff,
    expiry_margin: Duration,
    /// Keyed by a SHA-256 of client id and refresh token: the map holds no refresh token.
    cache: Mutex<HashMap<[u8; 32], Cached>>,
}

/// Google's token endpoint answer (RFC 6749 §5.1 / §5.2).
#[derive(Deserialize)]
struct TokenAnswer {
    access_token: Option<String>,
    expires_in: Option<u64>,
    scope: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

impl GoogleOAuth {
    /// `token_url` is `GOOGLE_OAUTH_TOKEN_URL`.
    pub fn new(client: reqwest::Client, token_url: impl Into<String>) -> Self {
        Self {
            client,
            token_url: token_url.into(),
            backoff: Backoff::default(),
            expiry_margin: EXPIRY_MARGIN,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// How long before its expiry a token stops being reused ([`EXPIRY_MARGIN`] unless
    /// set); tests shrink it to see a token expire.
    pub fn with_expiry_margin(mut self, margin: Duration) -> Self {
        self.expiry_margin = margin;
        self
    }

    /// Retry waits; tests shrink them to milliseconds.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// A valid access token for the job's connection: the cached one while it is fresh,
    /// else a new one from the refresh token.
    pub async fn access_token(&self, job: &Job) -> Result<AccessToken, ConnectorError> {
        let (client_id, client_secret) = app(job)?;
        let key = cache_key(client_id, &job.credentials.token);
        if let Some(token) = self.cached(&key) {
            return Ok(token);
        }
        let (token, lifetime, requested_at) = self
            .refresh(
                client_id,
                client_secret,
                &job.credentials.token,
                job.deadline,
            )
            .await?;
        let fresh_until = requested_at + lifetime.saturating_sub(self.expiry_margin);
        let mut cache = self.lock();
        let now = Instant::now();
        cache.retain(|_, c| c.fresh_until > now);
        cache.insert(
            key,
            Cached {
                token: token.clone(),
                fresh_until,
            },
        );
        Ok(token)
    }

    /// Drops the job's cached token: the platform refused it (`UNAUTHENTICATED`, 401), so
    /// the next [`access_token`](Self::access_token) asks Google for a new one.
    pub fn forget(&self, job: &Job) {
        if let Ok((client_id, _)) = app(job) {
            self.lock()
                .remove(&cache_key(client_id, &job.credentials.token));
        }
    }

    fn cached(&self, key: &[u8; 32]) -> Option<AccessToken> {
        let cache = self.lock();
        cache
            .get(key)
            .filter(|c| c.fresh_until > Instant::now())
            .map(|c| c.token.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], Cached>> {
        // A panic while holding the lock leaves a map of whole entries: still usable.
        self.cache.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn refresh(
        &self,
        client_id: &str,
        client_secret: &str,
        refresh_token: &str,
        deadline: DateTime<Utc>,
    ) -> Result<(AccessToken, Duration, Instant), ConnectorError> {
        if refresh_token.is_empty() {
            return Err(ConnectorError::Auth(
                "google oauth: the connection has no refresh token; connect the account again"
                    .into(),
            ));
        }
        let retry = Retry {
            platform: "google oauth",
            backoff: self.backoff,
            deadline,
        };
        let mut call = TokenCall {
            client: &self.client,
            token_url: &self.token_url,
            form: [
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
                ("client_id", client_id),
                ("client_secret", client_secret),
            ],
            deadline,
        };
        Ok(retry.run(&mut call).await?)
    }
}

/// One exchange with the token endpoint as [`Retry::run`] repeats it.
struct TokenCall<'a> {
    client: &'a reqwest::Client,
    token_url: &'a str,
    form: [(&'a str, &'a str); 4],
    deadline: DateTime<Utc>,
}

impl Attempt for TokenCall<'_> {
    /// The token, its lifetime, and when its request was sent.
    type Output = (AccessToken, Duration, Instant);
    type Refusal = ();

    async fn once(&mut self) -> Result<Result<Self::Output, Failure>, ConnectorError> {
        let timeout = time_left(self.deadline, TOKEN_REQUEST_TIMEOUT)?;
        let requested_at = Instant::now();
        let sent = self
            .client
            .post(self.token_url)
            .form(&self.form)
            .timeout(timeout)
            .send()
            .await;
        let response = match sent {
            Ok(r) => r,
            Err(e) => {
                return Ok(Err(Failure::transient(format!(
                    "google oauth: the token endpoint did not answer ({})",
                    transport_error(&e)
                ))));
            }
        };
        let status = response.status();
        let body = read_answer(response).await.unwrap_or_default();
        let answer: Option<TokenAnswer> = serde_json::from_slice(&body).ok();
        if status.is_success() {
            return parse_success(answer)
                .map(|(token, lifetime)| Ok((token, lifetime, requested_at)));
        }
        Ok(Err(classify(status, answer.as_ref())))
    }

    /// The refresh token and the client secret: the form holds both.
    fn secrets(&self) -> Vec<&str> {
        vec![self.form[1].1, self.form[3].1]
    }
}

fn app(job: &Job) -> Result<(&str, &str), ConnectorError> {
    let google =
        job.credentials.app.google.as_ref().ok_or_else(|| {
            ConnectorError::Permanent("app credentials have no google app".into())
        })?;
    Ok((&google.client_id, &google.client_secret))
}

fn cache_key(client_id: &str, refresh_token: &str) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(client_id.as_bytes());
    h.update([0]);
    h.update(refresh_token.as_bytes());
    h.finalize().into()
}

fn parse_success(answer: Option<TokenAnswer>) -> Result<(AccessToken, Duration), ConnectorError> {
    let answer = answer.ok_or_else(|| {
        ConnectorError::Retryable("google oauth: the token endpoint answered malformed JSON".into())
    })?;
    let value = answer
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ConnectorError::Retryable(
                "google oauth: the token endpoint's answer has no access_token".into(),
            )
        })?;
    // Google says 3599 s; without a lifetime, use the token for this call only.
    let lifetime = Duration::from_secs(answer.expires_in.unwrap_or(0));
    Ok((
        AccessToken {
            value,
            scope: answer.scope,
        },
        lifetime,
    ))
}

/// A refusal as the driver reads it: `invalid_grant` (or a bare 401) needs a new sign-in,
/// refused app credentials are permanent, an unavailable endpoint is retried.
fn classify(status: StatusCode, answer: Option<&TokenAnswer>) -> Failure {
    let error = answer.and_then(|a| a.error.as_deref()).unwrap_or("");
    // error_description is Google's own text ("Token has been expired or revoked."): it
    // names no secret.
    let described = |what: &str| match answer.and_then(|a| a.error_description.as_deref()) {
        Some(d) if !d.is_empty() => format!("google oauth: {what} ({error}: {d})"),
        _ if !error.is_empty() => format!("google oauth: {what} ({error})"),
        _ => format!("google oauth: {what} (HTTP {})", status.as_u16()),
    };
    match error {
        "invalid_grant" => Failure::new(
            Verdict::Reauthenticate,
            described("the refresh token was refused; connect the account again"),
        ),
        "invalid_client" | "unauthorized_client" => Failure::new(
            Verdict::Permanent(()),
            described(
                "the app's client_id/client_secret (APP_CREDENTIALS_SECRET google) were refused",
            ),
        ),
        _ if status == StatusCode::TOO_MANY_REQUESTS
            || status.is_server_error()
            || error == "temporarily_unavailable" =>
        {
            Failure::transient(described("the token endpoint is unavailable"))
        }
        _ if status == StatusCode::UNAUTHORIZED => Failure::new(
            Verdict::Reauthenticate,
            described("the refresh token was refused; connect the account again"),
        ),
        _ => Failure::new(
            Verdict::Permanent(()),
            described("the token endpoint refused the request"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(error: &str) -> TokenAnswer {
        TokenAnswer {
            access_token: None,
            expires_in: None,
            scope: None,
            error: Some(error.into()),
            error_description: Some("Token has been expired or revoked.".into()),
        }
    }

    #[test]
    fn refusals_are_classified() {
        let bad = StatusCode::BAD_REQUEST;
        let verdict = |f: &Failure| f.verdict;
        let f = classify(bad, Some(&answer("invalid_grant")));
        assert_eq!(verdict(&f), Verdict::Reauthenticate);
        assert!(f.message.contains("expired or revoked"), "{}", f.message);
        let f = classify(StatusCode::UNAUTHORIZED, Some(&answer("invalid_client")));
        assert_eq!(verdict(&f), Verdict::Permanent(()));
        assert!(f.message.contains("client_id"), "{}", f.message);
        let f = classify(StatusCode::SERVICE_UNAVAILABLE, None);
        assert_eq!(verdict(&f), Verdict::RetryAfter(Duration::ZERO));
        assert!(f.message.contains("503"), "{}", f.message);
        assert_eq!(
            verdict(&classify(StatusCode::TOO_MANY_REQUESTS, None)),
            Verdict::RetryAfter(Duration::ZERO)
        );
        assert_eq!(
            verdict(&classify(bad, Some(&answer("invalid_request")))),
            Verdict::Permanent(())
        );
    }

    #[test]
    fn scopes_are_matched_whole() {
        let t = AccessToken {
            value: "x".into(),
            scope: Some(
                "https://www.googleapis.com/auth/yt-analytics.readonly https://www.googleapis.com/auth/adwords"
                    .into(),
            ),
        };
        assert!(t.has_scope("https://www.googleapis.com/auth/adwords"));
        assert!(!t.has_scope("https://www.googleapis.com/auth/yt-analytics-monetary.readonly"));
        assert_eq!(format!("{t:?}"), "AccessToken(<redacted>)");
    }
}
