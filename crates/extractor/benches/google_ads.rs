//! A 10,000-row ad-level `searchStream` body — ten batches of 1,000 `GoogleAdsRow`s with
//! every field the connector selects, pretty-printed as Google's REST front end sends it —
//! cut into batches as it would stream in (16 KiB chunks) and normalized into rows. Reports
//! rows per second on one core.

use std::hint::black_box;

use adpipe_domain::{Level, Window};
use chrono::{Days, NaiveDate, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use extractor::connectors::Origin;
use extractor::connectors::google_ads::rows::{RowContext, parse_body};
use serde_json::{Value, json};

/// The allocator the `extractor` binary runs with (`src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROWS: usize = 10_000;
const BATCH: usize = 1_000;
const CHUNK: usize = 16 * 1024;
const CUSTOMER: &str = "1234567890";

fn since() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 11, 1).unwrap_or_default()
}

/// Row `i`: ad `i / 7` on day `i % 7`, in ad group `i / 70`, campaign `i / 700`; some
/// metrics at zero and so omitted, as proto3 JSON does.
fn row(i: usize) -> Value {
    let date = since() + Days::new((i % 7) as u64);
    let (campaign, ad_group, ad) = (
        21_000_000_000 + i / 700,
        150_000_000_000 + i / 70,
        700_000_000_000 + i / 7,
    );
    let mut metrics = json!({
        "clicks": format!("{}", 10 + i % 97),
        "conversions": 2.5,
        "conversionsValue": 123.45,
        "costMicros": format!("{}", 1_000_000 + i * 12_345),
        "impressions": format!("{}", 1000 + i * 13),
        "interactions": format!("{}", 12 + i % 97),
        "allConversions": 3.5,
        "allConversionsValue": 150.25,
        "videoQuartileP100Rate": 0.2512,
    });
    if i % 3 == 0 {
        metrics["videoTrueviewViews"] = json!(format!("{}", 300 + i % 50));
        metrics["engagements"] = json!(format!("{}", i % 11 + 1));
        metrics["viewThroughConversions"] = json!("1");
    }
    json!({
        "customer": {
            "resourceName": format!("customers/{CUSTOMER}"),
            "currencyCode": "EUR",
            "timeZone": "Europe/Berlin"
        },
        "campaign": {
            "resourceName": format!("customers/{CUSTOMER}/campaigns/{campaign}"),
            "name": format!("Campaign {campaign} — Spring \"Sale\""),
            "id": campaign.to_string()
        },
        "adGroup": {
            "resourceName": format!("customers/{CUSTOMER}/adGroups/{ad_group}"),
            "id": ad_group.to_string(),
            "name": format!("Ad group {ad_group}")
        },
        "adGroupAd": {
            "resourceName": format!("customers/{CUSTOMER}/adGroupAds/{ad_group}~{ad}"),
            "ad": {
                "resourceName": format!("customers/{CUSTOMER}/ads/{ad}"),
                "id": ad.to_string(),
                "name": format!("Ad {ad}")
            }
        },
        "metrics": metrics,
        "segments": {"date": date.to_string()}
    })
}

fn response() -> Vec<u8> {
    let batches: Vec<Value> = (0..ROWS)
        .step_by(BATCH)
        .map(|start| {
            json!({
                "results": (start..start + BATCH).map(row).collect::<Vec<_>>(),
                "fieldMask": "campaign.id,campaign.name,adGroup.id,adGroup.name,adGroupAd.ad.id,adGroupAd.ad.name,customer.currencyCode,customer.timeZone,metrics.impressions,metrics.clicks,metrics.costMicros,metrics.conversions,metrics.conversionsValue,metrics.videoTrueviewViews,metrics.interactions,metrics.engagements,metrics.allConversions,metrics.allConversionsValue,metrics.viewThroughConversions,metrics.videoQuartileP100Rate,segments.date",
                "requestId": "Qw3rTy-uIoP_asdfGHjkl"
            })
        })
        .collect();
    serde_json::to_vec_pretty(&batches).unwrap_or_default()
}

fn context() -> RowContext<'static> {
    RowContext {
        origin: Origin {
            tenant_id: "tenant-a",
            connection_id: "con_0192b0c0a0b07d3e9f1a2b3c4d5e6f70",
            account_id: CUSTOMER,
            run_id: "run_0192b0c0a0b07d3e9f1a2b3c4d5e6f71",
            schedule_id: "sch_0192b0c0a0b07d3e9f1a2b3c4d5e6f72",
            level: Level::Ad,
            extracted_at: Utc::now(),
        },
        window: Window {
            since: since(),
            until: since() + Days::new(6),
        },
    }
}

fn search_stream(c: &mut Criterion) {
    let body = response();
    let ctx = context();
    let rows = parse_body(&body, &ctx, CHUNK).map(|r| r.len()).ok();
    assert_eq!(rows, Some(ROWS));
    eprintln!(
        "body: {} bytes, {} bytes a row",
        body.len(),
        body.len() / ROWS
    );

    let mut group = c.benchmark_group("google_ads_search_stream_10k_rows");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("split_parse_normalize", |b| {
        b.iter(|| parse_body(black_box(&body), &ctx, CHUNK).map(|r| r.len()))
    });
    group.finish();
}

criterion_group!(benches, search_stream);
criterion_main!(benches);
