//! What one stream record means to the data lake: a row to write, something to pass
//! over, or a poison record that can never become a row.

use std::cmp::Ordering;
use std::str::FromStr;

use adpipe_domain::{AdMetricRow, TenantId};

use crate::event::{EventName, StreamRecord};
use crate::image::Image;
use crate::poison::PoisonRecord;

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
    /// Looks like a staged row and never will become one.
    Poison(PoisonRecord),
}

pub fn classify(mut record: StreamRecord) -> Change {
    match record.event_name {
        EventName::Insert | EventName::Modify => {}
        EventName::Remove if is_ttl_expiry(&record) => return Change::Ignored("expired by TTL"),
        EventName::Remove => return Change::Ignored("removed"),
        EventName::Unknown => return Change::Ignored("unknown event name"),
    }
    let sequence = record
        .change
        .sequence_number
        .as_deref()
        .and_then(Sequence::parse);
    let reason = match record.change.new_image.take() {
        None | Some(Image::NotARow) => return Change::Ignored("not a staged row"),
        Some(Image::Malformed(reason)) => reason,
        Some(Image::Row(row)) => match sequence {
            None => "no valid SequenceNumber".into(),
            Some(_) if TenantId::from_str(&row.tenant_id).is_err() => {
                "field `tenant_id` is not a tenant id".into()
            }
            Some(sequence) => return Change::Row(sequence, row),
        },
    };
    Change::Poison(PoisonRecord::new(reason, record))
}

/// DynamoDB's own deletes of expired items.
fn is_ttl_expiry(record: &StreamRecord) -> bool {
    record
        .user_identity
        .as_ref()
        .is_some_and(|u| u.kind == "Service" && u.principal_id == "dynamodb.amazonaws.com")
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
