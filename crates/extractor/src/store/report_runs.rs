//! [`ReportRuns`] in the control table (one item per pending report run, gone after a day
//! by TTL: Meta keeps a report's results for a limited time), and in process memory for
//! tests and local runs.

use adpipe_domain::keys::{self, EXPIRES_AT};
use adpipe_dynamodb::{key, unavailable};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, Utc};

use crate::ports::{ReportRunKey, ReportRuns, StoreError};

const REPORT_RUN_ID: &str = "report_run_id";
/// A pending report older than this is not resumed: a new one is cheaper than a stale one.
const KEEP_FOR: Duration = Duration::hours(24);

pub struct DynamoReportRuns {
    client: Client,
    table: String,
}

impl DynamoReportRuns {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

fn item_key(k: &ReportRunKey) -> adpipe_dynamodb::Item {
    key(
        keys::report_runs_pk(&k.tenant, &k.connection),
        keys::report_run_sk(k.level, k.window.since, k.window.until),
    )
}

#[async_trait]
impl ReportRuns for DynamoReportRuns {
    async fn recall(&self, k: &ReportRunKey) -> Result<Option<String>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(item_key(k)))
            .consistent_read(true)
            .send()
            .await
            .map_err(unavailable)?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        // TTL deletes lag by up to days: an expired item is treated as gone.
        let expired = match item.get(EXPIRES_AT) {
            Some(AttributeValue::N(n)) => {
                n.parse::<i64>().is_ok_and(|t| t <= Utc::now().timestamp())
            }
            _ => false,
        };
        Ok(match item.get(REPORT_RUN_ID) {
            Some(AttributeValue::S(id)) if !expired => Some(id.clone()),
            _ => None,
        })
    }

    async fn remember(&self, k: &ReportRunKey, report_run_id: &str) -> Result<(), StoreError> {
        let mut item = item_key(k);
        item.insert(
            REPORT_RUN_ID.to_owned(),
            AttributeValue::S(report_run_id.to_owned()),
        );
        item.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N((Utc::now() + KEEP_FOR).timestamp().to_string()),
        );
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn forget(&self, k: &ReportRunKey) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item_key(k)))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

#[cfg(any(test, feature = "test-doubles"))]
pub use memory::MemoryReportRuns;

#[cfg(any(test, feature = "test-doubles"))]
mod memory {
    use std::collections::HashMap;
    use std::sync::Mutex;

    use async_trait::async_trait;

    use crate::ports::{ReportRunKey, ReportRuns, StoreError};

    /// Pending report runs of this process only: for tests and benches (feature
    /// `test-doubles`), never the function, whose deadline-interrupted report runs must
    /// outlive the process.
    #[derive(Default)]
    pub struct MemoryReportRuns(Mutex<HashMap<ReportRunKey, String>>);

    impl MemoryReportRuns {
        fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<ReportRunKey, String>> {
            // Whole entries only: a poisoned map is still right.
            self.0.lock().unwrap_or_else(|e| e.into_inner())
        }
    }

    #[async_trait]
    impl ReportRuns for MemoryReportRuns {
        async fn recall(&self, k: &ReportRunKey) -> Result<Option<String>, StoreError> {
            Ok(self.lock().get(k).cloned())
        }

        async fn remember(&self, k: &ReportRunKey, report_run_id: &str) -> Result<(), StoreError> {
            self.lock().insert(k.clone(), report_run_id.to_owned());
            Ok(())
        }

        async fn forget(&self, k: &ReportRunKey) -> Result<(), StoreError> {
            self.lock().remove(k);
            Ok(())
        }
    }
}
