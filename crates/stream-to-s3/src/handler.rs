//! One stream batch → one Parquet object per (tenant, platform, date) partition.
//!
//! Semantics, record by record:
//! - `REMOVE` (TTL expiries, userIdentity `Service` / `dynamodb.amazonaws.com`, and any
//!   other delete) and images without `row_key` (not staged rows) are passed over.
//! - An image with `row_key` that does not parse into an [`AdMetricRow`] is a *poison
//!   record*: no retry can ever fix it. It is logged as an error with its table keys (never
//!   its values) and its sequence number, counted in the invocation's span, and skipped,
//!   so it never blocks its shard. It is not in `batchItemFailures`: naming it there would
//!   make Lambda redeliver it until `MaximumRetryAttempts`, holding back every later record
//!   of the shard; the error log (and an alarm on it) is its report. Only records of a
//!   batch that fails as a whole (the function errors or times out) reach the OnFailure
//!   destination.
//! - A group whose object cannot be written (S3 unavailable, encoding failed) fails its
//!   records: the response names the lowest sequence number among the records of all
//!   failed groups, and Lambda resumes the shard there (AWS's documented semantics for
//!   `ReportBatchItemFailures`). The other groups are still written.
//!
//! Object names are the first and last sequence numbers of the group's records, zero
//! padded, so the same batch delivered again writes the same keys. A batch resumed after a
//! partial failure holds other records, so it may write some rows again under new names;
//! readers keep the newest `extracted_at` of each `row_key` (CONTRACT §5) either way.

use std::collections::BTreeMap;

use adpipe_domain::AdMetricRow;
use aws_lambda_events::event::dynamodb::Event;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use bytes::Bytes;
use chrono::NaiveDate;
use futures_util::{StreamExt, stream};
use tracing::Instrument;

use crate::encode::encode;
use crate::ports::ObjectSink;
use crate::records::{Change, Sequence, classify, keys_of};

/// Top folder of the data lake in the bucket (the Glue table's location).
pub const PREFIX: &str = "ad_metrics";
/// Objects written at once: S3 takes far more, a Lambda at 128 MB holds a few files.
const CONCURRENT_PUTS: usize = 4;

/// The partition of the data lake a row belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Partition {
    pub tenant_id: String,
    pub platform: &'static str,
    pub date: NaiveDate,
}

impl Partition {
    fn of(row: &AdMetricRow) -> Self {
        Self {
            tenant_id: row.tenant_id.clone(),
            platform: row.platform.as_str(),
            date: row.date,
        }
    }
}

/// The rows of one partition in a batch, in stream order.
struct Group {
    rows: Vec<AdMetricRow>,
    first: Sequence,
    last: Sequence,
}

/// The S3 key of a group's object (CONTRACT §5).
pub fn object_key(partition: &Partition, first: &Sequence, last: &Sequence) -> String {
    format!(
        "{PREFIX}/tenant_id={}/platform={}/dt={}/{}-{}.parquet",
        partition.tenant_id,
        partition.platform,
        partition.date.format("%Y-%m-%d"),
        first.padded(),
        last.padded()
    )
}

pub struct StreamToS3 {
    sink: Box<dyn ObjectSink>,
}

impl StreamToS3 {
    pub fn new(sink: Box<dyn ObjectSink>) -> Self {
        Self { sink }
    }

    /// Writes the batch's rows and answers which records Lambda must deliver again.
    pub async fn handle(&self, event: Event) -> DynamoDbEventResponse {
        let span = tracing::info_span!(
            "invocation",
            records = event.records.len(),
            rows = tracing::field::Empty,
            ignored = tracing::field::Empty,
            poison = tracing::field::Empty,
            groups = tracing::field::Empty,
            failed_groups = tracing::field::Empty,
        );
        self.handle_batch(event).instrument(span).await
    }

    async fn handle_batch(&self, event: Event) -> DynamoDbEventResponse {
        let span = tracing::Span::current();
        let (mut rows, mut ignored, mut poison) = (0usize, 0usize, 0usize);
        let mut groups: BTreeMap<Partition, Group> = BTreeMap::new();
        for record in &event.records {
            match classify(record) {
                Change::Row(sequence, row) => {
                    rows += 1;
                    add(&mut groups, sequence, *row);
                }
                Change::Ignored(why) => {
                    ignored += 1;
                    tracing::debug!(event_id = %record.event_id, why, "record passed over");
                }
                Change::Poison(why) => {
                    poison += 1;
                    tracing::error!(
                        event_id = %record.event_id,
                        sequence_number = record.change.sequence_number.as_deref().unwrap_or(""),
                        keys = %keys_of(record),
                        why = %why,
                        "poison record: a staged row that cannot be read; skipped"
                    );
                }
            }
        }
        span.record("rows", rows);
        span.record("ignored", ignored);
        span.record("poison", poison);
        span.record("groups", groups.len());

        let writes: Vec<_> = groups
            .into_iter()
            .map(|(partition, group)| self.write(partition, group))
            .collect();
        let failed: Vec<Sequence> = stream::iter(writes)
            .buffer_unordered(CONCURRENT_PUTS)
            .filter_map(|outcome| async move { outcome.err() })
            .collect()
            .await;
        span.record("failed_groups", failed.len());

        let mut response = DynamoDbEventResponse::default();
        if let Some(lowest) = failed.into_iter().min() {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(lowest.as_str().to_owned());
            response.batch_item_failures.push(failure);
        }
        response
    }

    /// Writes one group's object; on failure, answers the group's lowest sequence number.
    async fn write(&self, partition: Partition, group: Group) -> Result<(), Sequence> {
        let key = object_key(&partition, &group.first, &group.last);
        let span = tracing::info_span!(
            "group",
            tenant_id = %partition.tenant_id,
            platform = partition.platform,
            dt = %partition.date,
            rows = group.rows.len(),
            key = %key,
        );
        async {
            let refs: Vec<&AdMetricRow> = group.rows.iter().collect();
            let written = match encode(&refs) {
                Ok(file) => {
                    let bytes = file.len();
                    self.sink
                        .put(&key, Bytes::from(file))
                        .await
                        .map(|()| bytes)
                        .map_err(|e| e.to_string())
                }
                Err(e) => Err(e.to_string()),
            };
            match written {
                Ok(bytes) => {
                    tracing::info!(bytes, "object written");
                    Ok(())
                }
                Err(error) => {
                    tracing::error!(%error, "object not written; its records will be delivered again");
                    Err(group.first)
                }
            }
        }
        .instrument(span)
        .await
    }
}

fn add(groups: &mut BTreeMap<Partition, Group>, sequence: Sequence, row: AdMetricRow) {
    let partition = Partition::of(&row);
    match groups.get_mut(&partition) {
        Some(group) => {
            if sequence < group.first {
                group.first = sequence.clone();
            }
            if sequence > group.last {
                group.last = sequence;
            }
            group.rows.push(row);
        }
        None => {
            groups.insert(
                partition,
                Group {
                    rows: vec![row],
                    first: sequence.clone(),
                    last: sequence,
                },
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use async_trait::async_trait;
    use serde_json::{Value, json};

    use super::*;
    use crate::encode::tests::row;
    use crate::ports::SinkError;

    /// Keeps objects in memory; refuses keys containing any of `refuse`.
    #[derive(Default)]
    struct Memory {
        refuse: Vec<String>,
        keys: Mutex<Vec<String>>,
    }

    #[async_trait]
    impl ObjectSink for Arc<Memory> {
        async fn put(&self, key: &str, _body: Bytes) -> Result<(), SinkError> {
            if self.refuse.iter().any(|r| key.contains(r.as_str())) {
                return Err(SinkError::Unavailable("refused".into()));
            }
            self.keys.lock().unwrap().push(key.to_owned());
            Ok(())
        }
    }

    fn record(sequence: &str, row: &AdMetricRow) -> Value {
        let image: serde_dynamo::Item = serde_dynamo::to_item(row).unwrap();
        json!({
            "eventID": format!("ev-{sequence}"),
            "eventName": "INSERT",
            "eventSource": "aws:dynamodb",
            "awsRegion": "us-east-1",
            "dynamodb": {"Keys": {}, "NewImage": image, "SequenceNumber": sequence, "SizeBytes": 1},
        })
    }

    fn event(records: Vec<Value>) -> Event {
        serde_json::from_value(json!({ "Records": records })).unwrap()
    }

    /// Rows of days 1, 2, 3 (i % 3) at sequence numbers 100 + i.
    fn batch(n: u32) -> Event {
        event(
            (0..n)
                .map(|i| record(&(100 + i).to_string(), &row(i)))
                .collect(),
        )
    }

    fn memory(refuse: &[&str]) -> Arc<Memory> {
        Arc::new(Memory {
            refuse: refuse.iter().map(|s| s.to_string()).collect(),
            ..Memory::default()
        })
    }

    #[tokio::test]
    async fn each_partition_gets_one_object_named_by_its_first_and_last_sequence_number() {
        let sink = memory(&[]);
        let response = StreamToS3::new(Box::new(sink.clone()))
            .handle(batch(6))
            .await;
        assert!(response.batch_item_failures.is_empty());
        let mut keys = sink.keys.lock().unwrap().clone();
        keys.sort();
        let pad = |s: u32| format!("{s:040}");
        assert_eq!(
            keys,
            vec![
                format!(
                    "{PREFIX}/tenant_id=t-1/platform=facebook/dt=2026-03-01/{}-{}.parquet",
                    pad(100),
                    pad(103)
                ),
                format!(
                    "{PREFIX}/tenant_id=t-1/platform=facebook/dt=2026-03-02/{}-{}.parquet",
                    pad(101),
                    pad(104)
                ),
                format!(
                    "{PREFIX}/tenant_id=t-1/platform=facebook/dt=2026-03-03/{}-{}.parquet",
                    pad(102),
                    pad(105)
                ),
            ]
        );
    }

    #[tokio::test]
    async fn with_two_groups_failing_the_lowest_sequence_number_of_either_is_reported() {
        let sink = memory(&["dt=2026-03-02", "dt=2026-03-03"]);
        let response = StreamToS3::new(Box::new(sink.clone()))
            .handle(batch(6))
            .await;
        let named: Vec<_> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.clone())
            .collect();
        assert_eq!(named, vec![Some("101".to_owned())]);
        assert_eq!(sink.keys.lock().unwrap().len(), 1, "day 1 still written");
    }

    #[tokio::test]
    async fn a_row_without_a_valid_tenant_is_poison_and_skipped() {
        let sink = memory(&[]);
        let bad = AdMetricRow {
            tenant_id: "../other".into(),
            ..row(0)
        };
        let response = StreamToS3::new(Box::new(sink.clone()))
            .handle(event(vec![record("7", &bad), record("8", &row(1))]))
            .await;
        assert!(response.batch_item_failures.is_empty());
        let keys = sink.keys.lock().unwrap().clone();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].contains("tenant_id=t-1/"), "{keys:?}");
    }
}
