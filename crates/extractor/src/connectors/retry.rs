//! What every connector shares when a platform says "not now": the backoff between tries
//! and the rule that no wait outlives the invocation's deadline.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::ports::ConnectorError;

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
