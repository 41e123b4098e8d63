//! The `insights_alerts` lake table: one Parquet object per (tenant, day, connection),
//! `insights_alerts/tenant_id=<t>/dt=<YYYY-MM-DD>/<connection_id>.parquet`, holding the
//! connection's alerts whose first day is `dt`. A recomputation rewrites the objects of
//! the days it evaluated and removes those whose alerts no longer hold, so the table
//! always says what the API says. Columns as `template.yaml`'s `InsightsAlertsTable`.

use std::sync::{Arc, LazyLock};

use adpipe_domain::insights::Alert;
use adpipe_domain::{ConnectionId, TenantId};
use arrow_array::builder::{
    Date32Builder, Float64Builder, StringBuilder, TimestampMillisecondBuilder,
};
use arrow_array::{ArrayRef, RecordBatch};
use arrow_schema::{DataType, Field, Schema, SchemaRef, TimeUnit};
use chrono::{DateTime, NaiveDate, Utc};
use parquet::arrow::ArrowWriter;
use parquet::basic::{Compression, ZstdLevel};
use parquet::file::properties::{EnabledStatistics, WriterProperties};
use stream_to_s3::encode::days;

/// Top folder of the table in the bucket (its Glue table's location).
pub const ALERTS_PREFIX: &str = "insights_alerts";

pub fn alerts_key(tenant: &TenantId, date: NaiveDate, connection: &ConnectionId) -> String {
    format!("{ALERTS_PREFIX}/tenant_id={tenant}/dt={date}/{connection}.parquet")
}

#[derive(Debug, thiserror::Error)]
#[error("encoding Parquet: {0}")]
pub struct EncodeError(String);

/// The table's columns, in order (partition columns `tenant_id`, `dt` in the path only).
pub fn schema() -> SchemaRef {
    static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
        let text = |name: &str, nullable: bool| Field::new(name, DataType::Utf8, nullable);
        let double = |name: &str| Field::new(name, DataType::Float64, false);
        let date = |name: &str| Field::new(name, DataType::Date32, false);
        Arc::new(Schema::new(vec![
            text("alert_id", false),
            text("connection_id", false),
            text("platform", false),
            text("level", false),
            text("entity_id", false),
            text("entity_name", true),
            date("date"),
            date("last_date"),
            text("kind", false),
            text("metric", false),
            text("direction", false),
            double("observed"),
            double("expected"),
            double("lower"),
            double("upper"),
            double("p_value"),
            double("q_value"),
            text("severity", false),
            text("currency", true),
            // JSON array of {"entity_id", "entity_name"}.
            text("children", true),
            Field::new(
                "computed_at",
                DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
                false,
            ),
        ]))
    });
    SCHEMA.clone()
}

/// One Parquet file holding `alerts`.
pub fn encode(alerts: &[&Alert], computed_at: DateTime<Utc>) -> Result<Vec<u8>, EncodeError> {
    let n = alerts.len();
    let strings = |f: &dyn Fn(&Alert) -> Option<String>| -> ArrayRef {
        let mut b = StringBuilder::with_capacity(n, n * 16);
        for a in alerts {
            b.append_option(f(a));
        }
        Arc::new(b.finish())
    };
    let doubles = |f: &dyn Fn(&Alert) -> f64| -> ArrayRef {
        let mut b = Float64Builder::with_capacity(n);
        for a in alerts {
            b.append_value(f(a));
        }
        Arc::new(b.finish())
    };
    let dates = |f: &dyn Fn(&Alert) -> NaiveDate| -> ArrayRef {
        let mut b = Date32Builder::with_capacity(n);
        for a in alerts {
            b.append_value(days(f(a)));
        }
        Arc::new(b.finish())
    };
    let mut computed = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
    for _ in alerts {
        computed.append_value(computed_at.timestamp_millis());
    }
    let children = |a: &Alert| {
        (!a.children.is_empty()).then(|| serde_json::to_string(&a.children).unwrap_or_default())
    };
    let columns: Vec<ArrayRef> = vec![
        strings(&|a| Some(a.alert_id.clone())),
        strings(&|a| Some(a.connection_id.to_string())),
        strings(&|a| Some(a.platform.as_str().to_owned())),
        strings(&|a| Some(a.level.clone())),
        strings(&|a| Some(a.entity_id.clone())),
        strings(&|a| a.entity_name.clone()),
        dates(&|a| a.date),
        dates(&|a| a.last_date),
        strings(&|a| Some(a.kind.as_str().to_owned())),
        strings(&|a| Some(a.metric.as_str().to_owned())),
        strings(&|a| Some(a.direction.as_str().to_owned())),
        doubles(&|a| a.observed),
        doubles(&|a| a.expected),
        doubles(&|a| a.lower),
        doubles(&|a| a.upper),
        doubles(&|a| a.p_value),
        doubles(&|a| a.q_value),
        strings(&|a| Some(a.severity.as_str().to_owned())),
        strings(&|a| a.currency.clone()),
        strings(&children),
        Arc::new(computed.finish()),
    ];
    let batch = RecordBatch::try_new(schema(), columns).map_err(|e| EncodeError(e.to_string()))?;
    let properties = WriterProperties::builder()
        .set_compression(Compression::ZSTD(ZstdLevel::default()))
        .set_statistics_enabled(EnabledStatistics::Page)
        .build();
    let mut out = Vec::with_capacity(n * 256 + 4096);
    let mut writer = ArrowWriter::try_new(&mut out, batch.schema(), Some(properties))
        .map_err(|e| EncodeError(e.to_string()))?;
    writer
        .write(&batch)
        .map_err(|e| EncodeError(e.to_string()))?;
    writer.close().map_err(|e| EncodeError(e.to_string()))?;
    Ok(out)
}
