//! The one retry driver of every platform call (Graph API, Google Ads `searchStream`,
//! YouTube Analytics `reports`, Google's token endpoint): each platform only classifies a
//! failed try into a [`Verdict`]; [`Retry::run`] decides what comes next — back off and try
//! again, refresh the credential once, give up and ask for a new sign-in, or stop — and
//! keeps the rules every call shares: exponential backoff with jitter, at least as long as
//! the platform asked, no wait past the invocation's deadline, at most
//! [`Backoff::max_attempts`] tries, and no credential in an error or a log line.

use std::future::Future;
use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ports::ConnectorError;

/// What a failed try calls for: the vocabulary every platform's classification answers in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict<K = ()> {
    /// A passing fault or a rate limit: back off and try again, waiting at least this long
    /// (the platform's `Retry-After`, `retryDelay` or usage pause; zero: the backoff alone).
    RetryAfter(Duration),
    /// The credential was refused: get a fresh one and try once more; refused again, the
    /// connection needs a new sign-in.
    RefreshOnce,
    /// Only a new sign-in helps: [`ConnectorError::Auth`], never a retry.
    Reauthenticate,
    /// The same call would fail the same way. `K` tells the caller which refusal it was,
    /// for a platform with more than one (Meta's "ask for less data"); `()` otherwise.
    Permanent(K),
}

/// One failed try: its verdict, and what the run record says about it.
#[derive(Debug)]
pub struct Failure<K = ()> {
    pub verdict: Verdict<K>,
    /// Names the call and the platform's answer; [`Retry::run`] redacts the attempt's
    /// secrets from it.
    pub message: String,
}

impl<K> Failure<K> {
    pub fn new(verdict: Verdict<K>, message: impl Into<String>) -> Self {
        Self {
            verdict,
            message: message.into(),
        }
    }

    /// A passing fault without a wait of its own: a broken connection, a timeout, a 5xx.
    pub fn transient(message: impl Into<String>) -> Self {
        Self::new(Verdict::RetryAfter(Duration::ZERO), message)
    }
}

/// Why [`Retry::run`] stopped without an answer.
#[derive(Debug)]
pub enum Stop<K = ()> {
    /// A [`Verdict::Permanent`] try, with its redacted message: the caller decides what the
    /// refusal means (most often [`ConnectorError::Permanent`]).
    Permanent(K, String),
    /// The run's error as it stands: tries spent, a new sign-in needed, the deadline, or
    /// whatever a try itself failed with.
    Failed(ConnectorError),
}

impl From<Stop> for ConnectorError {
    fn from(stop: Stop) -> Self {
        match stop {
            Stop::Permanent((), message) => ConnectorError::Permanent(message),
            Stop::Failed(e) => e,
        }
    }
}

/// One platform call as the driver repeats it.
pub trait Attempt: Send {
    type Output: Send;
    /// What a [`Verdict::Permanent`] carries: `()` unless the caller tells refusals apart.
    type Refusal: Send;

    /// One try: its answer, or its classified failure. `Err` ends the call at once (no
    /// time left before the deadline, a failure downstream of the platform).
    fn once(
        &mut self,
    ) -> impl Future<Output = Result<Result<Self::Output, Failure<Self::Refusal>>, ConnectorError>> + Send;

    /// Gets a fresh credential after a [`Verdict::RefreshOnce`]; platforms that never ask
    /// for one keep this default.
    fn refresh(&mut self) -> impl Future<Output = Result<(), ConnectorError>> + Send {
        async { Ok(()) }
    }

    /// The credentials the last try sent, which a platform might echo in an error.
    fn secrets(&self) -> Vec<&str> {
        Vec::new()
    }
}

/// The retry rules of one call: whose (for logs), how to back off, until when.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    pub platform: &'static str,
    pub backoff: Backoff,
    pub deadline: DateTime<Utc>,
}

impl Retry {
    /// Tries `call` until it answers or a verdict says stop: each retryable failure waits
    /// `max(backoff, what the platform asked)` first; the one try after a refresh does not
    /// count against [`Backoff::max_attempts`].
    pub async fn run<A: Attempt>(&self, call: &mut A) -> Result<A::Output, Stop<A::Refusal>> {
        let attempts = self.backoff.max_attempts.max(1);
        let mut failed = 0;
        let mut refreshed = false;
        loop {
            let failure = match call.once().await.map_err(Stop::Failed)? {
                Ok(output) => return Ok(output),
                Err(failure) => failure,
            };
            let message = redact(failure.message, &call.secrets());
            let platform = self.platform;
            match failure.verdict {
                Verdict::RetryAfter(asked) => {
                    failed += 1;
                    if failed >= attempts {
                        return Err(Stop::Failed(ConnectorError::Retryable(format!(
                            "{message} (gave up after {attempts} attempts)"
                        ))));
                    }
                    let wait = self.backoff.retry_delay(failed - 1).max(asked);
                    tracing::warn!(platform, attempt = failed, wait_ms = wait.as_millis() as u64, error = %message, "call failed; retrying");
                    sleep_before(self.deadline, wait, platform)
                        .await
                        .map_err(Stop::Failed)?;
                }
                Verdict::RefreshOnce if !refreshed => {
                    tracing::info!(platform, error = %message, "access token refused; refreshing it once");
                    call.refresh().await.map_err(Stop::Failed)?;
                    refreshed = true;
                }
                Verdict::RefreshOnce => {
                    return Err(Stop::Failed(ConnectorError::Auth(format!(
                        "{message}; refused again after a token refresh: connect the account again"
                    ))));
                }
                Verdict::Reauthenticate => {
                    return Err(Stop::Failed(ConnectorError::Auth(message)));
                }
                Verdict::Permanent(refusal) => return Err(Stop::Permanent(refusal, message)),
            }
        }
    }
}

/// `message` with every non-empty secret replaced by `<redacted>`, whatever echoed it.
pub fn redact(message: String, secrets: &[&str]) -> String {
    let mut message = message;
    for secret in secrets {
        if !secret.is_empty() && message.contains(secret) {
            message = message.replace(secret, "<redacted>");
        }
    }
    message
}

/// Retry tuning: exponential backoff with jitter from `base`, never above `ceiling`, at
/// most `max_attempts` tries of one call. Polling (Facebook's asynchronous report runs)
/// uses the same base and ceiling. Tests shrink both to milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    pub base: Duration,
    pub ceiling: Duration,
    pub max_attempts: u32,
}

impl Default for Backoff {
    fn default() -> Self {
        Self {
            base: Duration::from_secs(2),
            ceiling: Duration::from_secs(60),
            max_attempts: 8,
        }
    }
}

impl Backoff {
    /// Milliseconds instead of seconds: for tests against local fakes.
    pub fn fast() -> Self {
        Self {
            base: Duration::from_millis(5),
            ceiling: Duration::from_millis(40),
            max_attempts: 5,
        }
    }

    /// `base · 2^step`, at most `ceiling`.
    pub fn exponential(&self, step: u32) -> Duration {
        self.base
            .saturating_mul(1u32 << step.min(20))
            .min(self.ceiling)
    }

    /// The wait before retry `attempt` (0-based): half the exponential delay plus a random
    /// share of the other half, so that callers throttled together do not return together.
    pub fn retry_delay(&self, attempt: u32) -> Duration {
        let full = self.exponential(attempt);
        full / 2 + (full / 2).mul_f64(fastrand::f64())
    }
}

/// Waits `wait`, unless waking would be at or past `deadline`: then answers
/// [`ConnectorError::Deadline`] at once, so the run can record what it wrote.
pub async fn sleep_before(
    deadline: DateTime<Utc>,
    wait: Duration,
    platform: &str,
) -> Result<(), ConnectorError> {
    if wait.is_zero() {
        return Ok(());
    }
    let wake = chrono::Duration::from_std(wait)
        .ok()
        .and_then(|w| Utc::now().checked_add_signed(w));
    match wake {
        Some(wake) if wake < deadline => {
            tokio::time::sleep(wait).await;
            Ok(())
        }
        _ => {
            tracing::warn!(
                wait_ms = wait.as_millis() as u64,
                "{platform}: waiting would outlive the deadline"
            );
            Err(ConnectorError::Deadline)
        }
    }
}

/// What is left of the invocation for one HTTP exchange, at most `limit`; `Deadline` when
/// nothing is.
pub fn time_left(deadline: DateTime<Utc>, limit: Duration) -> Result<Duration, ConnectorError> {
    (deadline - Utc::now())
        .to_std()
        .ok()
        .filter(|d| !d.is_zero())
        .map(|d| d.min(limit))
        .ok_or(ConnectorError::Deadline)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call that fails as scripted, then answers `"ok"`; it counts its tries and
    /// refreshes and names `"s3cret"` as the credential it sent.
    struct Scripted {
        failures: std::collections::VecDeque<Verdict<&'static str>>,
        tries: u32,
        refreshes: u32,
    }

    fn scripted(failures: &[Verdict<&'static str>]) -> Scripted {
        Scripted {
            failures: failures.iter().copied().collect(),
            tries: 0,
            refreshes: 0,
        }
    }

    impl Attempt for Scripted {
        type Output = &'static str;
        type Refusal = &'static str;

        async fn once(
            &mut self,
        ) -> Result<Result<&'static str, Failure<&'static str>>, ConnectorError> {
            self.tries += 1;
            Ok(match self.failures.pop_front() {
                None => Ok("ok"),
                Some(verdict) => Err(Failure::new(
                    verdict,
                    format!("try {} sent s3cret", self.tries),
                )),
            })
        }

        async fn refresh(&mut self) -> Result<(), ConnectorError> {
            self.refreshes += 1;
            Ok(())
        }

        fn secrets(&self) -> Vec<&str> {
            vec!["s3cret", ""]
        }
    }

    fn retry(max_attempts: u32) -> Retry {
        Retry {
            platform: "test",
            backoff: Backoff {
                max_attempts,
                ..Backoff::fast()
            },
            deadline: Utc::now() + chrono::Duration::seconds(30),
        }
    }

    const AGAIN: Verdict<&str> = Verdict::RetryAfter(Duration::ZERO);

    #[tokio::test]
    async fn passing_faults_are_retried_until_an_answer_or_the_last_attempt() {
        let mut call = scripted(&[AGAIN, AGAIN]);
        assert_eq!(retry(3).run(&mut call).await.unwrap(), "ok");
        assert_eq!(call.tries, 3);

        let mut call = scripted(&[AGAIN, AGAIN, AGAIN]);
        match retry(3).run(&mut call).await {
            Err(Stop::Failed(ConnectorError::Retryable(m))) => {
                assert_eq!(m, "try 3 sent <redacted> (gave up after 3 attempts)");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(call.tries, 3);
    }

    #[tokio::test]
    async fn a_wait_the_platform_asks_for_is_kept_and_never_outlives_the_deadline() {
        let mut call = scripted(&[Verdict::RetryAfter(Duration::from_millis(60))]);
        let started = std::time::Instant::now();
        assert_eq!(retry(3).run(&mut call).await.unwrap(), "ok");
        assert!(started.elapsed() >= Duration::from_millis(60));

        let mut call = scripted(&[Verdict::RetryAfter(Duration::from_secs(3600))]);
        assert!(matches!(
            retry(3).run(&mut call).await,
            Err(Stop::Failed(ConnectorError::Deadline))
        ));
        assert_eq!(call.tries, 1);
    }

    #[tokio::test]
    async fn a_refused_credential_is_refreshed_once_and_that_try_is_free() {
        let mut call = scripted(&[AGAIN, Verdict::RefreshOnce, AGAIN]);
        assert_eq!(retry(3).run(&mut call).await.unwrap(), "ok");
        assert_eq!((call.tries, call.refreshes), (4, 1));

        let mut call = scripted(&[Verdict::RefreshOnce, Verdict::RefreshOnce]);
        match retry(3).run(&mut call).await {
            Err(Stop::Failed(ConnectorError::Auth(m))) => {
                assert!(m.starts_with("try 2 sent <redacted>; refused again"), "{m}");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!((call.tries, call.refreshes), (2, 1));
    }

    #[tokio::test]
    async fn reauthentication_and_refusals_stop_at_once() {
        let mut call = scripted(&[Verdict::Reauthenticate]);
        assert!(matches!(
            retry(3).run(&mut call).await,
            Err(Stop::Failed(ConnectorError::Auth(m))) if m == "try 1 sent <redacted>"
        ));
        let mut call = scripted(&[Verdict::Permanent("too much data")]);
        assert!(matches!(
            retry(3).run(&mut call).await,
            Err(Stop::Permanent("too much data", m)) if m == "try 1 sent <redacted>"
        ));
        assert_eq!(call.tries, 1);
        assert_eq!(
            ConnectorError::from(Stop::Permanent((), "bad".into())),
            ConnectorError::Permanent("bad".into())
        );
    }

    #[test]
    fn delays_grow_exponentially_up_to_the_ceiling_with_jitter_below_it() {
        let b = Backoff::default();
        assert_eq!(b.exponential(0), Duration::from_secs(2));
        assert_eq!(b.exponential(3), Duration::from_secs(16));
        assert_eq!(b.exponential(30), Duration::from_secs(60));
        for attempt in 0..10 {
            let d = b.retry_delay(attempt);
            assert!(d >= b.exponential(attempt) / 2 && d <= b.exponential(attempt));
        }
    }

    #[tokio::test]
    async fn a_wait_past_the_deadline_is_refused_at_once() {
        let deadline = Utc::now() + chrono::Duration::milliseconds(50);
        let started = std::time::Instant::now();
        let err = sleep_before(deadline, Duration::from_secs(5), "test").await;
        assert_eq!(err, Err(ConnectorError::Deadline));
        assert!(started.elapsed() < Duration::from_secs(1));
        assert_eq!(
            sleep_before(deadline, Duration::from_millis(1), "test").await,
            Ok(())
        );
        assert_eq!(
            time_left(
                Utc::now() - chrono::Duration::seconds(1),
                Duration::from_secs(9)
            ),
            Err(ConnectorError::Deadline)
        );
    }
}
