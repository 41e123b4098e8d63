//! The DynamoDB Streams event as stream-to-s3 reads it: only the fields it uses, each
//! record's `NewImage` read straight into a row ([`crate::image`]). Lambda's shape and
//! moto's (no `eventSourceARN`, a float `ApproximateCreationDateTime`) both read.

use serde::Deserialize;
use serde_json::value::RawValue;

use crate::image::Image;

/// `lambda_runtime` reads every payload through `serde_path_to_error`, which copies each
/// map key it passes into a `String`: ~60 per record, a third of the whole read. So the
/// records are taken as raw JSON there and read by serde_json directly.
#[derive(Debug)]
pub struct StreamEvent {
    pub records: Vec<StreamRecord>,
}

impl<'de> Deserialize<'de> for StreamEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Raw {
            #[serde(rename = "Records")]
            records: Box<RawValue>,
        }
        let raw = Raw::deserialize(deserializer)?;
        let records = serde_json::from_str(raw.records.get()).map_err(serde::de::Error::custom)?;
        Ok(StreamEvent { records })
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StreamRecord {
    #[serde(rename = "eventID", default)]
    pub event_id: String,
    #[serde(default)]
    pub event_name: EventName,
    #[serde(rename = "eventSourceARN", default)]
    pub event_source_arn: Option<String>,
    /// Set on DynamoDB's own deletes of expired items.
    #[serde(default)]
    pub user_identity: Option<UserIdentity>,
    #[serde(rename = "dynamodb", default)]
    pub change: ItemChange,
}

#[derive(Debug, Default, Deserialize)]
pub struct ItemChange {
    /// The item's table keys, as DynamoDB JSON, kept as the event gave them.
    #[serde(rename = "Keys", default)]
    pub keys: Option<Box<RawValue>>,
    #[serde(rename = "NewImage", default)]
    pub new_image: Option<Image>,
    #[serde(rename = "SequenceNumber", default)]
    pub sequence_number: Option<String>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
pub enum EventName {
    #[serde(rename = "INSERT")]
    Insert,
    #[serde(rename = "MODIFY")]
    Modify,
    #[serde(rename = "REMOVE")]
    Remove,
    #[default]
    #[serde(other)]
    Unknown,
}

impl EventName {
    pub fn as_str(self) -> &'static str {
        match self {
            EventName::Insert => "INSERT",
            EventName::Modify => "MODIFY",
            EventName::Remove => "REMOVE",
            EventName::Unknown => "unknown",
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct UserIdentity {
    #[serde(rename = "type", default)]
    pub kind: String,
    #[serde(rename = "principalId", default)]
    pub principal_id: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As `lambda_runtime` reads every payload.
    fn as_the_runtime_reads(text: &str) -> StreamEvent {
        let de = &mut serde_json::Deserializer::from_str(text);
        serde_path_to_error::deserialize(de).expect("a stream event")
    }

    #[test]
    fn the_sample_event_reads_as_the_lambda_runtime_reads_it() {
        let text = include_str!("../../../events/stream-to-s3/staged-rows.json");
        let event = as_the_runtime_reads(text);
        assert_eq!(event.records.len(), 2);
        let (insert, ttl) = (&event.records[0], &event.records[1]);
        assert_eq!(insert.event_name, EventName::Insert);
        assert!(matches!(insert.change.new_image, Some(Image::Row(_))));
        let keys: serde_json::Value =
            serde_json::from_str(insert.change.keys.as_ref().unwrap().get()).unwrap();
        assert_eq!(keys["pk"]["S"], "acme#facebook#act_1234567890");
        assert_eq!(ttl.event_name, EventName::Remove);
        assert_eq!(ttl.user_identity.as_ref().unwrap().kind, "Service");
        assert!(ttl.event_source_arn.as_deref().unwrap().contains(":table/"));
    }

    #[test]
    fn an_event_reads_from_a_json_value_too() {
        let event: StreamEvent = serde_json::from_value(serde_json::json!({"Records": [
            {"eventID": "1", "eventName": "INSERT", "dynamodb": {"SequenceNumber": "7"}}
        ]}))
        .unwrap();
        assert_eq!(
            event.records[0].change.sequence_number.as_deref(),
            Some("7")
        );
    }

    #[test]
    fn a_record_of_the_wrong_shape_fails_the_read() {
        let text = r#"{"Records": [{"eventID": 7}]}"#;
        let de = &mut serde_json::Deserializer::from_str(text);
        assert!(serde_path_to_error::deserialize::<_, StreamEvent>(de).is_err());
    }

    #[test]
    fn unknown_event_names_and_fields_are_tolerated() {
        let event = as_the_runtime_reads(
            r#"{"Records": [{"eventID": "1", "eventName": "SOMETHING", "extra": {"a": [1]},
                "dynamodb": {"ApproximateCreationDateTime": 1.5, "SequenceNumber": "7"}}]}"#,
        );
        assert_eq!(event.records[0].event_name, EventName::Unknown);
        assert!(event.records[0].change.new_image.is_none());
    }
}
