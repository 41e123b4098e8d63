//! The ad-metric row: one entity's metrics for one day, as the data lake stores it
//! (CONTRACT §5). Connectors produce it, the staging table holds it, stream-to-s3 writes it.

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
        format!("{platform}|{account_id}|{level}|{entity_id}|{date}")
    }
}

/// What a row's content is, without when and by which run it was fetched: two fetches of
/// an unchanged day hash the same, so staging can skip the second.
#[derive(Serialize)]
struct Content<'a> {
    row_key: &'a str,
    connection_id: &'a str,
    campaign_name: Option<&'a str>,
    ad_group_id: Option<&'a str>,
    ad_group_name: Option<&'a str>,
    ad_id: Option<&'a str>,
    ad_name: Option<&'a str>,
    campaign_id: Option<&'a str>,
    currency: Option<&'a str>,
    impressions: Option<i64>,
    clicks: Option<i64>,
    cost_micros: Option<i64>,
    conversions: Option<f64>,
    conversion_value: Option<f64>,
    video_views: Option<i64>,
    extra: Option<&'a str>,
}

impl AdMetricRow {
    /// SHA-256 (hex) of the row's identity, names and metrics — not of `extracted_at`,
    /// `run_id` or `schedule_id`, which change on every fetch.
    pub fn content_hash(&self) -> String {
        use sha2::{Digest, Sha256};
        let content = Content {
            row_key: &self.row_key,
            connection_id: &self.connection_id,
            campaign_id: self.campaign_id.as_deref(),
            campaign_name: self.campaign_name.as_deref(),
            ad_group_id: self.ad_group_id.as_deref(),
            ad_group_name: self.ad_group_name.as_deref(),
            ad_id: self.ad_id.as_deref(),
            ad_name: self.ad_name.as_deref(),
            currency: self.currency.as_deref(),
            impressions: self.impressions,
            clicks: self.clicks,
            cost_micros: self.cost_micros,
            conversions: self.conversions,
            conversion_value: self.conversion_value,
            video_views: self.video_views,
            extra: self.extra.as_deref(),
        };
        // Serializing plain fields and options to a Vec cannot fail.
        let bytes = serde_json::to_vec(&content).unwrap_or_default();
        crate::hex(&Sha256::digest(&bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> AdMetricRow {
        let date = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default();
        AdMetricRow {
            row_key: AdMetricRow::key(Platform::Facebook, "act_1", Level::Campaign, "c1", date),
            tenant_id: "t".into(),
            platform: Platform::Facebook,
            connection_id: "con_1".into(),
            account_id: "act_1".into(),
            level: Level::Campaign,
            date,
            campaign_id: Some("c1".into()),
            campaign_name: Some("Spring".into()),
            ad_group_id: None,
            ad_group_name: None,
            ad_id: None,
            ad_name: None,
            currency: Some("EUR".into()),
            impressions: Some(10),
            clicks: Some(1),
            cost_micros: Some(1_000_000),
            conversions: None,
            conversion_value: None,
            video_views: None,
            extra: None,
            extracted_at: Utc::now(),
            run_id: "run_a".into(),
            schedule_id: "sch_a".into(),
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
}
