//! A row as the staging table stores it (CONTRACT §4): every column under its Parquet
//! name — text as `S`, numbers as `N` in their `Display` form, an absent value as `NULL`,
//! `date` as `YYYY-MM-DD`, `extracted_at` in epoch milliseconds — plus the table keys,
//! `content_hash` and the `expires_at` TTL. stream-to-s3 reads it back (its `image.rs`).
//!
//! Built by hand, not through `serde_dynamo`, which builds a map of its own and converts it
//! into the SDK's: two tables a row, every attribute name hashed twice. The tests hold the
//! layout to what `serde_dynamo` writes.

use adpipe_domain::AdMetricRow;
use adpipe_domain::keys::{self, EXPIRES_AT, PK, SK};
use adpipe_dynamodb::Item;
use aws_sdk_dynamodb::types::AttributeValue;

pub const CONTENT_HASH: &str = "content_hash";
/// The row's 24 columns, its two keys, the hash and the TTL.
const ATTRIBUTES: usize = 28;

/// A row on its way to the staging table: its key and content hash, computed once. Its
/// item is built only if the row changed, when its write batch is sent.
#[derive(Debug)]
pub struct Staged<'a> {
    pub(super) key: (String, String),
    pub(super) hash: String,
    pub(super) row: &'a AdMetricRow,
}

impl<'a> Staged<'a> {
    pub fn new(row: &'a AdMetricRow) -> Self {
        Self {
            key: keys::staging_key(&row.tenant_id, row),
            hash: row.content_hash(),
            row,
        }
    }

    /// The item, expiring `ttl` after the row was extracted.
    pub fn into_item(self, ttl: chrono::Duration) -> Item {
        let row = self.row;
        let (pk, sk) = self.key;
        let expires_at = (row.extracted_at + ttl).timestamp();
        let mut item = Item::with_capacity(ATTRIBUTES);
        let mut put = |name: &str, value| item.insert(name.to_owned(), value);
        put("row_key", text(&row.row_key));
        put("tenant_id", text(&row.tenant_id));
        put("platform", text(row.platform.as_str()));
        put("connection_id", text(&row.connection_id));
        put("account_id", text(&row.account_id));
        put("level", text(row.level.as_str()));
        put("date", AttributeValue::S(row.date.to_string()));
        put("campaign_id", optional_text(&row.campaign_id));
        put("campaign_name", optional_text(&row.campaign_name));
        put("ad_group_id", optional_text(&row.ad_group_id));
        put("ad_group_name", optional_text(&row.ad_group_name));
        put("ad_id", optional_text(&row.ad_id));
        put("ad_name", optional_text(&row.ad_name));
        put("currency", optional_text(&row.currency));
        put("impressions", number(row.impressions));
        put("clicks", number(row.clicks));
        put("cost_micros", number(row.cost_micros));
        put("conversions", number(row.conversions));
        put("conversion_value", number(row.conversion_value));
        put("video_views", number(row.video_views));
        put("extra", optional_text(&row.extra));
        put(
            "extracted_at",
            number(Some(row.extracted_at.timestamp_millis())),
        );
        put("run_id", text(&row.run_id));
        put("schedule_id", text(&row.schedule_id));
        put(PK, AttributeValue::S(pk));
        put(SK, AttributeValue::S(sk));
        put(CONTENT_HASH, AttributeValue::S(self.hash));
        put(EXPIRES_AT, number(Some(expires_at)));
        item
    }
}

fn text(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn optional_text(text: &Option<String>) -> AttributeValue {
    text.as_deref().map_or(AttributeValue::Null(true), |t| {
        AttributeValue::S(t.to_owned())
    })
}

/// A number as `serde_dynamo` writes it: its `Display` form (`2`, not `2.0`).
fn number<N: ToString>(number: Option<N>) -> AttributeValue {
    number.map_or(AttributeValue::Null(true), |n| {
        AttributeValue::N(n.to_string())
    })
}

#[cfg(test)]
mod tests {
    use adpipe_domain::{Level, Platform};
    use chrono::{DateTime, NaiveDate};

    use super::*;

    const TTL_DAYS: i64 = 7;

    /// The item as staging built it with `serde_dynamo` before.
    fn serde_dynamo_item(row: &AdMetricRow) -> Item {
        let (pk, sk) = keys::staging_key(&row.tenant_id, row);
        let mut item = adpipe_dynamodb::to_item(row, pk, sk).unwrap();
        item.insert(
            CONTENT_HASH.to_owned(),
            AttributeValue::S(row.content_hash()),
        );
        let expires = row.extracted_at + chrono::Duration::days(TTL_DAYS);
        item.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N(expires.timestamp().to_string()),
        );
        item
    }

    fn item(row: &AdMetricRow) -> Item {
        Staged::new(row).into_item(chrono::Duration::days(TTL_DAYS))
    }

    fn ad_row() -> AdMetricRow {
        let date = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        AdMetricRow {
            row_key: AdMetricRow::key(Platform::Facebook, "act_1", Level::Ad, "a1", date),
            tenant_id: "tenant-a".into(),
            platform: Platform::Facebook,
            connection_id: "con_1".into(),
            account_id: "act_1".into(),
            level: Level::Ad,
            date,
            campaign_id: Some("c1".into()),
            campaign_name: Some("Spring \"Sale\" — é".into()),
            ad_group_id: Some("g1".into()),
            ad_group_name: Some(String::new()),
            ad_id: Some("a1".into()),
            ad_name: Some("Ad 1".into()),
            currency: Some("EUR".into()),
            impressions: Some(i64::MAX),
            clicks: Some(0),
            cost_micros: Some(-1_230_000),
            conversions: Some(2.0),
            conversion_value: Some(0.1 + 0.2),
            video_views: Some(321),
            extra: Some(r#"{"reach":800,"frequency":1.254321}"#.into()),
            extracted_at: DateTime::from_timestamp_millis(1_772_323_200_123).unwrap(),
            run_id: "run_1".into(),
            schedule_id: "sch_1".into(),
        }
    }

    /// Every optional column absent, as a YouTube channel row has most of them.
    fn sparse_row() -> AdMetricRow {
        let date = NaiveDate::from_ymd_opt(1999, 12, 31).unwrap();
        AdMetricRow {
            row_key: AdMetricRow::key(Platform::Youtube, "UC1", Level::Channel, "UC1", date),
            platform: Platform::Youtube,
            account_id: "UC1".into(),
            level: Level::Channel,
            date,
            campaign_id: None,
            campaign_name: None,
            ad_group_id: None,
            ad_group_name: None,
            ad_id: None,
            ad_name: None,
            currency: None,
            impressions: None,
            clicks: None,
            cost_micros: None,
            conversions: None,
            conversion_value: None,
            video_views: None,
            extra: None,
            ..ad_row()
        }
    }

    #[test]
    fn the_item_is_what_serde_dynamo_wrote_attribute_for_attribute() {
        let odd_numbers = AdMetricRow {
            conversions: Some(1e21),
            conversion_value: Some(-0.0),
            impressions: Some(i64::MIN),
            ..ad_row()
        };
        for row in [ad_row(), sparse_row(), odd_numbers] {
            let (ours, theirs) = (item(&row), serde_dynamo_item(&row));
            for (name, value) in &theirs {
                assert_eq!(ours.get(name), Some(value), "{name} of {}", row.row_key);
            }
            assert_eq!(ours.len(), theirs.len(), "{}", row.row_key);
        }
    }

    #[test]
    fn an_absent_value_is_a_null_attribute_not_a_missing_one() {
        let item = item(&sparse_row());
        assert_eq!(item.len(), 28);
        assert_eq!(item["campaign_name"], AttributeValue::Null(true));
        assert_eq!(item["conversions"], AttributeValue::Null(true));
        assert_eq!(item["date"], AttributeValue::S("1999-12-31".into()));
        assert_eq!(
            item["extracted_at"],
            AttributeValue::N("1772323200123".into())
        );
    }
}
