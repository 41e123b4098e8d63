//! [`Staging`] on DynamoDB: BatchWriteItem in chunks of 25 (the API's limit), retrying
//! `UnprocessedItems` with backoff until every row is written or the run fails — never a
//! silent loss.

use std::time::Duration;

use adpipe_domain::AdMetricRow;
use adpipe_domain::keys::{self, EXPIRES_AT};
use adpipe_dynamodb::{Item, to_item, unavailable};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, PutRequest, WriteRequest};

use crate::ports::{Staging, StoreError};

const BATCH: usize = 25;
const MAX_ATTEMPTS: u32 = 8;

pub struct DynamoStaging {
    client: Client,
    table: String,
    ttl: chrono::Duration,
}

impl DynamoStaging {
    pub fn new(client: Client, table: impl Into<String>, ttl_days: u32) -> Self {
        Self {
            client,
            table: table.into(),
            ttl: chrono::Duration::days(i64::from(ttl_days)),
        }
    }

    fn item(&self, row: &AdMetricRow) -> Result<Item, StoreError> {
        let (pk, sk) = keys::staging_key(&row.tenant_id, row);
        let mut item = to_item(row, pk, sk)?;
        let expires = (row.extracted_at + self.ttl).timestamp();
        item.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N(expires.to_string()),
        );
        Ok(item)
    }

    async fn write_batch(&self, mut requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(50 << attempt.min(6))).await;
            }
            let out = self
                .client
                .batch_write_item()
                .request_items(&self.table, requests)
                .send()
                .await
                .map_err(unavailable)?;
            requests = out
                .unprocessed_items
                .and_then(|mut m| m.remove(&self.table))
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
        }
        Err(StoreError::Unavailable(format!(
            "{} items still unprocessed after {MAX_ATTEMPTS} attempts",
            requests.len()
        )))
    }
}

#[async_trait]
impl Staging for DynamoStaging {
    async fn write(&self, rows: &[AdMetricRow]) -> Result<u64, StoreError> {
        for chunk in rows.chunks(BATCH) {
            let requests = chunk
                .iter()
                .map(|row| {
                    let put = PutRequest::builder()
                        .set_item(Some(self.item(row)?))
                        .build();
                    let put = put.map_err(|e| StoreError::Corrupt(e.to_string()))?;
                    Ok(WriteRequest::builder().put_request(put).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            self.write_batch(requests).await?;
        }
        Ok(rows.len() as u64)
    }
}
