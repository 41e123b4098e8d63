//! What one stream record means to the data lake: a row to write, something to pass
//! over, or a poison record that can never become a row.

use std::cmp::Ordering;
use std::str::FromStr;

use adpipe_domain::{AdMetricRow, TenantId};
use aws_lambda_events::event::dynamodb::EventRecord;
use serde_dynamo::AttributeValue;

/// A stream record's sequence number: decimal digits, up to 40 of them (more than a
/// `u128` holds), so it is compared by value on its text and named zero-padded.
#[derive(Debug, Clone)]
pub struct Sequence(String);

/// Width of a padded sequence number: DynamoDB's documented maximum length.
const SEQUENCE_DIGITS: usize = 40;

impl Sequence {
    pub fn parse(text: &str) -> Option<Self> {
        let ok = !text.is_empty()
            && text.len() <= SEQUENCE_DIGITS
            && text.bytes().all(|b| b.is_ascii_digit());
        ok.then(|| Self(text.to_owned()))
    }

    /// As the stream gave it: what `batchItemFailures` must name.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Zero-padded to 40 digits, so object names sort as the stream does.
    pub fn padded(&self) -> String {
        format!("{:0>SEQUENCE_DIGITS$}", self.0)
    }

    fn significant(&self) -> &str {
        self.0.trim_start_matches('0')
    }
}

impl PartialEq for Sequence {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}

impl Eq for Sequence {}

impl Ord for Sequence {
    fn cmp(&self, other: &Self) -> Ordering {
        let (a, b) = (self.significant(), other.significant());
        a.len().cmp(&b.len()).then_with(|| a.cmp(b))
    }
}

impl PartialOrd for Sequence {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// What a record is to the data lake.
#[derive(Debug)]
pub enum Change {
    /// A new or changed staged row.
    Row(Sequence, Box<AdMetricRow>),
    /// Nothing for the lake: a delete (TTL expiry or otherwise), or an item that is not a
    /// staged row.
    Ignored(&'static str),
    /// Looks like a staged row and never will parse; the reason names a field, never a value.
    Poison(String),
}

/// The attribute every staged row has and no other item of the staging table does.
const ROW_MARKER: &str = "row_key";

pub fn classify(record: &EventRecord) -> Change {
    match record.event_name.as_str() {
        "INSERT" | "MODIFY" => {}
        "REMOVE" if is_ttl_expiry(record) => return Change::Ignored("expired by TTL"),
        "REMOVE" => return Change::Ignored("removed"),
        _ => return Change::Ignored("unknown event name"),
    }
    let image = &record.change.new_image;
    if !image.contains_key(ROW_MARKER) {
        return Change::Ignored("not a staged row");
    }
    let Some(sequence) = record
        .change
        .sequence_number
        .as_deref()
        .and_then(Sequence::parse)
    else {
        return Change::Poison("no valid SequenceNumber".into());
    };
    let value = AttributeValue::M(image.clone().into());
    let row: AdMetricRow = match serde_path_to_error::deserialize(
        serde_dynamo::Deserializer::from_attribute_value(value),
    ) {
        Ok(row) => row,
        Err(e) => return Change::Poison(format!("field `{}` is missing or malformed", e.path())),
    };
    if TenantId::from_str(&row.tenant_id).is_err() {
        return Change::Poison("field `tenant_id` is not a tenant id".into());
    }
    Change::Row(sequence, Box::new(row))
}

/// DynamoDB's own deletes of expired items.
fn is_ttl_expiry(record: &EventRecord) -> bool {
    record
        .user_identity
        .as_ref()
        .is_some_and(|u| u.type_ == "Service" && u.principal_id == "dynamodb.amazonaws.com")
}

/// The record's table keys as DynamoDB JSON: what a log may say about a poison record.
pub fn keys_of(record: &EventRecord) -> String {
    serde_json::to_string(&record.change.keys).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn seq(s: &str) -> Sequence {
        Sequence::parse(s).unwrap()
    }

    #[test]
    fn sequence_numbers_compare_by_value_not_by_text() {
        assert!(seq("9") < seq("10"));
        assert!(seq("000123") == seq("000123"));
        assert_eq!(seq("0010").cmp(&seq("10")), Ordering::Equal);
        let long = "1".repeat(40);
        assert!(seq("99999999999999999999") < seq(&long));
        assert_eq!(seq("123").padded().len(), 40);
        assert!(seq("9").padded() < seq("10").padded());
    }

    #[test]
    fn a_sequence_number_is_digits_only() {
        assert!(Sequence::parse("").is_none());
        assert!(Sequence::parse("12a").is_none());
        assert!(Sequence::parse(&"1".repeat(41)).is_none());
    }
}
