//! The outside world as the insights function needs it: the lake's objects and the
//! control table.

use adpipe_domain::insights::{Alert, MonthProjection};
use adpipe_domain::{Connection, Schedule, TenantId};
use async_trait::async_trait;
use bytes::Bytes;
use chrono::NaiveDate;

use crate::summary::Summary;

/// A dependency that did not answer: the computation is tried again later.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{dependency}: {reason}")]
pub struct Unavailable {
    pub dependency: &'static str,
    pub reason: String,
}

impl Unavailable {
    pub fn s3(reason: impl std::fmt::Display) -> Self {
        Self {
            dependency: "S3",
            reason: reason.to_string(),
        }
    }

    pub fn dynamodb(reason: impl std::fmt::Display) -> Self {
        Self {
            dependency: "DynamoDB",
            reason: reason.to_string(),
        }
    }
}

/// The data bucket: the current table's objects read, the `insights_alerts` table's
/// written.
#[async_trait]
pub trait Lake: Send + Sync {
    /// The object's bytes, `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Bytes>, Unavailable>;
    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), Unavailable>;
    /// Removes the object; one that does not exist is not an error.
    async fn delete(&self, key: &str) -> Result<(), Unavailable>;
}

/// The control table: what a connection is, and where its insights are kept.
#[async_trait]
pub trait Store: Send + Sync {
    async fn connection(
        &self,
        tenant: &TenantId,
        connection: &str,
    ) -> Result<Option<Connection>, Unavailable>;
    /// The schedules that collect `connection`'s data.
    async fn schedules(
        &self,
        tenant: &TenantId,
        connection: &Connection,
    ) -> Result<Vec<Schedule>, Unavailable>;
    /// The connection's stored alerts whose first day is `since` or later.
    async fn alerts_since(
        &self,
        connection: &Connection,
        since: NaiveDate,
    ) -> Result<Vec<Alert>, Unavailable>;
    /// Writes `put` and removes `remove` (alerts of an earlier computation that no longer
    /// hold).
    async fn replace_alerts(
        &self,
        connection: &Connection,
        put: &[Alert],
        remove: &[Alert],
    ) -> Result<(), Unavailable>;
    async fn put_projections(
        &self,
        connection: &Connection,
        projections: &[MonthProjection],
    ) -> Result<(), Unavailable>;
    async fn put_summary(
        &self,
        connection: &Connection,
        summary: &Summary,
    ) -> Result<(), Unavailable>;
}
