//! The Graph API's JSON as the connector reads it. Strings are borrowed from the body
//! wherever they carry no escape, so a page of 500 rows parses with few allocations
//! besides the rows themselves.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, Visitor};

/// A string from the body, borrowed unless it had to be unescaped. Numbers Meta sends as
/// numeric strings (`"361324"`) and any it sends as JSON numbers both land here as text.
#[derive(Debug, Clone, PartialEq)]
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a number")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v)))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
        }
        d.deserialize_any(TextVisitor(PhantomData))
    }
}

impl Text<'_> {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// One page of an insights edge (`act_<id>/insights` or `<report_run_id>/insights`).
#[derive(Debug, Deserialize)]
pub struct Page<'a> {
    #[serde(borrow)]
    pub data: Vec<InsightRow<'a>>,
    #[serde(default)]
    pub paging: Option<Paging>,
}

/// Cursor paging: `next` is absent on the last page, and only then.
#[derive(Debug, Deserialize)]
pub struct Paging {
    #[serde(default)]
    pub next: Option<String>,
}

/// The fields of an insights row the connector asks for; Meta omits a metric it has no
/// value for.
#[derive(Debug, Default, Deserialize)]
pub struct InsightRow<'a> {
    #[serde(borrow)]
    pub date_start: Option<Text<'a>>,
    #[serde(borrow)]
    pub date_stop: Option<Text<'a>>,
    #[serde(borrow)]
    pub campaign_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub campaign_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub adset_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub adset_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub ad_id: Option<Text<'a>>,
    #[serde(borrow)]
    pub ad_name: Option<Text<'a>>,
    #[serde(borrow)]
    pub account_currency: Option<Text<'a>>,
    #[serde(borrow)]
    pub impressions: Option<Text<'a>>,
    #[serde(borrow)]
    pub clicks: Option<Text<'a>>,
    #[serde(borrow)]
    pub spend: Option<Text<'a>>,
    #[serde(borrow)]
    pub actions: Option<Vec<ActionStat<'a>>>,
    #[serde(borrow)]
    pub action_values: Option<Vec<ActionStat<'a>>>,
    #[serde(borrow)]
    pub video_play_actions: Option<Vec<ActionStat<'a>>>,
    #[serde(borrow)]
    pub reach: Option<Text<'a>>,
    #[serde(borrow)]
    pub frequency: Option<Text<'a>>,
    #[serde(borrow)]
    pub cpm: Option<Text<'a>>,
    #[serde(borrow)]
    pub cpc: Option<Text<'a>>,
    #[serde(borrow)]
    pub ctr: Option<Text<'a>>,
    #[serde(borrow)]
    pub cpp: Option<Text<'a>>,
    #[serde(borrow)]
    pub unique_clicks: Option<Text<'a>>,
    #[serde(borrow)]
    pub unique_ctr: Option<Text<'a>>,
    #[serde(borrow)]
    pub inline_link_clicks: Option<Text<'a>>,
    #[serde(borrow)]
    pub inline_link_click_ctr: Option<Text<'a>>,
}

/// An element of `actions`, `action_values`, `video_play_actions` (`AdsActionStats`):
/// `value` is the default attribution window's.
#[derive(Debug, Deserialize)]
pub struct ActionStat<'a> {
    #[serde(borrow)]
    pub action_type: Text<'a>,
    #[serde(borrow)]
    pub value: Text<'a>,
}

/// A Graph API error body: `{"error": {"message", "type", "code", "error_subcode", …}}`.
#[derive(Debug, Deserialize)]
pub struct ErrorBody {
    pub error: GraphError,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct GraphError {
    #[serde(default)]
    pub message: String,
    #[serde(default, rename = "type")]
    pub kind: Option<String>,
    #[serde(default)]
    pub code: i64,
    #[serde(default)]
    pub error_subcode: Option<i64>,
    #[serde(default)]
    pub error_user_msg: Option<String>,
    #[serde(default)]
    pub fbtrace_id: Option<String>,
}

/// `GET act_<id>?fields=timezone_name,currency`.
#[derive(Debug, Deserialize)]
pub struct Account {
    pub timezone_name: String,
}

/// The answer to `POST act_<id>/insights`: the asynchronous report run to poll.
#[derive(Debug, Deserialize)]
pub struct ReportRunCreated<'a> {
    #[serde(borrow)]
    pub report_run_id: Text<'a>,
}

/// `GET <report_run_id>?fields=async_status,async_percent_completion`.
#[derive(Debug, Deserialize)]
pub struct ReportRunStatus {
    pub async_status: String,
    #[serde(default)]
    pub async_percent_completion: Option<f64>,
}
/// Parses a JSON body as `T`; the error names the path of the culprit (`data[3].spend`).
/// Tracking the path costs a third of the parse, so it is done only to explain a failure.
pub fn parse<'a, T: Deserialize<'a>>(body: &'a [u8]) -> Result<T, String> {
    serde_json::from_slice(body).map_err(|_| explain::<T>(body))
}

/// Why `body` is not a `T`, with the path of the culprit.
fn explain<'a, T: Deserialize<'a>>(body: &'a [u8]) -> String {
    let mut de = serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(&mut de) {
        Err(e) => {
            let path = e.path().to_string();
            // `?` stands for a key the parser never reached (the body broke off).
            match path.trim_end_matches(".?") {
                "." | "" | "?" => e.inner().to_string(),
                path => format!("{path}: {}", e.inner()),
            }
        }
        Ok(_) => match de.end() {
            Err(e) => e.to_string(),
            Ok(()) => "malformed JSON".to_owned(),
        },
    }
}
