//! How long the insights of one connection take to compute, and how much memory the whole
//! refresh holds: 200 campaigns × 180 days (36,000 lake rows), the sizing.
//!
//! - `compute`: the lake rows → series → alerts of the evaluated days → month projections
//!   (account and every campaign): `refresh::compute`, everything but I/O, on one core.
//! - Peak RSS: one whole `Insights::refresh` — 180 day objects decoded from Parquet, the
//!   computation, the alerts encoded and stored — against an in-memory lake and store, read
//!   from /proc/self/status (VmHWM) around it; printed before criterion's figures.
//!
//! `cargo bench -p insights --bench speed` (docs/performance.md has the figures).

use std::collections::BTreeMap;
use std::sync::Mutex;

use adpipe_domain::fixtures::campaign_row;
use adpipe_domain::insights::{Alert, MonthProjection, Refresh};
use adpipe_domain::{
    AdMetricRow, Connection, ConnectionStatus, Level, Platform, Schedule, TenantId,
};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Days, NaiveDate, Utc};
use criterion::{Criterion, criterion_group, criterion_main};
use insights::alerts::AlertConfig;
use insights::ports::{Lake, Store, Unavailable};
use insights::refresh::{Inputs, compute};
use insights::synth::{SynthConfig, generate};
use insights::{HISTORY_DAYS, Insights, Summary};
use stream_to_s3::{Partition, current_key};

const CAMPAIGNS: usize = 200;
const TENANT: &str = "t-bench";

fn now() -> DateTime<Utc> {
    "2026-11-30T12:00:00Z".parse().expect("a time")
}

fn connection() -> Connection {
    Connection {
        id: "con_0123456789abcdef0123456789abcdef"
            .parse()
            .expect("an id"),
        tenant_id: TENANT.parse().expect("a tenant"),
        platform: Platform::Facebook,
        account_id: "act_1".into(),
        name: Some("Bench".into()),
        login_customer_id: None,
        status: ConnectionStatus::Active,
        time_zone: None,
        secret_id: "s".into(),
        created_at: now(),
        updated_at: now(),
    }
}

/// The synthetic benchmark's connection (seeded, with incidents) as lake rows, a day's
/// rows together, ending today.
fn rows(today: NaiveDate) -> Vec<AdMetricRow> {
    let synth = generate(&SynthConfig::with_incidents(
        7,
        CAMPAIGNS,
        HISTORY_DAYS as usize,
    ));
    let series = synth.series;
    let first = today - Days::new(HISTORY_DAYS - 1);
    let c = connection();
    let mut rows = Vec::new();
    for day in 0..series.n_days {
        let date = first + Days::new(day as u64);
        for entity in &series.entities {
            let Some(t) = entity.days[day] else { continue };
            rows.push(AdMetricRow {
                currency: Some("USD".into()),
                impressions: Some(t.impressions as i64),
                clicks: Some(t.clicks as i64),
                cost_micros: Some(t.cost_micros),
                conversions: Some(t.conversions),
                conversion_value: Some(t.conversion_value),
                ..campaign_row(
                    TENANT,
                    c.id.as_str(),
                    &c.account_id,
                    Level::Campaign,
                    &entity.entity_id,
                    date,
                )
            });
        }
    }
    rows
}

struct MemoryLake(BTreeMap<String, Bytes>);

#[async_trait]
impl Lake for MemoryLake {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, Unavailable> {
        Ok(self.0.get(key).cloned())
    }
    async fn put(&self, _key: &str, _body: Vec<u8>) -> Result<(), Unavailable> {
        Ok(())
    }
    async fn delete(&self, _key: &str) -> Result<(), Unavailable> {
        Ok(())
    }
}

#[derive(Default)]
struct MemoryStore {
    alerts: Mutex<usize>,
}

#[async_trait]
impl Store for MemoryStore {
    async fn connection(&self, _: &TenantId, _: &str) -> Result<Option<Connection>, Unavailable> {
        Ok(Some(connection()))
    }
    async fn schedules(&self, _: &TenantId, _: &Connection) -> Result<Vec<Schedule>, Unavailable> {
        Ok(Vec::new())
    }
    async fn alerts_since(&self, _: &Connection, _: NaiveDate) -> Result<Vec<Alert>, Unavailable> {
        Ok(Vec::new())
    }
    async fn replace_alerts(
        &self,
        _: &Connection,
        put: &[Alert],
        _: &[Alert],
    ) -> Result<(), Unavailable> {
        *self.alerts.lock().unwrap_or_else(|p| p.into_inner()) = put.len();
        Ok(())
    }
    async fn put_projections(
        &self,
        _: &Connection,
        _: &[MonthProjection],
    ) -> Result<(), Unavailable> {
        Ok(())
    }
    async fn put_summary(&self, _: &Connection, _: &Summary) -> Result<(), Unavailable> {
        Ok(())
    }
}

/// This process's peak resident set (VmHWM), in MB.
fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map_or(0.0, |kb| kb / 1024.0)
}

/// One whole refresh from Parquet day objects; prints the peak RSS it reached.
fn refresh_rss(today: NaiveDate) {
    let rows = rows(today);
    let c = connection();
    let mut objects = BTreeMap::new();
    let mut by_day: BTreeMap<NaiveDate, Vec<&AdMetricRow>> = BTreeMap::new();
    for row in &rows {
        by_day.entry(row.date).or_default().push(row);
    }
    for (date, day_rows) in by_day {
        let partition = Partition {
            tenant_id: TENANT.into(),
            platform: "facebook",
            date,
        };
        let body = stream_to_s3::encode::encode(&day_rows).expect("encodes");
        objects.insert(current_key(&partition, c.id.as_str()), Bytes::from(body));
    }
    let bytes: usize = objects.values().map(Bytes::len).sum();
    drop(rows);
    let before = peak_rss_mb();
    let mut insights = Insights::new(Box::<MemoryStore>::default(), Box::new(MemoryLake(objects)));
    insights.clock = now;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let summary = runtime
        .block_on(insights.refresh(&Refresh::new(TENANT, c.id.as_str())))
        .expect("computed");
    println!(
        "refresh of {} campaigns x {} days ({} rows in {:.1} MB of Parquet): {} alerts; peak RSS {:.1} MB (before the refresh {:.1} MB)",
        summary.entities,
        summary.days_with_data,
        CAMPAIGNS * summary.days_with_data as usize,
        bytes as f64 / 1e6,
        summary.alerts.values().sum::<u32>(),
        peak_rss_mb(),
        before
    );
}

fn bench(c: &mut Criterion) {
    let today = now().date_naive();
    refresh_rss(today);
    let rows = rows(today);
    let connection = connection();
    let config = AlertConfig::default();
    let first = today - Days::new(HISTORY_DAYS - 1);
    c.bench_function("compute: alerts + pacing, 200 campaigns x 180 days", |b| {
        b.iter(|| {
            compute(&Inputs {
                connection: &connection,
                rows: &rows,
                first,
                today,
                schedules: &[],
                alerts: &config,
                partial: false,
                now: now(),
            })
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20);
    targets = bench
}
criterion_main!(benches);
