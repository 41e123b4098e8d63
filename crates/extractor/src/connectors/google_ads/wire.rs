//! The JSON of `googleAds:searchStream` as the connector reads it: one element of the
//! streamed array (`SearchGoogleAdsStreamResponse`), its `GoogleAdsRow`s, and Google's error
//! (`google.rpc.Status` carrying a `GoogleAdsFailure`).
//!
//! Proto3 JSON rules apply: names are lowerCamelCase (`costMicros`), int64 values arrive as
//! strings (`"1230000"`), doubles as numbers, and a field holding its default (a zero
//! metric, an empty name) is left out. Strings are borrowed from the body wherever they
//! carry no escape; nothing here becomes a `serde_json::Value`.

use std::borrow::Cow;
use std::fmt;

use chrono::NaiveDate;
use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

pub use crate::connectors::json::{Text, parse};

/// One element of the stream: a batch of rows, or — after some batches, on HTTP 200 —
/// the error that ended the stream.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Batch<'a> {
    #[serde(borrow, default)]
    pub results: Vec<AdsRow<'a>>,
    #[serde(borrow, default)]
    pub request_id: Option<Text<'a>>,
    #[serde(default)]
    pub error: Option<Status>,
}

/// A `GoogleAdsRow` with the resources and metrics the connector selects.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdsRow<'a> {
    #[serde(borrow, default)]
    pub campaign: Option<Entity<'a>>,
    #[serde(borrow, default)]
    pub ad_group: Option<Entity<'a>>,
    #[serde(borrow, default)]
    pub ad_group_ad: Option<AdGroupAd<'a>>,
    #[serde(borrow, default)]
    pub customer: Option<Customer<'a>>,
    #[serde(default)]
    pub metrics: Option<Metrics>,
    #[serde(default)]
    pub segments: Option<Segments>,
}

/// `campaign`, `ad_group`, `ad_group_ad.ad`: an id (int64) and a name.
#[derive(Debug, Default, Deserialize)]
pub struct Entity<'a> {
    #[serde(borrow, default)]
    pub id: Option<Id<'a>>,
    #[serde(borrow, default)]
    pub name: Option<Text<'a>>,
}

#[derive(Debug, Default, Deserialize)]
pub struct AdGroupAd<'a> {
    #[serde(borrow, default)]
    pub ad: Option<Entity<'a>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Customer<'a> {
    #[serde(borrow, default)]
    pub currency_code: Option<Text<'a>>,
    #[serde(borrow, default)]
    pub time_zone: Option<Text<'a>>,
}

/// The metrics selected (see `gaql`); an absent one is zero.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metrics {
    pub impressions: Option<Int64>,
    pub clicks: Option<Int64>,
    pub cost_micros: Option<Int64>,
    pub conversions: Option<Double>,
    pub conversions_value: Option<Double>,
    pub video_trueview_views: Option<Int64>,
    pub interactions: Option<Int64>,
    pub engagements: Option<Int64>,
    pub all_conversions: Option<Double>,
    pub all_conversions_value: Option<Double>,
    pub view_through_conversions: Option<Int64>,
    pub video_quartile_p100_rate: Option<Double>,
}

#[derive(Debug, Default, Deserialize)]
pub struct Segments {
    pub date: Option<Day>,
}

/// An int64 as proto3 JSON writes it, a string of digits; a JSON integer is accepted too,
/// as proto3 parsers do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Int64(pub i64);

impl<'de> Deserialize<'de> for Int64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Int64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an int64 (a string of digits)")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Int64, E> {
                parse_i64(v)
                    .map(Int64)
                    .ok_or_else(|| E::custom(format!("not an int64: {v:?}")))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Int64, E> {
                Ok(Int64(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Int64, E> {
                i64::try_from(v)
                    .map(Int64)
                    .map_err(|_| E::custom(format!("out of the int64 range: {v}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// An id, an int64 kept as the text Google wrote (checked, not reformatted): ids are
/// copied into rows as strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Id<'a>(pub Cow<'a, str>);

impl Id<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// A real entity's id: proto3 omits a zero one, and none is negative.
    pub fn is_set(&self) -> bool {
        !matches!(self.0.as_bytes(), [b'0'] | [b'-', ..])
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Id<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Id<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an int64 id (a string of digits)")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Id<'a>, E> {
                check_i64(v).map(|()| Id(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Id<'a>, E> {
                check_i64(v).map(|()| Id(Cow::Owned(v.to_owned())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id<'a>, E> {
                Ok(Id(Cow::Owned(v.to_string())))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id<'a>, E> {
                i64::try_from(v)
                    .map(|v| Id(Cow::Owned(v.to_string())))
                    .map_err(|_| E::custom(format!("out of the int64 range: {v}")))
            }
        }
        d.deserialize_any(V(std::marker::PhantomData))
    }
}

fn check_i64<E: de::Error>(v: &str) -> Result<(), E> {
    parse_i64(v)
        .map(|_| ())
        .ok_or_else(|| E::custom(format!("not an int64: {v:?}")))
}

/// `[-]digits`, within the i64 range: no sign `+`, spaces, points or exponents.
fn parse_i64(raw: &str) -> Option<i64> {
    let digits = raw.strip_prefix('-').unwrap_or(raw);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    raw.parse().ok()
}

/// A double as proto3 JSON writes it: a number (a numeric string is accepted, as proto3
/// parsers do). `NaN` and infinities are refused: no column can hold them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Double(pub f64);

impl<'de> Deserialize<'de> for Double {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Double;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a finite number")
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Double, E> {
                if v.is_finite() {
                    Ok(Double(v))
                } else {
                    Err(E::custom(format!("not a finite number: {v}")))
                }
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Double, E> {
                Ok(Double(v as f64))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Double, E> {
                let plain = v
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b"-.eE+".contains(&b));
                v.parse::<f64>()
                    .ok()
                    .filter(|n| plain && n.is_finite())
                    .map(Double)
                    .ok_or_else(|| E::custom(format!("not a finite number: {v:?}")))
            }
        }
        d.deserialize_any(V)
    }
}

/// `segments.date`: `YYYY-MM-DD`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Day(pub NaiveDate);

impl<'de> Deserialize<'de> for Day {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Day;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a date, YYYY-MM-DD")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Day, E> {
                parse_day(v)
                    .map(Day)
                    .ok_or_else(|| E::custom(format!("not a YYYY-MM-DD date: {v:?}")))
            }
        }
        d.deserialize_str(V)
    }
}

/// `YYYY-MM-DD` without chrono's format machinery: it runs once per row.
fn parse_day(raw: &str) -> Option<NaiveDate> {
    let b = raw.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter().try_fold(0u32, |n, &c| {
            c.is_ascii_digit().then(|| n * 10 + u32::from(c - b'0'))
        })
    };
    let year = i32::try_from(num(0..4)?).ok()?;
    NaiveDate::from_ymd_opt(year, num(5..7)?, num(8..10)?)
}

// ---- errors ------------------------------------------------------------------------

/// Google's error in a failed call's body: `{"error": Status}`, or for `searchStream` the
/// same wrapped in the stream's array (`[{"error": Status}]`).
pub fn error_status(body: &[u8]) -> Option<Status> {
    let wrapped = body.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'[');
    if wrapped {
        let mut all: Vec<ErrorEnvelope> = serde_json::from_slice(body).ok()?;
        (!all.is_empty()).then(|| all.swap_remove(0).error)
    } else {
        serde_json::from_slice::<ErrorEnvelope>(body)
            .ok()
            .map(|e| e.error)
    }
}

#[derive(Debug, Deserialize)]
pub struct ErrorEnvelope {
    pub error: Status,
}

/// `google.rpc.Status` as Google's REST front end writes it: `code` is the HTTP status,
/// `status` the canonical code's name (`RESOURCE_EXHAUSTED`, `UNAUTHENTICATED`, …).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Status {
    #[serde(default)]
    pub code: u16,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub details: Vec<StatusDetail>,
}

/// An element of `details`: a `GoogleAdsFailure` (`errors`, `requestId`), a
/// `google.rpc.RetryInfo` (`retryDelay`), or another type the connector does not read.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusDetail {
    #[serde(rename = "@type", default)]
    pub type_url: String,
    #[serde(default)]
    pub errors: Vec<AdsError>,
    #[serde(default)]
    pub request_id: Option<String>,
    /// `google.protobuf.Duration` in JSON: `"30s"`, `"1.5s"`.
    #[serde(default)]
    pub retry_delay: Option<String>,
}

/// A `GoogleAdsError`: `errorCode` is a one-of, `{"quotaError": "RESOURCE_EXHAUSTED"}`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdsError {
    #[serde(default)]
    pub error_code: serde_json::Map<String, serde_json::Value>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub location: Option<ErrorLocation>,
    #[serde(default)]
    pub details: Option<ErrorDetails>,
}

impl AdsError {
    /// The one-of's `(kind, value)`: `("quotaError", "RESOURCE_EXHAUSTED")`.
    pub fn code(&self) -> Option<(&str, Cow<'_, str>)> {
        self.error_code.iter().next().map(|(kind, value)| {
            let value = match value {
                serde_json::Value::String(s) => Cow::Borrowed(s.as_str()),
                other => Cow::Owned(other.to_string()),
            };
            (kind.as_str(), value)
        })
    }
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorLocation {
    #[serde(default)]
    pub field_path_elements: Vec<FieldPathElement>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldPathElement {
    #[serde(default)]
    pub field_name: String,
    #[serde(default)]
    pub index: Option<i64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetails {
    #[serde(default)]
    pub quota_error_details: Option<QuotaErrorDetails>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaErrorDetails {
    #[serde(default)]
    pub rate_name: Option<String>,
    #[serde(default)]
    pub retry_delay: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int64_strings_are_exact_and_anything_else_is_refused() {
        let ok: Vec<Int64> =
            serde_json::from_str(r#"["0","1230000","-5",42,"9223372036854775807"]"#)
                .expect("int64s");
        assert_eq!(
            ok,
            [
                Int64(0),
                Int64(1_230_000),
                Int64(-5),
                Int64(42),
                Int64(i64::MAX)
            ]
        );
        for bad in [
            r#""12.5""#,
            r#""1e3""#,
            r#""""#,
            r#"" 1""#,
            r#""+1""#,
            r#""9223372036854775808""#,
            "1.5",
            "true",
        ] {
            assert!(serde_json::from_str::<Int64>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn doubles_are_finite_numbers() {
        let ok: Vec<Double> = serde_json::from_str(r#"[1.5, 0, "2.25", 3]"#).expect("doubles");
        assert_eq!(ok, [Double(1.5), Double(0.0), Double(2.25), Double(3.0)]);
        for bad in [r#""NaN""#, r#""Infinity""#, r#""abc""#, "null"] {
            assert!(serde_json::from_str::<Double>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn days_are_calendar_dates() {
        assert_eq!(
            parse_day("2026-11-01"),
            NaiveDate::from_ymd_opt(2026, 11, 1)
        );
        for bad in ["2026-02-30", "2026-1-01", "20261101", "2026-11-0a", ""] {
            assert_eq!(parse_day(bad), None, "{bad}");
        }
    }

    #[test]
    fn an_error_body_is_read_bare_or_wrapped_in_the_streams_array() {
        let failure = r#"{"error":{"code":429,"message":"Resource has been exhausted","status":"RESOURCE_EXHAUSTED","details":[{"@type":"type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure","errors":[{"errorCode":{"quotaError":"RESOURCE_EXHAUSTED"},"message":"Too many requests.","details":{"quotaErrorDetails":{"rateScope":"ACCOUNT","rateName":"Number of operations for basic access","retryDelay":"30s"}}}],"requestId":"r-1"}]}}"#;
        for body in [failure.to_owned(), format!("[{failure}]")] {
            let status = error_status(body.as_bytes()).expect("a status");
            assert_eq!(
                (status.code, status.status.as_str()),
                (429, "RESOURCE_EXHAUSTED")
            );
            let error = &status.details[0].errors[0];
            assert_eq!(
                error.code(),
                Some(("quotaError", Cow::Borrowed("RESOURCE_EXHAUSTED")))
            );
            assert_eq!(status.details[0].request_id.as_deref(), Some("r-1"));
            assert_eq!(
                error
                    .details
                    .as_ref()
                    .and_then(|d| d.quota_error_details.as_ref())
                    .and_then(|q| q.retry_delay.as_deref()),
                Some("30s")
            );
        }
        assert!(error_status(b"<html>502</html>").is_none());
        assert!(error_status(b"[]").is_none());
    }
}
