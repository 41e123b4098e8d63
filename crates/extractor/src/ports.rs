//! The outside world as the extractor needs it. Production wires DynamoDB and the
//! platforms' REST APIs; tests wire the same adapters against moto and wiremock, plus
//! scripted connectors for the run framework.

use adpipe_domain::{
    AdMetricRow, Connection, ConnectionId, Run, Schedule, ScheduleId, TenantId, Window,
};
use async_trait::async_trait;
use chrono::NaiveDate;
use thiserror::Error;

/// A failure of DynamoDB (control or staging table).
pub use adpipe_dynamodb::Failure as StoreError;

/// Why a run could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum StartRefused {
    /// The same run is recorded as running or succeeded: this event is a redelivery.
    AlreadyRecorded,
}

/// The control table, as runs use it.
#[async_trait]
pub trait RunStore: Send + Sync {
    async fn schedule(
        &self,
        tenant: &TenantId,
        id: &ScheduleId,
    ) -> Result<Option<Schedule>, StoreError>;
    async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError>;
    /// Records the run as running, unless it is already running or succeeded (a failed run,
    /// or one left `running` by a process that died, may be started again).
    async fn start_run(&self, run: &Run) -> Result<Result<(), StartRefused>, StoreError>;
    /// Records the run's end: status, counts, window, error.
    async fn finish_run(&self, run: &Run) -> Result<(), StoreError>;
    /// The first day not yet extracted, if any run got that far.
    async fn cursor(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
    ) -> Result<Option<NaiveDate>, StoreError>;
    /// Moves the cursor forward to `next_day` (never backward).
    async fn advance_cursor(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        next_day: NaiveDate,
    ) -> Result<(), StoreError>;
    /// The platform refused the credentials: the client must connect again.
    async fn mark_reauth_required(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<(), StoreError>;
}

/// The staging table.
#[async_trait]
pub trait Staging: Send + Sync {
    /// Writes every row or fails; answers how many items were written.
    async fn write(&self, rows: &[AdMetricRow]) -> Result<u64, StoreError>;
}

/// How a platform call failed, which decides what the run does next.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    /// Throttling, 5xx, timeouts: worth retrying later.
    #[error("{0}")]
    Retryable(String),
    /// The platform refused the credentials: the connection needs re-authorisation.
    #[error("{0}")]
    Auth(String),
    /// A bad request or bad data: retrying the same call will not help.
    #[error("{0}")]
    Permanent(String),
}

/// What a connector needs to know of one run.
#[derive(Debug, Clone)]
pub struct Job {
    pub connection: Connection,
    pub schedule: Schedule,
    pub run_id: adpipe_domain::RunId,
}

/// One ad platform: reads a connection's report for a range of days as normalized rows.
#[async_trait]
pub trait Connector: Send + Sync {
    async fn fetch(&self, job: &Job, days: Window) -> Result<Vec<AdMetricRow>, ConnectorError>;
}
