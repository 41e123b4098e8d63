//! One stream batch → one history object per (tenant, platform, date) partition, and the
//! batch's rows merged into the current table's object of each (partition, connection)
//! (docs/architecture.md, "The data lake"; [`crate::current`] has the merge).
//!
//! Semantics, record by record:
//! - `REMOVE` (TTL expiries, userIdentity `Service` / `dynamodb.amazonaws.com`, and any
//!   other delete) and images without `row_key` (not staged rows) are passed over.
//! - An image with `row_key` that does not read as an [`AdMetricRow`] is a *poison
//!   record*: no retry can ever fix it. It is logged as an error with its table keys (never
//!   its values) and its sequence number, sent to the stream's failure queue
//!   ([`crate::poison`] has the message), and skipped, so it never blocks its shard. If the
//!   queue does not take it, its sequence number counts as failed like a group's below:
//!   Lambda delivers it again, and the queue is tried again.
//! - A group whose history object cannot be written (S3 unavailable, encoding failed), or
//!   whose current object cannot be merged into — S3 unavailable, the object not readable
//!   as the lake's Parquet (logged with its key and never overwritten), or another
//!   invocation writing it first on every one of [`crate::current::MERGE_ATTEMPTS`] tries — fails its
//!   records: the response names the lowest sequence number among the records of all
//!   failed groups and unsent poison records, and Lambda resumes the shard there (AWS's
//!   documented semantics for `ReportBatchItemFailures`). The other groups are still
//!   written, and the poison reports are sent while they are: rows before that sequence
//!   number are in S3, rows after it are delivered again, none is lost.
//!
//! - After the writes, each (tenant, connection) the batch touched gets one refresh request
//!   on the insights queue ([`RefreshQueue`]), so its insights are recomputed from the
//!   merged objects. A request the queue does not take fails that connection's records
//!   like a failed group: the redelivery merges nothing new and asks again.
//!
//! History object names are the first and last sequence numbers of the group's records,
//! zero padded, so the same batch delivered again writes the same keys. A batch resumed
//! after a partial failure holds other records, so it may write some rows again under new
//! names in the history; the current table keeps one version per `row_key` either way.

use std::collections::BTreeMap;
use std::sync::Arc;

use adpipe_domain::AdMetricRow;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use bytes::Bytes;
use chrono::NaiveDate;
use futures_util::{StreamExt, future, stream};
use tracing::Instrument;

use crate::current::{Merged, current_key, merge_into};
use crate::encode::encode;
use crate::event::StreamEvent;
use crate::poison::PoisonRecord;
use crate::ports::{FailureQueue, ObjectSink, RefreshQueue};
use crate::records::{Change, Sequence, classify};
use adpipe_domain::insights::Refresh;

/// Top folder of the history table in the bucket (its Glue table's location).
pub const HISTORY_PREFIX: &str = "ad_metrics_history";
/// Partitions written at once: S3 takes far more, a Lambda at 128 MB holds a few files.
const CONCURRENT_PUTS: usize = 4;

/// The partition of the data lake a row belongs to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Partition {
    pub tenant_id: String,
    pub platform: &'static str,
    pub date: NaiveDate,
}

impl Partition {
    pub fn of(row: &AdMetricRow) -> Self {
        Self {
            tenant_id: row.tenant_id.clone(),
            platform: row.platform.as_str(),
            date: row.date,
        }
    }

    /// `tenant_id=<t>/platform=<p>/dt=<YYYY-MM-DD>`: the partition's folder in either table.
    pub fn path(&self) -> String {
        format!(
            "tenant_id={}/platform={}/dt={}",
            self.tenant_id,
            self.platform,
            self.date.format("%Y-%m-%d")
        )
    }
}

/// The rows of one partition in a batch, in stream order, with their sequence numbers.
struct Group {
    rows: Vec<(Sequence, Arc<AdMetricRow>)>,
    first: Sequence,
    last: Sequence,
}

/// The S3 key of a group's history object (docs/architecture.md, "The data lake").
pub fn object_key(partition: &Partition, first: &Sequence, last: &Sequence) -> String {
    format!(
        "{HISTORY_PREFIX}/{}/{}-{}.parquet",
        partition.path(),
        first.padded(),
        last.padded()
    )
}

pub struct StreamToS3 {
    sink: Box<dyn ObjectSink>,
    queue: Box<dyn FailureQueue>,
    refreshes: Option<Box<dyn RefreshQueue>>,
}

impl StreamToS3 {
    /// A handler that asks for no insights (see [`StreamToS3::with_refreshes`]).
    pub fn new(sink: Box<dyn ObjectSink>, queue: Box<dyn FailureQueue>) -> Self {
        Self {
            sink,
            queue,
            refreshes: None,
        }
    }

    /// Sends each touched connection to `refreshes` after the writes.
    pub fn with_refreshes(mut self, refreshes: Box<dyn RefreshQueue>) -> Self {
        self.refreshes = Some(refreshes);
        self
    }

    /// Writes the batch's rows, sets its poison records aside, and answers which records
    /// Lambda must deliver again.
    pub async fn handle(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let span = tracing::info_span!(
            "invocation",
            records = event.records.len(),
            rows = tracing::field::Empty,
            ignored = tracing::field::Empty,
            poison = tracing::field::Empty,
            groups = tracing::field::Empty,
            failed_groups = tracing::field::Empty,
            unsent_poison = tracing::field::Empty,
            unsent_refreshes = tracing::field::Empty,
        );
        self.handle_batch(event).instrument(span).await
    }

    async fn handle_batch(&self, event: StreamEvent) -> DynamoDbEventResponse {
        let span = tracing::Span::current();
        let (mut rows, mut ignored) = (0usize, 0usize);
        let mut groups: BTreeMap<Partition, Group> = BTreeMap::new();
        let mut poison: Vec<PoisonRecord> = Vec::new();
        // Where to resume when a failure has no sequence number of its own.
        let mut lowest: Option<Sequence> = None;
        for record in event.records {
            if let Some(s) = record
                .change
                .sequence_number
                .as_deref()
                .and_then(Sequence::parse)
            {
                lowest = Some(match lowest {
                    Some(l) => l.min(s),
                    None => s,
                });
            }
            match classify(record) {
                Change::Row(sequence, row) => {
                    rows += 1;
                    add(&mut groups, sequence, *row);
                }
                Change::Ignored(why) => {
                    ignored += 1;
                    tracing::debug!(why, "record passed over");
                }
                Change::Poison(record) => {
                    tracing::error!(
                        event_id = %record.event_id,
                        sequence_number = record.sequence_number.as_deref().unwrap_or(""),
                        keys = %record.keys_json(),
                        why = %record.reason,
                        "poison record: a staged row that cannot be read; skipped, sent to the failure queue"
                    );
                    poison.push(record);
                }
            }
        }
        span.record("rows", rows);
        span.record("ignored", ignored);
        span.record("poison", poison.len());
        span.record("groups", groups.len());
        let touched = touched(&groups);

        let writes: Vec<_> = groups
            .into_iter()
            .map(|(partition, group)| self.write(partition, group))
            .collect();
        let written = stream::iter(writes)
            .buffer_unordered(CONCURRENT_PUTS)
            .filter_map(|outcome| async move { outcome.err() })
            .collect::<Vec<Sequence>>();
        let (unsent, failed) = future::join(self.set_aside(&poison, lowest), written).await;
        span.record("failed_groups", failed.len());
        span.record("unsent_poison", unsent.len());
        let unrequested = self.request_refreshes(touched).await;
        span.record("unsent_refreshes", unrequested.len());

        let mut response = DynamoDbEventResponse::default();
        if let Some(lowest) = failed.into_iter().chain(unsent).chain(unrequested).min() {
            let mut failure = DynamoDbBatchItemFailure::default();
            failure.item_identifier = Some(lowest.as_str().to_owned());
            response.batch_item_failures.push(failure);
        }
        response
    }

    /// Sends the poison records to the failure queue; answers where Lambda must resume for
    /// those it did not take: their own sequence numbers, or else the batch's lowest.
    async fn set_aside(&self, poison: &[PoisonRecord], lowest: Option<Sequence>) -> Vec<Sequence> {
        if poison.is_empty() {
            return Vec::new();
        }
        let Err(error) = self.queue.send(poison).await else {
            tracing::info!(
                count = poison.len(),
                "poison records sent to the failure queue"
            );
            return Vec::new();
        };
        tracing::error!(
            %error,
            unsent = error.unsent.len(),
            "poison records not sent to the failure queue; they will be delivered again"
        );
        error
            .unsent
            .iter()
            .filter_map(|&i| poison.get(i))
            .filter_map(|record| record.sequence().or_else(|| lowest.clone()))
            .collect()
    }

    /// Asks the insights queue to recompute each touched connection; answers the lowest
    /// sequence numbers of the connections it did not take.
    async fn request_refreshes(&self, touched: BTreeMap<Refresh, Sequence>) -> Vec<Sequence> {
        let Some(queue) = &self.refreshes else {
            return Vec::new();
        };
        if touched.is_empty() {
            return Vec::new();
        }
        let (refreshes, lowest): (Vec<Refresh>, Vec<Sequence>) = touched.into_iter().unzip();
        let Err(error) = queue.request(&refreshes).await else {
            tracing::info!(count = refreshes.len(), "insights refreshes requested");
            return Vec::new();
        };
        tracing::error!(%error, unsent = error.unsent.len(), "insights refreshes not requested; their records will be delivered again");
        error
            .unsent
            .iter()
            .filter_map(|&i| lowest.get(i).cloned())
            .collect()
    }

    /// Writes one group's history object and merges its rows into the current objects of
    /// its connections; on failure, answers the lowest sequence number of the records not
    /// written.
    async fn write(&self, partition: Partition, group: Group) -> Result<(), Sequence> {
        let mut connections: BTreeMap<&str, Vec<(Sequence, Arc<AdMetricRow>)>> = BTreeMap::new();
        for (sequence, row) in &group.rows {
            connections
                .entry(row.connection_id.as_str())
                .or_default()
                .push((sequence.clone(), row.clone()));
        }
        let current = future::join_all(connections.into_iter().map(|(connection, rows)| {
            let key = current_key(&partition, connection);
            self.merge_current(&partition, key, rows)
        }));
        let (history, current) =
            future::join(self.write_history(&partition, &group), current).await;
        history
            .err()
            .into_iter()
            .chain(current.into_iter().filter_map(Result::err))
            .min()
            .map_or(Ok(()), Err)
    }

    /// Writes one group's history object; on failure, answers the group's lowest sequence
    /// number.
    async fn write_history(&self, partition: &Partition, group: &Group) -> Result<(), Sequence> {
        let key = object_key(partition, &group.first, &group.last);
        let span = tracing::info_span!(
            "group",
            tenant_id = %partition.tenant_id,
            platform = partition.platform,
            dt = %partition.date,
            rows = group.rows.len(),
            key = %key,
        );
        async {
            let refs: Vec<&AdMetricRow> = group.rows.iter().map(|(_, r)| r.as_ref()).collect();
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
                    Err(group.first.clone())
                }
            }
        }
        .instrument(span)
        .await
    }

    /// Merges one connection's rows of a partition into its current object
    /// ([`merge_into`]); on failure, answers the rows' lowest sequence number.
    async fn merge_current(
        &self,
        partition: &Partition,
        key: String,
        rows: Vec<(Sequence, Arc<AdMetricRow>)>,
    ) -> Result<(), Sequence> {
        let span = tracing::info_span!("current", rows = rows.len(), key = %key);
        let merged = merge_into(self.sink.as_ref(), partition, &key, &rows)
            .instrument(span.clone())
            .await;
        let _entered = span.enter();
        match merged {
            Ok(Merged::Written {
                bytes,
                rows,
                attempt,
            }) => {
                tracing::info!(bytes, rows, attempt, "current object written");
                Ok(())
            }
            Ok(Merged::Unchanged) => {
                tracing::debug!("current object already holds these versions or newer");
                Ok(())
            }
            Err(error) => {
                // An unreadable object is named by the span's key and left as it is.
                tracing::error!(%error, "current object not merged into; its records will be delivered again");
                // A connection has rows here, so the lowest sequence number exists.
                rows.iter()
                    .map(|(s, _)| s)
                    .min()
                    .cloned()
                    .map_or(Ok(()), Err)
            }
        }
    }
}

/// Each (tenant, connection) with rows in the batch, with the lowest sequence number of
/// its records.
fn touched(groups: &BTreeMap<Partition, Group>) -> BTreeMap<Refresh, Sequence> {
    let mut touched: BTreeMap<Refresh, Sequence> = BTreeMap::new();
    for (partition, group) in groups {
        for (sequence, row) in &group.rows {
            let refresh = Refresh::new(&partition.tenant_id, row.connection_id.as_str());
            let lowest = touched.entry(refresh).or_insert_with(|| sequence.clone());
            if sequence < lowest {
                *lowest = sequence.clone();
            }
        }
    }
    touched
}

fn add(groups: &mut BTreeMap<Partition, Group>, sequence: Sequence, row: AdMetricRow) {
    let row = Arc::new(row);
    let partition = Partition::of(&row);
    match groups.get_mut(&partition) {
        Some(group) => {
            if sequence < group.first {
                group.first = sequence.clone();
            }
            if sequence > group.last {
                group.last = sequence.clone();
            }
            group.rows.push((sequence, row));
        }
        None => {
            groups.insert(
                partition,
                Group {
                    rows: vec![(sequence.clone(), row)],
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
    use std::time::{Duration, Instant};

    use async_trait::async_trait;
    use serde_json::{Value, json};

    use super::*;
    use crate::encode::tests::row;
    use crate::ports::{Precondition, QueueError, SinkError};

    /// Keeps objects and queue messages in memory; refuses keys containing any of
    /// `refuse`, and every message while `queue_down`; takes `latency` for each call.
    #[derive(Default)]
    struct Memory {
        refuse: Vec<String>,
        queue_down: bool,
        latency: Duration,
        /// History keys written.
        keys: Mutex<Vec<String>>,
        /// Current objects and their versions.
        current: Mutex<std::collections::HashMap<String, (Bytes, u64)>>,
        messages: Mutex<Vec<Value>>,
        sends: Mutex<usize>,
        refreshes: Mutex<Vec<Refresh>>,
    }

    impl Memory {
        async fn check(&self, key: &str) -> Result<(), SinkError> {
            tokio::time::sleep(self.latency).await;
            if self.refuse.iter().any(|r| key.contains(r.as_str())) {
                return Err(SinkError::Unavailable("refused".into()));
            }
            Ok(())
        }
    }

    #[async_trait]
    impl ObjectSink for Arc<Memory> {
        async fn put(&self, key: &str, _body: Bytes) -> Result<(), SinkError> {
            self.check(key).await?;
            self.keys.lock().unwrap().push(key.to_owned());
            Ok(())
        }

        async fn get(&self, key: &str) -> Result<Option<crate::ports::Versioned>, SinkError> {
            self.check(key).await?;
            Ok(self
                .current
                .lock()
                .unwrap()
                .get(key)
                .map(|(body, version)| crate::ports::Versioned {
                    body: body.clone(),
                    etag: version.to_string(),
                }))
        }

        async fn put_if(
            &self,
            key: &str,
            body: Bytes,
            condition: Precondition,
        ) -> Result<(), SinkError> {
            self.check(key).await?;
            let mut current = self.current.lock().unwrap();
            let version = current.get(key).map(|(_, v)| v.to_string());
            let holds = match &condition {
                Precondition::NoneMatch => version.is_none(),
                Precondition::Match(etag) => version.as_ref() == Some(etag),
            };
            if !holds {
                return Err(SinkError::PreconditionFailed("412".into()));
            }
            let next = current.get(key).map_or(1, |(_, v)| v + 1);
            current.insert(key.to_owned(), (body, next));
            Ok(())
        }
    }

    #[async_trait]
    impl FailureQueue for Arc<Memory> {
        async fn send(&self, records: &[PoisonRecord]) -> Result<(), QueueError> {
            *self.sends.lock().unwrap() += 1;
            tokio::time::sleep(self.latency).await;
            if self.queue_down {
                return Err(QueueError {
                    unsent: (0..records.len()).collect(),
                    reason: "down".into(),
                });
            }
            let mut messages = self.messages.lock().unwrap();
            messages.extend(
                records
                    .iter()
                    .map(|r| serde_json::from_str(&r.to_json()).unwrap()),
            );
            Ok(())
        }
    }

    /// Takes every refresh request, or while `queue_down` none.
    #[async_trait]
    impl RefreshQueue for Arc<Memory> {
        async fn request(&self, refreshes: &[Refresh]) -> Result<(), QueueError> {
            if self.queue_down {
                return Err(QueueError {
                    unsent: (0..refreshes.len()).collect(),
                    reason: "down".into(),
                });
            }
            self.refreshes.lock().unwrap().extend_from_slice(refreshes);
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
            "dynamodb": {
                "Keys": {"pk": {"S": format!("pk-{sequence}")}},
                "NewImage": image, "SequenceNumber": sequence, "SizeBytes": 1
            },
        })
    }

    /// A staged row whose `impressions` can never be read.
    fn poison(sequence: &str) -> Value {
        let mut r = record(sequence, &row(0));
        r["dynamodb"]["NewImage"]["impressions"] = json!({"S": "a secret-looking value"});
        r
    }

    fn event(records: Vec<Value>) -> StreamEvent {
        serde_json::from_str(&json!({ "Records": records }).to_string()).unwrap()
    }

    /// Rows of days 1, 2, 3 (i % 3) at sequence numbers 100 + i.
    fn rows(n: u32) -> Vec<Value> {
        (0..n)
            .map(|i| record(&(100 + i).to_string(), &row(i)))
            .collect()
    }

    fn memory(refuse: &[&str]) -> Arc<Memory> {
        Arc::new(Memory {
            refuse: refuse.iter().map(|s| s.to_string()).collect(),
            ..Memory::default()
        })
    }

    fn handler(memory: &Arc<Memory>) -> StreamToS3 {
        StreamToS3::new(Box::new(memory.clone()), Box::new(memory.clone()))
    }

    fn failures(response: &DynamoDbEventResponse) -> Vec<String> {
        response
            .batch_item_failures
            .iter()
            .filter_map(|f| f.item_identifier.clone())
            .collect()
    }

    #[tokio::test]
    async fn each_partition_gets_one_object_named_by_its_first_and_last_sequence_number() {
        let sink = memory(&[]);
        let response = handler(&sink).handle(event(rows(6))).await;
        assert!(response.batch_item_failures.is_empty());
        let mut keys = sink.keys.lock().unwrap().clone();
        keys.sort();
        let pad = |s: u32| format!("{s:040}");
        assert_eq!(
            keys,
            vec![
                format!(
                    "{HISTORY_PREFIX}/tenant_id=t-1/platform=facebook/dt=2026-03-01/{}-{}.parquet",
                    pad(100),
                    pad(103)
                ),
                format!(
                    "{HISTORY_PREFIX}/tenant_id=t-1/platform=facebook/dt=2026-03-02/{}-{}.parquet",
                    pad(101),
                    pad(104)
                ),
                format!(
                    "{HISTORY_PREFIX}/tenant_id=t-1/platform=facebook/dt=2026-03-03/{}-{}.parquet",
                    pad(102),
                    pad(105)
                ),
            ]
        );
        assert_eq!(*sink.sends.lock().unwrap(), 0, "no poison, no message");
    }

    #[tokio::test]
    async fn with_two_groups_failing_the_lowest_sequence_number_of_either_is_reported() {
        let sink = memory(&["dt=2026-03-02", "dt=2026-03-03"]);
        let response = handler(&sink).handle(event(rows(6))).await;
        assert_eq!(failures(&response), vec!["101"]);
        assert_eq!(sink.keys.lock().unwrap().len(), 1, "day 1 still written");
    }

    #[tokio::test]
    async fn a_row_without_a_valid_tenant_is_poison_sent_to_the_queue_and_skipped() {
        let sink = memory(&[]);
        let bad = AdMetricRow {
            tenant_id: "../other".into(),
            ..row(0)
        };
        let response = handler(&sink)
            .handle(event(vec![record("7", &bad), record("8", &row(1))]))
            .await;
        assert!(response.batch_item_failures.is_empty());
        let keys = sink.keys.lock().unwrap().clone();
        assert_eq!(keys.len(), 1);
        assert!(keys[0].contains("tenant_id=t-1/"), "{keys:?}");
        let messages = sink.messages.lock().unwrap().clone();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["sequence_number"], "7");
        assert_eq!(
            messages[0]["reason"],
            "field `tenant_id` is not a tenant id"
        );
    }

    #[tokio::test]
    async fn a_poison_record_goes_to_the_queue_with_its_keys_and_not_its_values() {
        let sink = memory(&[]);
        let mut records = rows(3);
        records.insert(1, poison("50"));
        let response = handler(&sink).handle(event(records)).await;
        assert!(failures(&response).is_empty(), "the shard moves on");
        assert_eq!(sink.keys.lock().unwrap().len(), 3);
        let messages = sink.messages.lock().unwrap().clone();
        assert_eq!(messages.len(), 1);
        assert_eq!(messages[0]["kind"], "poison_record");
        assert_eq!(messages[0]["keys"], json!({"pk": {"S": "pk-50"}}));
        assert_eq!(messages[0]["reason"], "field `impressions` is malformed");
        assert!(!messages[0].to_string().contains("secret-looking"));
    }

    #[tokio::test]
    async fn with_the_queue_down_the_poison_record_is_delivered_again_and_every_group_written() {
        let sink = Arc::new(Memory {
            queue_down: true,
            ..Memory::default()
        });
        let mut records = rows(6);
        records.push(poison("103"));
        let response = handler(&sink).handle(event(records)).await;
        assert_eq!(failures(&response), vec!["103"]);
        assert_eq!(
            sink.keys.lock().unwrap().len(),
            3,
            "rows before and after it written"
        );
    }

    #[tokio::test]
    async fn an_unsent_poison_record_and_a_failed_group_resume_at_the_lower_of_the_two() {
        let sink = Arc::new(Memory {
            queue_down: true,
            refuse: vec!["dt=2026-03-03".into()],
            ..Memory::default()
        });
        let mut records = rows(6);
        records.push(poison("104"));
        let response = handler(&sink).handle(event(records)).await;
        assert_eq!(
            failures(&response),
            vec!["102"],
            "day 3's first row is before it"
        );

        let mut records = rows(3);
        records.push(poison("99"));
        let response = handler(&sink).handle(event(records)).await;
        assert_eq!(failures(&response), vec!["99"]);
    }

    #[tokio::test]
    async fn an_unsent_poison_record_without_a_sequence_number_retries_the_whole_batch() {
        let sink = Arc::new(Memory {
            queue_down: true,
            ..Memory::default()
        });
        let mut bad = poison("1");
        bad["dynamodb"]
            .as_object_mut()
            .unwrap()
            .remove("SequenceNumber");
        let mut records = rows(3);
        records.push(bad);
        let response = handler(&sink).handle(event(records)).await;
        assert_eq!(failures(&response), vec!["100"]);
    }

    #[tokio::test]
    async fn the_failure_queue_is_sent_to_while_the_objects_are_written() {
        let latency = Duration::from_millis(300);
        let sink = Arc::new(Memory {
            latency,
            ..Memory::default()
        });
        let mut records = rows(3);
        records.push(poison("99"));
        let start = Instant::now();
        let response = handler(&sink).handle(event(records)).await;
        let took = start.elapsed();
        assert!(failures(&response).is_empty());
        assert_eq!(sink.messages.lock().unwrap().len(), 1);
        // The objects take two calls (the current object's read and write, the history
        // object's write beside them), the queue one: two latencies, not three.
        assert!(
            took < latency * 3 - latency / 4,
            "two latencies, not three: {took:?}"
        );
    }

    fn refreshing(memory: &Arc<Memory>) -> StreamToS3 {
        handler(memory).with_refreshes(Box::new(memory.clone()))
    }

    #[tokio::test]
    async fn each_touched_connection_is_sent_for_a_refresh_once() {
        let sink = memory(&[]);
        let mut records = rows(6);
        let other = AdMetricRow {
            connection_id: "con_other".into(),
            ..row(0)
        };
        records.push(record("200", &other));
        records.push(record("201", &other));
        let response = refreshing(&sink).handle(event(records)).await;
        assert!(response.batch_item_failures.is_empty());
        assert_eq!(
            *sink.refreshes.lock().unwrap(),
            vec![
                Refresh::new("t-1", "con_01jabcdefghijk"),
                Refresh::new("t-1", "con_other"),
            ]
        );
    }

    #[tokio::test]
    async fn an_unsent_refresh_fails_its_connections_lowest_record_and_nothing_is_lost() {
        let sink = Arc::new(Memory {
            queue_down: true,
            ..Memory::default()
        });
        let other = AdMetricRow {
            connection_id: "con_other".into(),
            ..row(0)
        };
        let records = vec![record("300", &other), record("301", &row(1))];
        let response = refreshing(&sink).handle(event(records)).await;
        // Both connections unsent: the lower of their lowest sequence numbers.
        assert_eq!(failures(&response), vec!["300"]);
        assert_eq!(
            current_objects(&sink).len(),
            2,
            "the rows are merged all the same"
        );
    }

    #[tokio::test]
    async fn a_batch_without_rows_requests_no_refresh() {
        let sink = memory(&[]);
        let response = refreshing(&sink).handle(event(vec![poison("1")])).await;
        assert!(response.batch_item_failures.is_empty());
        assert!(sink.refreshes.lock().unwrap().is_empty());
    }

    fn current_objects(sink: &Arc<Memory>) -> Vec<String> {
        let mut keys: Vec<String> = sink.current.lock().unwrap().keys().cloned().collect();
        keys.sort();
        keys
    }

    #[tokio::test]
    async fn each_connection_of_a_partition_gets_one_current_object() {
        let sink = memory(&[]);
        let mut records = rows(6);
        let other = AdMetricRow {
            connection_id: "con_other".into(),
            ..row(0)
        };
        records.push(record("200", &other));
        let response = handler(&sink).handle(event(records)).await;
        assert!(response.batch_item_failures.is_empty());
        let day = |d: u32| format!("ad_metrics/tenant_id=t-1/platform=facebook/dt=2026-03-0{d}");
        assert_eq!(
            current_objects(&sink),
            vec![
                format!("{}/con_01jabcdefghijk.parquet", day(1)),
                format!("{}/con_other.parquet", day(1)),
                format!("{}/con_01jabcdefghijk.parquet", day(2)),
                format!("{}/con_01jabcdefghijk.parquet", day(3)),
            ]
        );
        let versions = |s: &Arc<Memory>| {
            let mut v: Vec<u64> = s
                .current
                .lock()
                .unwrap()
                .values()
                .map(|(_, v)| *v)
                .collect();
            v.sort();
            v
        };
        assert_eq!(versions(&sink), vec![1, 1, 1, 1]);
        // Delivered again: nothing is rewritten.
        handler(&sink).handle(event(rows(6))).await;
        assert_eq!(versions(&sink), vec![1, 1, 1, 1]);
    }

    #[tokio::test]
    async fn a_current_object_that_is_not_parquet_fails_its_records_and_stays() {
        let sink = memory(&[]);
        let key =
            "ad_metrics/tenant_id=t-1/platform=facebook/dt=2026-03-02/con_01jabcdefghijk.parquet";
        sink.current
            .lock()
            .unwrap()
            .insert(key.into(), (Bytes::from_static(b"{}"), 7));
        let response = handler(&sink).handle(event(rows(6))).await;
        assert_eq!(failures(&response), vec!["101"]);
        assert_eq!(
            sink.current.lock().unwrap()[key],
            (Bytes::from_static(b"{}"), 7)
        );
        assert_eq!(current_objects(&sink).len(), 3, "the other days merged");
    }
}
