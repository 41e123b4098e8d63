//! The Graph API's JSON as the connector reads it. Strings are borrowed from the body
//! wherever they carry no escape, and an insights page is read row by row
//! ([`read_page`]), so a page parses with few allocations besides the rows themselves.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::connectors::json::explain;
pub use crate::connectors::json::{Text, parse};

/// One page of an insights edge (`act_<id>/insights` or `<report_run_id>/insights`) as a
/// whole: [`read_page`] reads it row by row, and reads it whole only to explain why a body
/// is malformed.
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

/// Reads an insights page, handing each row to `each` (with its index) as soon as it is
/// parsed, so the page's wire rows are never all held at once. Answers `paging.next`, or
/// the first error of `each`, or why the body is no [`Page`] (naming the culprit's path).
pub fn read_page<'a, F>(body: &'a [u8], each: F) -> Result<Option<String>, String>
where
    F: FnMut(usize, InsightRow<'a>) -> Result<(), String>,
{
    // UTF-8 checked once for the whole body spares the parser checking every string.
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(explain::<Page>(body));
    };
    let mut reader = PageReader {
        each,
        refused: None,
    };
    let mut de = serde_json::Deserializer::from_str(text);
    let read = de.deserialize_map(&mut reader).and_then(|next| {
        de.end()?;
        Ok(next)
    });
    match (read, reader.refused) {
        (_, Some(refused)) => Err(refused),
        (Ok(next), None) => Ok(next),
        (Err(_), None) => Err(explain::<Page>(body)),
    }
}

/// A page's object: rows go to `each` as `data` is read; `paging.next` is the answer.
struct PageReader<F> {
    each: F,
    /// The error of the row `each` refused; parsing stops there.
    refused: Option<String>,
}

impl<'de, F> Visitor<'de> for &mut PageReader<F>
where
    F: FnMut(usize, InsightRow<'de>) -> Result<(), String>,
{
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an insights page")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut data, mut next) = (false, None);
        while let Some(key) = map.next_key::<Text>()? {
            match key.as_str() {
                "data" if data => return Err(de::Error::duplicate_field("data")),
                "data" => {
                    map.next_value_seed(Rows(&mut *self))?;
                    data = true;
                }
                "paging" => next = map.next_value::<Option<Paging>>()?.and_then(|p| p.next),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !data {
            return Err(de::Error::missing_field("data"));
        }
        Ok(next)
    }
}

/// The `data` array, row by row.
struct Rows<'r, F>(&'r mut PageReader<F>);

impl<'de, F> DeserializeSeed<'de> for Rows<'_, F>
where
    F: FnMut(usize, InsightRow<'de>) -> Result<(), String>,
{
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de, F> Visitor<'de> for Rows<'_, F>
where
    F: FnMut(usize, InsightRow<'de>) -> Result<(), String>,
{
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of insights rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut index = 0;
        while let Some(row) = seq.next_element()? {
            if let Err(refused) = (self.0.each)(index, row) {
                self.0.refused = Some(refused);
                return Err(de::Error::custom("a row was refused"));
            }
            index += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ad_ids(body: &[u8]) -> Result<(Vec<String>, Option<String>), String> {
        let mut ids = Vec::new();
        let next = read_page(body, |_, row| {
            ids.push(row.ad_id.map(|t| t.0.into_owned()).unwrap_or_default());
            Ok(())
        })?;
        Ok((ids, next))
    }

    #[test]
    fn a_page_is_read_row_by_row_whatever_else_it_holds() {
        let body = br#"{"summary": {"x": [1]}, "data": [{"ad_id": "1"}, {"ad_id": "2"}],
            "paging": {"cursors": {"after": "x"}, "next": "https://graph/next"}}"#;
        assert_eq!(
            ad_ids(body),
            Ok((
                vec!["1".into(), "2".into()],
                Some("https://graph/next".into())
            ))
        );
    }

    #[test]
    fn the_first_refused_row_stops_the_page_with_its_error() {
        let mut seen = 0;
        let err = read_page(br#"{"data": [{}, {}, {}]}"#, |i, _| {
            seen += 1;
            if i == 1 {
                Err("data[1]: no".into())
            } else {
                Ok(())
            }
        });
        assert_eq!((err, seen), (Err("data[1]: no".into()), 2));
    }

    #[test]
    fn a_malformed_page_is_explained_with_the_path_of_the_culprit() {
        let cases: [(&[u8], &str); 4] = [
            (
                br#"{"data": [{"ad_id": "1"}, {"ad_id": true}]}"#,
                "data[1].ad_id: ",
            ),
            (br#"{"paging": {}}"#, "missing field `data`"),
            (br#"{"data": [], "data": []}"#, "duplicate field `data`"),
            (
                b"{\"data\": [{\"ad_name\": \"\xff\"}]}",
                "data[0].ad_name: ",
            ),
        ];
        for (body, expected) in cases {
            let err = ad_ids(body).unwrap_err();
            assert!(
                err.contains(expected),
                "{err:?} should contain {expected:?}"
            );
        }
    }
}
