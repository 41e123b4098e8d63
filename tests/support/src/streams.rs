//! The staging table's DynamoDB stream as moto keeps it: what stream-to-s3 will be fed,
//! and how tests tell whether a write emitted records.

use std::collections::HashMap;

use aws_sdk_dynamodbstreams::types::{AttributeValue, Record, ShardIteratorType};
use serde_json::{Value, json};

use crate::{BoxError, TestAws, sdk_config};

impl TestAws {
    /// Every record on the staging table's stream so far (all shards, from the start)
    /// whose item key's `pk` starts with `pk_prefix`.
    pub async fn staging_stream_records(&self, pk_prefix: &str) -> Result<Vec<Record>, BoxError> {
        self.stream_records_after(&self.staging_table, pk_prefix, None)
            .await
    }

    /// The records of `table`'s stream after sequence number `after` (from the start when
    /// `None`) whose item key's `pk` starts with `pk_prefix`: a reader that remembers its
    /// place reads each record once (one place for all shards: moto keeps one a table).
    pub async fn stream_records_after(
        &self,
        table_name: &str,
        pk_prefix: &str,
        after: Option<&str>,
    ) -> Result<Vec<Record>, BoxError> {
        let table = self
            .dynamodb()
            .await
            .describe_table()
            .table_name(table_name)
            .send()
            .await?;
        let arn = table
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or_else(|| format!("{table_name} has no stream"))?;
        let streams = aws_sdk_dynamodbstreams::Client::new(&sdk_config(&self.endpoint).await);
        let description = streams.describe_stream().stream_arn(&arn).send().await?;
        let shards = description
            .stream_description
            .and_then(|d| d.shards)
            .unwrap_or_default();
        let mut records = Vec::new();
        for shard in shards {
            let Some(shard_id) = shard.shard_id else {
                continue;
            };
            let start = streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(shard_id);
            let start = match after {
                Some(sequence) => start
                    .shard_iterator_type(ShardIteratorType::AfterSequenceNumber)
                    .sequence_number(sequence),
                None => start.shard_iterator_type(ShardIteratorType::TrimHorizon),
            };
            let mut iterator = start.send().await?.shard_iterator;
            while let Some(it) = iterator {
                let out = streams.get_records().shard_iterator(it).send().await?;
                let page = out.records.unwrap_or_default();
                let empty = page.is_empty();
                records.extend(
                    page.into_iter()
                        .filter(|r| pk_of(r).is_some_and(|pk| pk.starts_with(pk_prefix))),
                );
                // An open shard always hands back a next iterator: stop at its current end.
                iterator = if empty { None } else { out.next_shard_iterator };
            }
        }
        Ok(records)
    }
}

fn pk_of(record: &Record) -> Option<&str> {
    record
        .dynamodb
        .as_ref()?
        .keys
        .as_ref()?
        .get("pk")?
        .as_s()
        .ok()
        .map(String::as_str)
}

/// The two shapes a stream record reaches the handler in.
#[derive(Clone, Copy, Debug)]
pub enum Shape {
    /// What Lambda delivers: `eventSourceARN`, integer `ApproximateCreationDateTime`.
    Lambda,
    /// What moto's stream gives: no ARN, `eventVersion` 1.0, a float creation time.
    Moto,
}

/// DynamoDB JSON of an attribute value.
fn attribute(value: &AttributeValue) -> Value {
    match value {
        AttributeValue::S(s) => json!({ "S": s }),
        AttributeValue::N(n) => json!({ "N": n }),
        AttributeValue::Bool(b) => json!({ "BOOL": b }),
        AttributeValue::Null(b) => json!({ "NULL": b }),
        AttributeValue::Ss(v) => json!({ "SS": v }),
        AttributeValue::Ns(v) => json!({ "NS": v }),
        AttributeValue::L(v) => json!({ "L": v.iter().map(attribute).collect::<Vec<_>>() }),
        AttributeValue::M(m) => json!({ "M": item(m) }),
        other => json!({ "S": format!("{other:?}") }),
    }
}

fn item(map: &HashMap<String, AttributeValue>) -> Value {
    Value::Object(map.iter().map(|(k, v)| (k.clone(), attribute(v))).collect())
}

/// A stream record as the JSON of a Lambda event record.
pub fn lambda_record(record: &Record, shape: Shape, stream_arn: &str) -> Value {
    let change = record
        .dynamodb
        .as_ref()
        .expect("a stream record has its change");
    let created = change
        .approximate_creation_date_time
        .map(|t| t.as_secs_f64())
        .unwrap_or(1_785_000_000.25);
    let mut dynamodb = json!({
        "Keys": item(change.keys.as_ref().expect("keys")),
        "SequenceNumber": change.sequence_number.as_deref().expect("a sequence number"),
        "SizeBytes": change.size_bytes.unwrap_or(100),
        "StreamViewType": "NEW_IMAGE",
        "ApproximateCreationDateTime": match shape {
            Shape::Lambda => json!(created.trunc() as i64),
            Shape::Moto => json!(created),
        },
    });
    if let Some(image) = &change.new_image {
        dynamodb["NewImage"] = item(image);
    }
    let mut out = json!({
        "eventID": record.event_id.as_deref().expect("an event id"),
        "eventName": record.event_name.as_ref().expect("an event name").as_str(),
        "eventVersion": match shape { Shape::Lambda => "1.1", Shape::Moto => "1.0" },
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
    });
    if let Shape::Lambda = shape {
        out["eventSourceARN"] = json!(stream_arn);
    }
    out
}
