//! What a Graph API answer means for the next call: classified errors, the usage headers
//! Meta sends on every answer, and the backoff between tries.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

pub use crate::connectors::retry::{Backoff, Verdict};

use super::wire::GraphError;

/// Error codes that mean "too many calls, wait": 4 (app), 17 (user), 32 (page), 613
/// (ad account / custom rate) and the Business Use Case limits 80000–80014.
pub const THROTTLE_CODES: [i64; 4] = [4, 17, 32, 613];
pub const BUC_THROTTLE_CODES: std::ops::RangeInclusive<i64> = 80000..=80014;

/// Utilisation (percent of the app's or ad account's insights capacity, or of a BUC
/// quota) from which calls are spaced out, before Meta starts refusing them.
pub const SLOW_DOWN_AT_PERCENT: f64 = 75.0;

/// Which refusal a [`Verdict::Permanent`] Graph API answer was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// A bad request: the same call will fail the same way.
    Request,
    /// The query asks for too much at once: ask for less (a smaller page, a shorter
    /// window) rather than the same again.
    TooMuchData,
}

const RETRY: Verdict<Refusal> = Verdict::RetryAfter(Duration::ZERO);

/// Classifies an answer that was not a success, from its status and Graph error, if any:
/// an expired, revoked or invalid token needs a new sign-in (Facebook has no refresh);
/// rate limits and passing faults (5xx, "temporary issue", a failed report generation) are
/// retried, at least as long apart as the usage headers ask (the session adds that wait).
pub fn classify(status: StatusCode, error: Option<&GraphError>) -> Verdict<Refusal> {
    let Some(e) = error else {
        return match status {
            StatusCode::TOO_MANY_REQUESTS => RETRY,
            s if s.is_server_error() => RETRY,
            _ => Verdict::Permanent(Refusal::Request),
        };
    };
    let subcode = e.error_subcode.unwrap_or(0);
    // 190: invalid access token; 102: API session; the subcodes are Meta's "log in
    // again" cases (458 app not installed, 459 checkpointed, 460 password changed,
    // 463 expired, 464 unconfirmed user, 467 invalid token).
    if e.code == 190 || e.code == 102 || matches!(subcode, 458 | 459 | 460 | 463 | 464 | 467) {
        return Verdict::Reauthenticate;
    }
    if THROTTLE_CODES.contains(&e.code) || BUC_THROTTLE_CODES.contains(&e.code) {
        return RETRY;
    }
    if is_too_much_data(e) {
        return Verdict::Permanent(Refusal::TooMuchData);
    }
    // 1 "API unknown" and 2 "API service" are Meta's temporary faults; -2/2490547 is an
    // asynchronous report whose generation failed ("try again later").
    if matches!(e.code, 1 | 2 | -2) || status.is_server_error() {
        return RETRY;
    }
    Verdict::Permanent(Refusal::Request)
}

/// "Please reduce the amount of data you're asking for" (code 1, subcode 99), the
/// documented data-per-call limit (100/1487534), sync timeouts that advise a smaller query
/// (100/1504018, 2/1504038) and an asynchronous report too large (-3/1504045).
fn is_too_much_data(e: &GraphError) -> bool {
    let subcode = e.error_subcode.unwrap_or(0);
    e.message
        .to_ascii_lowercase()
        .contains("reduce the amount of data")
        || (e.code == 1 && subcode == 99)
        || matches!(
            (e.code, subcode),
            (100, 1_487_534) | (100, 1_504_018) | (2, 1_504_038) | (-3, 1_504_045)
        )
}

/// What the usage headers of one answer say about the next call.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Usage {
    /// `x-business-use-case-usage` `estimated_time_to_regain_access` (minutes), the
    /// longest of its entries: blocked until then.
    pub regain_access: Duration,
    /// The highest utilisation, in percent, among the BUC entries' `call_count`,
    /// `total_cputime`, `total_time` and `x-fb-ads-insights-throttle`'s
    /// `app_id_util_pct` and `acc_id_util_pct`.
    pub utilisation: f64,
}

impl Usage {
    /// Reads `x-business-use-case-usage` and `x-fb-ads-insights-throttle`; a header that
    /// is absent or not the documented JSON says nothing.
    pub fn from_headers(headers: &HeaderMap) -> Self {
        let json = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| serde_json::from_str::<Value>(v).ok())
        };
        let mut usage = Usage::default();
        if let Some(Value::Object(by_business)) = json("x-business-use-case-usage") {
            let entries = by_business.values().filter_map(Value::as_array).flatten();
            for entry in entries {
                let minutes = number(entry, "estimated_time_to_regain_access");
                usage.regain_access = usage
                    .regain_access
                    .max(Duration::from_secs_f64(minutes.clamp(0.0, 1e6) * 60.0));
                for field in ["call_count", "total_cputime", "total_time"] {
                    usage.utilisation = usage.utilisation.max(number(entry, field));
                }
            }
        }
        if let Some(throttle) = json("x-fb-ads-insights-throttle") {
            for field in ["app_id_util_pct", "acc_id_util_pct"] {
                usage.utilisation = usage.utilisation.max(number(&throttle, field));
            }
        }
        usage
    }

    /// How long to hold off before the next call: until access is regained, else longer
    /// the nearer utilisation is to 100 %.
    pub fn pause(&self, backoff: &Backoff) -> Duration {
        if !self.regain_access.is_zero() {
            return self.regain_access;
        }
        match self.utilisation {
            u if u >= 100.0 => backoff.ceiling,
            u if u >= 90.0 => backoff.exponential(2),
            u if u >= SLOW_DOWN_AT_PERCENT => backoff.base,
            _ => Duration::ZERO,
        }
    }
}

/// A field that Meta documents as a number; some SDKs have seen it as a string.
fn number(v: &Value, field: &str) -> f64 {
    match v.get(field) {
        Some(Value::Number(n)) => n.as_f64().unwrap_or(0.0),
        Some(Value::String(s)) => s.parse().unwrap_or(0.0),
        _ => 0.0,
    }
    .max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    fn err(code: i64, subcode: Option<i64>, message: &str) -> GraphError {
        GraphError {
            message: message.into(),
            code,
            error_subcode: subcode,
            ..Default::default()
        }
    }

    #[test]
    fn errors_are_classified_by_code_subcode_and_status() {
        let bad = StatusCode::BAD_REQUEST;
        let cases = [
            (err(190, Some(463), "expired"), Verdict::Reauthenticate),
            (err(102, None, "session"), Verdict::Reauthenticate),
            (
                err(100, Some(467), "invalid token"),
                Verdict::Reauthenticate,
            ),
            (err(17, Some(2446079), "User request limit reached"), RETRY),
            (err(80004, None, "too many calls to this ad-account"), RETRY),
            (err(613, None, "too many calls"), RETRY),
            (
                err(
                    1,
                    Some(99),
                    "Please reduce the amount of data you're asking for, then retry your request",
                ),
                Verdict::Permanent(Refusal::TooMuchData),
            ),
            (
                err(100, Some(1_487_534), "data per call"),
                Verdict::Permanent(Refusal::TooMuchData),
            ),
            (err(1, None, "An unknown error occurred"), RETRY),
            (
                err(100, None, "Invalid parameter"),
                Verdict::Permanent(Refusal::Request),
            ),
        ];
        for (e, verdict) in cases {
            assert_eq!(classify(bad, Some(&e)), verdict, "{e:?}");
        }
        assert_eq!(classify(StatusCode::BAD_GATEWAY, None), RETRY);
        assert_eq!(classify(StatusCode::TOO_MANY_REQUESTS, None), RETRY);
        assert_eq!(
            classify(StatusCode::NOT_FOUND, None),
            Verdict::Permanent(Refusal::Request)
        );
    }

    #[test]
    fn usage_headers_name_the_regain_time_and_the_highest_utilisation() {
        let mut h = HeaderMap::new();
        h.insert(
            "x-business-use-case-usage",
            HeaderValue::from_static(
                r#"{"123":[{"type":"ads_insights","call_count":98,"total_cputime":20,"total_time":20,"estimated_time_to_regain_access":3}],"456":[{"type":"ads_management","call_count":5,"estimated_time_to_regain_access":0}]}"#,
            ),
        );
        h.insert(
            "x-fb-ads-insights-throttle",
            HeaderValue::from_static(r#"{"app_id_util_pct":99.5,"acc_id_util_pct":12,"ads_api_access_tier":"standard_access"}"#),
        );
        let u = Usage::from_headers(&h);
        assert_eq!(u.regain_access, Duration::from_secs(180));
        assert_eq!(u.utilisation, 99.5);
        assert_eq!(u.pause(&Backoff::default()), Duration::from_secs(180));
    }

    #[test]
    fn calls_slow_down_as_utilisation_nears_100() {
        let b = Backoff::default();
        let at = |utilisation| {
            Usage {
                regain_access: Duration::ZERO,
                utilisation,
            }
            .pause(&b)
        };
        assert_eq!(at(10.0), Duration::ZERO);
        assert_eq!(at(80.0), b.base);
        assert!(at(95.0) > b.base);
        assert_eq!(at(100.0), b.ceiling);
        assert_eq!(Usage::from_headers(&HeaderMap::new()), Usage::default());
    }

    #[test]
    fn retry_delays_grow_and_stay_under_the_ceiling() {
        let b = Backoff::default();
        for attempt in 0..12 {
            let d = b.retry_delay(attempt);
            assert!(
                d >= b.exponential(attempt) / 2 && d <= b.ceiling,
                "{attempt}: {d:?}"
            );
        }
    }
}
