//! Upgrading a lake written before the current table (README, "Upgrading a lake written
//! before v2"; docs/architecture.md, "The data lake").
//!
//! Before, `ad_metrics/tenant_id=<t>/platform=<p>/dt=<d>/` held one append-only object per
//! stream batch, named `<first seq>-<last seq>.parquet`. Now those objects belong in the
//! history table `ad_metrics_history/` (same content, same name), and `ad_metrics/` holds
//! one object per connection of the partition, `<connection_id>.parquet`. [`migrate`]:
//!
//! 1. copies each old object to the same name under `ad_metrics_history/` (a GET and a
//!    PUT of the same bytes: a copy made before is overwritten with itself);
//! 2. for every partition of the history, merges all its versions into the current
//!    objects of its connections, exactly as stream-to-s3 merges a batch
//!    ([`merge_into`](crate::current::merge_into): the newest `extracted_at` wins, written
//!    with `If-Match`, so a stream-to-s3 running meanwhile loses nothing);
//! 3. deletes the old objects of each partition whose current objects were all written.
//!
//! Run again, it finds no old object, and every merge finds nothing newer: no write. A
//! partition that fails (an unreadable object, S3 failing) keeps its old objects and is
//! named in the report; the next run does it again.
//!
//! Each row of a history object counts as late as the object's last sequence number; of
//! two versions of one row in one object, the later one in the file wins (objects keep
//! their batch's stream order).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;

use adpipe_domain::{AdMetricRow, Platform};
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use bytes::Bytes;
use chrono::NaiveDate;
use futures_util::{StreamExt, stream};
use serde::Serialize;

use crate::current::{CURRENT_PREFIX, Merged, current_key, decode, merge_into};
use crate::handler::{HISTORY_PREFIX, Partition};
use crate::ports::ObjectSink;
use crate::records::Sequence;
use crate::sink::s3::S3Sink;

/// Rows with the sequence number each counts as.
type Versions = Vec<(Sequence, Arc<AdMetricRow>)>;

/// Partitions rebuilt at once.
const CONCURRENT_PARTITIONS: usize = 4;
/// Objects of one partition read at once.
const CONCURRENT_READS: usize = 8;
/// DeleteObjects takes at most 1,000 keys a request.
const DELETE_BATCH: usize = 1_000;

/// What a [`migrate`] run did (or, with `dry_run`, would do).
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct Report {
    /// Old objects found under `ad_metrics/` (`<seq>-<seq>.parquet`).
    pub old_objects: usize,
    /// Old objects copied into `ad_metrics_history/`.
    pub copied_to_history: usize,
    /// Partitions of the history rebuilt.
    pub partitions: usize,
    /// Current objects written, and those that already held the newest versions.
    pub current_written: usize,
    pub current_unchanged: usize,
    /// Old objects deleted.
    pub old_deleted: usize,
    /// Keys under either prefix that are neither kind of object: left alone.
    pub skipped: Vec<String>,
    /// What failed, each with its key or partition; those partitions keep their old objects.
    pub failures: Vec<String>,
}

/// Where and how far to migrate.
#[derive(Debug, Clone)]
pub struct Options {
    pub bucket: String,
    /// Only this tenant's partitions.
    pub tenant: Option<String>,
    /// Read and count, write and delete nothing.
    pub dry_run: bool,
}

/// A key of either table, read.
#[derive(Debug, PartialEq, Eq)]
enum Object {
    /// A history object (or an old one under `ad_metrics/`): `<first>-<last>.parquet`.
    Batch {
        partition: Partition,
        last: Sequence,
    },
    /// A current object: `<connection_id>.parquet`.
    Current,
}

/// Reads `<prefix>/tenant_id=<t>/platform=<p>/dt=<d>/<name>.parquet`.
fn parse_key(prefix: &str, key: &str) -> Option<Object> {
    let rest = key.strip_prefix(prefix)?.strip_prefix('/')?;
    let mut parts = rest.split('/');
    let tenant_id = parts.next()?.strip_prefix("tenant_id=")?;
    let platform: Platform = parts.next()?.strip_prefix("platform=")?.parse().ok()?;
    let date: NaiveDate = parts.next()?.strip_prefix("dt=")?.parse().ok()?;
    let name = parts.next()?.strip_suffix(".parquet")?;
    if parts.next().is_some() || tenant_id.is_empty() || name.is_empty() {
        return None;
    }
    let partition = Partition {
        tenant_id: tenant_id.to_owned(),
        platform: platform.as_str(),
        date,
    };
    match name.split_once('-') {
        Some((first, last)) if Sequence::parse(first).is_some() => Some(Object::Batch {
            partition,
            last: Sequence::parse(last)?,
        }),
        _ => Some(Object::Current),
    }
}

/// Moves a lake written before the current table to today's layout; see the module doc.
pub async fn migrate(client: &Client, options: &Options) -> Result<Report, String> {
    let sink = S3Sink::new(client.clone(), options.bucket.clone());
    let mut report = Report::default();
    let scope = |table: &str| match &options.tenant {
        Some(t) => format!("{table}/tenant_id={t}/"),
        None => format!("{table}/"),
    };

    // 1. Old objects under ad_metrics/, by partition, copied into the history.
    let mut old: BTreeMap<Partition, Vec<String>> = BTreeMap::new();
    for key in list(client, &options.bucket, &scope(CURRENT_PREFIX)).await? {
        match parse_key(CURRENT_PREFIX, &key) {
            Some(Object::Batch { partition, .. }) => old.entry(partition).or_default().push(key),
            Some(Object::Current) => {}
            None => report.skipped.push(key),
        }
    }
    report.old_objects = old.values().map(Vec::len).sum();
    let mut failed: BTreeSet<Partition> = BTreeSet::new();
    for (partition, keys) in &old {
        for key in keys {
            let history = format!("{HISTORY_PREFIX}{}", &key[CURRENT_PREFIX.len()..]);
            if options.dry_run {
                report.copied_to_history += 1;
                continue;
            }
            let copied = match sink.get(key).await {
                Ok(Some(object)) => sink
                    .put(&history, object.body)
                    .await
                    .map_err(|e| e.to_string()),
                Ok(None) => Err("gone while migrating".to_owned()),
                Err(e) => Err(e.to_string()),
            };
            match copied {
                Ok(()) => report.copied_to_history += 1,
                Err(e) => {
                    report
                        .failures
                        .push(format!("{key}: not copied to {history}: {e}"));
                    failed.insert(partition.clone());
                }
            }
        }
    }

    // 2. Every partition of the history into its connections' current objects.
    let mut history: BTreeMap<Partition, Vec<(Sequence, String)>> = BTreeMap::new();
    for key in list(client, &options.bucket, &scope(HISTORY_PREFIX)).await? {
        match parse_key(HISTORY_PREFIX, &key) {
            Some(Object::Batch { partition, last }) => {
                history.entry(partition).or_default().push((last, key));
            }
            _ => report.skipped.push(key),
        }
    }
    if options.dry_run {
        // The copies were not made: count the partitions they would add.
        for partition in old.keys() {
            history.entry(partition.clone()).or_default();
        }
    }
    report.partitions = history.len();
    if !options.dry_run {
        let rebuilt: Vec<(Partition, Result<Vec<Merged>, String>)> = stream::iter(history)
            .map(|(partition, objects)| {
                let sink = &sink;
                async move {
                    let result = rebuild(sink, &partition, objects).await;
                    (partition, result)
                }
            })
            .buffer_unordered(CONCURRENT_PARTITIONS)
            .collect()
            .await;
        for (partition, result) in rebuilt {
            match result {
                Ok(merged) => {
                    for m in merged {
                        match m {
                            Merged::Written { .. } => report.current_written += 1,
                            Merged::Unchanged => report.current_unchanged += 1,
                        }
                    }
                }
                Err(e) => {
                    report
                        .failures
                        .push(format!("partition {}: {e}", partition.path()));
                    failed.insert(partition);
                }
            }
        }
    }

    // 3. The old objects of every partition done whole.
    let done: Vec<String> = old
        .into_iter()
        .filter(|(partition, _)| !failed.contains(partition))
        .flat_map(|(_, keys)| keys)
        .collect();
    if options.dry_run {
        report.old_deleted = done.len();
    } else {
        for chunk in done.chunks(DELETE_BATCH) {
            match delete(client, &options.bucket, chunk).await {
                Ok(n) => report.old_deleted += n,
                Err(e) => report.failures.push(e),
            }
        }
    }
    report.skipped.sort();
    Ok(report)
}

/// Every key under `prefix`, page after page.
async fn list(client: &Client, bucket: &str, prefix: &str) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    let mut pages = client
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page =
            page.map_err(|e| format!("ListObjectsV2 {prefix}: {}", DisplayErrorContext(e)))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key().map(str::to_owned)),
        );
    }
    Ok(keys)
}

/// Deletes `keys` (at most [`DELETE_BATCH`]); answers how many S3 deleted.
async fn delete(client: &Client, bucket: &str, keys: &[String]) -> Result<usize, String> {
    let objects = keys
        .iter()
        .map(|k| ObjectIdentifier::builder().key(k).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    let delete = Delete::builder()
        .set_objects(Some(objects))
        .quiet(true)
        .build()
        .map_err(|e| e.to_string())?;
    let out = client
        .delete_objects()
        .bucket(bucket)
        .delete(delete)
        .send()
        .await
        .map_err(|e| format!("DeleteObjects: {}", DisplayErrorContext(e)))?;
    let errors: Vec<String> = out
        .errors()
        .iter()
        .map(|e| format!("{}: {}", e.key().unwrap_or("?"), e.message().unwrap_or("?")))
        .collect();
    if errors.is_empty() {
        Ok(keys.len())
    } else {
        Err(format!("DeleteObjects left: {}", errors.join(", ")))
    }
}

/// Reads one partition's history objects and merges their rows into each connection's
/// current object.
async fn rebuild(
    sink: &S3Sink,
    partition: &Partition,
    objects: Vec<(Sequence, String)>,
) -> Result<Vec<Merged>, String> {
    let read: Vec<Result<Versions, String>> = stream::iter(objects)
        .map(|(last, key)| async move {
            let body: Bytes = match sink.get(&key).await {
                Ok(Some(object)) => object.body,
                Ok(None) => return Ok(Vec::new()),
                Err(e) => return Err(format!("{key}: {e}")),
            };
            let rows = decode(body, partition)
                .map_err(|e| format!("{key}: {e}"))?
                .rows;
            // Of two versions of a row in one object, the later in the file.
            let mut latest: HashMap<String, AdMetricRow> = HashMap::new();
            for row in rows {
                latest.insert(row.row_key.clone(), row);
            }
            Ok(latest
                .into_values()
                .map(|row| (last.clone(), Arc::new(row)))
                .collect())
        })
        .buffer_unordered(CONCURRENT_READS)
        .collect()
        .await;
    let mut connections: BTreeMap<String, Versions> = BTreeMap::new();
    for rows in read {
        for (sequence, row) in rows? {
            connections
                .entry(row.connection_id.clone())
                .or_default()
                .push((sequence, row));
        }
    }
    let mut merged = Vec::with_capacity(connections.len());
    for (connection, rows) in connections {
        let key = current_key(partition, &connection);
        merged.push(
            merge_into(sink, partition, &key, &rows)
                .await
                .map_err(|e| format!("{key}: {e}"))?,
        );
    }
    Ok(merged)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_both_tables_read_as_their_kind() {
        let seq = "0".repeat(30) + "1234567890";
        let old = format!(
            "ad_metrics/tenant_id=acme/platform=facebook/dt=2026-11-02/{seq}-{seq}.parquet"
        );
        match parse_key(CURRENT_PREFIX, &old) {
            Some(Object::Batch { partition, last }) => {
                assert_eq!(partition.tenant_id, "acme");
                assert_eq!(partition.platform, "facebook");
                assert_eq!(partition.date.to_string(), "2026-11-02");
                assert_eq!(last, Sequence::parse("1234567890").unwrap());
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            parse_key(
                CURRENT_PREFIX,
                "ad_metrics/tenant_id=acme/platform=google_ads/dt=2026-11-02/con_01ab.parquet"
            ),
            Some(Object::Current)
        );
        for other in [
            "ad_metrics/tenant_id=acme/platform=tiktok/dt=2026-11-02/con_01ab.parquet",
            "ad_metrics/tenant_id=acme/platform=facebook/dt=2026-13-02/con_01ab.parquet",
            "ad_metrics/tenant_id=acme/platform=facebook/dt=2026-11-02/con_01ab.csv",
            "ad_metrics/tenant_id=acme/platform=facebook/dt=2026-11-02/x/y.parquet",
            "ad_metrics/_SUCCESS",
            "ad_metrics_history/tenant_id=acme/platform=facebook/dt=2026-11-02/1-2.parquet",
        ] {
            assert_eq!(parse_key(CURRENT_PREFIX, other), None, "{other}");
        }
    }
}
