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
    Connector, ConnectorError, Credentials, Job, RunStore, SecretSource, Staging, StartRefused,
    StoreError,
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

impl Extractor {
    /// Runs the event. `Err` only when the control table itself failed, so Lambda's retry
    /// of the asynchronous event is worth it; a failed run is an `Ok`, recorded.
    pub async fn handle(
        &self,
        event: &ExtractorEvent,
        deadline: DateTime<Utc>,
    ) -> Result<Outcome, StoreError> {
        let (tenant, schedule_id) = (event.tenant_id(), event.schedule_id());
        let Some(schedule) = self.store.schedule(tenant, schedule_id).await? else {
            let rule = keys::rule_name(&self.config.rule_prefix, schedule_id);
            tracing::warn!(%tenant, %schedule_id, orphan_rule = %rule, "schedule not found; event acknowledged. If rule {rule} still exists it is orphaned: delete it");
            return Ok(Outcome::Acknowledged {
                reason: format!("schedule {schedule_id} not found"),
            });
        };
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
            kind: match event {
                ExtractorEvent::Scheduled(_) => RunKind::Scheduled,
                ExtractorEvent::Manual(_) => RunKind::Manual,
            },
            status: RunStatus::Running,
            window: None,
            rows_fetched: 0,
            rows_written: 0,
            started_at: Utc::now(),
            finished_at: None,
            error: None,
            request_id: None,
            deadline: None,
        };
        if let Err(StartRefused::AlreadyRecorded) = self.store.start_run(&run).await? {
            tracing::info!(run_id = %run.run_id, "run already recorded; redelivered event acknowledged");
            return Ok(Outcome::Acknowledged {
                reason: format!("run {} already recorded", run.run_id),
            });
        }
        let span = tracing::info_span!("run", run_id = %run.run_id, %tenant, %schedule_id, platform = %connection.platform);
        let job = Job {
            connection,
            schedule,
            run_id: run.run_id.clone(),
            credentials: Credentials::default(),
            deadline: deadline - DEADLINE_MARGIN,
        };
        self.execute(job, run, event.reference_time())
            .instrument(span)
            .await
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
                run.error = Some(error.message());
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
        if connector.is_some() {
            job.credentials = self.credentials(&job.connection).await?;
        }
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
        let connector = connector.ok_or(RunError::NotImplemented(job.connection.platform))?;
        for chunk in chunks(window, CHUNK_DAYS) {
            if Utc::now() >= job.deadline {
                return Err(RunError::Connector(ConnectorError::Deadline));
            }
            let rows = connector
                .fetch(job, chunk)
                .await
                .map_err(RunError::Connector)?;
            run.rows_fetched += rows.len() as u64;
            run.rows_written += self.staging.write(rows).await.map_err(RunError::Staging)?;
            let next_day = chunk.until + Days::new(1);
            self.store
                .advance_cursor(&job.connection.tenant_id, &job.schedule.id, next_day)
                .await
                .map_err(RunError::Staging)?;
        }
        Ok(())
    }

    async fn credentials(&self, connection: &Connection) -> Result<Credentials, RunError> {
        let token = self.secrets.connection_token(connection).await;
        let app = self.secrets.app_credentials().await;
        match (token, app) {
            (Ok(token), Ok(app)) => Ok(Credentials { token, app }),
            (Err(e), _) | (_, Err(e)) => Err(RunError::Credentials(e.to_string())),
        }
    }

    /// The account's time zone: as stored on the connection, else learned from the
    /// platform and stored; UTC for a platform without a connector.
    async fn time_zone(
        &self,
        job: &mut Job,
        connector: Option<&dyn Connector>,
    ) -> Result<Tz, RunError> {
        if let Some(tz) = job
            .connection
            .time_zone
            .as_deref()
            .and_then(|z| z.parse::<Tz>().ok())
        {
            return Ok(tz);
        }
        let Some(connector) = connector else {
            return Ok(Tz::UTC);
        };
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

#[derive(Debug)]
enum RunError {
    NotImplemented(adpipe_domain::Platform),
    Credentials(String),
    Connector(ConnectorError),
    Staging(StoreError),
    /// The control table failed: not the run's fault; the event is retried.
    Store(StoreError),
}

impl RunError {
    /// The run record's `error`: readable, never a credential.
    fn message(&self) -> String {
        match self {
            RunError::NotImplemented(p) => format!("connector not implemented: {p}"),
            RunError::Credentials(e) => format!("credentials: {e}"),
            RunError::Store(e) => e.to_string(),
            RunError::Connector(e) => e.to_string(),
            RunError::Staging(e) => format!("staging failed: {e}"),
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
