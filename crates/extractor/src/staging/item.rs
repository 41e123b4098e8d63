//! A row as the staging table stores it (docs/architecture.md, "The staging table"): every
//! column under its Parquet name — text as `S`, numbers as `N` in their `Display` form, an
//! absent value as `NULL`, `date` as `YYYY-MM-DD`, `extracted_at` in epoch milliseconds —
//! plus the table keys, `content_hash` and the `expires_at` TTL. stream-to-s3 reads it back
//! (its `image.rs`).
//!
//! Built by hand, not through `serde_dynamo`, which builds a map of its own and converts it
//! into the SDK's: two tables a row, every attribute name hashed twice. Here each item is
//! a copy of one map of the names, its values filled in, the row's text moved, not copied.
//! The tests hold the layout to what `serde_dynamo` writes.

use std::mem::take;
use std::sync::OnceLock;

use adpipe_domain::AdMetricRow;
use adpipe_domain::keys::{self, EXPIRES_AT, PK, SK};
use adpipe_dynamodb::Item;
use aws_sdk_dynamodb::types::AttributeValue;

pub const CONTENT_HASH: &str = "content_hash";

/// A row on its way to the staging table: its key and content hash, computed once. Its
/// item is built only if the row changed, when its write batch is sent, and takes the
/// row's text over rather than copying it.
#[derive(Debug)]
pub struct Staged {
    pub(super) key: (String, String),
    pub(super) hash: String,
    pub(super) row: AdMetricRow,
}

impl Staged {
    pub fn new(row: AdMetricRow) -> Self {
        Self {
            key: keys::staging_key(&row.tenant_id, &row),
            hash: row.content_hash(),
            row,
        }
    }

    /// The item, expiring `ttl` after the row was extracted.
    pub fn into_item(self, ttl: chrono::Duration) -> Item {
        let Staged {
            key: (mut pk, mut sk),
            mut hash,
            mut row,
        } = self;
        let expires_at = (row.extracted_at + ttl).timestamp();
        let AdMetricRow {
            row_key,
            tenant_id,
            platform,
            connection_id,
            account_id,
            level,
            date,
            campaign_id,
            campaign_name,
            ad_group_id,
            ad_group_name,
            ad_id,
            ad_name,
            currency,
            impressions,
            clicks,
            cost_micros,
            conversions,
            conversion_value,
            video_views,
            extra,
            extracted_at,
            run_id,
            schedule_id,
        } = &mut row;
        let mut item = names().clone();
        for (name, value) in &mut item {
            *value = match name.as_str() {
                "row_key" => AttributeValue::S(take(row_key)),
                "tenant_id" => AttributeValue::S(take(tenant_id)),
                "platform" => text(platform.as_str()),
                "connection_id" => AttributeValue::S(take(connection_id)),
                "account_id" => AttributeValue::S(take(account_id)),
                "level" => text(level.as_str()),
                "date" => AttributeValue::S(date.to_string()),
                "campaign_id" => optional_text(campaign_id.take()),
                "campaign_name" => optional_text(campaign_name.take()),
                "ad_group_id" => optional_text(ad_group_id.take()),
                "ad_group_name" => optional_text(ad_group_name.take()),
                "ad_id" => optional_text(ad_id.take()),
                "ad_name" => optional_text(ad_name.take()),
                "currency" => optional_text(currency.take()),
                "impressions" => integer(*impressions),
                "clicks" => integer(*clicks),
                "cost_micros" => integer(*cost_micros),
                "conversions" => float(*conversions),
                "conversion_value" => float(*conversion_value),
                "video_views" => integer(*video_views),
                "extra" => optional_text(extra.take()),
                "extracted_at" => integer(Some(extracted_at.timestamp_millis())),
                "run_id" => AttributeValue::S(take(run_id)),
                "schedule_id" => AttributeValue::S(take(schedule_id)),
                PK => AttributeValue::S(take(&mut pk)),
                SK => AttributeValue::S(take(&mut sk)),
                CONTENT_HASH => AttributeValue::S(take(&mut hash)),
                EXPIRES_AT => integer(Some(expires_at)),
                _ => continue,
            };
        }
        item
    }
}

/// Every attribute's name, as the map items start from. Cloning a map copies its layout
/// and hashes nothing; inserting the 28 names would hash each one (SipHash, the SDK's
/// `HashMap` hasher), a sixth of an item's cost. `into_item` fills the values in.
fn names() -> &'static Item {
    static NAMES: OnceLock<Item> = OnceLock::new();
    NAMES.get_or_init(|| {
        [
            "row_key",
            "tenant_id",
            "platform",
            "connection_id",
            "account_id",
            "level",
            "date",
            "campaign_id",
            "campaign_name",
            "ad_group_id",
            "ad_group_name",
            "ad_id",
            "ad_name",
            "currency",
            "impressions",
            "clicks",
            "cost_micros",
            "conversions",
            "conversion_value",
            "video_views",
            "extra",
            "extracted_at",
            "run_id",
            "schedule_id",
            PK,
            SK,
            CONTENT_HASH,
            EXPIRES_AT,
        ]
        .into_iter()
        .map(|name| (name.to_owned(), AttributeValue::Null(true)))
        .collect()
    })
}

fn text(text: &str) -> AttributeValue {
    AttributeValue::S(text.to_owned())
}

fn optional_text(text: Option<String>) -> AttributeValue {
    text.map_or(AttributeValue::Null(true), AttributeValue::S)
}

/// An integer as `serde_dynamo` writes it, its `Display` form (itoa's is the same).
fn integer(number: Option<i64>) -> AttributeValue {
    number.map_or(AttributeValue::Null(true), |n| {
        AttributeValue::N(itoa::Buffer::new().format(n).to_owned())
    })
}

/// A float as `serde_dynamo` writes it: its `Display` form (`2`, not `2.0`).
fn float(number: Option<f64>) -> AttributeValue {
    number.map_or(AttributeValue::Null(true), |n| {
        AttributeValue::N(n.to_string())
    })
}

#[cfg(test)]
mod tests {
    use adpipe_domain::fixtures::campaign_row;
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
        Staged::new(row.clone()).into_item(chrono::Duration::days(TTL_DAYS))
    }

    fn ad_row() -> AdMetricRow {
        let date = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap();
        AdMetricRow {
            row_key: AdMetricRow::key(Platform::Facebook, "act_1", Level::Ad, "a1", date),
            campaign_name: Some("Spring \"Sale\" — é".into()),
            ad_group_id: Some("g1".into()),
            ad_group_name: Some(String::new()),
            ad_id: Some("a1".into()),
            ad_name: Some("Ad 1".into()),
            impressions: Some(i64::MAX),
            clicks: Some(0),
            cost_micros: Some(-1_230_000),
            conversions: Some(2.0),
            conversion_value: Some(0.1 + 0.2),
            video_views: Some(321),
            extra: Some(r#"{"reach":800,"frequency":1.254321}"#.into()),
            extracted_at: DateTime::from_timestamp_millis(1_772_323_200_123).unwrap(),
            ..campaign_row("tenant-a", "con_1", "act_1", Level::Ad, "c1", date)
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
