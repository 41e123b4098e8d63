//! Test rows (feature `fixtures`, for tests and benches only): the one place a complete
//! [`AdMetricRow`] is written out, so that a new lake column is added here and nowhere else
//! in the tests. A test takes a row and changes what it is about with struct update
//! syntax: `AdMetricRow { impressions: Some(7), ..campaign_row(…) }`.

use chrono::NaiveDate;

use crate::{AdMetricRow, Level, Platform};

/// A Facebook row of `campaign` on `date` at `level`, read now by `run_1` of `sch_1`:
/// named `Campaign <campaign>`, in EUR, 100 impressions, 3 clicks, 1.23 spent; no ad group,
/// ad, conversions, video views or extra metrics.
pub fn campaign_row(
    tenant: &str,
    connection_id: &str,
    account_id: &str,
    level: Level,
    campaign: &str,
    date: NaiveDate,
) -> AdMetricRow {
    AdMetricRow {
        row_key: AdMetricRow::key(Platform::Facebook, account_id, level, campaign, date),
        tenant_id: tenant.into(),
        platform: Platform::Facebook,
        connection_id: connection_id.into(),
        account_id: account_id.into(),
        level,
        date,
        campaign_id: Some(campaign.into()),
        campaign_name: Some(format!("Campaign {campaign}")),
        ad_group_id: None,
        ad_group_name: None,
        ad_id: None,
        ad_name: None,
        currency: Some("EUR".into()),
        impressions: Some(100),
        clicks: Some(3),
        cost_micros: Some(1_230_000),
        conversions: None,
        conversion_value: None,
        video_views: None,
        extra: None,
        extracted_at: chrono::Utc::now(),
        run_id: "run_1".into(),
        schedule_id: "sch_1".into(),
    }
}
