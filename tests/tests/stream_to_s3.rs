//! stream-to-s3 against moto: rows staged by the extractor's own staging adapter, read
//! back from the staging table's stream, delivered in Lambda's event shape (and in moto's),
//! the Parquet read back from S3 with the parquet crate, and poison records read back from
//! an SQS queue.

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::sync::{Arc, Mutex};

use adpipe_domain::{AdMetricRow, Level};
use adpipe_testkit::{FaultProxy, Shape, aws, lambda_record, sdk_config, unique_tenant};
use arrow_array::{Array, Int64Array, RecordBatch};
use arrow_schema::{DataType, TimeUnit};
use async_trait::async_trait;
use aws_lambda_events::streams::DynamoDbEventResponse;
use aws_sdk_dynamodbstreams::types::Record;
use bytes::Bytes;
use chrono::NaiveDate;
use extractor::staging::DynamoStaging;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use stream_to_s3::queue::sqs::SqsQueue;
use stream_to_s3::sink::s3::S3Sink;
use stream_to_s3::{ObjectSink, Precondition, SinkError, StreamEvent, StreamToS3, Versioned};

use crate::common::{campaign_row, log_to_test_output};

const ACCOUNT: &str = "act_1234567890";
const STREAM_ARN: &str =
    "arn:aws:dynamodb:us-east-1:123456789012:table/adpipe-staging/stream/2026-11-27T00:00:00.000";

fn day(n: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 4, 1).unwrap() + chrono::Days::new(u64::from(n))
}

fn row(tenant: &str, campaign: &str, date: NaiveDate, n: i64) -> AdMetricRow {
    AdMetricRow {
        impressions: Some(1000 + n),
        clicks: Some(10 + n),
        cost_micros: Some(1_230_000 * n),
        conversions: Some(0.5),
        extra: Some(r#"{"reach":7}"#.into()),
        ..campaign_row(tenant, "con_1", ACCOUNT, Level::Campaign, campaign, date)
    }
}

/// 2 days × 2 campaigns for a fresh tenant, staged as the extractor stages them; answers
/// the tenant, the rows and their stream records.
async fn staged() -> (String, Vec<AdMetricRow>, Vec<Record>) {
    log_to_test_output();
    let tenant = unique_tenant();
    let mut rows = Vec::new();
    for (n, (campaign, d)) in [("c1", 0), ("c2", 0), ("c1", 1), ("c2", 1)]
        .into_iter()
        .enumerate()
    {
        rows.push(row(&tenant, campaign, day(d), n as i64 + 1));
    }
    let staging = DynamoStaging::new(aws().dynamodb().await, &aws().staging_table, 7);
    assert_eq!(staging.write_all(rows.clone()).await.unwrap(), 4);
    let records = stream_records(&tenant).await;
    assert_eq!(records.len(), 4, "one INSERT per staged row");
    (tenant, rows, records)
}

async fn stream_records(tenant: &str) -> Vec<Record> {
    aws()
        .staging_stream_records(&format!("{tenant}#"))
        .await
        .unwrap()
}

async fn handler() -> StreamToS3 {
    StreamToS3::new(
        Box::new(sink().await),
        Box::new(failure_queue(&aws().stream_failure_queue_url, &aws().endpoint).await),
    )
}

async fn sink() -> S3Sink {
    S3Sink::new(aws().s3().await, aws().data_bucket.clone())
}

/// The SQS adapter on `queue_url`, reaching SQS through `endpoint` (moto, or a proxy).
async fn failure_queue(queue_url: &str, endpoint: &str) -> SqsQueue {
    let client = aws_sdk_sqs::Client::new(&sdk_config(endpoint).await);
    SqsQueue::failures(client, queue_url)
}

fn event_of(records: Vec<Value>) -> StreamEvent {
    serde_json::from_value(json!({ "Records": records })).expect("a DynamoDB stream event")
}

fn event(records: &[Record], shape: Shape) -> StreamEvent {
    event_of(
        records
            .iter()
            .map(|r| lambda_record(r, shape, STREAM_ARN))
            .collect(),
    )
}

fn sequence(record: &Record) -> u128 {
    record
        .dynamodb
        .as_ref()
        .and_then(|d| d.sequence_number.as_deref())
        .and_then(|s| s.parse().ok())
        .expect("a numeric sequence number")
}

fn failures(response: &DynamoDbEventResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .filter_map(|f| f.item_identifier.clone())
        .collect()
}

/// Keys of the tenant's objects in the history table, sorted.
async fn objects(tenant: &str) -> Vec<String> {
    keys_under(&format!("ad_metrics_history/tenant_id={tenant}/")).await
}

/// Keys of the tenant's objects in the current table, sorted.
async fn current_objects(tenant: &str) -> Vec<String> {
    keys_under(&format!("ad_metrics/tenant_id={tenant}/")).await
}

async fn keys_under(prefix: &str) -> Vec<String> {
    aws().lake_keys(prefix).await
}

async fn body(key: &str) -> Bytes {
    aws().lake_object(key).await
}

async fn read_parquet(key: &str) -> (arrow_schema::SchemaRef, Vec<RecordBatch>) {
    let reader = ParquetRecordBatchReaderBuilder::try_new(body(key).await).unwrap();
    let schema = reader.schema().clone();
    let batches = reader
        .build()
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    (schema, batches)
}

/// The batch's column `name`, as the array type it has.
fn column<'a, T: 'static>(batch: &'a RecordBatch, name: &str) -> &'a T {
    batch
        .column_by_name(name)
        .unwrap()
        .as_any()
        .downcast_ref::<T>()
        .unwrap()
}

fn sum(batches: &[RecordBatch], name: &str) -> i64 {
    batches
        .iter()
        .map(|b| {
            let values = column::<Int64Array>(b, name);
            (0..values.len())
                .filter(|&i| values.is_valid(i))
                .map(|i| values.value(i))
                .sum::<i64>()
        })
        .sum()
}

/// (impressions, clicks, cost_micros) of the rows, per `dt`.
fn expected_sums(rows: &[AdMetricRow]) -> BTreeMap<String, (i64, i64, i64)> {
    let mut sums = BTreeMap::new();
    for r in rows {
        let s = sums.entry(r.date.to_string()).or_insert((0, 0, 0));
        s.0 += r.impressions.unwrap_or(0);
        s.1 += r.clicks.unwrap_or(0);
        s.2 += r.cost_micros.unwrap_or(0);
    }
    sums
}

/// (impressions, clicks, cost_micros) read back from the tenant's objects, per `dt`.
async fn written_sums(tenant: &str) -> BTreeMap<String, (i64, i64, i64)> {
    let mut sums = BTreeMap::new();
    for key in objects(tenant).await {
        let dt = key
            .split('/')
            .find_map(|p| p.strip_prefix("dt="))
            .unwrap()
            .to_owned();
        let (_, batches) = read_parquet(&key).await;
        let s = sums.entry(dt).or_insert((0, 0, 0));
        s.0 += sum(&batches, "impressions");
        s.1 += sum(&batches, "clicks");
        s.2 += sum(&batches, "cost_micros");
    }
    sums
}

/// The lake's columns (docs/architecture.md, "The data lake"), column by column.
fn contract_columns() -> Vec<(&'static str, DataType, bool)> {
    let s = |n| (n, DataType::Utf8, false);
    let s_null = |n| (n, DataType::Utf8, true);
    let i = |n| (n, DataType::Int64, true);
    let f = |n| (n, DataType::Float64, true);
    vec![
        s("row_key"),
        s("connection_id"),
        s("account_id"),
        s("level"),
        ("date", DataType::Date32, false),
        s_null("campaign_id"),
        s_null("campaign_name"),
        s_null("ad_group_id"),
        s_null("ad_group_name"),
        s_null("ad_id"),
        s_null("ad_name"),
        s_null("currency"),
        i("impressions"),
        i("clicks"),
        i("cost_micros"),
        f("conversions"),
        f("conversion_value"),
        i("video_views"),
        s_null("extra"),
        (
            "extracted_at",
            DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
            false,
        ),
        s("run_id"),
        s("schedule_id"),
    ]
}

async fn a_batch_is_written_per_partition(shape: Shape) {
    let (tenant, rows, records) = staged().await;
    let response = handler().await.handle(event(&records, shape)).await;
    assert!(failures(&response).is_empty(), "{response:?}");

    let keys = objects(&tenant).await;
    assert_eq!(keys.len(), 2, "one object per day: {keys:?}");
    for (key, d) in keys.iter().zip([day(0), day(1)]) {
        let folder = format!("ad_metrics_history/tenant_id={tenant}/platform=facebook/dt={d}/");
        assert!(
            key.starts_with(&folder) && key.ends_with(".parquet"),
            "{key}"
        );
        let (schema, batches) = read_parquet(key).await;
        let columns: Vec<(&str, DataType, bool)> = schema
            .fields()
            .iter()
            .map(|f| (f.name().as_str(), f.data_type().clone(), f.is_nullable()))
            .collect();
        assert_eq!(columns, contract_columns(), "{key}");
        assert_eq!(batches.iter().map(RecordBatch::num_rows).sum::<usize>(), 2);
    }
    assert_eq!(written_sums(&tenant).await, expected_sums(&rows));
}

#[tokio::test]
async fn a_batch_becomes_one_parquet_object_per_tenant_platform_and_day() {
    a_batch_is_written_per_partition(Shape::Lambda).await;
}

#[tokio::test]
async fn records_in_motos_shape_are_read_the_same() {
    a_batch_is_written_per_partition(Shape::Moto).await;
}

#[tokio::test]
async fn removes_and_items_that_are_not_rows_are_passed_over() {
    let (tenant, _, _) = staged().await;
    let dynamodb = aws().dynamodb().await;
    let pk = format!("{tenant}#facebook#{ACCOUNT}");
    let sk = format!("campaign|c1|{}", day(0));
    let key = |k: &str, v: &str| {
        (
            k.to_owned(),
            aws_sdk_dynamodb::types::AttributeValue::S(v.into()),
        )
    };
    dynamodb
        .delete_item()
        .table_name(&aws().staging_table)
        .set_key(Some(HashMap::from([key("pk", &pk), key("sk", &sk)])))
        .send()
        .await
        .unwrap();
    dynamodb
        .put_item()
        .table_name(&aws().staging_table)
        .set_item(Some(HashMap::from([
            key("pk", &format!("{tenant}#marker")),
            key("sk", "note"),
            key("note", "not a row"),
        ])))
        .send()
        .await
        .unwrap();
    let records = stream_records(&tenant).await;
    let others: Vec<&Record> = records
        .iter()
        .filter(|r| {
            let name = r.event_name.as_ref().map(|n| n.as_str());
            name == Some("REMOVE")
                || lambda_record(r, Shape::Moto, STREAM_ARN)["dynamodb"]["NewImage"]
                    .get("note")
                    .is_some()
        })
        .collect();
    assert_eq!(others.len(), 2, "the REMOVE and the non-row INSERT");

    // As moto gives them, and the REMOVE as Lambda delivers a TTL expiry.
    let mut json: Vec<Value> = others
        .iter()
        .map(|r| lambda_record(r, Shape::Moto, STREAM_ARN))
        .collect();
    let mut ttl = json[0].clone();
    ttl["userIdentity"] = json!({"type": "Service", "principalId": "dynamodb.amazonaws.com"});
    ttl["eventName"] = json!("REMOVE");
    ttl["eventSourceARN"] = json!(STREAM_ARN);
    json.push(ttl);

    let response = handler().await.handle(event_of(json)).await;
    assert!(failures(&response).is_empty());
    assert!(objects(&tenant).await.is_empty(), "nothing written");
}

#[tokio::test]
async fn the_same_batch_twice_writes_the_same_keys_and_nothing_more() {
    let (tenant, rows, records) = staged().await;
    let handler = handler().await;
    handler.handle(event(&records, Shape::Lambda)).await;
    let first = objects(&tenant).await;
    let response = handler.handle(event(&records, Shape::Lambda)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(objects(&tenant).await, first);
    assert_eq!(written_sums(&tenant).await, expected_sums(&rows));
}

/// S3 that refuses objects whose key contains `refuse`.
struct Refusing {
    s3: S3Sink,
    refuse: String,
}

#[async_trait]
impl ObjectSink for Refusing {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), SinkError> {
        self.check(key)?;
        self.s3.put(key, body).await
    }

    async fn get(&self, key: &str) -> Result<Option<Versioned>, SinkError> {
        self.check(key)?;
        self.s3.get(key).await
    }

    async fn put_if(
        &self,
        key: &str,
        body: Bytes,
        condition: Precondition,
    ) -> Result<(), SinkError> {
        self.check(key)?;
        self.s3.put_if(key, body, condition).await
    }
}

impl Refusing {
    fn check(&self, key: &str) -> Result<(), SinkError> {
        if key.contains(&self.refuse) {
            return Err(SinkError::Unavailable("injected: SlowDown".into()));
        }
        Ok(())
    }
}

#[tokio::test]
async fn a_failed_write_names_its_groups_lowest_sequence_number_and_the_other_groups_are_written() {
    let (tenant, rows, records) = staged().await;
    let refused_day = day(1).to_string();
    let handler = StreamToS3::new(
        Box::new(Refusing {
            s3: sink().await,
            refuse: format!("dt={refused_day}/"),
        }),
        Box::new(failure_queue(&aws().stream_failure_queue_url, &aws().endpoint).await),
    );
    let response = handler.handle(event(&records, Shape::Lambda)).await;

    let lowest_refused = records
        .iter()
        .filter(|r| {
            lambda_record(r, Shape::Lambda, STREAM_ARN)["dynamodb"]["NewImage"]["date"]["S"]
                == refused_day
        })
        .map(sequence)
        .min()
        .unwrap();
    assert_eq!(failures(&response), vec![lowest_refused.to_string()]);
    let keys = objects(&tenant).await;
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys[0].contains(&format!("dt={}/", day(0))));
    let day_zero: Vec<AdMetricRow> = rows.into_iter().filter(|r| r.date == day(0)).collect();
    assert_eq!(written_sums(&tenant).await, expected_sums(&day_zero));
}

/// A log sink for one test: the handler's events as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// A failure queue of the test's own: tests run at once, and a receive hides messages.
async fn own_queue() -> String {
    aws()
        .sqs()
        .await
        .create_queue()
        .queue_name(format!("stream-failures-{}", unique_tenant()))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap()
}

/// Every message of the queue, as JSON, with its `kind` attribute.
async fn messages(queue_url: &str) -> Vec<(Value, Option<String>)> {
    let out = aws()
        .sqs()
        .await
        .receive_message()
        .queue_url(queue_url)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .send()
        .await
        .unwrap();
    out.messages()
        .iter()
        .map(|m| {
            let kind = m
                .message_attributes()
                .and_then(|a| a.get("kind"))
                .and_then(|v| v.string_value())
                .map(str::to_owned);
            (serde_json::from_str(m.body().unwrap()).unwrap(), kind)
        })
        .collect()
}

/// The staged batch as Lambda delivers it, the image of its record at `index` made
/// unreadable; answers the records, and the poisoned one's row key, sort key and sequence
/// number.
fn poisoned(records: &[Record], index: usize) -> (Vec<Value>, String, String, String) {
    let mut json: Vec<Value> = records
        .iter()
        .map(|r| lambda_record(r, Shape::Lambda, STREAM_ARN))
        .collect();
    let poisoned = &mut json[index];
    poisoned["dynamodb"]["NewImage"]["impressions"] = json!({"S": "a secret-looking value"});
    let text = |v: &Value| v.as_str().unwrap().to_owned();
    let row_key = text(&poisoned["dynamodb"]["NewImage"]["row_key"]["S"]);
    let sk = text(&poisoned["dynamodb"]["Keys"]["sk"]["S"]);
    let sequence = text(&poisoned["dynamodb"]["SequenceNumber"]);
    (json, row_key, sk, sequence)
}

fn without(rows: Vec<AdMetricRow>, row_key: &str) -> Vec<AdMetricRow> {
    rows.into_iter().filter(|r| r.row_key != row_key).collect()
}

#[tokio::test]
async fn an_invalid_image_is_skipped_logged_and_sent_to_the_failure_queue_with_its_keys_only() {
    let (tenant, rows, records) = staged().await;
    let (json, row_key, sk, sequence) = poisoned(&records, 0);
    let queue_url = own_queue().await;
    let handler = StreamToS3::new(
        Box::new(sink().await),
        Box::new(failure_queue(&queue_url, &aws().endpoint).await),
    );

    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let response = {
        let _guard = tracing::subscriber::set_default(subscriber);
        handler.handle(event_of(json)).await
    };

    assert!(failures(&response).is_empty(), "the batch is not retried");
    let kept = without(rows, &row_key);
    assert_eq!(kept.len(), 3);
    assert_eq!(written_sums(&tenant).await, expected_sums(&kept));

    let messages = messages(&queue_url).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    let (message, kind) = &messages[0];
    assert_eq!(kind.as_deref(), Some("poison_record"));
    assert_eq!(message["kind"], "poison_record");
    assert_eq!(message["sequence_number"], sequence.as_str());
    assert_eq!(message["keys"]["sk"]["S"], sk.as_str());
    assert_eq!(
        message["keys"]["pk"]["S"],
        format!("{tenant}#facebook#{ACCOUNT}")
    );
    assert_eq!(message["table"], "adpipe-staging");
    assert_eq!(message["reason"], "field `impressions` is malformed");
    assert!(!message.to_string().contains("secret-looking"), "{message}");
    assert!(
        !message.to_string().contains("campaign_name"),
        "keys only: {message}"
    );

    let logs = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let line = logs
        .lines()
        .find(|l| l.contains("poison record"))
        .unwrap_or_else(|| panic!("no poison record logged: {logs}"));
    assert!(line.contains("ERROR"), "{line}");
    assert!(line.contains(&sk), "names its keys: {line}");
    assert!(line.contains("impressions"), "names the field: {line}");
    assert!(!line.contains("secret-looking"), "never the values: {line}");
}

const SEND_MESSAGE_BATCH: &str = "AmazonSQS.SendMessageBatch";

#[tokio::test]
async fn with_sqs_failing_the_poison_record_is_delivered_again_and_nothing_is_lost() {
    let (tenant, rows, records) = staged().await;
    // The second record of four: one row before it, two after.
    let (json, row_key, _, sequence) = poisoned(&records, 1);
    let queue_url = own_queue().await;
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let handler = StreamToS3::new(
        Box::new(sink().await),
        Box::new(failure_queue(&queue_url, &proxy.endpoint()).await),
    );
    proxy.fail(SEND_MESSAGE_BATCH);

    let response = handler.handle(event_of(json.clone())).await;
    assert_eq!(failures(&response), vec![sequence.clone()]);
    assert!(proxy.hits(SEND_MESSAGE_BATCH) >= 1);
    assert!(messages(&queue_url).await.is_empty());
    let kept = without(rows, &row_key);
    assert_eq!(
        written_sums(&tenant).await,
        expected_sums(&kept),
        "every row written"
    );
    assert_eq!(objects(&tenant).await.len(), 2);

    // Lambda resumes the shard at the named record; SQS is back.
    proxy.heal(SEND_MESSAGE_BATCH);
    let resumed: Vec<Value> = json
        .into_iter()
        .filter(|r| {
            let s: u128 = r["dynamodb"]["SequenceNumber"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap();
            s >= sequence.parse().unwrap()
        })
        .collect();
    let response = handler.handle(event_of(resumed)).await;
    assert!(failures(&response).is_empty());
    let messages = messages(&queue_url).await;
    assert_eq!(messages.len(), 1, "{messages:?}");
    assert_eq!(messages[0].0["sequence_number"], sequence.as_str());
    // The rows after it were written again under the same names; none is lost.
    assert_eq!(objects(&tenant).await.len(), 2);
    assert_eq!(written_sums(&tenant).await, expected_sums(&kept));
}

#[tokio::test]
async fn a_batch_without_poison_records_sends_nothing_to_the_queue() {
    let (_, _, records) = staged().await;
    let queue_url = own_queue().await;
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let handler = StreamToS3::new(
        Box::new(sink().await),
        Box::new(failure_queue(&queue_url, &proxy.endpoint()).await),
    );
    let response = handler.handle(event(&records, Shape::Lambda)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(proxy.hits(SEND_MESSAGE_BATCH), 0);
    assert!(messages(&queue_url).await.is_empty());
}

#[tokio::test]
async fn the_sample_event_of_events_writes_its_one_row_and_passes_the_ttl_delete_over() {
    let text = std::fs::read_to_string(
        crate::common::workspace_root().join("events/stream-to-s3/staged-rows.json"),
    )
    .unwrap();
    let event: StreamEvent =
        serde_json::from_str(&text).expect("the sample is a DynamoDB stream event");
    let response = handler().await.handle(event).await;
    assert!(failures(&response).is_empty());
    let keys = objects("acme").await;
    assert_eq!(
        keys,
        [
            "ad_metrics_history/tenant_id=acme/platform=facebook/dt=2026-11-26/0000000000004421584500000000017450439091-0000000000004421584500000000017450439091.parquet"
        ]
    );
    let (_, batches) = read_parquet(&keys[0]).await;
    assert_eq!(sum(&batches, "cost_micros"), 61_110_000);
}

// ---------------------------------------------------------------- the current table

/// `row_key` → clicks of the rows in the tenant's current objects.
async fn current_clicks(tenant: &str) -> BTreeMap<String, i64> {
    let mut clicks = BTreeMap::new();
    for key in current_objects(tenant).await {
        let (_, batches) = read_parquet(&key).await;
        for batch in batches {
            let keys = column::<arrow_array::StringArray>(&batch, "row_key");
            let values = column::<Int64Array>(&batch, "clicks");
            for i in 0..batch.num_rows() {
                let old = clicks.insert(keys.value(i).to_owned(), values.value(i));
                assert!(
                    old.is_none(),
                    "{} twice in the current table",
                    keys.value(i)
                );
            }
        }
    }
    clicks
}

fn clicks_of(rows: &[AdMetricRow]) -> BTreeMap<String, i64> {
    rows.iter()
        .map(|r| (r.row_key.clone(), r.clicks.unwrap()))
        .collect()
}

async fn etag(key: &str) -> String {
    aws()
        .s3()
        .await
        .head_object()
        .bucket(&aws().data_bucket)
        .key(key)
        .send()
        .await
        .unwrap()
        .e_tag()
        .unwrap()
        .to_owned()
}

async fn put_object(key: &str, body: Vec<u8>) {
    aws().put_lake_object(key, body).await;
}

fn current_key(tenant: &str, d: NaiveDate) -> String {
    format!("ad_metrics/tenant_id={tenant}/platform=facebook/dt={d}/con_1.parquet")
}

fn lowest(records: &[Record]) -> String {
    records.iter().map(sequence).min().unwrap().to_string()
}

/// The tenant's stream records after `seen` (the ones a later batch would hold).
async fn records_after(tenant: &str, seen: &[Record]) -> Vec<Record> {
    let last = seen.iter().map(sequence).max().unwrap_or(0);
    stream_records(tenant)
        .await
        .into_iter()
        .filter(|r| sequence(r) > last)
        .collect()
}

#[tokio::test]
async fn a_restated_row_has_two_versions_in_the_history_and_its_newest_alone_in_the_current_table()
{
    let (tenant, mut rows, first) = staged().await;
    let handler = handler().await;
    assert!(failures(&handler.handle(event(&first, Shape::Lambda)).await).is_empty());
    assert_eq!(
        current_objects(&tenant).await,
        [current_key(&tenant, day(0)), current_key(&tenant, day(1))]
    );
    assert_eq!(current_clicks(&tenant).await, clicks_of(&rows));

    // The platform restates c1 on day 0: a later extraction with other numbers.
    rows[0].clicks = Some(777);
    rows[0].extracted_at += chrono::Duration::hours(20);
    let staging = DynamoStaging::new(aws().dynamodb().await, &aws().staging_table, 7);
    assert_eq!(staging.write_all(vec![rows[0].clone()]).await.unwrap(), 1);
    let restated = records_after(&tenant, &first).await;
    assert_eq!(restated.len(), 1, "one MODIFY");
    assert!(failures(&handler.handle(event(&restated, Shape::Lambda)).await).is_empty());

    assert_eq!(
        objects(&tenant).await.len(),
        3,
        "two history objects of day 0"
    );
    assert_eq!(current_objects(&tenant).await.len(), 2);
    assert_eq!(current_clicks(&tenant).await, clicks_of(&rows));
    let (_, batches) = read_parquet(&current_key(&tenant, day(0))).await;
    let campaigns: Vec<String> = batches
        .iter()
        .flat_map(|b| {
            let c = column::<arrow_array::StringArray>(b, "campaign_id");
            (0..c.len()).map(move |i| c.value(i).to_owned())
        })
        .collect();
    assert_eq!(campaigns, ["c1", "c2"], "rows sorted by entity");

    // The older batch delivered after the newer, and the newer again: nothing changes.
    let tags = (
        etag(&current_key(&tenant, day(0))).await,
        etag(&current_key(&tenant, day(1))).await,
    );
    assert!(failures(&handler.handle(event(&first, Shape::Lambda)).await).is_empty());
    assert!(failures(&handler.handle(event(&restated, Shape::Lambda)).await).is_empty());
    assert_eq!(
        (
            etag(&current_key(&tenant, day(0))).await,
            etag(&current_key(&tenant, day(1))).await,
        ),
        tags,
        "not rewritten"
    );
    assert_eq!(current_clicks(&tenant).await, clicks_of(&rows));
}

#[tokio::test]
async fn a_current_object_that_is_not_the_lakes_parquet_is_left_as_it_is_and_its_records_fail() {
    let (tenant, rows, records) = staged().await;
    // Day 0: not Parquet at all. Day 1: Parquet with other columns.
    put_object(
        &current_key(&tenant, day(0)),
        b"{\"not\": \"parquet\"}".to_vec(),
    )
    .await;
    let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
        "row_key",
        DataType::Utf8,
        false,
    )]));
    let batch = RecordBatch::try_new(
        schema.clone(),
        vec![Arc::new(arrow_array::StringArray::from(vec!["k"])) as _],
    )
    .unwrap();
    let mut other = Vec::new();
    let mut writer = parquet::arrow::ArrowWriter::try_new(&mut other, schema, None).unwrap();
    writer.write(&batch).unwrap();
    writer.close().unwrap();
    put_object(&current_key(&tenant, day(1)), other.clone()).await;

    let response = handler().await.handle(event(&records, Shape::Lambda)).await;
    assert_eq!(failures(&response), [lowest(&records)]);
    assert_eq!(
        body(&current_key(&tenant, day(0))).await,
        &b"{\"not\": \"parquet\"}"[..]
    );
    assert_eq!(body(&current_key(&tenant, day(1))).await, other);
    // The history still took every row; the redelivery after a fix loses none.
    assert_eq!(written_sums(&tenant).await, expected_sums(&rows));
}

/// The stream function reaching S3 through `proxy`.
async fn handler_through(proxy: &FaultProxy) -> StreamToS3 {
    StreamToS3::new(
        Box::new(S3Sink::new(
            adpipe_testkit::s3_at(&proxy.endpoint()).await,
            aws().data_bucket.clone(),
        )),
        Box::new(failure_queue(&aws().stream_failure_queue_url, &aws().endpoint).await),
    )
}

fn current_prefix(tenant: &str) -> String {
    format!("/{}/ad_metrics/tenant_id={tenant}/", aws().data_bucket)
}

#[tokio::test]
async fn a_conditional_write_lost_on_every_attempt_is_bounded_and_loses_no_row() {
    let (tenant, rows, records) = staged().await;
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let handler = handler_through(&proxy).await;
    proxy.answer(http::Method::PUT, &current_prefix(&tenant), 412);

    let response = handler.handle(event(&records, Shape::Lambda)).await;
    assert_eq!(failures(&response), [lowest(&records)]);
    let attempts = stream_to_s3::MERGE_ATTEMPTS as usize;
    assert_eq!(
        proxy.request_hits(&http::Method::PUT, &current_prefix(&tenant)),
        2 * attempts,
        "two objects, each tried {attempts} times"
    );
    assert_eq!(
        proxy.request_hits(&http::Method::GET, &current_prefix(&tenant)),
        2 * attempts,
        "read again before each attempt"
    );
    assert!(current_objects(&tenant).await.is_empty());

    proxy.heal_requests();
    let response = handler.handle(event(&records, Shape::Lambda)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(current_clicks(&tenant).await, clicks_of(&rows));
}

#[tokio::test]
async fn s3_failing_the_read_or_the_write_fails_the_records_and_the_redelivery_lands_them() {
    let (tenant, rows, records) = staged().await;
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let handler = handler_through(&proxy).await;
    for method in [http::Method::GET, http::Method::PUT] {
        proxy.answer(method.clone(), &current_prefix(&tenant), 500);
        let response = handler.handle(event(&records, Shape::Lambda)).await;
        assert_eq!(failures(&response), [lowest(&records)], "{method}");
        proxy.heal_requests();
    }
    assert!(current_objects(&tenant).await.is_empty());
    let response = handler.handle(event(&records, Shape::Lambda)).await;
    assert!(failures(&response).is_empty());
    assert_eq!(current_clicks(&tenant).await, clicks_of(&rows));
}

#[tokio::test]
async fn two_invocations_racing_on_one_object_both_land_their_rows() {
    let (tenant, rows, records) = staged().await;
    let of_campaign = |campaign: &str| -> Vec<Record> {
        records
            .iter()
            .filter(|r| {
                let image = lambda_record(r, Shape::Lambda, STREAM_ARN);
                image["dynamodb"]["NewImage"]["campaign_id"]["S"] == campaign
                    && image["dynamodb"]["NewImage"]["date"]["S"] == day(0).to_string()
            })
            .cloned()
            .collect()
    };
    let (first, second) = (of_campaign("c1"), of_campaign("c2"));
    assert_eq!((first.len(), second.len()), (1, 1));
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let slow = handler_through(&proxy).await;
    let held = proxy.hold_next(http::Method::PUT, &current_prefix(&tenant));

    // The first invocation read "no object yet" and its write waits at the proxy while
    // the second reads, merges and writes the object.
    let racing = tokio::spawn(async move { slow.handle(event(&first, Shape::Lambda)).await });
    held.arrived().await;
    let response = handler().await.handle(event(&second, Shape::Lambda)).await;
    assert!(failures(&response).is_empty());
    held.release();
    let response = racing.await.unwrap();
    assert!(failures(&response).is_empty());

    assert_eq!(
        proxy.request_hits(&http::Method::PUT, &current_prefix(&tenant)),
        2,
        "the held write lost (412), the write after the read again won"
    );
    let day_zero: Vec<AdMetricRow> = rows.into_iter().filter(|r| r.date == day(0)).collect();
    assert_eq!(current_clicks(&tenant).await, clicks_of(&day_zero));
}
