//! The data bucket as the insights function uses it: a connection's days read from the
//! current table `ad_metrics` (concurrently; a day that cannot be read is skipped and
//! named), and its alerts written to the `insights_alerts` table (`alerts_table`).

pub mod alerts_table;
pub mod s3;

use adpipe_domain::{AdMetricRow, Connection};
use chrono::{Days, NaiveDate};
use futures_util::{StreamExt, stream};
use stream_to_s3::{Partition, current_key};

use crate::ports::Lake;

/// Day objects read at once: 180 GETs of a few kB to a few MB, within a 512 MB function.
const CONCURRENT_GETS: usize = 16;

/// What the lake holds of a connection's days.
#[derive(Debug, Default)]
pub struct LakeDays {
    /// Every row, in day order.
    pub rows: Vec<AdMetricRow>,
    pub days_with_data: u32,
    /// Days whose object exists and could not be read (S3 failed, or not the lake's Parquet).
    pub unreadable: Vec<NaiveDate>,
}

/// Reads `connection`'s objects of the `n` days from `first` on.
pub async fn read_days(
    lake: &dyn Lake,
    connection: &Connection,
    first: NaiveDate,
    n: u64,
) -> LakeDays {
    let reads = (0..n).filter_map(|i| first.checked_add_days(Days::new(i))).map(|date| {
        let partition = Partition {
            tenant_id: connection.tenant_id.to_string(),
            platform: connection.platform.as_str(),
            date,
        };
        async move {
            let key = current_key(&partition, connection.id.as_str());
            let read = match lake.get(&key).await {
                Ok(None) => Ok(None),
                Ok(Some(body)) => stream_to_s3::current::decode(body, &partition)
                    .map(|current| Some(current.rows))
                    .map_err(|e| e.to_string()),
                Err(e) => Err(e.to_string()),
            };
            if let Err(error) = &read {
                tracing::warn!(%key, %error, "a day of the lake could not be read; it is left out");
            }
            (date, read)
        }
    });
    let mut read: Vec<_> = stream::iter(reads)
        .buffer_unordered(CONCURRENT_GETS)
        .collect()
        .await;
    read.sort_by_key(|(date, _)| *date);
    let mut days = LakeDays::default();
    for (date, outcome) in read {
        match outcome {
            Ok(Some(rows)) => {
                days.days_with_data += 1;
                days.rows.extend(rows);
            }
            Ok(None) => {}
            Err(_) => days.unreadable.push(date),
        }
    }
    days
}
