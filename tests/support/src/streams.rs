//! The staging table's DynamoDB stream as moto keeps it: what stream-to-s3 will be fed,
//! and how tests tell whether a write emitted records.

use aws_sdk_dynamodbstreams::types::{Record, ShardIteratorType};

use crate::{BoxError, TestAws, sdk_config};

impl TestAws {
    /// Every record on the staging table's stream so far (all shards, from the start)
    /// whose item key's `pk` starts with `pk_prefix`.
    pub async fn staging_stream_records(&self, pk_prefix: &str) -> Result<Vec<Record>, BoxError> {
        let table = self
            .dynamodb()
            .await
            .describe_table()
            .table_name(&self.staging_table)
            .send()
            .await?;
        let arn = table
            .table
            .and_then(|t| t.latest_stream_arn)
            .ok_or("the staging table has no stream")?;
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
            let mut iterator = streams
                .get_shard_iterator()
                .stream_arn(&arn)
                .shard_id(shard_id)
                .shard_iterator_type(ShardIteratorType::TrimHorizon)
                .send()
                .await?
                .shard_iterator;
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
