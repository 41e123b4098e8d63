//! [`Staging`] on DynamoDB. Each row is one item keyed by tenant, platform, account,
//! level, entity and day (`adpipe_domain::keys::staging_key`), so a re-extracted day
//! overwrites its row. Which rows are staged already, with which content, a chunk learns
//! from its days' digest items (`digest.rs`), read once per day with BatchGetItem: a row
//! whose content is unchanged is not written again, so re-reading a 28-day lookback every
//! day costs one item read per day, no writes, and emits no stream records. The chunk then
//! stores the digests of the days it wrote, conditionally on the version it read.
//!
//! Writes go in BatchWriteItem chunks of 25 (the API's limit), a few at a time, and
//! `UnprocessedItems`/`UnprocessedKeys` are retried with backoff until done or the run
//! fails — never a silent loss. A batch's items are built as it is sent, so a large write
//! holds a few batches of items, not one item per row, and they stay in cache.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use adpipe_domain::AdMetricRow;
use adpipe_dynamodb::{Item, is_condition_failure, unavailable};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest};
use chrono::Utc;
use futures_util::{StreamExt, TryStreamExt, stream};

use super::digest::{self, DayHashes, DayKey, VERSION};
use super::item::Staged;
use crate::ports::{Staging, StagingChunk, StoreError};

/// BatchWriteItem takes at most 25 requests; BatchGetItem at most 100 keys.
const WRITE_BATCH: usize = 25;
const READ_BATCH: usize = 100;
/// Batches in flight at once: enough to hide latency, few enough not to self-throttle.
const CONCURRENCY: usize = 4;
const MAX_ATTEMPTS: u32 = 8;
/// Writes of one day's digest that may each find another writer's version first.
const DIGEST_ATTEMPTS: u32 = 4;

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

    /// Stages `rows` as one chunk: writes what changed, then the days' digests.
    pub async fn write_all(&self, rows: Vec<AdMetricRow>) -> Result<u64, StoreError> {
        let mut chunk = self.chunk();
        let written = chunk.write(rows).await?;
        chunk.finish().await?;
        Ok(written)
    }

    async fn pause(&self, attempt: u32) {
        if attempt > 0 {
            tokio::time::sleep(self.backoff * (1 << attempt.min(6))).await;
        }
    }

    /// The items of these keys (at most 100) that exist.
    async fn get_batch(&self, mut keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let mut found = Vec::new();
        for attempt in 0..MAX_ATTEMPTS {
            self.pause(attempt).await;
            let request = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .build()
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, request)
                .send()
                .await
                .map_err(unavailable)?;
            found.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            keys = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(&self.table))
                .map(|k| k.keys)
                .unwrap_or_default();
            if keys.is_empty() {
                return Ok(found);
            }
        }
        Err(StoreError::Unavailable(format!(
            "{} keys still unprocessed by BatchGetItem after {MAX_ATTEMPTS} attempts",
            keys.len()
        )))
    }

    /// The items of these keys that exist, 100 keys a request, a few requests at a time.
    async fn get_all(&self, keys: Vec<Item>) -> Result<Vec<Item>, StoreError> {
        let reads = batches(keys, READ_BATCH).map(|batch| self.get_batch(batch));
        stream::iter(reads)
            .buffer_unordered(CONCURRENCY)
            .try_fold(Vec::new(), |mut all, found| async move {
                all.extend(found);
                Ok(all)
            })
            .await
    }

    /// The stored digests of these days; a day without one starts empty.
    async fn load_days(&self, days: Vec<DayKey>) -> Result<HashMap<DayKey, DayHashes>, StoreError> {
        let mut by_key: HashMap<(String, String), DayKey> = days
            .into_iter()
            .map(|day| ((day.pk(), day.sk()), day))
            .collect();
        let keys = by_key.values().map(DayKey::key).collect();
        let mut loaded = HashMap::with_capacity(by_key.len());
        // The part items to read, by their keys: the day each belongs to.
        let mut part_of: HashMap<(String, String), DayKey> = HashMap::new();
        let mut part_keys = Vec::new();
        for head in self.get_all(keys).await? {
            let Some(day) = digest::sk_of(&head)
                .and_then(|(pk, sk)| by_key.remove(&(pk.to_owned(), sk.to_owned())))
            else {
                continue;
            };
            let hashes = digest::from_head(&head)?;
            for part in digest::part_keys(&day, &hashes.stored) {
                let (pk, sk) = digest::sk_of(&part).unwrap_or_default();
                part_of.insert((pk.to_owned(), sk.to_owned()), day.clone());
                part_keys.push(part);
            }
            loaded.insert(day, hashes);
        }
        loaded.extend(by_key.into_values().map(|day| (day, DayHashes::default())));
        if part_keys.is_empty() {
            return Ok(loaded);
        }
        let expected = part_keys.len();
        let parts = self.get_all(part_keys).await?;
        if parts.len() != expected {
            return Err(StoreError::Corrupt(format!(
                "digest parts: {} of {expected} found",
                parts.len()
            )));
        }
        for part in &parts {
            let day = digest::sk_of(part)
                .and_then(|(pk, sk)| part_of.get(&(pk.to_owned(), sk.to_owned())))
                .and_then(|day| loaded.get_mut(day))
                .ok_or_else(|| StoreError::Corrupt("digest part of no day asked for".into()))?;
            digest::add_part(day, part)?;
        }
        Ok(loaded)
    }

    /// Stores `hashes` as the digest of `day`, conditional on the version it was read at.
    /// Another writer's version first: its hashes are read again, this chunk's writes put
    /// over them, and the write tried again.
    async fn save_day(&self, day: &DayKey, hashes: &mut DayHashes) -> Result<(), StoreError> {
        for attempt in 0..DIGEST_ATTEMPTS {
            self.pause(attempt).await;
            let version = hashes.stored.version + 1;
            let set = format!("v{version}-{:08x}", fastrand::u32(..));
            let (head, parts, stored) = digest::items(day, hashes, version, &set, Utc::now());
            let part_keys = digest::part_keys(day, &stored);
            self.write_all_requests(parts.into_iter().map(put).collect::<Result<_, _>>()?)
                .await?;
            let mut request = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(head))
                .expression_attribute_names("#v", VERSION);
            request = if hashes.stored.version == 0 {
                request.condition_expression("attribute_not_exists(#v)")
            } else {
                request
                    .condition_expression("#v = :v")
                    .expression_attribute_values(
                        ":v",
                        aws_sdk_dynamodb::types::AttributeValue::N(
                            hashes.stored.version.to_string(),
                        ),
                    )
            };
            match request.send().await {
                Ok(_) => {
                    let old = digest::part_keys(day, &hashes.stored);
                    hashes.saved(stored);
                    return self.delete_all(old).await;
                }
                Err(e) if is_condition_failure(&e) => {
                    self.delete_all(part_keys).await?;
                    let mut again = self.load_days(vec![day.clone()]).await?;
                    hashes.rebase(again.remove(day).unwrap_or_default());
                    tracing::debug!(day = %day.sk(), attempt, "digest written by another run first");
                }
                Err(e) => return Err(unavailable(e)),
            }
        }
        Err(StoreError::Unavailable(format!(
            "the digest of {} changed under each of {DIGEST_ATTEMPTS} writes",
            day.sk()
        )))
    }

    async fn delete_all(&self, keys: Vec<Item>) -> Result<(), StoreError> {
        let requests = keys
            .into_iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        self.write_all_requests(requests).await
    }

    /// Sends these requests in batches of 25, a few at a time.
    async fn write_all_requests(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        let writes = batches(requests, WRITE_BATCH).map(|batch| self.write_batch(batch));
        stream::iter(writes)
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(drop)
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
    batches(rows, WRITE_BATCH)
}

/// `items` in batches of `size`, in order, each batch made as it is taken.
fn batches<T: Send>(items: Vec<T>, size: usize) -> impl Iterator<Item = Vec<T>> + Send {
    let mut items = items.into_iter().peekable();
    std::iter::from_fn(move || {
        items.peek()?;
        Some(items.by_ref().take(size).collect())
    })
}

impl Staging for DynamoStaging {
    fn chunk(&self) -> Box<dyn StagingChunk + '_> {
        Box::new(DynamoChunk {
            staging: self,
            days: HashMap::new(),
        })
    }
}

/// One chunk's staging: the digests of the days it has seen, read once each.
struct DynamoChunk<'a> {
    staging: &'a DynamoStaging,
    days: HashMap<DayKey, DayHashes>,
}

#[async_trait]
impl StagingChunk for DynamoChunk<'_> {
    async fn write(&mut self, rows: Vec<AdMetricRow>) -> Result<u64, StoreError> {
        let staged = stage(rows);
        let keyed: Vec<(DayKey, (u64, u64))> = staged
            .iter()
            .map(|s| (DayKey::of(&s.row), digest::entry(&s.row.row_key, &s.hash)))
            .collect();
        let unseen: HashSet<&DayKey> = keyed
            .iter()
            .map(|(day, _)| day)
            .filter(|day| !self.days.contains_key(*day))
            .collect();
        if !unseen.is_empty() {
            let unseen = unseen.into_iter().cloned().collect();
            let loaded = self.staging.load_days(unseen).await?;
            self.days.extend(loaded);
        }
        let (changed, entries): (Vec<Staged>, Vec<(DayKey, (u64, u64))>) = staged
            .into_iter()
            .zip(keyed)
            .filter(|(_, (day, entry))| !self.days[day].is_staged(*entry))
            .unzip();
        let written = changed.len() as u64;
        let writes = write_batches(changed).map(|b| self.staging.stage_batch(b));
        stream::iter(writes)
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        for (day, entry) in entries {
            if let Some(hashes) = self.days.get_mut(&day) {
                hashes.record(entry);
            }
        }
        Ok(written)
    }

    async fn finish(mut self: Box<Self>) -> Result<(), StoreError> {
        let staging = self.staging;
        let changed: Vec<(DayKey, DayHashes)> = self
            .days
            .drain()
            .filter(|(_, hashes)| hashes.changed())
            .collect();
        let saves = changed
            .into_iter()
            .map(|(day, mut hashes)| async move { staging.save_day(&day, &mut hashes).await });
        stream::iter(saves)
            .buffer_unordered(CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await
            .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use adpipe_domain::keys::SK;
    use adpipe_dynamodb::key;

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

        assert_eq!(staging.chunk().write(all).await.unwrap(), 30);
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
        let err = staging.chunk().write(all).await.unwrap_err();
        assert!(err.to_string().contains("still unprocessed"), "{err}");
        assert_eq!(never.num_calls(), MAX_ATTEMPTS as usize);
    }
}
