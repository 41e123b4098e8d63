//! The largest batch Lambda can hand stream-to-s3: 6 MB of stream records of staged rows
//! (the invoke payload limit binds before BatchSize's 10,000). Measures, on one core,
//! median of 21 runs each:
//! - the floor: serde_json parsing the event into `aws_lambda_events`' DynamoDB `Event`
//!   (the usual way to take this event), and dropping it;
//! - serde_json scanning the event and building nothing (`IgnoredAny`): the JSON alone;
//! - the read: the event into [`StreamEvent`] (rows included) as `lambda_runtime` reads
//!   every payload, through `serde_path_to_error`;
//! - the append-only path (the handler before the current table): that read, classify,
//!   group, encode one history object per partition;
//! - the whole batch with new current objects: that read, then the handler — classify,
//!   group, encode the history objects, merge into current objects that do not exist yet —
//!   with a sink that only counts bytes and a failure queue that is never called;
//! - the whole batch where every current object already holds the previous version of
//!   each row (the lookback's re-read): each current object is read (from memory),
//!   decoded, merged, sorted, encoded and written (counted);
//!
//! then the process's peak RSS.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_lambda_events::event::dynamodb::Event;
use bytes::Bytes;
use serde::de::IgnoredAny;
use serde_json::{Value, json};
use stream_to_s3::records::{Change, classify};
use stream_to_s3::{
    FailureQueue, ObjectSink, Partition, PoisonRecord, Precondition, QueueError, SinkError,
    StreamEvent, StreamToS3, Versioned,
};

const PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
const RUNS: usize = 21;

/// Counts the bytes of the objects written and answers reads from `current`, which takes
/// the current objects written until it is frozen.
#[derive(Default)]
struct MemorySink {
    bytes: AtomicUsize,
    current: Mutex<HashMap<String, Bytes>>,
    frozen: AtomicBool,
}

impl MemorySink {
    /// A sink for the handler that the bench keeps a handle on.
    fn leaked(frozen: bool) -> &'static MemorySink {
        let sink = Box::leak(Box::<MemorySink>::default());
        sink.frozen.store(frozen, Ordering::Relaxed);
        sink
    }
}

#[async_trait]
impl ObjectSink for &'static MemorySink {
    async fn put(&self, _key: &str, body: Bytes) -> Result<(), SinkError> {
        self.bytes.fetch_add(body.len(), Ordering::Relaxed);
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Versioned>, SinkError> {
        Ok(self.current.lock().unwrap().get(key).map(|body| Versioned {
            body: body.clone(),
            etag: "\"1\"".into(),
        }))
    }

    async fn put_if(
        &self,
        key: &str,
        body: Bytes,
        _condition: Precondition,
    ) -> Result<(), SinkError> {
        if !self.frozen.load(Ordering::Relaxed) {
            self.current
                .lock()
                .unwrap()
                .insert(key.to_owned(), body.clone());
        }
        self.put(key, body).await
    }
}

/// `extracted_at` of the batch's rows; the previous version's is a day earlier.
const EXTRACTED_AT: i64 = 1_795_737_600_123;

/// The batch holds no poison record: a call is a bug.
struct NoQueue;

#[async_trait]
impl FailureQueue for NoQueue {
    async fn send(&self, _records: &[PoisonRecord]) -> Result<(), QueueError> {
        panic!("no poison record in the benchmark's batch")
    }
}

/// One INSERT of a staged ad-level row, shaped like `events/stream-to-s3/staged-rows.json`.
fn record(i: usize, extracted_at: i64) -> Value {
    let s = |v: String| json!({ "S": v });
    let n = |v: i64| json!({ "N": v.to_string() });
    let date = format!("2026-11-{:02}", 1 + i % 28);
    let (campaign, ad) = (i % 40, i % 4_000);
    let row_key = format!("facebook|act_1234567890|ad|{ad}|{date}");
    let image = json!({
        "pk": s("acme#facebook#act_1234567890".into()), "sk": s(format!("ad|{ad}|{date}")),
        "row_key": s(row_key), "tenant_id": s("acme".into()), "platform": s("facebook".into()),
        "connection_id": s("con_0192f0e0a1b27c3d8e9f0a1b2c3d4e5f".into()), "account_id": s("act_1234567890".into()),
        "level": s("ad".into()), "date": s(date),
        "campaign_id": s(format!("12021{campaign:013}")), "campaign_name": s(format!("Campaign {campaign}")),
        "ad_group_id": s(format!("12022{:013}", i % 400)), "ad_group_name": s(format!("Ad set {}", i % 400)),
        "ad_id": s(format!("12023{ad:013}")), "ad_name": s(format!("Ad {ad}")),
        "currency": s("USD".into()), "impressions": n(1_000 + i as i64), "clicks": n(10 + (i % 90) as i64),
        "cost_micros": n(12_340_000 + i as i64), "conversions": n(2), "conversion_value": json!({"N": "123.45"}),
        "video_views": n(321), "extra": s(r#"{"reach":"5970","frequency":"1.25","cpm":"12.345678"}"#.into()),
        "extracted_at": n(extracted_at), "run_id": s("run_0192f0e0a1b27c3d8e9f0a1b2c3d4e61".into()),
        "schedule_id": s("sch_0192f0e0a1b27c3d8e9f0a1b2c3d4e60".into()),
        "content_hash": s("9b1c0f6f3d2a4e5b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b".into()),
        "expires_at": n(1_796_342_400),
    });
    json!({
        "eventID": format!("{i:032x}"), "eventName": "INSERT", "eventVersion": "1.1", "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "ApproximateCreationDateTime": 1_795_737_601, "Keys": {"pk": image["pk"], "sk": image["sk"]},
            "NewImage": image, "SequenceNumber": format!("{}", 44_215_845_000_000_000_000_000_000u128 + i as u128),
            "SizeBytes": 812, "StreamViewType": "NEW_IMAGE"
        },
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/adpipe-dev-StagingTable-1A2B3C/stream/2026-11-01T00:00:00.000"
    })
}

/// As many records as fit in Lambda's 6 MB payload, written straight to text so the
/// generator's own allocations don't count towards the peak RSS.
fn payload(extracted_at: i64) -> (Vec<u8>, usize) {
    let mut body = String::from("{\"Records\":[");
    let mut count = 0;
    loop {
        let r = record(count, extracted_at).to_string();
        if body.len() + r.len() + 2 > PAYLOAD_LIMIT {
            break;
        }
        if count > 0 {
            body.push(',');
        }
        body.push_str(&r);
        count += 1;
    }
    body.push_str("]}");
    (body.into_bytes(), count)
}

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort();
    times[times.len() / 2]
}

/// Median time of `RUNS` runs of `f`.
fn time(mut f: impl FnMut()) -> Duration {
    median(
        (0..RUNS)
            .map(|_| {
                let start = Instant::now();
                f();
                start.elapsed()
            })
            .collect(),
    )
}

/// As `lambda_runtime` reads a payload.
fn read(body: &[u8]) -> StreamEvent {
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).expect("a stream event")
}

/// The handler before the current table: one history object per partition.
fn append_only(event: StreamEvent) -> usize {
    let mut groups: BTreeMap<Partition, Vec<adpipe_domain::AdMetricRow>> = BTreeMap::new();
    for record in event.records {
        if let Change::Row(_, row) = classify(record) {
            groups.entry(Partition::of(&row)).or_default().push(*row);
        }
    }
    groups
        .values()
        .map(|rows| {
            let refs: Vec<_> = rows.iter().collect();
            stream_to_s3::encode::encode(&refs).expect("encoded").len()
        })
        .sum()
}

fn main() {
    let (body, records) = payload(EXTRACTED_AT);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    // Current objects that do not exist yet: reads find none, writes are not kept.
    let handler = StreamToS3::new(Box::new(MemorySink::leaked(true)), Box::new(NoQueue));
    // The current objects as the previous day's re-read left them, then kept as they are.
    let (previous, _) = payload(EXTRACTED_AT - 86_400_000);
    let stored = MemorySink::leaked(false);
    let merging = StreamToS3::new(Box::new(stored), Box::new(NoQueue));
    assert!(
        rt.block_on(merging.handle(read(&previous)))
            .batch_item_failures
            .is_empty()
    );
    stored.frozen.store(true, Ordering::Relaxed);
    let objects = stored.current.lock().unwrap().len();
    let floor = time(|| {
        let event: Event = serde_json::from_slice(&body).expect("an event");
        std::hint::black_box(event);
    });
    let scan = time(|| {
        let _: IgnoredAny = serde_json::from_slice(&body).expect("JSON");
    });
    let read_only = time(|| {
        std::hint::black_box(read(&body));
    });
    let append = time(|| {
        std::hint::black_box(append_only(read(&body)));
    });
    let whole = time(|| {
        let response = rt.block_on(handler.handle(read(&body)));
        assert!(response.batch_item_failures.is_empty());
    });
    let merge = time(|| {
        let response = rt.block_on(merging.handle(read(&body)));
        assert!(response.batch_item_failures.is_empty());
    });
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    println!(
        "stream-to-s3 batch: {records} records, {:.2} MB of event JSON",
        body.len() as f64 / 1e6
    );
    println!(
        "  serde_json into aws_lambda_events' Event (floor): {:.1} ms",
        ms(floor)
    );
    println!("  serde_json scan, nothing built: {:.1} ms", ms(scan));
    println!(
        "  read as lambda_runtime does, rows included: {:.1} ms",
        ms(read_only)
    );
    println!(
        "  append-only path (read + classify + group + encode history): {:.1} ms ({:.2}x the floor)",
        ms(append),
        ms(append) / ms(floor)
    );
    println!(
        "  whole batch, current objects new (history + current encoded): {:.1} ms ({:.2}x append-only)",
        ms(whole),
        ms(whole) / ms(append)
    );
    println!(
        "  whole batch, {objects} current objects holding the previous versions (read + merge + write): {:.1} ms ({:.2}x append-only)",
        ms(merge),
        ms(merge) / ms(append)
    );
    println!(
        "  peak RSS of this process: {:.1} MB",
        adpipe_testkit::peak_rss_mb()
    );
}
