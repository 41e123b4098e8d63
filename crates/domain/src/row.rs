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
