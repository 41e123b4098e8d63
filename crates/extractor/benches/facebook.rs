//! A 10,000-row insights response (ad level, every field the connector asks for) parsed
//! and normalized into rows, and on into the DynamoDB items staging writes (key, content
//! hash and TTL included). Reports rows per second on one core.

use std::hint::black_box;

use adpipe_domain::{Level, Window};
use chrono::{Days, NaiveDate, Utc};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use extractor::connectors::Origin;
use extractor::connectors::facebook::DEFAULT_CONVERSION_ACTION_TYPES;
use extractor::connectors::facebook::rows::{RowContext, parse_page};
use extractor::staging::dynamodb::{stage, write_batches};
use serde_json::{Value, json};

/// The allocator the `extractor` binary runs with (`src/main.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ROWS: usize = 10_000;
const TTL: chrono::TimeDelta = chrono::TimeDelta::days(7);

/// 10,000 ad-day rows over 7 days, shaped like Meta's: numbers as strings, actions with
/// their channel variants, a `paging` object.
fn response() -> Vec<u8> {
    let since = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default();
    let data: Vec<Value> = (0..ROWS)
        .map(|i| {
            let date = since + Days::new((i % 7) as u64);
            let (campaign, adset, ad) = (i / 700, i / 70, i / 7);
            json!({
                "campaign_id": format!("1202100000{campaign:08}"),
                "campaign_name": format!("Campaign {campaign} — Spring \"Sale\""),
                "adset_id": format!("1202200000{adset:08}"),
                "adset_name": format!("Ad set {adset}"),
                "ad_id": format!("1202300000{ad:08}"),
                "ad_name": format!("Ad {ad}"),
                "account_currency": "EUR",
                "impressions": format!("{}", 1000 + i * 13),
                "clicks": format!("{}", 10 + i % 97),
                "spend": format!("{}.{:02}", 10 + i % 500, i % 100),
                "reach": format!("{}", 800 + i * 11),
                "frequency": "1.254321",
                "cpm": "12.345678",
                "cpc": "0.456789",
                "ctr": "1.234567",
                "unique_clicks": format!("{}", 9 + i % 90),
                "inline_link_clicks": format!("{}", 7 + i % 50),
                "actions": [
                    {"action_type": "link_click", "value": "7"},
                    {"action_type": "post_engagement", "value": "15"},
                    {"action_type": "page_engagement", "value": "15"},
                    {"action_type": "omni_purchase", "value": "2", "7d_click": "2"},
                    {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "2"},
                    {"action_type": "purchase", "value": "2"}
                ],
                "action_values": [
                    {"action_type": "omni_purchase", "value": "123.45"},
                    {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "123.45"}
                ],
                "video_play_actions": [{"action_type": "video_view", "value": "321"}],
                "date_start": date.to_string(),
                "date_stop": date.to_string()
            })
        })
        .collect();
    serde_json::to_vec(&json!({
        "data": data,
        "paging": {"cursors": {"before": "MAZDZD", "after": "MjQZD"}}
    }))
    .unwrap_or_default()
}

fn context<'a>(types: &'a [&'a str]) -> RowContext<'a> {
    let since = NaiveDate::from_ymd_opt(2026, 3, 1).unwrap_or_default();
    RowContext {
        origin: Origin {
            tenant_id: "tenant-a",
            connection_id: "con_0192b0c0a0b07d3e9f1a2b3c4d5e6f70",
            account_id: "act_1234567890",
            run_id: "run_0192b0c0a0b07d3e9f1a2b3c4d5e6f71",
            schedule_id: "sch_0192b0c0a0b07d3e9f1a2b3c4d5e6f72",
            level: Level::Ad,
            extracted_at: Utc::now(),
        },
        window: Window {
            since,
            until: since + Days::new(6),
        },
        conversion_action_types: types,
    }
}

fn insights(c: &mut Criterion) {
    let body = response();
    let ctx = context(DEFAULT_CONVERSION_ACTION_TYPES);
    assert_eq!(
        parse_page(&body, &ctx).map(|p| p.rows.len()).ok(),
        Some(ROWS)
    );

    let mut group = c.benchmark_group("facebook_insights_10k_rows");
    group.throughput(Throughput::Elements(ROWS as u64));
    group.bench_function("parse_normalize", |b| {
        b.iter(|| parse_page(black_box(&body), &ctx).map(|p| p.rows.len()))
    });
    group.bench_function("parse_normalize_dynamodb_item", |b| {
        b.iter(|| {
            let rows = parse_page(black_box(&body), &ctx).ok()?.rows;
            // As DynamoStaging builds them: keys, hashes and one row per key first, then
            // the items one write batch at a time, each dropped once sent.
            let mut items = 0;
            for batch in write_batches(stage(rows)) {
                let batch: Vec<_> = batch.into_iter().map(|s| s.into_item(TTL)).collect();
                items += black_box(batch).len();
            }
            Some(items)
        })
    });
    group.finish();
}

criterion_group!(benches, insights);
criterion_main!(benches);
