//! [`Staging`] on DynamoDB. Each row is one item keyed by tenant, platform, account,
//! level, entity and day (`adpipe_domain::keys::staging_key`), so a re-extracted day
//! overwrites its row. A row whose `content_hash` equals the stored one is not written
//! again: re-reading a 28-day lookback every day costs reads, no writes, and emits no
//! stream records. Writes go in BatchWriteItem chunks of 25 (the API's limit), a few at a
//! time, and `UnprocessedItems`/`UnprocessedKeys` are retried with backoff until done or
//! the run fails — never a silent loss. A batch's items are built as it is sent, so a
//! large write holds a few batches of items, not one item per row, and they stay in cache.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use adpipe_domain::AdMetricRow;
use adpipe_domain::keys::{PK, SK};
use adpipe_dynamodb::{Item, key, unavailable};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{KeysAndAttributes, PutRequest, WriteRequest};
use futures_util::{StreamExt, TryStreamExt, stream};

use super::item::{CONTENT_HASH, Staged};
use crate::ports::{Staging, StoreError};

/// BatchWriteItem takes at most 25 requests; BatchGetItem at most 100 keys.
const WRITE_BATCH: usize = 25;
const READ_BATCH: usize = 100;
/// Batches in flight at once: enough to hide latency, few enough not to self-throttle.
const CONCURRENCY: usize = 4;
const MAX_ATTEMPTS: u32 = 8;

pub struct DynamoStaging {
    client: Client,
    table: String,
    ttl: chrono::Duration,
    backoff: Duration,
}

impl DynamoStaging {
    pub fn new(client: Client, table: impl Into<String>, ttl_days: u32) -> Self {
        Self {
            client,
            table: table.into(),
            ttl: chrono::Duration::days(i64::from(ttl_days)),
            backoff: Duration::from_millis(50),
        }
    }

    /// The first wait of the retry backoff (doubling up to 64×); tests make it short.
    pub fn with_backoff(mut self, first: Duration) -> Self {
        self.backoff = first;
        self
    }

    async fn pause(&self, attempt: u32) {
        if attempt > 0 {
            tokio::time::sleep(self.backoff * (1 << attempt.min(6))).await;
        }
    }

    /// Keys (of these, at most 100) whose stored item has this hash already.
    async fn unchanged(&self, batch: &[Staged]) -> Result<HashSet<(String, String)>, StoreError> {
        let wanted: HashMap<(&str, &str), &str> = batch
            .iter()
            .map(|s| ((s.key.0.as_str(), s.key.1.as_str()), s.hash.as_str()))
            .collect();
        let mut keys: Vec<Item> = batch
            .iter()
            .map(|s| key(s.key.0.clone(), s.key.1.clone()))
            .collect();
        let mut same = HashSet::new();
        for attempt in 0..MAX_ATTEMPTS {
            self.pause(attempt).await;
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .projection_expression("#pk, #sk, #hash")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_names("#hash", CONTENT_HASH)
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(unavailable)?;
            for item in out
                .responses
                .and_then(|mut r| r.remove(&self.table))
                .unwrap_or_default()
            {
                let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
                if let (Some(pk), Some(sk), Some(hash)) = (text(PK), text(SK), text(CONTENT_HASH)) {
                    if wanted.get(&(pk.as_str(), sk.as_str())) == Some(&hash.as_str()) {
                        same.insert((pk, sk));
                    }
                }
            }
            keys = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if keys.is_empty() {
                return Ok(same);
            }
        }
        Err(StoreError::Unavailable(format!(
            "{} keys still unprocessed by BatchGetItem after {MAX_ATTEMPTS} attempts",
            keys.len()
        )))
    }

    /// Builds the batch's items and writes them.
    async fn stage_batch(&self, batch: Vec<Staged>) -> Result<(), StoreError> {
        let requests = batch
            .into_iter()
            .map(|s| put(s.into_item(self.ttl)))
            .collect::<Result<_, _>>()?;
        self.write_batch(requests).await
    }

    async fn write_batch(&self, mut requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for attempt in 0..MAX_ATTEMPTS {
            self.pause(attempt).await;
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
            tracing::debug!(
                unprocessed = requests.len(),
                attempt,
                "BatchWriteItem left items unprocessed"
            );
        }
        Err(StoreError::Unavailable(format!(
            "{} items still unprocessed by BatchWriteItem after {MAX_ATTEMPTS} attempts",
            requests.len()
        )))
    }
}

fn put(item: Item) -> Result<WriteRequest, StoreError> {
    let put = PutRequest::builder()
        .set_item(Some(item))
        .build()
        .map_err(|e| StoreError::Corrupt(e.to_string()))?;
    Ok(WriteRequest::builder().put_request(put).build())
}

/// The rows as staging writes them: each with its key and content hash, one per key (the
/// last one given: a batch may not name a key twice).
pub fn stage(rows: Vec<AdMetricRow>) -> Vec<Staged> {
    last_per_key(rows.into_iter().map(Staged::new).collect())
}

fn last_per_key(staged: Vec<Staged>) -> Vec<Staged> {
    let mut last: HashMap<&(String, String), usize> = HashMap::with_capacity(staged.len());
    for (i, s) in staged.iter().enumerate() {
        last.insert(&s.key, i);
    }
    if last.len() == staged.len() {
        return staged;
    }
    let kept: Vec<bool> = staged
        .iter()
        .enumerate()
        .map(|(i, s)| last.get(&s.key) == Some(&i))
        .collect();
    staged
        .into_iter()
        .zip(kept)
        .filter_map(|(s, kept)| kept.then_some(s))
        .collect()
}

/// The rows in BatchWriteItem's batches, in order, each batch made as it is taken.
pub fn write_batches(rows: Vec<Staged>) -> impl Iterator<Item = Vec<Staged>> + Send {
    let mut rows = rows.into_iter().peekable();
    std::iter::from_fn(move || {
        rows.peek()?;
        Some(rows.by_ref().take(WRITE_BATCH).collect())
    })
}

#[async_trait]
impl Staging for DynamoStaging {
    async fn write(&self, rows: Vec<AdMetricRow>) -> Result<u64, StoreError> {
        let staged = stage(rows);
        // Futures collected first: a closure over borrowed chunks trips async_trait's Send.
        let lookups: Vec<_> = staged
            .chunks(READ_BATCH)
            .map(|b| self.unchanged(b))
            .collect();
        let unchanged: HashSet<(String, String)> = stream::iter(lookups)
            .buffer_unordered(CONCURRENCY)
            .try_fold(HashSet::new(), |mut all, same| async move {
                all.extend(same);
                Ok(all)
            })
            .await?;
        let changed: Vec<Staged> = staged
            .into_iter()
            .filter(|s| !unchanged.contains(&s.key))
            .collect();
        let written = changed.len() as u64;
        let writes = write_batches(changed).map(|b| self.stage_batch(b));
        stream::iter(writes)
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(written)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use adpipe_domain::fixtures::campaign_row;
    use adpipe_domain::{Level, keys};
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::operation::batch_write_item::BatchWriteItemOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use chrono::NaiveDate;

    use super::*;

    fn rows(n: u32) -> Vec<AdMetricRow> {
        (0..n)
            .map(|i| {
                let date =
                    NaiveDate::from_ymd_opt(2026, 1, 1).unwrap() + chrono::Days::new(u64::from(i));
                AdMetricRow {
                    campaign_name: None,
                    currency: None,
                    impressions: Some(i64::from(i)),
                    clicks: None,
                    cost_micros: None,
                    ..campaign_row("t", "con_1", "act_1", Level::Campaign, "c1", date)
                }
            })
            .collect()
    }

    #[test]
    fn a_key_given_twice_is_staged_once_with_its_last_row() {
        let mut all = rows(3);
        all.push(AdMetricRow {
            impressions: Some(99),
            ..all[1].clone()
        });
        let staged = last_per_key(all.into_iter().map(Staged::new).collect());
        let impressions: Vec<_> = staged.iter().map(|s| s.row.impressions).collect();
        assert_eq!(impressions, [Some(0), Some(2), Some(99)]);
    }

    #[test]
    fn rows_go_in_batches_of_25_in_order() {
        let all = rows(60);
        let last = all[59].date;
        let batches: Vec<_> = write_batches(all.into_iter().map(Staged::new).collect()).collect();
        let sizes: Vec<_> = batches.iter().map(Vec::len).collect();
        assert_eq!(sizes, [25, 25, 10]);
        assert_eq!(batches[2][9].row.date, last);
    }

    fn sort_keys(requests: &[WriteRequest]) -> Vec<String> {
        requests
            .iter()
            .filter_map(|r| r.put_request.as_ref()?.item.get(SK)?.as_s().ok().cloned())
            .collect()
    }

    #[tokio::test]
    async fn unprocessed_items_are_sent_again_until_every_row_is_written() {
        let sent: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = sent.clone();
        let staging_of = |r: &AdMetricRow| keys::staging_key(&r.tenant_id, r);
        let all = rows(30);
        let (pk, first_sk) = staging_of(&all[0]);
        let leftover = put(key(pk, first_sk.clone())).unwrap();
        let nothing_stored =
            mock!(Client::batch_get_item).then_output(|| BatchGetItemOutput::builder().build());
        let writes = mock!(Client::batch_write_item)
            .match_requests(move |req| {
                let items = req
                    .request_items()
                    .and_then(|m| m.values().next())
                    .cloned()
                    .unwrap_or_default();
                seen.lock().unwrap().extend(sort_keys(&items));
                true
            })
            .sequence()
            .output(move || {
                BatchWriteItemOutput::builder()
                    .unprocessed_items("staging", vec![leftover.clone()])
                    .build()
            })
            .output(|| BatchWriteItemOutput::builder().build())
            .times(2)
            .build();
        let client = mock_client!(
            aws_sdk_dynamodb,
            RuleMode::MatchAny,
            [&nothing_stored, &writes]
        );
        let staging =
            DynamoStaging::new(client, "staging", 7).with_backoff(Duration::from_millis(1));

        assert_eq!(staging.write(all).await.unwrap(), 30);
        assert_eq!(writes.num_calls(), 3, "two batches, one retry");
        let sent = sent.lock().unwrap();
        let distinct: HashSet<&String> = sent.iter().collect();
        assert_eq!(distinct.len(), 30, "every row reached DynamoDB");
        assert_eq!(
            sent.iter().filter(|k| **k == first_sk).count(),
            2,
            "the unprocessed item went twice"
        );
    }

    #[tokio::test]
    async fn items_left_unprocessed_past_the_attempts_fail_the_write() {
        let all = rows(1);
        let (pk, sk) = keys::staging_key("t", &all[0]);
        let stuck = put(key(pk, sk)).unwrap();
        let nothing_stored =
            mock!(Client::batch_get_item).then_output(|| BatchGetItemOutput::builder().build());
        let never = mock!(Client::batch_write_item).then_output(move || {
            BatchWriteItemOutput::builder()
                .unprocessed_items("staging", vec![stuck.clone()])
                .build()
        });
        let client = mock_client!(
            aws_sdk_dynamodb,
            RuleMode::MatchAny,
            [&nothing_stored, &never]
        );
        let staging =
            DynamoStaging::new(client, "staging", 7).with_backoff(Duration::from_millis(1));
        let err = staging.write(all).await.unwrap_err();
        assert!(err.to_string().contains("still unprocessed"), "{err}");
        assert_eq!(never.num_calls(), MAX_ATTEMPTS as usize);
    }
}
