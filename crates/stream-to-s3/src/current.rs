//! The current table `ad_metrics`: one object per (tenant, platform, day, connection)
//! holding each `row_key`'s newest version only (docs/architecture.md, "The data lake").
//!
//! A batch's rows are merged into the object as read: a row replaces the version kept
//! when its `extracted_at` is later, or equal and its stream sequence number later. The
//! object does not keep a sequence number per row; its footer keeps the highest sequence
//! number merged into it ([`SEQUENCE_KEY`]), and a kept row counts as that late. So on
//! equal `extracted_at` a row of a later batch wins, and a batch delivered again, or
//! after a later one, changes nothing.
//!
//! Rows are sorted by level, campaign, ad group, ad, then `row_key`, so the statistics of
//! the object's pages prune by entity.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use adpipe_domain::{AdMetricRow, Level, Platform};
use arrow_array::{
    Array, Date32Array, Float64Array, Int64Array, RecordBatch, StringArray,
    TimestampMillisecondArray,
};
use bytes::Bytes;
use chrono::DateTime;
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use parquet::file::metadata::KeyValue;

use crate::encode::{EncodeError, encode_with, schema};
use crate::handler::Partition;
use crate::ports::{ObjectSink, Precondition, SinkError};
use crate::records::Sequence;

/// Top folder of the current table in the bucket (its Glue table's location).
pub const CURRENT_PREFIX: &str = "ad_metrics";
/// The footer key holding the highest stream sequence number merged into an object.
pub const SEQUENCE_KEY: &str = "adpipe.last_sequence_number";

/// Reads, merges and conditional writes of one current object before [`merge_into`] gives up.
pub const MERGE_ATTEMPTS: u32 = 5;
/// The first wait after a lost conditional write; doubled after each, plus up to as much
/// again at random: 20, 40, 80, 160 ms, under 0.6 s in all.
const MERGE_BACKOFF: Duration = Duration::from_millis(20);

/// The S3 key of a connection's object of a partition in the current table.
pub fn current_key(partition: &Partition, connection_id: &str) -> String {
    format!(
        "{CURRENT_PREFIX}/{}/{connection_id}.parquet",
        partition.path()
    )
}

/// An object that is not the lake's Parquet (a current object so is never overwritten).
#[derive(Debug, thiserror::Error)]
#[error("not the data lake's Parquet: {0}")]
pub struct DecodeError(String);

/// The rows of a current object, and the highest sequence number merged into it.
#[derive(Debug, Default)]
pub struct Current {
    pub rows: Vec<AdMetricRow>,
    pub last: Option<Sequence>,
}

/// Reads an object of `partition` (a current one, or a history one: same columns):
/// exactly the lake's columns, else an error.
pub fn decode(file: Bytes, partition: &Partition) -> Result<Current, DecodeError> {
    let err = |e: &dyn std::fmt::Display| DecodeError(e.to_string());
    let platform: Platform = partition.platform.parse().map_err(|e| err(&e))?;
    let builder = ParquetRecordBatchReaderBuilder::try_new(file).map_err(|e| err(&e))?;
    if builder.schema().fields() != schema().fields() {
        return Err(DecodeError(format!(
            "columns are not the data lake's: {:?}",
            builder
                .schema()
                .fields()
                .iter()
                .map(|f| f.name().as_str())
                .collect::<Vec<_>>()
        )));
    }
    let last = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kvs| kvs.iter().find(|kv| kv.key == SEQUENCE_KEY))
        .and_then(|kv| kv.value.as_deref())
        .and_then(Sequence::parse);
    let mut rows = Vec::with_capacity(builder.metadata().file_metadata().num_rows() as usize);
    for batch in builder.build().map_err(|e| err(&e))? {
        let batch = batch.map_err(|e| err(&e))?;
        read_rows(&batch, partition, platform, &mut rows)?;
    }
    Ok(Current { rows, last })
}

fn column<T: 'static>(batch: &RecordBatch, i: usize) -> Result<&T, DecodeError> {
    batch
        .column(i)
        .as_any()
        .downcast_ref::<T>()
        .ok_or_else(|| DecodeError(format!("column {i} has another type")))
}

fn read_rows(
    batch: &RecordBatch,
    partition: &Partition,
    platform: Platform,
    out: &mut Vec<AdMetricRow>,
) -> Result<(), DecodeError> {
    let s = |i| column::<StringArray>(batch, i);
    let (row_key, connection, account, level) = (s(0)?, s(1)?, s(2)?, s(3)?);
    let date = column::<Date32Array>(batch, 4)?;
    let (campaign_id, campaign_name, ad_group_id, ad_group_name, ad_id, ad_name, currency) =
        (s(5)?, s(6)?, s(7)?, s(8)?, s(9)?, s(10)?, s(11)?);
    let i = |n| column::<Int64Array>(batch, n);
    let f = |n| column::<Float64Array>(batch, n);
    let (impressions, clicks, cost, conversions, value, views) =
        (i(12)?, i(13)?, i(14)?, f(15)?, f(16)?, i(17)?);
    let extra = s(18)?;
    let extracted = column::<TimestampMillisecondArray>(batch, 19)?;
    let (run, schedule) = (s(20)?, s(21)?);
    let text = |a: &StringArray, r: usize| a.is_valid(r).then(|| a.value(r).to_owned());
    let int = |a: &Int64Array, r: usize| a.is_valid(r).then(|| a.value(r));
    let double = |a: &Float64Array, r: usize| a.is_valid(r).then(|| a.value(r));
    for r in 0..batch.num_rows() {
        let level: Level = level
            .value(r)
            .parse()
            .map_err(|e| DecodeError(format!("row {r}: {e}")))?;
        let extracted_at = DateTime::from_timestamp_millis(extracted.value(r))
            .ok_or_else(|| DecodeError(format!("row {r}: extracted_at out of range")))?;
        let date = date
            .value_as_date(r)
            .ok_or_else(|| DecodeError(format!("row {r}: date out of range")))?;
        if date != partition.date {
            return Err(DecodeError(format!("row {r}: date {date} of another day")));
        }
        out.push(AdMetricRow {
            row_key: row_key.value(r).to_owned(),
            tenant_id: partition.tenant_id.clone(),
            platform,
            connection_id: connection.value(r).to_owned(),
            account_id: account.value(r).to_owned(),
            level,
            date,
            campaign_id: text(campaign_id, r),
            campaign_name: text(campaign_name, r),
            ad_group_id: text(ad_group_id, r),
            ad_group_name: text(ad_group_name, r),
            ad_id: text(ad_id, r),
            ad_name: text(ad_name, r),
            currency: text(currency, r),
            impressions: int(impressions, r),
            clicks: int(clicks, r),
            cost_micros: int(cost, r),
            conversions: double(conversions, r),
            conversion_value: double(value, r),
            video_views: int(views, r),
            extra: text(extra, r),
            extracted_at,
            run_id: run.value(r).to_owned(),
            schedule_id: schedule.value(r).to_owned(),
        });
    }
    Ok(())
}

/// The object after merging `incoming` (rows with their sequence numbers) into
/// `current`; `None` when no row of `incoming` is newer than what `current` holds.
pub fn merge(current: Current, incoming: &[(Sequence, Arc<AdMetricRow>)]) -> Option<Current> {
    let Current { rows, last } = current;
    let mut kept: HashMap<String, (Option<Sequence>, Arc<AdMetricRow>)> = rows
        .into_iter()
        .map(|row| (row.row_key.clone(), (last.clone(), Arc::new(row))))
        .collect();
    let mut changed = false;
    let mut newest = last;
    for (sequence, row) in incoming {
        if newest.as_ref().is_none_or(|n| sequence > n) {
            newest = Some(sequence.clone());
        }
        match kept.get_mut(&row.row_key) {
            None => {
                kept.insert(row.row_key.clone(), (Some(sequence.clone()), row.clone()));
                changed = true;
            }
            Some((kept_sequence, kept_row)) => {
                let newer = row.extracted_at > kept_row.extracted_at
                    || (row.extracted_at == kept_row.extracted_at
                        && kept_sequence.as_ref().is_none_or(|k| sequence > k));
                if newer {
                    changed |= **kept_row != **row;
                    *kept_sequence = Some(sequence.clone());
                    *kept_row = row.clone();
                }
            }
        }
    }
    if !changed {
        return None;
    }
    let mut rows: Vec<AdMetricRow> = kept
        .into_values()
        .map(|(_, row)| Arc::unwrap_or_clone(row))
        .collect();
    sort(&mut rows);
    Some(Current { rows, last: newest })
}

/// What [`merge_into`] did to a current object.
#[derive(Debug, PartialEq, Eq)]
pub enum Merged {
    /// Written back (`attempt` counts from 0) with this many bytes and rows.
    Written {
        bytes: usize,
        rows: usize,
        attempt: u32,
    },
    /// It already held these versions or newer: nothing written.
    Unchanged,
}

/// Why [`merge_into`] left a current object as it was.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// The object is not the lake's Parquet: never overwritten.
    #[error("current object is {0}")]
    Unreadable(#[from] DecodeError),
    #[error("current object not read: {0}")]
    Read(SinkError),
    #[error("current object not encoded: {0}")]
    Encode(#[from] EncodeError),
    #[error("current object not written: {0}")]
    Write(SinkError),
    /// Another writer won the conditional write on every attempt.
    #[error("current object written by others on every one of {MERGE_ATTEMPTS} attempts")]
    Contended,
}

/// Merges `rows` (with their sequence numbers) into the current object under `key`: reads
/// it with its ETag, merges, writes it back only while it is still that version
/// (`If-None-Match: *` when there was none), and on a lost race reads and merges again, up
/// to [`MERGE_ATTEMPTS`] times with backoff.
pub async fn merge_into(
    sink: &dyn ObjectSink,
    partition: &Partition,
    key: &str,
    rows: &[(Sequence, Arc<AdMetricRow>)],
) -> Result<Merged, MergeError> {
    for attempt in 0..MERGE_ATTEMPTS {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt - 1)).await;
        }
        let (current, condition) = match sink.get(key).await.map_err(MergeError::Read)? {
            None => (Current::default(), Precondition::NoneMatch),
            Some(object) => (
                decode(object.body, partition)?,
                Precondition::Match(object.etag),
            ),
        };
        let Some(merged) = merge(current, rows) else {
            return Ok(Merged::Unchanged);
        };
        let file = encode_current(&merged)?;
        let bytes = file.len();
        match sink.put_if(key, Bytes::from(file), condition).await {
            Ok(()) => {
                return Ok(Merged::Written {
                    bytes,
                    rows: merged.rows.len(),
                    attempt,
                });
            }
            Err(SinkError::PreconditionFailed(error)) => {
                tracing::warn!(%error, attempt, "current object written by another writer first; merging again");
            }
            Err(error) => return Err(MergeError::Write(error)),
        }
    }
    Err(MergeError::Contended)
}

/// The wait before merge attempt `n + 1`: [`MERGE_BACKOFF`] doubled `n` times, plus up to
/// as much again at random, so racing writers spread out.
fn backoff(n: u32) -> Duration {
    let base = MERGE_BACKOFF * 2u32.pow(n);
    base + base.mul_f64(fastrand::f64())
}

/// Level, campaign, ad group, ad, then `row_key`: entities' rows together in the file.
pub fn sort(rows: &mut [AdMetricRow]) {
    rows.sort_unstable_by(|a, b| {
        (
            a.level.as_str(),
            &a.campaign_id,
            &a.ad_group_id,
            &a.ad_id,
            &a.row_key,
        )
            .cmp(&(
                b.level.as_str(),
                &b.campaign_id,
                &b.ad_group_id,
                &b.ad_id,
                &b.row_key,
            ))
    });
}

/// The current object's file: its rows in their order, its last sequence number in the
/// footer.
pub fn encode_current(current: &Current) -> Result<Vec<u8>, EncodeError> {
    let refs: Vec<&AdMetricRow> = current.rows.iter().collect();
    let metadata = current
        .last
        .as_ref()
        .map(|s| KeyValue::new(SEQUENCE_KEY.to_owned(), s.as_str().to_owned()));
    encode_with(&refs, metadata)
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::encode::tests::row;

    fn seq(n: u32) -> Sequence {
        Sequence::parse(&n.to_string()).unwrap()
    }

    fn partition() -> Partition {
        Partition::of(&row(0))
    }

    fn day_one(n: u32) -> Vec<AdMetricRow> {
        (0..n * 3).step_by(3).map(row).collect()
    }

    fn incoming(rows: &[AdMetricRow], first: u32) -> Vec<(Sequence, Arc<AdMetricRow>)> {
        rows.iter()
            .enumerate()
            .map(|(i, r)| (seq(first + i as u32), Arc::new(r.clone())))
            .collect()
    }

    fn roundtrip(current: &Current) -> Current {
        decode(Bytes::from(encode_current(current).unwrap()), &partition()).unwrap()
    }

    #[test]
    fn an_object_reads_back_as_its_rows_and_last_sequence_number() {
        let mut rows = day_one(5);
        rows[1].impressions = None;
        rows[2].extra = None;
        let merged = merge(Current::default(), &incoming(&rows, 10)).unwrap();
        let back = roundtrip(&merged);
        assert_eq!(back.rows, merged.rows);
        assert_eq!(back.last, Some(seq(14)));
        let mut sorted = rows.clone();
        sort(&mut sorted);
        assert_eq!(back.rows, sorted);
    }

    #[test]
    fn a_newer_version_replaces_an_older_and_an_older_changes_nothing() {
        let rows = day_one(3);
        let current = merge(Current::default(), &incoming(&rows, 10)).unwrap();
        let mut newer = rows[1].clone();
        newer.extracted_at += Duration::hours(1);
        newer.clicks = Some(99);
        let merged = merge(roundtrip(&current), &incoming(&[newer.clone()], 20)).unwrap();
        assert_eq!(merged.rows.len(), 3);
        assert!(merged.rows.contains(&newer));

        // The old version again, even at a later sequence number: nothing changes.
        let back = roundtrip(&merged);
        assert!(merge(back, &incoming(&rows, 30)).is_none());
        // The same batch again: nothing changes.
        assert!(merge(roundtrip(&merged), &incoming(&[newer], 20)).is_none());
    }

    #[test]
    fn on_equal_extraction_times_the_later_sequence_number_wins() {
        let a = row(0);
        let b = AdMetricRow {
            clicks: Some(1234),
            ..a.clone()
        };
        let both = vec![(seq(5), Arc::new(b.clone())), (seq(4), Arc::new(a.clone()))];
        let merged = merge(Current::default(), &both).unwrap();
        assert_eq!(merged.rows, vec![b.clone()]);
        // A batch before the one merged: kept as is.
        assert!(merge(roundtrip(&merged), &[(seq(3), Arc::new(a.clone()))]).is_none());
        // A later batch: replaces.
        let merged = merge(roundtrip(&merged), &[(seq(6), Arc::new(a.clone()))]).unwrap();
        assert_eq!(merged.rows, vec![a]);
    }

    #[test]
    fn a_file_with_other_columns_or_no_parquet_is_refused() {
        assert!(decode(Bytes::from_static(b"not parquet"), &partition()).is_err());
        let schema = Arc::new(arrow_schema::Schema::new(vec![arrow_schema::Field::new(
            "row_key",
            arrow_schema::DataType::Utf8,
            false,
        )]));
        let batch = RecordBatch::try_new(
            schema.clone(),
            vec![Arc::new(StringArray::from(vec!["k"])) as _],
        )
        .unwrap();
        let mut out = Vec::new();
        let mut w = parquet::arrow::ArrowWriter::try_new(&mut out, schema, None).unwrap();
        w.write(&batch).unwrap();
        w.close().unwrap();
        let e = decode(Bytes::from(out), &partition()).unwrap_err();
        assert!(e.to_string().contains("columns"), "{e}");
    }
}
