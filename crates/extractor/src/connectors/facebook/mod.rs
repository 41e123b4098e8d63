//! Facebook: the Meta Marketing API's insights of an ad account (`act_<id>`), read day by
//! day at the schedule's level.
//!
//! - Campaign and ad set levels read `GET act_<id>/insights` page by page (`paging.next`
//!   until it is absent). Ad level, and any window longer than [`SYNC_MAX_DAYS`], runs as
//!   an asynchronous report run: `POST act_<id>/insights` → `report_run_id`, poll
//!   `GET <report_run_id>` until `Job Completed`, read `GET <report_run_id>/insights`. A run
//!   that ends `Job Failed` or `Job Skipped` is split into two half windows. A report still
//!   computing when the deadline comes is remembered ([`ReportRuns`]) and the next run's
//!   fetch of the same days polls it instead of starting another.
//! - "Reduce the amount of data" halves the page size ([`PAGE_LIMIT`] down to
//!   [`MIN_PAGE_LIMIT`]); past that a synchronous read becomes a report run.
//! - Throttling and passing faults are retried with backoff (see [`throttle`]); code 190
//!   is [`ConnectorError::Auth`]; nothing waits past the job's deadline.
//! - Every call carries `access_token` and `appsecret_proof`; neither appears in an error
//!   or a log line.

mod graph;
mod report;
pub mod rows;
pub mod throttle;
pub mod wire;

use std::sync::Arc;

use adpipe_domain::{Level, Window};
use async_trait::async_trait;
use chrono_tz::Tz;
use reqwest::Url;
use tracing::Instrument;

use self::graph::{CallError, Session, with_param};
use self::report::read_by_report;
use self::rows::RowContext;
pub use self::throttle::Backoff;
use self::wire::Account;
use crate::connectors::Origin;
use crate::ports::{Connector, ConnectorError, Job, Pages, ReportRuns};

/// The action types counted as `conversions` (and their `action_values` as
/// `conversion_value`) when a schedule names none: `omni_purchase`, Meta's purchase
/// action across every channel it measures — website (pixel and Conversions API), app,
/// offline and on-Meta shops — reported once per purchase, as Ads Manager's "Purchases"
/// column shows it. `offsite_conversion.fb_pixel_purchase` would miss app and in-store
/// purchases; adding it (or `purchase`, `onsite_web_purchase`, …) beside `omni_purchase`
/// would report the same purchase twice, which is why, among listed types that report one
/// event, only the first the row has is counted (see [`rows::event_of`]).
pub const DEFAULT_CONVERSION_ACTION_TYPES: &[&str] = &["omni_purchase"];

/// Rows asked for per page; halved on "reduce the amount of data".
pub const PAGE_LIMIT: u32 = 500;
/// The smallest page asked for before a synchronous read turns into a report run.
pub const MIN_PAGE_LIMIT: u32 = 25;
/// Windows longer than this run as asynchronous report runs at every level. The run
/// framework asks for at most 7 days at a time, so in practice: campaign and ad set
/// levels read synchronously, ad level (the large one) always asynchronously.
pub const SYNC_MAX_DAYS: u64 = 7;
pub use crate::connectors::{CONNECT_TIMEOUT, REQUEST_TIMEOUT};

/// Video views: `video_play_actions`, "the number of times your video starts to play",
/// counted once per impression and without replays, under action type `video_view`.
const FIELDS_COMMON: &str = "account_currency,impressions,clicks,spend,actions,action_values,\
video_play_actions,reach,frequency,cpm,cpc,ctr,cpp,unique_clicks,unique_ctr,\
inline_link_clicks,inline_link_click_ctr";

pub struct FacebookConnector {
    client: reqwest::Client,
    graph: String,
    backoff: Backoff,
    /// Usage-header pauses, kept across fetches and runs of this process.
    hold_off: graph::HoldOff,
    /// Report runs a deadline interrupted, to resume rather than restart.
    report_runs: Arc<dyn ReportRuns>,
}

impl FacebookConnector {
    /// `graph_url` is the Graph API base with its version (`FACEBOOK_GRAPH_URL`);
    /// `report_runs` keeps the report runs a deadline left pending (the control table, so
    /// that the next invocation resumes them).
    pub fn new(
        client: reqwest::Client,
        graph_url: impl Into<String>,
        report_runs: Arc<dyn ReportRuns>,
    ) -> Self {
        Self {
            client,
            graph: graph_url.into().trim_end_matches('/').to_owned(),
            backoff: Backoff::default(),
            hold_off: graph::HoldOff::default(),
            report_runs,
        }
    }

    /// Retry and polling waits; tests shrink them to milliseconds.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }

    /// The HTTP client for the platforms: rustls, connect and request timeouts.
    pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
        crate::connectors::http_client()
    }
}

/// `appsecret_proof`: the hex HMAC-SHA256 of the access token keyed by the app secret.
pub use adpipe_domain::app::appsecret_proof;

#[async_trait]
impl Connector for FacebookConnector {
    /// `GET act_<id>?fields=timezone_name,currency`.
    async fn time_zone(&self, job: &Job) -> Result<Tz, ConnectorError> {
        let mut session = Session::new(self, job)?;
        let account = &job.connection.account_id;
        let url = session.url(account, &[("fields", "timezone_name,currency")])?;
        let body = session
            .get("ad account", url)
            .await
            .map_err(CallError::into_connector)?;
        let what = format!("facebook ad account {account}");
        let found: Account =
            wire::parse(&body).map_err(|e| ConnectorError::Permanent(format!("{what}: {e}")))?;
        found.timezone_name.parse().map_err(|_| {
            ConnectorError::Permanent(format!(
                "{what}: unknown time zone {:?}",
                found.timezone_name
            ))
        })
    }

    async fn fetch_pages(
        &self,
        job: &Job,
        days: Window,
        pages: &Pages,
    ) -> Result<(), ConnectorError> {
        let mut session = Session::new(self, job)?;
        let query = Query::new(job)?;
        let span = tracing::info_span!("facebook_fetch", account = %query.account, level = query.level, since = %days.since, until = %days.until);
        fetch(&mut session, &query, days, pages)
            .instrument(span)
            .await
    }
}

/// Campaign and ad set levels page through the insights edge; ad level and long windows
/// run a report.
async fn fetch(
    session: &mut Session<'_>,
    query: &Query<'_>,
    days: Window,
    pages: &Pages,
) -> Result<(), ConnectorError> {
    if query.level == "ad" || days.len_days() > SYNC_MAX_DAYS {
        return read_by_report(session, query, days, pages).await;
    }
    match read_sync(session, query, days, pages).await {
        // Pages handed on before are read again: staging writes only what changed.
        Err(CallError::TooMuchData(why)) => {
            tracing::info!(reason = %why, "facebook: too much data even in small pages; running a report");
            read_by_report(session, query, days, pages).await
        }
        other => other.map_err(CallError::into_connector),
    }
}

/// What every request of one fetch asks for.
struct Query<'a> {
    job: &'a Job,
    account: &'a str,
    level: &'static str,
    fields: String,
    conversion_types: Vec<&'a str>,
}

impl<'a> Query<'a> {
    fn new(job: &'a Job) -> Result<Self, ConnectorError> {
        let report = &job.schedule.report;
        let (level, ids) = match report.level {
            Level::Campaign => ("campaign", "campaign_id,campaign_name"),
            Level::AdGroup => ("adset", "campaign_id,campaign_name,adset_id,adset_name"),
            Level::Ad => (
                "ad",
                "campaign_id,campaign_name,adset_id,adset_name,ad_id,ad_name",
            ),
            other => {
                return Err(ConnectorError::Permanent(format!(
                    "facebook has no report level {other}"
                )));
            }
        };
        let conversion_types = if report.conversion_action_types.is_empty() {
            DEFAULT_CONVERSION_ACTION_TYPES.to_vec()
        } else {
            report
                .conversion_action_types
                .iter()
                .map(String::as_str)
                .collect()
        };
        Ok(Self {
            job,
            account: &job.connection.account_id,
            level,
            fields: format!("{ids},{FIELDS_COMMON}"),
            conversion_types,
        })
    }

    /// `level`, `fields`, `time_range`, `time_increment=1` for `days`.
    fn params(&self, days: Window) -> [(&'static str, String); 4] {
        [
            ("level", self.level.to_owned()),
            ("fields", self.fields.clone()),
            (
                "time_range",
                format!(r#"{{"since":"{}","until":"{}"}}"#, days.since, days.until),
            ),
            ("time_increment", "1".to_owned()),
        ]
    }

    fn rows(&self, days: Window) -> RowContext<'_> {
        RowContext {
            origin: Origin::of(self.job),
            window: days,
            conversion_action_types: &self.conversion_types,
        }
    }
}

async fn read_sync(
    session: &mut Session<'_>,
    query: &Query<'_>,
    days: Window,
    pages: &Pages,
) -> Result<(), CallError> {
    let params = query.params(days);
    let pairs: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let url = session.url(&format!("{}/insights", query.account), &pairs)?;
    read_pages(session, "insights", url, &query.rows(days), pages).await
}

/// Every page from `first` on, each handed to `pages` as it is read, following
/// `paging.next` until it is absent; the page size halves while Meta asks for less data.
async fn read_pages(
    session: &mut Session<'_>,
    what: &str,
    first: Url,
    ctx: &RowContext<'_>,
    pages: &Pages,
) -> Result<(), CallError> {
    let mut limit = PAGE_LIMIT;
    let mut url = with_param(first, "limit", Some(&limit.to_string()));
    loop {
        let body = match session.get(what, url.clone()).await {
            Ok(body) => body,
            Err(CallError::TooMuchData(why)) if limit > MIN_PAGE_LIMIT => {
                limit = (limit / 2).max(MIN_PAGE_LIMIT);
                tracing::info!(limit, reason = %why, "facebook asks for less data; halving the page size");
                url = with_param(url, "limit", Some(&limit.to_string()));
                continue;
            }
            Err(e) => return Err(e),
        };
        let page = rows::parse_page(&body, ctx).map_err(|e| {
            ConnectorError::Permanent(session.redact(format!("facebook {what}: {e}")))
        })?;
        tracing::debug!(
            rows = page.rows.len(),
            more = page.next.is_some(),
            "facebook page"
        );
        pages.send(page.rows).await?;
        match page.next {
            None => return Ok(()),
            Some(next) => {
                url = with_param(session.follow(&next)?, "limit", Some(&limit.to_string()));
            }
        }
    }
}
