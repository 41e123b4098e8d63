//! What a connection costs to keep, counted against moto: an ad-level schedule with a
//! 28-day lookback run once a day for a month — the real extractor staging into a
//! streamed staging table, its stream fed to the real stream-to-s3 in Lambda-sized batches —
//! with every DynamoDB request unit and S3 request counted at the fault proxy, and the
//! handlers' time taken as Lambda's billed duration. Two scenarios: numbers that have
//! settled (the platform never restates them), and each row restated on its first 3
//! re-reads (late conversions), then settled.
//!
//! The same fetches are also replayed through the rules of the design before the day
//! digests and the current table (one item read per fetched row, a row written again once
//! its 7-day TTL ran out, one history object per partition and batch), which is what the
//! README's "before" column is.
//!
//! `make bench` runs it at full size (`ADPIPE_COST_ROWS=500 ADPIPE_COST_DAYS=30`) and the
//! README's "Running cost" table is its output; `make test` runs it small.

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use adpipe_domain::{AdMetricRow, ExtractorEvent, Level, RunStatus, Window};
use adpipe_testkit::{FaultProxy, Shape, aws, lambda_record, prices, sdk_config};
use async_trait::async_trait;
use chrono::{Days, NaiveDate, Utc};
use chrono_tz::Tz;
use extractor::ports::{Connector, ConnectorError, Job, Pages};
use extractor::{Config, Invocation, Outcome, aws_extractor};
use serde_json::{Value, json};
use stream_to_s3::{StreamEvent, aws_stream_to_s3};

use crate::common::{SharedConnector, Tenant, campaign_row, event};

const LOOKBACK: u64 = 28;
/// The restating scenario: a row's numbers change on each of its first re-reads, this
/// many, then settle. The settled scenario restates nothing.
const RESTATED_READS: u64 = 3;
/// The staged row's TTL in the design before (`STAGING_TTL_DAYS`).
const TTL_DAYS: u64 = 7;
/// Lambda's invoke payload limit binds before the mapping's BatchSize of 10,000.
const PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
const BATCH_SIZE: usize = 10_000;
/// The functions' MemorySize in template.yaml, in GB.
const EXTRACTOR_GB: f64 = 512.0 / 1024.0;
const STREAM_GB: f64 = 256.0 / 1024.0;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `rows` ad rows a day; a row's conversions depend on how many days old it is on the
/// day of the run (`today`), up to [`RESTATED_READS`].
struct Restating {
    rows: usize,
    restated_reads: u64,
    today: Mutex<NaiveDate>,
}

/// Which version of its numbers a row of `day` has on the run after `yesterday`: how many
/// days old it is, up to `restated_reads`.
fn version(yesterday: NaiveDate, day: NaiveDate, restated_reads: u64) -> u64 {
    (yesterday - day).num_days().clamp(0, restated_reads as i64) as u64
}

#[async_trait]
impl Connector for Restating {
    async fn time_zone(&self, _job: &Job) -> Result<Tz, ConnectorError> {
        Ok(Tz::UTC)
    }

    async fn fetch_pages(
        &self,
        job: &Job,
        days: Window,
        pages: &Pages,
    ) -> Result<(), ConnectorError> {
        let yesterday = *self.today.lock().unwrap() - Days::new(1);
        let c = &job.connection;
        let (tenant, connection) = (c.tenant_id.to_string(), c.id.to_string());
        let rows: Vec<AdMetricRow> = days
            .days()
            .flat_map(|day| (0..self.rows).map(move |i| (day, i)))
            .map(|(day, i)| {
                let version = version(yesterday, day, self.restated_reads);
                AdMetricRow {
                    conversions: Some((i % 7) as f64 + version as f64),
                    run_id: job.run_id.to_string(),
                    schedule_id: job.schedule.id.to_string(),
                    ..campaign_row(
                        &tenant,
                        &connection,
                        &c.account_id,
                        Level::Ad,
                        &format!("ad-{i}"),
                        day,
                    )
                }
            })
            .collect();
        for page in rows.chunks(500) {
            pages.send(page.to_vec()).await?;
        }
        Ok(())
    }
}

/// Totals of a month, and what they cost per million distinct rows.
#[derive(Debug, Default)]
struct Month {
    distinct_rows: u64,
    read_units: f64,
    write_units: f64,
    s3_puts: u64,
    s3_gets: u64,
    gb_seconds: f64,
    invocations: u64,
}

impl Month {
    /// Dollars per million distinct rows: DynamoDB, S3, Lambda, and all three.
    fn per_million(&self) -> [f64; 4] {
        let scale = 1e6 / self.distinct_rows as f64;
        let dynamodb = (self.read_units * prices::DYNAMODB_READ_UNIT
            + self.write_units * prices::DYNAMODB_WRITE_UNIT)
            * scale;
        let s3 =
            (self.s3_puts as f64 * prices::S3_PUT + self.s3_gets as f64 * prices::S3_GET) * scale;
        let lambda = (self.gb_seconds * prices::LAMBDA_GB_SECOND
            + self.invocations as f64 * prices::LAMBDA_REQUEST)
            * scale;
        [dynamodb, s3, lambda, dynamodb + s3 + lambda]
    }

    fn print(&self, name: &str) {
        let scale = 1e6 / self.distinct_rows as f64;
        let [dynamodb, s3, lambda, total] = self.per_million();
        println!(
            "cost {name}: per 1M distinct rows: {:.0} RRU, {:.0} WRU, {:.0} S3 PUT, {:.0} S3 GET, \
             {:.0} Lambda GB-s, {:.0} invocations; ${dynamodb:.3} DynamoDB + ${s3:.3} S3 + \
             ${lambda:.3} Lambda = ${total:.3} (prices of {})",
            self.read_units * scale,
            self.write_units * scale,
            self.s3_puts as f64 * scale,
            self.s3_gets as f64 * scale,
            self.gb_seconds * scale,
            self.invocations as f64 * scale,
            prices::AS_OF,
        );
    }
}

fn scheduled(tenant: &str, schedule_id: &str, time: &str) -> ExtractorEvent {
    let mut e: Value = event("extractor/scheduled.json");
    e["tenant_id"] = json!(tenant);
    e["schedule_id"] = json!(schedule_id);
    e["scheduled_time"] = json!(time);
    e["event_id"] = json!(format!("ev-cost-{time}"));
    serde_json::from_value(e).expect("a scheduled event")
}

/// Lambda-sized events of `records`: at most 10,000 records and 6 MB each.
fn batches(records: Vec<Value>) -> Vec<Vec<Value>> {
    let mut out: Vec<Vec<Value>> = Vec::new();
    let mut bytes = 0;
    for record in records {
        let size = record.to_string().len() + 1;
        match out.last_mut() {
            Some(batch) if batch.len() < BATCH_SIZE && bytes + size <= PAYLOAD_LIMIT => {
                bytes += size;
                batch.push(record);
            }
            _ => {
                bytes = size + 16;
                out.push(vec![record]);
            }
        }
    }
    out
}

#[tokio::test]
async fn a_month_of_daily_re_reads_costs_what_its_requests_cost() {
    let rows = setting("ADPIPE_COST_ROWS", 10) as usize;
    let days = setting("ADPIPE_COST_DAYS", 9);
    for restated_reads in [0, RESTATED_READS] {
        let (now, before) = month(rows, days, restated_reads).await;
        let scenario = match restated_reads {
            0 => "settled".to_owned(),
            n => format!("restated on {n} re-reads"),
        };
        now.print(&format!("now, {scenario}"));
        before.print(&format!("before, {scenario}"));
        let [now_dynamodb, now_s3, ..] = now.per_million();
        let [before_dynamodb, ..] = before.per_million();
        assert!(
            now_dynamodb < before_dynamodb,
            "DynamoDB {now_dynamodb} now, {before_dynamodb} before"
        );
        // The target, on the parts that do not depend on this machine's speed, for the
        // size `make bench` measures.
        if restated_reads == 0 && rows >= 500 {
            assert!(now_dynamodb + now_s3 <= 1.0, "{now_dynamodb} + {now_s3}");
        }
    }
}

/// A month of daily runs of `rows` ad rows a day, restated on their first
/// `restated_reads` re-reads: what it cost now, and before.
async fn month(rows: usize, days: u64, restated_reads: u64) -> (Month, Month) {
    let aws = aws();
    let table = aws.new_staging_table(true).await;
    let proxy = FaultProxy::start(&aws.endpoint).await;
    let sdk = sdk_config(&proxy.endpoint()).await;

    let t = Tenant::new().await;
    let connection = t.create_connection("facebook").await;
    let reply = t
        .call(
            "POST",
            "/v1/schedules",
            Some(json!({
                "connection_id": connection,
                "schedule_expression": "rate(1 day)",
                "report": {"level": "ad", "backfill_days": LOOKBACK, "lookback_days": LOOKBACK},
            })),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let schedule = reply.body["id"].as_str().unwrap().to_owned();

    let config = Config::from_lookup(|name| match name {
        "CONTROL_TABLE" => Some(aws.control_table.clone()),
        "STAGING_TABLE" => Some(table.clone()),
        "APP_CREDENTIALS_SECRET" => Some(aws.app_credentials_secret.clone()),
        _ => None,
    })
    .unwrap();
    let connector = Arc::new(Restating {
        rows,
        restated_reads,
        today: Mutex::new(NaiveDate::MIN),
    });
    let mut extractor = aws_extractor(config, &sdk);
    extractor.connectors.facebook = Box::new(SharedConnector(connector.clone()));
    let stream = aws_stream_to_s3(
        &stream_to_s3::Config {
            data_bucket: aws.data_bucket.clone(),
            failure_queue_url: aws.stream_failure_queue_url.clone(),
            insights_queue_url: aws.insights_queue_url.clone(),
        },
        &sdk,
    );
    let arn = aws
        .dynamodb()
        .await
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .table
        .and_then(|t| t.latest_stream_arn)
        .unwrap();

    let first = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let mut month = Month::default();
    let mut before = Month::default();
    let (mut extractor_time, mut stream_time) = (Duration::ZERO, Duration::ZERO);
    let mut position: Option<String> = None;
    let mut fetched_days = BTreeSet::new();
    // The design before: per row key, the day its item was last written, and its value.
    let mut staged_before: HashMap<(NaiveDate, usize), (NaiveDate, u64)> = HashMap::new();
    let mut stream_invocations = 0;
    let mut row_records_total = 0;
    for n in 0..days {
        let today = first + Days::new(n);
        *connector.today.lock().unwrap() = today;
        let time = format!("{today}T06:00:00Z");
        let started = Instant::now();
        let outcome = extractor
            .handle(
                &scheduled(&t.id, &schedule, &time),
                &Invocation {
                    request_id: format!("req-cost-{n}"),
                    deadline: Utc::now() + chrono::Duration::minutes(15),
                },
            )
            .await
            .unwrap();
        extractor_time += started.elapsed();
        let Outcome::Finished { run } = outcome else {
            panic!("{outcome:?}")
        };
        assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
        let window = run.window.unwrap();

        // The design before, replayed over the same fetches: every fetched row read, a
        // row written when new, changed, or expired; one history object per partition
        // and batch (the records in the order the rows were staged).
        let yesterday = today - Days::new(1);
        let mut written_before: Vec<NaiveDate> = Vec::new();
        for day in window.days() {
            fetched_days.insert(day);
            for i in 0..rows {
                let value = version(yesterday, day, restated_reads);
                before.read_units += 0.5;
                let write = match staged_before.get(&(day, i)) {
                    None => true,
                    Some((at, v)) => *v != value || (today - *at).num_days() as u64 >= TTL_DAYS,
                };
                if write {
                    staged_before.insert((day, i), (today, value));
                    written_before.push(day);
                }
            }
        }

        // The stream's new records, as Lambda delivers them.
        let records = aws
            .stream_records_after(&table, "", position.as_deref())
            .await
            .unwrap();
        if let Some(last) = records.last() {
            position = last
                .dynamodb
                .as_ref()
                .and_then(|d| d.sequence_number.clone());
        }
        let events: Vec<Value> = records
            .iter()
            .map(|r| lambda_record(r, Shape::Lambda, &arn))
            .collect();
        let row_records = events
            .iter()
            .filter(|e| e["dynamodb"]["NewImage"]["row_key"].is_object())
            .count();
        row_records_total += row_records;
        let batches = batches(events);
        let per_batch = batches.first().map_or(BATCH_SIZE, Vec::len);
        for batch in batches {
            let event: StreamEvent = serde_json::from_value(json!({ "Records": batch })).unwrap();
            let started = Instant::now();
            let response = stream.handle(event).await;
            stream_time += started.elapsed();
            stream_invocations += 1;
            assert!(response.batch_item_failures.is_empty(), "{response:?}");
        }
        // Before: the same batch sizes, history objects only.
        for batch in written_before.chunks(per_batch) {
            before.s3_puts += batch.iter().collect::<BTreeSet<_>>().len() as u64;
            before.invocations += 1;
        }
        before.write_units += written_before.len() as f64;
    }

    let bucket = format!("/{}/", aws.data_bucket);
    month.distinct_rows = fetched_days.len() as u64 * rows as u64;
    let units = [&table, &aws.control_table].map(|t| proxy.request_units(t));
    month.read_units = units.iter().map(|u| u.read).sum();
    month.write_units = units.iter().map(|u| u.write).sum();
    month.s3_puts = proxy.request_hits(&http::Method::PUT, &bucket) as u64;
    month.s3_gets = proxy.request_hits(&http::Method::GET, &bucket) as u64;
    month.gb_seconds =
        extractor_time.as_secs_f64() * EXTRACTOR_GB + stream_time.as_secs_f64() * STREAM_GB;
    month.invocations = days + stream_invocations;

    // Before: the row items cost what they cost now (the same items), the control table
    // the same, and the extractor at least the same time.
    let row_units = proxy.request_units_of_items_with(&table, "row_key");
    let row_writes = row_records_total as f64;
    assert!(row_units.write > 0.0 && row_writes > 0.0);
    let control = units[1];
    before.distinct_rows = month.distinct_rows;
    before.write_units =
        before.write_units * (row_units.write / row_writes).max(1.0) + control.write;
    before.read_units += control.read;
    before.gb_seconds =
        extractor_time.as_secs_f64() * EXTRACTOR_GB + stream_time.as_secs_f64() * STREAM_GB;
    before.invocations += days;

    println!(
        "cost setup: {rows} ad rows a day, {days} daily runs, {LOOKBACK}-day lookback, rows restated on their first {restated_reads} re-reads; {} distinct rows; Lambda time {:.1} s extractor + {:.1} s stream-to-s3 (debug build against moto: an upper bound)",
        month.distinct_rows,
        extractor_time.as_secs_f64(),
        stream_time.as_secs_f64()
    );

    // What the digests promise: per row version one row write (4 versions a row at
    // most), one digest read a day per day of the window, no read per row.
    let versions = (restated_reads + 1).min(days) as f64;
    assert!(
        proxy.item_writes(&table) as f64 <= month.distinct_rows as f64 * versions * 1.2 + 100.0,
        "row writes: {}",
        proxy.item_writes(&table)
    );
    assert!(
        proxy.item_reads(&table) as u64 <= days * LOOKBACK * 2,
        "one digest read a day (parts aside): {}",
        proxy.item_reads(&table)
    );
    // The current objects: one per day the month read.
    let current = aws
        .lake_keys(&format!("ad_metrics/tenant_id={}/", t.id))
        .await;
    assert_eq!(current.len(), fetched_days.len(), "{current:?}");
    (month, before)
}
