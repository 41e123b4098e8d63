//! What the failure queue is told about a poison record: a record that looks like a
//! staged row and never will become one. Its keys and where it sits in the stream, never
//! the image's values.
//!
//! ```json
//! {"kind": "poison_record", "reason": "field `impressions` is malformed",
//!  "table": "adpipe-dev-StagingTable-1A2B3C", "keys": {"pk": {"S": "…"}, "sk": {"S": "…"}},
//!  "sequence_number": "4421584500000000017450439091", "event_id": "c4ca…",
//!  "event_name": "INSERT", "event_source_arn": "arn:aws:dynamodb:…/stream/…"}
//! ```

use serde::Serialize;
use serde_json::value::RawValue;

use crate::event::StreamRecord;
use crate::records::Sequence;

/// The `kind` of every message stream-to-s3 sends; Lambda's own OnFailure records in the
/// same queue have none.
pub const KIND: &str = "poison_record";

/// A reason's field name is the item's attribute name, up to 64 KB in DynamoDB: kept short.
const REASON_MAX: usize = 300;

#[derive(Debug, Serialize)]
pub struct PoisonRecord {
    pub kind: &'static str,
    /// Names the field at fault, never its value.
    pub reason: String,
    /// The table of the stream, from `event_source_arn`; none in moto's records.
    pub table: Option<String>,
    /// The item's table keys as DynamoDB JSON, as the event gave them.
    pub keys: Option<Box<RawValue>>,
    pub sequence_number: Option<String>,
    pub event_id: String,
    pub event_name: &'static str,
    pub event_source_arn: Option<String>,
}

impl PoisonRecord {
    pub fn new(mut reason: String, record: StreamRecord) -> Self {
        if reason.len() > REASON_MAX {
            let end = (0..=REASON_MAX)
                .rev()
                .find(|&i| reason.is_char_boundary(i))
                .unwrap_or(0);
            reason.truncate(end);
            reason.push('…');
        }
        Self {
            kind: KIND,
            reason,
            table: record.event_source_arn.as_deref().and_then(table_of),
            keys: record.change.keys,
            sequence_number: record.change.sequence_number,
            event_id: record.event_id,
            event_name: record.event_name.as_str(),
            event_source_arn: record.event_source_arn,
        }
    }

    /// Where Lambda must resume if this record's report is not sent.
    pub fn sequence(&self) -> Option<Sequence> {
        self.sequence_number.as_deref().and_then(Sequence::parse)
    }

    /// The keys as DynamoDB JSON text, for the log.
    pub fn keys_json(&self) -> &str {
        self.keys.as_deref().map_or("{}", RawValue::get)
    }

    /// The message body.
    pub fn to_json(&self) -> String {
        // A struct of strings and raw JSON always serializes.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// `arn:aws:dynamodb:REGION:ACCOUNT:table/NAME/stream/LABEL` → `NAME`.
fn table_of(arn: &str) -> Option<String> {
    let (_, rest) = arn.split_once(":table/")?;
    let name = rest.split('/').next()?;
    (!name.is_empty()).then(|| name.to_owned())
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use super::*;
    use crate::event::StreamEvent;

    fn record(value: Value) -> StreamRecord {
        let event: StreamEvent =
            serde_json::from_str(&json!({ "Records": [value] }).to_string()).unwrap();
        event.records.into_iter().next().unwrap()
    }

    #[test]
    fn the_message_names_keys_and_position_and_never_the_values() {
        let poison = PoisonRecord::new(
            "field `impressions` is malformed".into(),
            record(json!({
                "eventID": "ev-1", "eventName": "MODIFY",
                "eventSourceARN": "arn:aws:dynamodb:us-east-1:1:table/adpipe-staging/stream/2026",
                "dynamodb": {
                    "Keys": {"pk": {"S": "t-1#facebook#act_1"}, "sk": {"S": "campaign|1|2026-03-01"}},
                    "NewImage": {"row_key": {"S": "r"}, "impressions": {"S": "secret"}},
                    "SequenceNumber": "00120"
                }
            })),
        );
        let message: Value = serde_json::from_str(&poison.to_json()).unwrap();
        assert_eq!(
            message,
            json!({
                "kind": "poison_record",
                "reason": "field `impressions` is malformed",
                "table": "adpipe-staging",
                "keys": {"pk": {"S": "t-1#facebook#act_1"}, "sk": {"S": "campaign|1|2026-03-01"}},
                "sequence_number": "00120",
                "event_id": "ev-1",
                "event_name": "MODIFY",
                "event_source_arn": "arn:aws:dynamodb:us-east-1:1:table/adpipe-staging/stream/2026",
            })
        );
        assert!(!poison.to_json().contains("secret"));
        assert_eq!(poison.sequence().unwrap().as_str(), "00120");
    }

    #[test]
    fn a_record_in_motos_shape_has_no_table_and_a_long_reason_is_cut() {
        let poison = PoisonRecord::new(
            format!("field `{}` is malformed", "é".repeat(400)),
            record(json!({"eventID": "ev-2", "eventName": "INSERT", "dynamodb": {}})),
        );
        assert_eq!(poison.table, None);
        assert_eq!(poison.keys_json(), "{}");
        assert!(poison.reason.len() <= REASON_MAX + '…'.len_utf8());
        assert_eq!(poison.sequence(), None);
    }
}
