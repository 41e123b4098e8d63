//! The ad-metric row: one entity's metrics for one day, as the data lake stores it
//! (docs/architecture.md, "The data lake"). Connectors produce it, the staging table holds it, stream-to-s3 writes it.

use std::fmt::Write as _;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use crate::{Level, Platform};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AdMetricRow {
    /// `platform|account_id|level|entity_id|date`: the identity of a row across versions.
    pub row_key: String,
    pub tenant_id: String,
    pub platform: Platform,
    pub connection_id: String,
    pub account_id: String,
    pub level: Level,
    pub date: NaiveDate,
    pub campaign_id: Option<String>,
    pub campaign_name: Option<String>,
    pub ad_group_id: Option<String>,
    pub ad_group_name: Option<String>,
    pub ad_id: Option<String>,
    pub ad_name: Option<String>,
    pub currency: Option<String>,
    pub impressions: Option<i64>,
    pub clicks: Option<i64>,
    /// Spend × 1 000 000, exact.
    pub cost_micros: Option<i64>,
    pub conversions: Option<f64>,
    pub conversion_value: Option<f64>,
    pub video_views: Option<i64>,
    /// JSON object of the platform's other metrics.
    pub extra: Option<String>,
    /// Epoch milliseconds, UTC.
    #[serde(with = "chrono::serde::ts_milliseconds")]
    pub extracted_at: DateTime<Utc>,
    pub run_id: String,
    pub schedule_id: String,
}

impl AdMetricRow {
    /// The row key of an entity's day; `entity_id` is the id at the row's level
    /// (campaign, ad group, ad, channel or video id).
    pub fn key(
        platform: Platform,
        account_id: &str,
        level: Level,
        entity_id: &str,
        date: NaiveDate,
    ) -> String {
        let parts = [platform.as_str(), account_id, level.as_str(), entity_id];
        // One allocation: every connector makes one key per row.
        let mut key = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum::<usize>() + 10);
        for part in parts {
            key.push_str(part);
            key.push('|');
        }
        // Writing to a String cannot fail.
        let _ = write!(key, "{date}");
        key
    }
}

impl AdMetricRow {
    /// SHA-256 (hex) of what the row's content is — its identity, names and metrics — and
    /// not of when and by which run it was fetched (`extracted_at`, `run_id`,
    /// `schedule_id`): two fetches of an unchanged day hash the same, so staging can skip
    /// the second. Staging hashes every row it is given, so the content is framed by hand
    /// rather than serialized.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut content = Content(Vec::with_capacity(512));
        content.text(Some(&self.row_key));
        content.text(Some(&self.connection_id));
        for text in [
            &self.campaign_id,
            &self.campaign_name,
            &self.ad_group_id,
            &self.ad_group_name,
            &self.ad_id,
            &self.ad_name,
            &self.currency,
        ] {
            content.text(text.as_deref());
        }
        for number in [
            self.impressions,
            self.clicks,
            self.cost_micros,
            self.video_views,
        ] {
            content.integer(number);
        }
        content.float(self.conversions);
        content.float(self.conversion_value);
        content.text(self.extra.as_deref());
        crate::hex(&Sha256::digest(&content.0))
    }
}

/// A row's content as the bytes its hash covers: fields in a fixed order, each a `0` when
/// absent, else a `1` and its value — text as its length and bytes, an integer in zigzag
/// LEB128, a float as its 8 bytes — so that no two contents share an encoding, and a
/// typical row fits few SHA-256 blocks.
struct Content(Vec<u8>);

impl Content {
    fn text(&mut self, text: Option<&str>) {
        if let Some(text) = self.present(text) {
            self.varint(text.len() as u64);
            self.0.extend_from_slice(text.as_bytes());
        }
    }

    fn integer(&mut self, number: Option<i64>) {
        if let Some(n) = self.present(number) {
            self.varint(((n << 1) ^ (n >> 63)) as u64);
        }
    }

    fn float(&mut self, number: Option<f64>) {
        if let Some(x) = self.present(number) {
            self.0.extend_from_slice(&x.to_bits().to_le_bytes());
        }
    }

    fn present<T>(&mut self, value: Option<T>) -> Option<T> {
        self.0.push(u8::from(value.is_some()));
        value
    }

    /// LEB128: 7 bits a byte, the high bit set on all but the last.
    fn varint(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.0.push(0x80 | (n & 0x7f) as u8);
            n >>= 7;
        }
        self.0.push(n as u8);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AdMetricRow {
        let date = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default();
        AdMetricRow {
            campaign_name: Some("Spring".into()),
            impressions: Some(10),
            clicks: Some(1),
            cost_micros: Some(1_000_000),
            run_id: "run_a".into(),
            schedule_id: "sch_a".into(),
            ..crate::fixtures::campaign_row("t", "con_1", "act_1", Level::Campaign, "c1", date)
        }
    }

    #[test]
    fn a_refetch_of_the_same_numbers_hashes_the_same() {
        let a = row();
        let b = AdMetricRow {
            extracted_at: a.extracted_at + chrono::Duration::days(1),
            run_id: "run_b".into(),
            ..a.clone()
        };
        assert_eq!(a.content_hash(), b.content_hash());
    }

    #[test]
    fn a_changed_number_or_name_hashes_differently() {
        let a = row();
        assert_ne!(
            a.content_hash(),
            AdMetricRow {
                clicks: Some(2),
                ..a.clone()
            }
            .content_hash()
        );
        assert_ne!(
            a.content_hash(),
            AdMetricRow {
                campaign_name: Some("Summer".into()),
                ..a.clone()
            }
            .content_hash()
        );
        assert_ne!(
            a.content_hash(),
            AdMetricRow {
                conversions: Some(0.0),
                ..a.clone()
            }
            .content_hash()
        );
    }

    #[test]
    fn an_absent_text_and_text_moved_to_the_next_field_hash_differently() {
        let a = AdMetricRow {
            ad_group_id: Some("g1".into()),
            ad_group_name: Some("A".into()),
            ..row()
        };
        let empty = AdMetricRow {
            ad_group_name: Some(String::new()),
            ..a.clone()
        };
        let absent = AdMetricRow {
            ad_group_name: None,
            ..a.clone()
        };
        let shifted = AdMetricRow {
            ad_group_id: Some("g".into()),
            ad_group_name: Some("1A".into()),
            ..a.clone()
        };
        let hashes = [&a, &empty, &absent, &shifted].map(AdMetricRow::content_hash);
        for (i, x) in hashes.iter().enumerate() {
            for y in &hashes[i + 1..] {
                assert_ne!(x, y);
            }
        }
    }

    /// Pinned: a change of the content's encoding changes every stored hash, and staging
    /// then rewrites every row it sees once.
    #[test]
    fn the_content_hash_of_a_row_is_stable() {
        assert_eq!(
            row().content_hash(),
            "13202699470937f6563dca66641bf59ae9adb0382a8257daeecf0980779e23a6"
        );
    }

    #[test]
    fn a_row_key_names_platform_account_level_entity_and_day() {
        let date = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default();
        assert_eq!(
            AdMetricRow::key(Platform::GoogleAds, "123", Level::AdGroup, "g-9", date),
            "google_ads|123|ad_group|g-9|2026-03-01"
        );
    }
}
