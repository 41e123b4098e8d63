//! Rows to one Parquet file, columns exactly as docs/architecture.md ("The data lake")
//! lists them. The partition columns (`tenant_id`, `platform`, `dt`) live in the object's
//! path only.
//!
//! Compression: zstd level 1. Measured on one group of 1,000 rows shaped like staged
//! Facebook campaign rows (one day, distinct ids, repeating names, a JSON `extra`), the
//! release profile's opt-level "s", 2 cores, median of 21 encodes (batch build + write):
//!
//! | codec        | bytes   | encode  |
//! |--------------|---------|---------|
//! | uncompressed | 143,067 | 0.88 ms |
//! | snappy       |  53,554 | 0.94 ms |
//! | zstd 1       |  28,106 | 2.07 ms |
//! | zstd 3       |  29,556 | 1.95 ms |
//!
//! zstd 1 halves the objects against snappy for ~1.1 ms more per 1,000 rows: the lake is
//! stored for years and Athena bills by bytes scanned, while a PutObject alone takes tens
//! of milliseconds. Level 3 gained nothing on such small pages.
//!
//! Except for the columns that hold one or a few values in a partition ([`FEW_VALUES`]):
//! their pages are a dictionary of a few entries and a run of indices, which zstd's frame
//! only makes larger, while each zstd column costs parquet a compression and a
//! decompression context per file (creating one runs CPUID, a VM exit of ~4 µs here). On
//! the 6 MB batch of `benches/batch.rs` (28 objects of ~141 rows) leaving those 7 columns
//! uncompressed made the objects smaller (300,628 → 297,044 bytes) and the encoding faster
//! (median 25.3 → 20.5 ms).
//! Page statistics are on for every column, so Athena can skip pages by `date`, ids or
//! metrics.

use std::sync::{Arc, LazyLock};

use adpipe_domain::AdMetricRow;
use arrow_array::builder::{
    Date32Builder, Float64Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::NaiveDate;
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::metadata::KeyValue;
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use parquet::schema::types::ColumnPath;

#[derive(Debug, thiserror::Error)]
#[error("encoding Parquet: {0}")]
pub struct EncodeError(String);

/// The Parquet schema of the data lake, in its column order: the source of truth of the
/// column table in docs/architecture.md.
pub fn schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
        let int = |name: &str| Field::new(name, DataType::Int64, true);
        let double = |name: &str| Field::new(name, DataType::Float64, true);
        Arc::new(Schema::new(vec![
            text("row_key", false),
            text("connection_id", false),
            text("account_id", false),
            text("level", false),
            Field::new("date", DataType::Date32, false),
            text("campaign_id", true),
            text("campaign_name", true),
            text("ad_group_id", true),
            text("ad_group_name", true),
            text("ad_id", true),
            text("ad_name", true),
            text("currency", true),
            int("impressions"),
            int("clicks"),
            int("cost_micros"),
            double("conversions"),
            double("conversion_value"),
            int("video_views"),
            text("extra", true),
            Field::new(
                "extracted_at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
            text("run_id", false),
            text("schedule_id", false),
        ]))
    });
    SCHEMA.clone()
}

/// Columns with one or a few values per partition: its day, the level, an account's
/// currency, the tenant's accounts and connections, the batch's runs and schedules.
pub const FEW_VALUES: [&str; 7] = [
    "date",
    "level",
    "currency",
    "account_id",
    "connection_id",
    "run_id",
    "schedule_id",
];

fn properties(metadata: Option<KeyValue>) -> WriterProperties {
    let builder = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .set_key_value_metadata(metadata.map(|kv| vec![kv]));
    FEW_VALUES
        .iter()
        .fold(builder, |b, column| {
            b.set_column_compression(ColumnPath::from(*column), Compression::UNCOMPRESSED)
        })
        .build()
}

/// Days from 1970-01-01, Arrow's `Date32`.
pub fn days(date: NaiveDate) -> i32 {
    let epoch = NaiveDate::from_ymd_opt(1970, 1, 1).unwrap_or_default();
    // Dates of ad metrics are within ±5.8 million years of 1970.
    (date - epoch).num_days() as i32
}

/// One Parquet file holding `rows`, in their order.
pub fn encode(rows: &[&AdMetricRow]) -> Result<Vec<u8>, EncodeError> {
    encode_with(rows, None)
}

/// One Parquet file holding `rows`, in their order, with one key-value pair in its footer.
pub fn encode_with(
    rows: &[&AdMetricRow],
    metadata: Option<KeyValue>,
) -> Result<Vec<u8>, EncodeError> {
    let batch = record_batch(rows)?;
    let mut out = Vec::with_capacity(rows.len() * 64 + 4096);
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties(metadata)))
        .map_err(|e| EncodeError(e.to_string()))?;
    writer
        .write(&batch)
        .map_err(|e| EncodeError(e.to_string()))?;
    writer.close().map_err(|e| EncodeError(e.to_string()))?;
    Ok(out)
}

fn record_batch(rows: &[&AdMetricRow]) -> Result<RecordBatch, EncodeError> {
    let n = rows.len();
    let strings = |f: &dyn Fn(&AdMetricRow) -> Option<&str>| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(n, n * 16);
        for row in rows {
            b.append_option(f(row));
        }
        Arc::new(b.finish())
    };
    let ints = |f: &dyn Fn(&AdMetricRow) -> Option<i64>| -> ArrayRef {
        let mut b = Int64Builder::with_capacity(n);
        for row in rows {
            b.append_option(f(row));
        }
        Arc::new(b.finish())
    };
    let doubles = |f: &dyn Fn(&AdMetricRow) -> Option<f64>| -> ArrayRef {
        let mut b = Float64Builder::with_capacity(n);
        for row in rows {
            b.append_option(f(row));
        }
        Arc::new(b.finish())
    };
    let mut dates = Date32Builder::with_capacity(n);
    let mut extracted = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    for row in rows {
        dates.append_value(days(row.date));
        extracted.append_value(row.extracted_at.timestamp_millis());
    }
    let columns: Vec<ArrayRef> = vec![
        strings(&|r| Some(&r.row_key)),
        strings(&|r| Some(&r.connection_id)),
        strings(&|r| Some(&r.account_id)),
        strings(&|r| Some(r.level.as_str())),
        Arc::new(dates.finish()),
        strings(&|r| r.campaign_id.as_deref()),
        strings(&|r| r.campaign_name.as_deref()),
        strings(&|r| r.ad_group_id.as_deref()),
        strings(&|r| r.ad_group_name.as_deref()),
        strings(&|r| r.ad_id.as_deref()),
        strings(&|r| r.ad_name.as_deref()),
        strings(&|r| r.currency.as_deref()),
        ints(&|r| r.impressions),
        ints(&|r| r.clicks),
        ints(&|r| r.cost_micros),
        doubles(&|r| r.conversions),
        doubles(&|r| r.conversion_value),
        ints(&|r| r.video_views),
        strings(&|r| r.extra.as_deref()),
        Arc::new(extracted.finish()),
        strings(&|r| Some(&r.run_id)),
        strings(&|r| Some(&r.schedule_id)),
    ];
    RecordBatch::try_new(schema(), columns).map_err(|e| EncodeError(e.to_string()))
}

#[cfg(test)]
pub(crate) mod tests {
    use adpipe_domain::Level;
    use bytes::Bytes;
    use chrono::{TimeZone, Utc};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

    use super::*;

    pub(crate) fn row(i: u32) -> AdMetricRow {
        let date =
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap() + chrono::Days::new(u64::from(i % 3));
        let campaign = format!("1203456789{:04}", i);
        AdMetricRow {
            campaign_name: Some(format!("Spring sale {} — prospecting", i % 40)),
            impressions: Some(i64::from(i) * 137 % 100_000),
            clicks: Some(i64::from(i) * 7 % 1_000),
            cost_micros: Some(i64::from(i) * 12_345_670),
            conversions: (i % 2 == 0).then_some(f64::from(i) / 4.0),
            extra: Some(format!(r#"{{"reach":{}}}"#, i * 3)),
            extracted_at: Utc
                .timestamp_millis_opt(1_772_000_000_000 + i64::from(i))
                .unwrap(),
            run_id: "run_01jabcdefghijk".into(),
            schedule_id: "sch_01jabcdefghijk".into(),
            ..adpipe_domain::fixtures::campaign_row(
                "t-1",
                "con_01jabcdefghijk",
                "act_1",
                Level::Campaign,
                &campaign,
                date,
            )
        }
    }

    #[test]
    fn the_file_has_the_contract_columns_and_the_rows_values() {
        let rows: Vec<AdMetricRow> = (0..10).map(row).collect();
        let refs: Vec<&AdMetricRow> = rows.iter().collect();
        let file = Bytes::from(encode(&refs).unwrap());
        let reader = ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
        let meta = reader.metadata().clone();
        assert_eq!(reader.schema().as_ref(), super::schema().as_ref());
        let schema = schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        assert!(!names.contains(&"tenant_id") && !names.contains(&"platform"));
        for column in meta.row_group(0).columns() {
            let name = column.column_path().string();
            let plain = FEW_VALUES.contains(&name.as_str());
            assert_eq!(
                matches!(column.compression(), Compression::ZSTD(_)),
                !plain,
                "{name}"
            );
            assert!(column.statistics().is_some(), "statistics are on: {name}");
        }
        let batch = reader.build().unwrap().next().unwrap().unwrap();
        assert_eq!(batch.num_rows(), 10);
        let dates = batch
            .column_by_name("date")
            .unwrap()
            .as_any()
            .downcast_ref::<arrow_array::Date32Array>()
            .unwrap();
        assert_eq!(dates.value_as_date(0), Some(rows[0].date));
    }
}
