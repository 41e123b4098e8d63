//! Asynchronous report runs: `POST act_<id>/insights` → `report_run_id`, poll
//! `GET <report_run_id>` (`async_status`, `async_percent_completion`) with backoff until
//! `Job Completed`, then read `GET <report_run_id>/insights` page by page. A run that ends
//! `Job Failed` or `Job Skipped`, or that is too large, is retried as two half windows.

use adpipe_domain::Window;
use chrono::Days;

use super::graph::{CallError, Session};
use super::wire::{self, ReportRunCreated, ReportRunStatus};
use super::{Query, read_pages};
use crate::ports::{ConnectorError, Pages, ReportRunKey};

/// Why a report run gave no rows.
enum ReportError {
    /// The run failed or was skipped, or asked for too much: a shorter window may pass.
    Failed(String),
    Connector(ConnectorError),
}

impl From<ConnectorError> for ReportError {
    fn from(e: ConnectorError) -> Self {
        ReportError::Connector(e)
    }
}

impl From<CallError> for ReportError {
    fn from(e: CallError) -> Self {
        match e {
            CallError::TooMuchData(why) => ReportError::Failed(why),
            CallError::Failed(e) => ReportError::Connector(e),
        }
    }
}

/// `days` through report runs, halving the window while runs fail; a single day that
/// still fails is retryable (a later run tries again).
pub(super) async fn read_by_report(
    session: &mut Session<'_>,
    query: &Query<'_>,
    days: Window,
    pages: &Pages,
) -> Result<(), ConnectorError> {
    match run_report(session, query, days, pages).await {
        Ok(()) => Ok(()),
        Err(ReportError::Connector(e)) => Err(e),
        Err(ReportError::Failed(why)) => {
            let Some((first, second)) = halves(days) else {
                return Err(ConnectorError::Retryable(why));
            };
            tracing::warn!(reason = %why, "facebook report run failed; splitting the window");
            // Pages a failed run handed on are read again: staging writes only what changed.
            Box::pin(read_by_report(session, query, first, pages)).await?;
            Box::pin(read_by_report(session, query, second, pages)).await
        }
    }
}

/// One report run for `days`: the one a previous fetch started and left pending (its
/// deadline came first), else a new one; then its rows.
async fn run_report(
    session: &mut Session<'_>,
    query: &Query<'_>,
    days: Window,
    pages: &Pages,
) -> Result<(), ReportError> {
    let key = ReportRunKey {
        tenant: query.job.connection.tenant_id.clone(),
        connection: query.job.connection.id.clone(),
        level: query.level,
        window: days,
    };
    if let Some(id) = recall(session, &key).await {
        tracing::info!(report_run_id = %id, since = %days.since, until = %days.until, "facebook report run resumed");
        let outcome = wait_and_read(session, query, days, &id, pages).await;
        match settle(session, &key, outcome).await {
            // The report is gone (Meta keeps results for a limited time) or unreadable:
            // start a new one rather than fail the days.
            Err(ReportError::Connector(ConnectorError::Permanent(why))) => {
                tracing::warn!(report_run_id = %id, reason = %why, "facebook: a resumed report run could not be read; starting a new one");
            }
            other => return other,
        }
    }
    let id = start(session, query, days).await?;
    if let Err(e) = session.report_runs().remember(&key, &id).await {
        // Only resuming after a deadline needs it: the run goes on without.
        tracing::warn!(report_run_id = %id, error = %e, "facebook: could not remember the report run");
    }
    let outcome = wait_and_read(session, query, days, &id, pages).await;
    settle(session, &key, outcome).await
}

/// Keeps a report that may still be read later (the deadline came, or the platform is
/// passing through a fault) and forgets any other.
async fn settle(
    session: &Session<'_>,
    key: &ReportRunKey,
    outcome: Result<(), ReportError>,
) -> Result<(), ReportError> {
    let keep = matches!(
        outcome,
        Err(ReportError::Connector(
            ConnectorError::Deadline | ConnectorError::Retryable(_)
        ))
    );
    if !keep && let Err(e) = session.report_runs().forget(key).await {
        // A stale entry costs one status call next time, then a new report.
        tracing::warn!(error = %e, "facebook: could not forget a finished report run");
    }
    outcome
}

async fn recall(session: &Session<'_>, key: &ReportRunKey) -> Option<String> {
    match session.report_runs().recall(key).await {
        Ok(id) => id,
        Err(e) => {
            tracing::warn!(error = %e, "facebook: pending report runs unreadable; starting a new one");
            None
        }
    }
}

/// `POST act_<id>/insights`: a new report run's id.
async fn start(
    session: &mut Session<'_>,
    query: &Query<'_>,
    days: Window,
) -> Result<String, ReportError> {
    let params = query.params(days);
    let form: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = session.url(&format!("{}/insights", query.account), &[])?;
    let body = session.post("report run", url, &form).await?;
    let created: ReportRunCreated = wire::parse(&body)
        .map_err(|e| ConnectorError::Permanent(format!("facebook report run: {e}")))?;
    let id = created.report_run_id.as_str().to_owned();
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ConnectorError::Permanent(format!(
            "facebook report run: report_run_id is not an id: {id:?}"
        ))
        .into());
    }
    tracing::info!(report_run_id = %id, since = %days.since, until = %days.until, "facebook report run started");
    Ok(id)
}

/// Polls report run `id` with backoff until it completes, then reads its pages.
async fn wait_and_read(
    session: &mut Session<'_>,
    query: &Query<'_>,
    days: Window,
    id: &str,
    pages: &Pages,
) -> Result<(), ReportError> {
    let what = format!("report run {id}");
    let status_url = session.url(id, &[("fields", "async_status,async_percent_completion")])?;
    let mut poll = 0u32;
    loop {
        session.sleep(session.backoff().exponential(poll)).await?;
        poll = poll.saturating_add(1);
        let body = session.get(&what, status_url.clone()).await?;
        let status: ReportRunStatus = wire::parse(&body)
            .map_err(|e| ConnectorError::Permanent(format!("facebook {what}: {e}")))?;
        tracing::debug!(report_run_id = %id, status = %status.async_status, percent = status.async_percent_completion, "facebook report run");
        match status.async_status.as_str() {
            "Job Completed" => break,
            "Job Failed" | "Job Skipped" => {
                return Err(ReportError::Failed(format!(
                    "facebook {what} for {}..{}: {} at {}%",
                    days.since,
                    days.until,
                    status.async_status,
                    status.async_percent_completion.unwrap_or(0.0)
                )));
            }
            _ => {}
        }
    }
    let url = session.url(&format!("{id}/insights"), &[])?;
    Ok(read_pages(
        session,
        &format!("{what} insights"),
        url,
        &query.rows(days),
        pages,
    )
    .await?)
}

/// `days` cut in two, the first half the longer; `None` for a single day.
fn halves(days: Window) -> Option<(Window, Window)> {
    let len = days.len_days();
    (len > 1).then(|| {
        let first_until = days.since + Days::new(len.div_ceil(2) - 1);
        (
            Window {
                since: days.since,
                until: first_until,
            },
            Window {
                since: first_until + Days::new(1),
                until: days.until,
            },
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_window_splits_into_two_adjacent_halves() {
        let d = |s: &str| s.parse().unwrap();
        let week = Window {
            since: d("2026-03-01"),
            until: d("2026-03-07"),
        };
        let (a, b) = halves(week).unwrap();
        assert_eq!((a.since, a.until), (d("2026-03-01"), d("2026-03-04")));
        assert_eq!((b.since, b.until), (d("2026-03-05"), d("2026-03-07")));
        let day = Window {
            since: d("2026-03-01"),
            until: d("2026-03-01"),
        };
        assert!(halves(day).is_none());
    }
}
