//! Batches of `GoogleAdsRow`s → [`AdMetricRow`]s (docs/architecture.md, "The data lake"):
//! one row per (entity, day), `cost_micros` as Google sends it (already micros, exact),
//! video views from `metrics.video_trueview_views`, the other metrics in `extra`.
//!
//! A metric that a row leaves out is zero, not unknown: proto3 JSON omits a field at its
//! default, so Google writes no `"impressions"` for a day of 0 impressions. Every metric
//! the query selects is therefore present in every row, 0 when omitted — in the columns and
//! in `extra` alike.
//!
//! Public for the benchmark; the connector is the only other caller.

use adpipe_domain::{AdMetricRow, Level, Platform, Window};
use serde::Serialize;

use super::stream::{Splitter, StreamError};
use super::wire::{self, AdsRow, Batch, Double, Entity, Int64, Metrics, Text};
use crate::connectors::Origin;

/// What every row of one fetch shares.
#[derive(Debug, Clone)]
pub struct RowContext<'a> {
    pub origin: Origin<'a>,
    pub window: Window,
}

/// The rows of one stream, batch by batch. A fetch starts a new one per attempt, so a
/// retried stream replaces the rows of the failed one.
#[derive(Debug)]
pub struct Rows<'a> {
    ctx: &'a RowContext<'a>,
    rows: Vec<AdMetricRow>,
}

impl<'a> Rows<'a> {
    pub fn new(ctx: &'a RowContext<'a>) -> Self {
        Self {
            ctx,
            rows: Vec::new(),
        }
    }

    /// Reads element `index` of the stream: its rows, or the error it carries. The batch's
    /// wire rows borrow from its bytes, and are dropped once they are rows.
    pub fn batch(&mut self, index: usize, bytes: &[u8]) -> Result<(), StreamError> {
        let batch = parse_batch(bytes).map_err(|e| malformed(index, &e))?;
        if let Some(status) = batch.error {
            return Err(StreamError::Failed(status));
        }
        let before = self.rows.len();
        self.rows.reserve(batch.results.len());
        for (i, row) in batch.results.iter().enumerate() {
            match normalize(row, self.ctx) {
                Ok(row) => self.rows.push(row),
                Err(e) => {
                    self.rows.truncate(before);
                    let request = match &batch.request_id {
                        Some(id) => format!(" (request id {})", id.as_str()),
                        None => String::new(),
                    };
                    return Err(malformed(index, &format!("results[{i}].{e}{request}")));
                }
            }
        }
        Ok(())
    }

    /// The rows read so far; the next batches start a new list.
    pub fn take(&mut self) -> Vec<AdMetricRow> {
        std::mem::take(&mut self.rows)
    }

    pub fn into_rows(self) -> Vec<AdMetricRow> {
        self.rows
    }
}

/// A batch; UTF-8 is checked once for the whole of it, which spares the parser checking
/// every string. A batch that does not parse is parsed again to name the culprit.
fn parse_batch(bytes: &[u8]) -> Result<Batch<'_>, String> {
    match std::str::from_utf8(bytes).map(serde_json::from_str) {
        Ok(Ok(batch)) => Ok(batch),
        _ => wire::parse(bytes),
    }
}

fn malformed(batch: usize, why: &str) -> StreamError {
    StreamError::Malformed(format!("batch {batch}: {why}"))
}

/// A whole `searchStream` body, fed `chunk` bytes at a time as the network would: what the
/// connector does with a stream, without the network (the benchmark's subject).
pub fn parse_body(
    body: &[u8],
    ctx: &RowContext<'_>,
    chunk: usize,
) -> Result<Vec<AdMetricRow>, StreamError> {
    let mut splitter = Splitter::new();
    let mut rows = Rows::new(ctx);
    for piece in body.chunks(chunk.max(1)) {
        splitter.push(piece, &mut |i, bytes| rows.batch(i, bytes))?;
    }
    splitter.finish()?;
    Ok(rows.into_rows())
}

/// One `GoogleAdsRow` as the data lake's row; the error starts with the field's path.
pub fn normalize(row: &AdsRow<'_>, ctx: &RowContext<'_>) -> Result<AdMetricRow, String> {
    let date = row
        .segments
        .as_ref()
        .and_then(|s| s.date)
        .ok_or("segments.date: missing")?
        .0;
    if date < ctx.window.since || date > ctx.window.until {
        return Err(format!(
            "segments.date: {date} is outside the window {}..{} asked for",
            ctx.window.since, ctx.window.until
        ));
    }
    let campaign = id("campaign", row.campaign.as_ref())?;
    let ad_group = match ctx.origin.level {
        Level::AdGroup | Level::Ad => Some(id("adGroup", row.ad_group.as_ref())?),
        _ => None,
    };
    let ad = match ctx.origin.level {
        Level::Ad => Some(id(
            "adGroupAd.ad",
            row.ad_group_ad.as_ref().and_then(|a| a.ad.as_ref()),
        )?),
        _ => None,
    };
    // An ad is identified by its ad group and its id (`adGroupAds/{ad_group_id}~{ad_id}`):
    // the same ad may serve in several ad groups.
    let ad_group_ad;
    let entity = match (ad_group, ad) {
        (Some(g), Some(a)) => {
            ad_group_ad = format!("{g}~{a}");
            &ad_group_ad
        }
        (Some(g), None) => g,
        _ => campaign,
    };
    let metrics = row.metrics.as_ref();
    let m = |f: fn(&Metrics) -> Option<Int64>| metrics.and_then(f).map_or(0, |v| v.0);
    let d = |f: fn(&Metrics) -> Option<Double>| metrics.and_then(f).map_or(0.0, |v| v.0);
    Ok(AdMetricRow {
        row_key: AdMetricRow::key(
            Platform::GoogleAds,
            ctx.origin.account_id,
            ctx.origin.level,
            entity,
            date,
        ),
        tenant_id: ctx.origin.tenant_id.to_owned(),
        platform: Platform::GoogleAds,
        connection_id: ctx.origin.connection_id.to_owned(),
        account_id: ctx.origin.account_id.to_owned(),
        level: ctx.origin.level,
        date,
        campaign_id: Some(campaign.to_owned()),
        campaign_name: name(row.campaign.as_ref()),
        ad_group_id: ad_group.map(str::to_owned),
        ad_group_name: ad_group.and(name(row.ad_group.as_ref())),
        ad_id: ad.map(str::to_owned),
        ad_name: ad.and(name(row.ad_group_ad.as_ref().and_then(|a| a.ad.as_ref()))),
        currency: currency(row)?,
        impressions: Some(m(|m| m.impressions)),
        clicks: Some(m(|m| m.clicks)),
        cost_micros: Some(m(|m| m.cost_micros)),
        conversions: Some(d(|m| m.conversions)),
        conversion_value: Some(d(|m| m.conversions_value)),
        video_views: Some(m(|m| m.video_trueview_views)),
        extra: Some(extra(metrics)),
        extracted_at: ctx.origin.extracted_at,
        run_id: ctx.origin.run_id.to_owned(),
        schedule_id: ctx.origin.schedule_id.to_owned(),
    })
}

/// The entity's id, present and positive.
fn id<'r>(path: &str, entity: Option<&'r Entity<'_>>) -> Result<&'r str, String> {
    match entity.and_then(|e| e.id.as_ref()) {
        Some(id) if id.is_set() => Ok(id.as_str()),
        Some(id) => Err(format!("{path}.id: not an entity id: {:?}", id.as_str())),
        None => Err(format!("{path}.id: missing")),
    }
}

/// An empty name is left out by proto3 JSON, and stays absent.
fn name(entity: Option<&Entity<'_>>) -> Option<String> {
    entity
        .and_then(|e| e.name.as_ref())
        .map(|n| n.as_str().to_owned())
}

fn currency(row: &AdsRow<'_>) -> Result<Option<String>, String> {
    match row
        .customer
        .as_ref()
        .and_then(|c| c.currency_code.as_ref())
        .map(Text::as_str)
    {
        None => Ok(None),
        Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => {
            Ok(Some(c.to_owned()))
        }
        Some(c) => Err(format!(
            "customer.currencyCode: not an ISO 4217 code: {c:?}"
        )),
    }
}

/// The selected metrics without a column of their own, under their GAQL names; omitted
/// ones are 0. Written by serde_json (shortest exact decimals), never NaN or infinite (see
/// `wire::Double`).
#[derive(Serialize)]
struct Extra {
    interactions: i64,
    engagements: i64,
    all_conversions: f64,
    all_conversions_value: f64,
    view_through_conversions: i64,
    video_quartile_p100_rate: f64,
}

/// `{"interactions":12,"engagements":0,"all_conversions":3.5,…}`.
fn extra(metrics: Option<&Metrics>) -> String {
    let m = metrics.copied().unwrap_or_default();
    let int = |v: Option<Int64>| v.map_or(0, |v| v.0);
    let dbl = |v: Option<Double>| v.map_or(0.0, |v| v.0);
    let extra = Extra {
        interactions: int(m.interactions),
        engagements: int(m.engagements),
        all_conversions: dbl(m.all_conversions),
        all_conversions_value: dbl(m.all_conversions_value),
        view_through_conversions: int(m.view_through_conversions),
        video_quartile_p100_rate: dbl(m.video_quartile_p100_rate),
    };
    // Plain integers and finite floats: serializing them cannot fail.
    serde_json::to_string(&extra).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::Utc;

    fn ctx(level: Level) -> RowContext<'static> {
        let since = "2026-11-01".parse().unwrap();
        RowContext {
            origin: Origin {
                tenant_id: "t",
                connection_id: "con_1",
                account_id: "1234567890",
                run_id: "run_1",
                schedule_id: "sch_1",
                level,
                extracted_at: Utc::now(),
            },
            window: Window {
                since,
                until: since,
            },
        }
    }

    fn one(body: &str, level: Level) -> Result<AdMetricRow, String> {
        let c = ctx(level);
        match parse_body(body.as_bytes(), &c, 7) {
            Ok(mut rows) => Ok(rows.remove(0)),
            Err(StreamError::Malformed(m)) => Err(m),
            Err(other) => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn an_ad_row_is_keyed_by_its_ad_group_and_ad_and_omitted_metrics_are_zero() {
        let body = r#"[{"results":[{"campaign":{"resourceName":"customers/1234567890/campaigns/11","id":"11","name":"Spring \"Sale\" \u00e9"},"adGroup":{"id":"22","name":"G"},"adGroupAd":{"resourceName":"customers/1234567890/adGroupAds/22~33","ad":{"id":"33"}},"customer":{"currencyCode":"EUR","timeZone":"Europe/Paris"},"metrics":{"costMicros":"1230000","conversions":1.5,"allConversionsValue":2.25},"segments":{"date":"2026-11-01"}}],"fieldMask":"campaign.id","requestId":"r"}]"#;
        let row = one(body, Level::Ad).expect("a row");
        assert_eq!(row.row_key, "google_ads|1234567890|ad|22~33|2026-11-01");
        assert_eq!(
            (
                row.campaign_id.as_deref(),
                row.ad_group_id.as_deref(),
                row.ad_id.as_deref()
            ),
            (Some("11"), Some("22"), Some("33"))
        );
        assert_eq!(row.campaign_name.as_deref(), Some("Spring \"Sale\" é"));
        assert_eq!(row.ad_name, None);
        assert_eq!(row.currency.as_deref(), Some("EUR"));
        assert_eq!(row.cost_micros, Some(1_230_000));
        assert_eq!(
            (row.impressions, row.clicks, row.video_views),
            (Some(0), Some(0), Some(0))
        );
        assert_eq!(
            (row.conversions, row.conversion_value),
            (Some(1.5), Some(0.0))
        );
        let extra: serde_json::Value =
            serde_json::from_str(row.extra.as_deref().unwrap()).expect("extra is JSON");
        assert_eq!(
            extra,
            serde_json::json!({"interactions": 0, "engagements": 0, "all_conversions": 0.0,
                "all_conversions_value": 2.25, "view_through_conversions": 0, "video_quartile_p100_rate": 0.0})
        );
    }

    #[test]
    fn malformed_rows_name_the_batch_and_the_field() {
        let cases = [
            (
                r#"{"campaign":{"id":"1"},"metrics":{"costMicros":"12.5"},"segments":{"date":"2026-11-01"}}"#,
                "batch 0: results[0].metrics.costMicros",
            ),
            (
                r#"{"campaign":{"id":"1"},"segments":{}}"#,
                "batch 0: results[0].segments.date: missing",
            ),
            (
                r#"{"campaign":{"name":"x"},"segments":{"date":"2026-11-01"}}"#,
                "batch 0: results[0].campaign.id: missing",
            ),
            (
                r#"{"campaign":{"id":"1"},"segments":{"date":"2026-11-02"}}"#,
                "batch 0: results[0].segments.date: 2026-11-02 is outside the window",
            ),
            (
                r#"{"campaign":{"id":"1"},"customer":{"currencyCode":"euro"},"segments":{"date":"2026-11-01"}}"#,
                "batch 0: results[0].customer.currencyCode",
            ),
            (
                r#"{"campaign":{"id":"1"},"metrics":{"impressions":true},"segments":{"date":"2026-11-01"}}"#,
                "batch 0: results[0].metrics.impressions",
            ),
        ];
        for (row, expected) in cases {
            let body = format!(r#"[{{"results":[{row}]}}]"#);
            let err = one(&body, Level::Campaign).expect_err(row);
            assert!(err.starts_with(expected), "{err}");
        }
    }
}
