//! The run framework: one event, one recorded run. Loads the schedule and connection of
//! the event's tenant, computes the window, fetches it through the platform's connector
//! chunk by chunk, stages the rows and advances the cursor over each chunk fully written,
//! and stops cleanly before the invocation's deadline.

use adpipe_domain::keys;
use adpipe_domain::{Connection, ExtractorEvent, Run, RunKind, RunStatus, Window};
use chrono::{DateTime, Days, Utc};
use chrono_tz::Tz;
use serde::Serialize;
use tracing::Instrument;

use crate::config::Config;
use crate::connectors::Connectors;
use crate::ports::{
    ActiveRun, Connector, ConnectorError, Credentials, Job, LeaseOutcome, Pages, RunStore,
    SecretError, SecretSource, Staging, StartRefused, StoreError,
};

/// Days fetched and staged before the cursor moves: a deadline loses at most one chunk.
pub const CHUNK_DAYS: u64 = 7;
/// Time kept back before the deadline to record the run's end.
pub const DEADLINE_MARGIN: chrono::Duration = chrono::Duration::seconds(20);

pub struct Extractor {
    pub config: Config,
    pub store: Box<dyn RunStore>,
    pub staging: Box<dyn Staging>,
    pub secrets: Box<dyn SecretSource>,
    pub connectors: Connectors,
}

/// What became of an event.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Nothing to run, and nothing to retry: the event is acknowledged.
    Acknowledged { reason: String },
    /// The run ended, succeeded or failed; its record says which.
    Finished { run: Run },
}

/// The Lambda invocation an event arrived in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    /// Lambda's request id; an asynchronous retry of the same event carries the same one.
    pub request_id: String,
    /// When Lambda stops the invocation.
    pub deadline: DateTime<Utc>,
}

impl Extractor {
    /// Runs the event. `Err` only when the control table itself failed, so Lambda's retry
    /// of the asynchronous event is worth it; a failed run is an `Ok`, recorded.
    ///
    /// A scheduled event of a disabled schedule is acknowledged; a run-now of one runs.
    /// One run per schedule at a time: the event runs only if it takes the schedule's
    /// active-run lease (see [`RunStore::acquire_lease`]), and acknowledges otherwise; a
    /// run whose holder's deadline passed is closed as abandoned on the way.
    pub async fn handle(
        &self,
        event: &ExtractorEvent,
        invocation: &Invocation,
    ) -> Result<Outcome, StoreError> {
        let (tenant, schedule_id) = (event.tenant_id(), event.schedule_id());
        let Some(schedule) = self.store.schedule(tenant, schedule_id).await? else {
            let rule = keys::rule_name(&self.config.rule_prefix, schedule_id);
            tracing::warn!(%tenant, %schedule_id, orphan_rule = %rule, "schedule not found; event acknowledged. If rule {rule} still exists it is orphaned: delete it");
            return Ok(Outcome::Acknowledged {
                reason: format!("schedule {schedule_id} not found"),
            });
        };
        let kind = match event {
            ExtractorEvent::Scheduled(_) => RunKind::Scheduled,
            ExtractorEvent::Manual(_) => RunKind::Manual,
        };
        if kind == RunKind::Scheduled && !schedule.enabled {
            tracing::warn!(%tenant, %schedule_id, rule = %schedule.rule_name, "scheduled event of a disabled schedule; acknowledged without running");
            return Ok(Outcome::Acknowledged {
                reason: format!("schedule {schedule_id} is disabled"),
            });
        }
        let Some(connection) = self
            .store
            .connection(tenant, &schedule.connection_id)
            .await?
        else {
            tracing::error!(%tenant, %schedule_id, connection_id = %schedule.connection_id, "schedule's connection not found; event acknowledged");
            return Ok(Outcome::Acknowledged {
                reason: format!("connection {} not found", schedule.connection_id),
            });
        };
        let run = Run {
            run_id: event.run_id(),
            tenant_id: tenant.clone(),
            schedule_id: schedule_id.clone(),
            kind,
            status: RunStatus::Running,
            window: None,
            rows_fetched: 0,
            rows_written: 0,
            started_at: Utc::now(),
            finished_at: None,
            error: None,
            request_id: Some(invocation.request_id.clone()),
            deadline: Some(invocation.deadline),
        };
        if let Some(reason) = self.take_lease(&run, invocation).await? {
            return Ok(Outcome::Acknowledged { reason });
        }
        let span = tracing::info_span!("run", run_id = %run.run_id, %tenant, %schedule_id, platform = %connection.platform, request_id = %invocation.request_id);
        let job = Job {
            connection,
            schedule,
            run_id: run.run_id.clone(),
            credentials: Credentials::default(),
            deadline: invocation.deadline - DEADLINE_MARGIN,
        };
        let outcome = self
            .run_holding_lease(job, run, event.reference_time())
            .instrument(span)
            .await;
        // The lease is given up however the run ended. After a control-table failure only
        // as far as the table lets us: the lease also ends at the invocation's deadline,
        // and Lambda's retry of this invocation (the same request id) takes it again.
        let released = self
            .store
            .release_lease(tenant, schedule_id, &invocation.request_id)
            .await;
        match outcome {
            Ok(outcome) => released.map(|()| outcome),
            Err(e) => {
                if let Err(r) = released {
                    tracing::warn!(%tenant, %schedule_id, error = %r, "the active-run lease could not be released; it ends at the invocation's deadline");
                }
                Err(e)
            }
        }
    }

    /// Starts `run` (unless it already succeeded: a redelivery) and executes it, the
    /// schedule's lease held.
    async fn run_holding_lease(
        &self,
        job: Job,
        run: Run,
        reference: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        if let Err(StartRefused::AlreadyRecorded) = self.store.start_run(&run).await? {
            tracing::info!("run already succeeded; redelivered event acknowledged");
            return Ok(Outcome::Acknowledged {
                reason: format!("run {} already recorded", run.run_id),
            });
        }
        self.execute(job, run, reference).await
    }

    /// Takes the schedule's lease for `run`: `None` when taken, else why the event is
    /// acknowledged. Closes the run a dead holder left behind.
    async fn take_lease(
        &self,
        run: &Run,
        invocation: &Invocation,
    ) -> Result<Option<String>, StoreError> {
        let lease = ActiveRun {
            run_id: run.run_id.clone(),
            request_id: Some(invocation.request_id.clone()),
            deadline: invocation.deadline,
        };
        let (tenant, schedule) = (&run.tenant_id, &run.schedule_id);
        let now = Utc::now();
        match self.store.acquire_lease(tenant, schedule, &lease).await? {
            LeaseOutcome::Held(holder) => {
                let holder =
                    holder.map_or_else(|| "another run".to_owned(), |h| h.run_id.to_string());
                tracing::info!(run_id = %run.run_id, %tenant, %schedule, active_run = %holder, "another run of this schedule is active; event acknowledged");
                Ok(Some(format!("run {holder} of this schedule is active")))
            }
            LeaseOutcome::Acquired { previous } => {
                if let Some(previous) =
                    previous.filter(|p| p.run_id != run.run_id && p.deadline < now)
                {
                    if self
                        .store
                        .abandon_run(tenant, schedule, &previous.run_id, now)
                        .await?
                    {
                        tracing::warn!(%tenant, %schedule, abandoned_run = %previous.run_id, deadline = %previous.deadline, "a run left running past its deadline is marked failed (abandoned)");
                    }
                }
                Ok(None)
            }
        }
    }

    async fn execute(
        &self,
        mut job: Job,
        mut run: Run,
        reference: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        let result = self.extract(&mut job, &mut run, reference).await;
        run.finished_at = Some(Utc::now());
        match result {
            Ok(()) => run.status = RunStatus::Succeeded,
            Err(RunError::Store(e)) => return Err(e),
            Err(error) => {
                run.status = RunStatus::Failed;
                run.error = Some(error.message(&run.run_id));
                if let Some(detail) = error.internal_detail() {
                    tracing::error!(error = %detail, "internal failure; the run records a generic message");
                }
                if let RunError::Connector(ConnectorError::Auth(_)) = &error {
                    self.store
                        .mark_reauth_required(&job.connection.tenant_id, &job.connection.id)
                        .await?;
                }
            }
        }
        self.store.finish_run(&run).await?;
        tracing::info!(status = ?run.status, rows_fetched = run.rows_fetched, rows_written = run.rows_written, error = run.error.as_deref(), "run finished");
        Ok(Outcome::Finished { run })
    }

    async fn extract(
        &self,
        job: &mut Job,
        run: &mut Run,
        reference: DateTime<Utc>,
    ) -> Result<(), RunError> {
        let connector = self.connectors.get(job.connection.platform);
        job.credentials = self.credentials(&job.connection).await?;
        let tz = self.time_zone(job, connector).await?;
        let cursor = self
            .store
            .cursor(&job.connection.tenant_id, &job.schedule.id)
            .await
            .map_err(RunError::Store)?;
        run.window = Window::for_run(reference, tz, cursor, &job.schedule.report);
        let Some(window) = run.window else {
            return Ok(());
        };
        for chunk in chunks(window, CHUNK_DAYS) {
            if Utc::now() >= job.deadline {
                return Err(RunError::Connector(ConnectorError::Deadline));
            }
            self.fetch_and_stage(connector, job, run, chunk).await?;
            let next_day = chunk.until + Days::new(1);
            self.store
                .advance_cursor(&job.connection.tenant_id, &job.schedule.id, next_day)
                .await
                .map_err(RunError::Staging)?;
        }
        Ok(())
    }

    async fn fetch_and_stage(
        &self,
        connector: &dyn Connector,
        job: &Job,
        run: &mut Run,
        chunk: Window,
    ) -> Result<(), RunError> {
        let staged = fetch_and_stage(connector, self.staging.as_ref(), job, chunk).await;
        run.rows_fetched += staged.rows_fetched;
        run.rows_written += staged.rows_written;
        // Staging's own failure, not the fetch's "staging stopped" that follows from it.
        staged.staging.map_err(RunError::Staging)?;
        staged.fetch.map_err(RunError::Connector)
    }

    async fn credentials(&self, connection: &Connection) -> Result<Credentials, RunError> {
        let token = self
            .secrets
            .connection_token(connection)
            .await
            .map_err(|e| RunError::Credentials(Secret::Connection, e))?;
        let app = self
            .secrets
            .app_credentials()
            .await
            .map_err(|e| RunError::Credentials(Secret::App, e))?;
        Ok(Credentials { token, app })
    }

    /// The account's time zone: as stored on the connection, else learned from the
    /// platform and stored.
    async fn time_zone(&self, job: &mut Job, connector: &dyn Connector) -> Result<Tz, RunError> {
        if let Some(tz) = job
            .connection
            .time_zone
            .as_deref()
            .and_then(|z| z.parse::<Tz>().ok())
        {
            return Ok(tz);
        }
        let tz = connector
            .time_zone(job)
            .await
            .map_err(RunError::Connector)?;
        self.store
            .set_time_zone(&job.connection.tenant_id, &job.connection.id, tz.name())
            .await
            .map_err(RunError::Store)?;
        job.connection.time_zone = Some(tz.name().to_owned());
        Ok(tz)
    }
}

/// What [`fetch_and_stage`] did with a chunk.
#[derive(Debug)]
pub struct StagedChunk {
    pub rows_fetched: u64,
    pub rows_written: u64,
    pub fetch: Result<(), ConnectorError>,
    pub staging: Result<(), StoreError>,
}

/// Fetches `chunk` and stages it page by page as the pages arrive, so a run holds a page
/// or two rather than the chunk, then stores the digests of the days it wrote. A fetch
/// failure leaves the pages staged before it in the table (and in the digests); a run's
/// cursor stays before the chunk, so the next run reads it again.
pub async fn fetch_and_stage(
    connector: &dyn Connector,
    staging: &dyn Staging,
    job: &Job,
    chunk: Window,
) -> StagedChunk {
    let (pages, mut received) = Pages::channel();
    let fetch = async move { connector.fetch_pages(job, chunk, &pages).await };
    let stage = async {
        let mut chunk = staging.chunk();
        let (mut fetched, mut written) = (0u64, 0u64);
        while let Some(page) = received.recv().await {
            fetched += page.len() as u64;
            match chunk.write(page).await {
                Ok(n) => written += n,
                // Dropping the receiver stops the fetch at its next page.
                Err(e) => return (fetched, written, Err(e)),
            }
        }
        (fetched, written, chunk.finish().await)
    };
    let (fetch, (rows_fetched, rows_written, staging)) = tokio::join!(fetch, stage);
    StagedChunk {
        rows_fetched,
        rows_written,
        fetch,
        staging,
    }
}

#[derive(Debug)]
enum RunError {
    Credentials(Secret, SecretError),
    Connector(ConnectorError),
    Staging(StoreError),
    /// The control table failed: not the run's fault; the event is retried.
    Store(StoreError),
}

/// Which credentials could not be read.
#[derive(Debug, Clone, Copy)]
enum Secret {
    Connection,
    App,
}

impl RunError {
    /// The run record's `error`, which the tenant reads: never a credential, and for an
    /// internal failure (credentials, staging, the SDKs) a generic message without the
    /// SDK's context (account id, role ARN, secret and table names), which only the log
    /// gets ([`Self::internal_detail`]). Platform failures the tenant acts on (reauth,
    /// permission, a bad account id) keep the connector's own message.
    fn message(&self, run: &adpipe_domain::RunId) -> String {
        let internal = |what: &str| {
            format!(
                "internal error: the extractor could not {what} (see the function's log, run {run})"
            )
        };
        match self {
            RunError::Credentials(Secret::Connection, _) => {
                internal("read the connection's credentials")
            }
            RunError::Credentials(Secret::App, _) => {
                internal("read the platform app's credentials")
            }
            RunError::Store(_) => internal("read or write its control table"),
            RunError::Connector(e) => e.to_string(),
            RunError::Staging(_) => internal("stage the rows"),
        }
    }

    /// What an internal failure's generic message leaves out, for the log.
    fn internal_detail(&self) -> Option<String> {
        match self {
            RunError::Credentials(_, e) => Some(e.to_string()),
            RunError::Store(e) | RunError::Staging(e) => Some(e.to_string()),
            RunError::Connector(_) => None,
        }
    }
}

/// The window in consecutive chunks of at most `days` days.
fn chunks(window: Window, days: u64) -> impl Iterator<Item = Window> {
    let mut since = Some(window.since);
    std::iter::from_fn(move || {
        let start = since.filter(|s| *s <= window.until)?;
        let end = (start + Days::new(days - 1)).min(window.until);
        since = end.checked_add_days(Days::new(1));
        Some(Window {
            since: start,
            until: end,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_the_window_without_gaps_or_overlap() {
        let w = Window {
            since: "2026-01-01".parse().unwrap(),
            until: "2026-01-16".parse().unwrap(),
        };
        let c: Vec<_> = chunks(w, 7)
            .map(|c| (c.since.to_string(), c.until.to_string()))
            .collect();
        assert_eq!(
            c,
            [
                ("2026-01-01", "2026-01-07"),
                ("2026-01-08", "2026-01-14"),
                ("2026-01-15", "2026-01-16")
            ]
            .map(|(a, b)| (a.to_owned(), b.to_owned()))
        );
    }
}
