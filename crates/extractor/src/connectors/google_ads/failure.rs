//! What a failed Google Ads call means for the next one, and how the run record says it.
//!
//! Google answers a failure with `google.rpc.Status` (HTTP status, canonical `status`,
//! `message`) whose `details` carry a `GoogleAdsFailure`: a list of `GoogleAdsError`s, each
//! with a one-of `errorCode` (`{"quotaError": "RESOURCE_EXHAUSTED"}`) and a `message`, and
//! the `requestId` support asks for. The verdict reads the error codes first, the
//! canonical status next, the HTTP status last.
//!
//! Credentials problems are told apart by whose they are:
//! - the connection's sign-in (the client must connect again →
//!   [`Verdict::Reauthenticate`]): the token's user may not read the customer
//!   (`USER_PERMISSION_DENIED`), the manager account given as `login-customer-id` does not
//!   manage it
//!   (`INVALID_LOGIN_CUSTOMER_ID_SERVING_CUSTOMER_ID_COMBINATION`), the Google account has
//!   no Google Ads access (`NOT_ADS_USER`), was deleted, or must enrol in 2-Step
//!   Verification or Advanced Protection first; and an access token refused again after a
//!   refresh (`UNAUTHENTICATED`, see [`Verdict::RefreshOnce`]);
//! - adpipe's app (the operator must act, a new sign-in would not help →
//!   [`Verdict::Permanent`]): the Cloud project or developer token is not approved for
//!   production or is disabled, the organization is not recognized;
//! - the account itself (→ [`Verdict::Permanent`]): `CUSTOMER_NOT_ENABLED` (cancelled or
//!   suspended), `CUSTOMER_NOT_FOUND`, `ACTION_NOT_PERMITTED`.

use std::time::Duration;

use reqwest::StatusCode;

use super::wire::Status;

pub use crate::connectors::retry::Verdict;

/// A passing fault (5xx, `INTERNAL`, `UNAVAILABLE`, a broken stream): retry.
pub const TRANSIENT: Verdict = Verdict::RetryAfter(Duration::ZERO);
const PERMANENT: Verdict = Verdict::Permanent(());

/// `authorizationError` / `authenticationError` codes that a new sign-in by the client fixes.
const SIGN_IN_CODES: [&str; 7] = [
    "USER_PERMISSION_DENIED",
    "INVALID_LOGIN_CUSTOMER_ID_SERVING_CUSTOMER_ID_COMBINATION",
    "NOT_ADS_USER",
    "GOOGLE_ACCOUNT_DELETED",
    "TWO_STEP_VERIFICATION_NOT_ENROLLED",
    "ADVANCED_PROTECTION_NOT_ENROLLED",
    "GOOGLE_ACCOUNT_USER_AND_ADS_USER_MISMATCH",
];

/// `authorizationError` / `authenticationError` codes about adpipe's app or the account:
/// no sign-in fixes them.
const APP_OR_ACCOUNT_CODES: [&str; 13] = [
    "DEVELOPER_TOKEN_NOT_APPROVED",
    "DEVELOPER_TOKEN_PROHIBITED",
    "DEVELOPER_TOKEN_NOT_ON_ALLOWLIST",
    "DEVELOPER_TOKEN_INVALID",
    "CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION",
    "CLOUD_PROJECT_NOT_UNDER_ORGANIZATION",
    "PROJECT_DISABLED",
    "ORGANIZATION_NOT_RECOGNIZED",
    "ORGANIZATION_NOT_APPROVED",
    "ORGANIZATION_NOT_ASSOCIATED_WITH_DEVELOPER_TOKEN",
    "CUSTOMER_NOT_ENABLED",
    "CUSTOMER_NOT_FOUND",
    "CLIENT_CUSTOMER_ID_INVALID",
];

/// Classifies a failure from the HTTP status and Google's error, if the body had one.
pub fn classify(http: StatusCode, error: Option<&Status>) -> Verdict {
    let codes: Vec<(&str, String)> = error
        .into_iter()
        .flat_map(|s| &s.details)
        .flat_map(|d| &d.errors)
        .filter_map(|e| e.code().map(|(k, v)| (k, v.into_owned())))
        .collect();
    let has = |kinds: &[&str], values: &[&str]| {
        codes
            .iter()
            .any(|(k, v)| kinds.contains(k) && values.contains(&v.as_str()))
    };
    let credentials = ["authorizationError", "authenticationError"];
    if has(&credentials, &APP_OR_ACCOUNT_CODES) || has(&["quotaError"], &["ACCESS_PROHIBITED"]) {
        return PERMANENT;
    }
    if has(&credentials, &SIGN_IN_CODES) {
        return Verdict::Reauthenticate;
    }
    let status = error.map_or("", |s| s.status.as_str());
    if codes.iter().any(|(k, _)| *k == "quotaError")
        || status == "RESOURCE_EXHAUSTED"
        || http == StatusCode::TOO_MANY_REQUESTS
    {
        return Verdict::RetryAfter(error.and_then(retry_delay).unwrap_or_default());
    }
    if status == "UNAUTHENTICATED" || http == StatusCode::UNAUTHORIZED {
        return Verdict::RefreshOnce;
    }
    if codes.iter().any(|(k, _)| *k == "internalError")
        || matches!(
            status,
            "INTERNAL" | "UNAVAILABLE" | "DEADLINE_EXCEEDED" | "UNKNOWN" | "ABORTED"
        )
        || http.is_server_error()
    {
        return TRANSIENT;
    }
    PERMANENT
}

/// The longest wait Google asks for: a `google.rpc.RetryInfo` detail's `retryDelay`, or a
/// quota error's `quotaErrorDetails.retryDelay`.
pub fn retry_delay(error: &Status) -> Option<Duration> {
    let info = error
        .details
        .iter()
        .filter_map(|d| d.retry_delay.as_deref());
    let quota = error
        .details
        .iter()
        .flat_map(|d| &d.errors)
        .filter_map(|e| {
            e.details
                .as_ref()?
                .quota_error_details
                .as_ref()?
                .retry_delay
                .as_deref()
        });
    info.chain(quota).filter_map(parse_duration).max()
}

/// `google.protobuf.Duration` in JSON: seconds with an `s`, `"30s"`, `"0.5s"`; capped at a
/// day, since no invocation lives that long anyway.
fn parse_duration(raw: &str) -> Option<Duration> {
    let seconds: f64 = raw.strip_suffix('s')?.parse().ok()?;
    (seconds.is_finite() && seconds >= 0.0).then(|| Duration::from_secs_f64(seconds.min(86_400.0)))
}

/// The run record's text for a failed call: HTTP and canonical status, Google's message,
/// each `GoogleAdsError` as `kind: CODE — message (at field.path)`, and the request id.
pub fn describe(http: StatusCode, error: Option<&Status>) -> String {
    let Some(e) = error else {
        return format!("HTTP {} without a Google error in the body", http.as_u16());
    };
    let mut out = format!("HTTP {}", http.as_u16());
    if !e.status.is_empty() {
        out.push(' ');
        out.push_str(&e.status);
    }
    if !e.message.is_empty() {
        out.push_str(": ");
        out.push_str(&e.message);
    }
    let errors: Vec<String> = e
        .details
        .iter()
        .flat_map(|d| &d.errors)
        .map(|ads| {
            let mut one = match ads.code() {
                Some((kind, value)) => format!("{kind}: {value}"),
                None => "error".to_owned(),
            };
            if !ads.message.is_empty() {
                one.push_str(" — ");
                one.push_str(&ads.message);
            }
            let path = ads
                .location
                .iter()
                .flat_map(|l| &l.field_path_elements)
                .map(|p| match p.index {
                    Some(i) => format!("{}[{i}]", p.field_name),
                    None => p.field_name.clone(),
                })
                .collect::<Vec<_>>()
                .join(".");
            if !path.is_empty() {
                one.push_str(&format!(" (at {path})"));
            }
            one
        })
        .collect();
    if !errors.is_empty() {
        out.push_str(" [");
        out.push_str(&errors.join("; "));
        out.push(']');
    }
    if let Some(id) = e.details.iter().find_map(|d| d.request_id.as_deref()) {
        out.push_str(&format!(" (request id {id})"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::google_ads::wire::error_status;

    fn status(code: u16, name: &str, kind: &str, value: &str) -> Status {
        let body = serde_json::json!({"error": {"code": code, "message": "m", "status": name, "details": [{
            "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
            "errors": [{"errorCode": {kind: value}, "message": "why"}],
            "requestId": "req-1"
        }]}});
        error_status(body.to_string().as_bytes()).unwrap_or_default()
    }

    #[test]
    fn failures_are_classified_by_error_code_then_status() {
        let code = |c: u16| StatusCode::from_u16(c).unwrap();
        let cases = [
            (
                status(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "quotaError",
                    "RESOURCE_EXHAUSTED",
                ),
                Verdict::RetryAfter(Duration::ZERO),
            ),
            (
                status(
                    400,
                    "INVALID_ARGUMENT",
                    "quotaError",
                    "RESOURCE_TEMPORARILY_EXHAUSTED",
                ),
                Verdict::RetryAfter(Duration::ZERO),
            ),
            (
                status(
                    401,
                    "UNAUTHENTICATED",
                    "authenticationError",
                    "OAUTH_TOKEN_EXPIRED",
                ),
                Verdict::RefreshOnce,
            ),
            (
                status(
                    401,
                    "UNAUTHENTICATED",
                    "authenticationError",
                    "NOT_ADS_USER",
                ),
                Verdict::Reauthenticate,
            ),
            (
                status(
                    403,
                    "PERMISSION_DENIED",
                    "authorizationError",
                    "USER_PERMISSION_DENIED",
                ),
                Verdict::Reauthenticate,
            ),
            (
                status(
                    403,
                    "PERMISSION_DENIED",
                    "authorizationError",
                    "CUSTOMER_NOT_ENABLED",
                ),
                PERMANENT,
            ),
            (
                status(
                    403,
                    "PERMISSION_DENIED",
                    "authorizationError",
                    "CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION",
                ),
                PERMANENT,
            ),
            (
                status(
                    403,
                    "PERMISSION_DENIED",
                    "authorizationError",
                    "DEVELOPER_TOKEN_NOT_APPROVED",
                ),
                PERMANENT,
            ),
            (
                status(500, "INTERNAL", "internalError", "INTERNAL_ERROR"),
                TRANSIENT,
            ),
            (
                status(400, "INVALID_ARGUMENT", "queryError", "BAD_FIELD_NAME"),
                PERMANENT,
            ),
        ];
        for (s, verdict) in cases {
            assert_eq!(classify(code(s.code), Some(&s)), verdict, "{s:?}");
        }
        assert_eq!(classify(StatusCode::SERVICE_UNAVAILABLE, None), TRANSIENT);
        assert_eq!(
            classify(StatusCode::UNAUTHORIZED, None),
            Verdict::RefreshOnce
        );
        assert_eq!(classify(StatusCode::FORBIDDEN, None), PERMANENT);
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, None),
            Verdict::RetryAfter(Duration::ZERO)
        );
    }

    #[test]
    fn the_longest_retry_delay_google_names_is_kept() {
        let body = serde_json::json!({"error": {"code": 429, "status": "RESOURCE_EXHAUSTED", "details": [
            {"@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
             "errors": [{"errorCode": {"quotaError": "RESOURCE_EXHAUSTED"},
                         "details": {"quotaErrorDetails": {"rateScope": "ACCOUNT", "retryDelay": "2.5s"}}}]},
            {"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}
        ]}});
        let s = error_status(body.to_string().as_bytes()).unwrap();
        assert_eq!(retry_delay(&s), Some(Duration::from_millis(2500)));
        assert_eq!(
            classify(StatusCode::TOO_MANY_REQUESTS, Some(&s)),
            Verdict::RetryAfter(Duration::from_millis(2500))
        );
        assert_eq!(parse_duration("30s"), Some(Duration::from_secs(30)));
        assert_eq!(parse_duration("-1s"), None);
        assert_eq!(parse_duration("30"), None);
    }

    #[test]
    fn a_description_lists_every_error_with_its_code_message_and_the_request_id() {
        let s = status(400, "INVALID_ARGUMENT", "queryError", "BAD_FIELD_NAME");
        assert_eq!(
            describe(StatusCode::BAD_REQUEST, Some(&s)),
            "HTTP 400 INVALID_ARGUMENT: m [queryError: BAD_FIELD_NAME — why] (request id req-1)"
        );
        assert_eq!(
            describe(StatusCode::BAD_GATEWAY, None),
            "HTTP 502 without a Google error in the body"
        );
    }
}
