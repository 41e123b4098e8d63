//! The outside world as the extractor needs it. Production wires DynamoDB and the
//! platforms' REST APIs; tests wire the same adapters against moto and wiremock, plus
//! scripted connectors for the run framework.

use adpipe_domain::{
    AdMetricRow, Connection, ConnectionId, Run, RunId, Schedule, ScheduleId, TenantId, Window,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use chrono_tz::Tz;
use thiserror::Error;

/// A failure of DynamoDB (control or staging table).
pub use adpipe_dynamodb::Failure as StoreError;

/// Why a run could not start.
#[derive(Debug, PartialEq, Eq)]
pub enum StartRefused {
    /// The same run is recorded as succeeded: this event is a redelivery.
    AlreadyRecorded,
}

/// A schedule's active-run lease (`adpipe_domain::keys::active_run`): the run that holds
/// the schedule, the invocation running it and when that invocation is certainly gone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveRun {
    pub run_id: RunId,
    /// Absent while a run-now waits for its invocation (the API wrote the lease).
    pub request_id: Option<String>,
    pub deadline: DateTime<Utc>,
}

/// What an attempt to take a schedule's lease found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeaseOutcome {
    /// The lease is this invocation's now; `previous` is the lease it replaced, if any.
    Acquired { previous: Option<ActiveRun> },
    /// Another run holds the schedule (`None` if the store could not say which).
    Held(Option<ActiveRun>),
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
    /// Takes the schedule's active-run lease for `lease` (whose `request_id` is this
    /// invocation's) in one conditional write. It is free when absent or past its deadline;
    /// it is this invocation's when it names the same request id (a retry of a crashed
    /// invocation), or the same run with no request id yet (a run-now the API queued).
    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        lease: &ActiveRun,
    ) -> Result<LeaseOutcome, StoreError>;
    /// Gives the lease up, if `request_id` still holds it.
    async fn release_lease(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        request_id: &str,
    ) -> Result<(), StoreError>;
    /// Closes a run its dead holder left `running` as `failed` with
    /// `keys::ABANDONED_RUN_ERROR`; answers whether it was still running (and so closed).
    async fn abandon_run(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        run: &RunId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError>;
    /// Records the run as running, unless it succeeded. Only the lease holder starts a
    /// run, so a record still `running` belongs to this invocation's earlier attempt (the
    /// same request id) or to a holder whose deadline passed: either is taken over.
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
    /// Remembers the ad account's time zone on its connection.
    async fn set_time_zone(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        time_zone: &str,
    ) -> Result<(), StoreError>;
    /// The platform refused the credentials: the client must connect again.
    async fn mark_reauth_required(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<(), StoreError>;
}

/// The staging table, written a chunk of days at a time.
pub trait Staging: Send + Sync {
    /// Starts staging one chunk of a run's window.
    fn chunk(&self) -> Box<dyn StagingChunk + '_>;
}

/// The staging of one chunk: its pages, then what the chunk learned about its days.
#[async_trait]
pub trait StagingChunk: Send {
    /// Writes every row that is new or changed since it was last staged, or fails; answers
    /// how many items were written. Takes the rows whole: their text moves into the items
    /// instead of being copied.
    async fn write(&mut self, rows: Vec<AdMetricRow>) -> Result<u64, StoreError>;

    /// Records which rows the chunk's days now hold (their digests), so that the next
    /// re-read of these days finds them unchanged. A chunk whose fetch failed still
    /// finishes: what it wrote is staged.
    async fn finish(self: Box<Self>) -> Result<(), StoreError>;
}

/// Which asynchronous report run a fetch would start: the connection, the platform's level
/// name and the days.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ReportRunKey {
    pub tenant: TenantId,
    pub connection: ConnectionId,
    pub level: &'static str,
    pub window: Window,
}

/// Report runs started and not yet read (Facebook's asynchronous insights). A fetch that
/// stops at the deadline while the platform is still computing leaves its report here; the
/// next run's fetch of the same days polls that report instead of starting over, so a
/// report slower than one invocation still completes.
#[async_trait]
pub trait ReportRuns: Send + Sync {
    async fn recall(&self, key: &ReportRunKey) -> Result<Option<String>, StoreError>;
    async fn remember(&self, key: &ReportRunKey, report_run_id: &str) -> Result<(), StoreError>;
    async fn forget(&self, key: &ReportRunKey) -> Result<(), StoreError>;
}

/// How a platform call failed, which decides what the run does next.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum ConnectorError {
    /// Throttling, 5xx, timeouts that outlasted the connector's own retries: a later run
    /// will try again.
    #[error("{0}")]
    Retryable(String),
    /// The platform refused the credentials: the connection needs re-authorisation.
    #[error("{0}")]
    Auth(String),
    /// A bad request or bad data: retrying the same call will not help. The message names
    /// the field at fault when the platform's data is malformed.
    #[error("{0}")]
    Permanent(String),
    /// Waiting any longer (backoff, an asynchronous report) would outlive the invocation.
    #[error("deadline")]
    Deadline,
}

/// What a connector needs to know of one run.
#[derive(Debug, Clone)]
pub struct Job {
    pub connection: Connection,
    pub schedule: Schedule,
    pub run_id: adpipe_domain::RunId,
    pub credentials: Credentials,
    /// When the connector must have returned: retries and polling stop before it.
    pub deadline: DateTime<Utc>,
}

/// One ad platform: reads a connection's report as normalized rows (docs/architecture.md,
/// "The data lake").
#[async_trait]
pub trait Connector: Send + Sync {
    /// The ad account's time zone: a run's window ends yesterday there.
    async fn time_zone(&self, job: &Job) -> Result<Tz, ConnectorError>;
    /// Every row of `days` at the schedule's level, handed to `pages` a page (or a batch)
    /// at a time as it arrives, so that a run holds one page rather than a whole chunk; an
    /// error ends the fetch, possibly after some pages (which the run has staged). A request
    /// retried, or asked again in smaller parts, may hand rows on again: staging writes
    /// only what changed.
    async fn fetch_pages(
        &self,
        job: &Job,
        days: Window,
        pages: &Pages,
    ) -> Result<(), ConnectorError>;
    /// Every row of `days` at once, each day complete, or an error (tests and benchmarks;
    /// runs use [`Self::fetch_pages`]).
    async fn fetch(&self, job: &Job, days: Window) -> Result<Vec<AdMetricRow>, ConnectorError> {
        let (pages, mut received) = Pages::channel();
        let fetch = async move { self.fetch_pages(job, days, &pages).await };
        let collect = async {
            let mut all = Vec::new();
            while let Some(page) = received.recv().await {
                all.extend(page);
            }
            all
        };
        let (fetched, all) = tokio::join!(fetch, collect);
        fetched.map(|()| all)
    }
}

/// Where a fetch hands its rows, a page at a time. At most one page waits while the
/// previous one is staged, so a fetch that reads faster than staging writes waits for it.
pub struct Pages {
    sender: tokio::sync::mpsc::Sender<Vec<AdMetricRow>>,
}

impl Pages {
    /// Pages and the receiving end the run (or [`Connector::fetch`]) drains.
    pub fn channel() -> (Pages, tokio::sync::mpsc::Receiver<Vec<AdMetricRow>>) {
        let (sender, receiver) = tokio::sync::mpsc::channel(1);
        (Pages { sender }, receiver)
    }

    /// Hands `rows` on, waiting while the page before is staged. Fails only when the
    /// receiving end stopped (staging failed; the run reports that failure).
    pub async fn send(&self, rows: Vec<AdMetricRow>) -> Result<(), ConnectorError> {
        if rows.is_empty() {
            return Ok(());
        }
        self.sender
            .send(rows)
            .await
            .map_err(|_| ConnectorError::Permanent("staging stopped taking rows".into()))
    }
}

/// A connection's token and the platform app's credentials. `Debug` shows no value.
#[derive(Clone, Default)]
pub struct Credentials {
    /// The connection's `access_token` (Facebook) or `refresh_token` (Google, YouTube).
    pub token: String,
    pub app: AppCredentials,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Credentials(<redacted>)")
    }
}

/// The `APP_CREDENTIALS_SECRET` JSON (docs/architecture.md, "Configuration").
pub use adpipe_domain::app::{AppCredentials, FacebookApp, GoogleApp};

/// Why credentials could not be read. Messages name secrets and field paths, never their
/// values; they may name internal resources (the SDK's context), so they go to the log,
/// not into a tenant's run record.
#[derive(Debug, Error)]
pub enum SecretError {
    #[error("Secrets Manager: {0}")]
    Unavailable(String),
    #[error("secret {name} is malformed: {reason}")]
    Malformed { name: String, reason: String },
}

/// Secrets Manager, as runs read it.
#[async_trait]
pub trait SecretSource: Send + Sync {
    /// The connection's token from its secret (`access_token` or `refresh_token`).
    async fn connection_token(&self, connection: &Connection) -> Result<String, SecretError>;
    /// The platform app credentials, reused for a while (see the adapter's TTL).
    async fn app_credentials(&self) -> Result<AppCredentials, SecretError>;
}
