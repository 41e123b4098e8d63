//! YouTube: the YouTube Analytics API's `reports.query` (`GET {YOUTUBE_ANALYTICS_URL}/reports`)
//! for `ids=channel==<channel id>`, with an access token from the connection's refresh
//! token ([`GoogleOAuth`]), read day by day at the schedule's level.
//!
//! - **Level `channel`**: one request per chunk, `dimensions=day&sort=day` over the
//!   chunk's days (the channel "time-based activity" report); one row per day, entity and
//!   `account_id` the channel id.
//! - **Level `video`**: the API does not serve `dimensions=day,video` for a channel (it
//!   answers 400 "The query is not supported"): `video` is a dimension only of the "top
//!   videos" reports, which take no `day` dimension, need a descending `sort` by a metric
//!   and `maxResults` ≤ 200. So each day of the chunk is its own request,
//!   `startDate=endDate=<day>&dimensions=video&sort=-views&maxResults=200`, paged by
//!   `startIndex` (1, 201, …) while a page comes back full. YouTube may cap the list at
//!   200 videos a day (client libraries refuse a `startIndex` past it): a later page the
//!   API refuses with 400 ends that day's list, with a warning, rather than failing every
//!   run of the channel. At level video, **`ad_id` is the YouTube video id** (the contract
//!   has no video column) and the row's entity is the video id. *This departs from
//!   the first design, which named `dimensions=day,video` (docs/architecture.md,
//!   "Departures").*
//! - **Metrics**: `views` → `video_views`; `estimatedMinutesWatched`,
//!   `averageViewDuration`, `averageViewPercentage`, `likes`, `comments`, `shares`,
//!   `subscribersGained`, `subscribersLost` → `extra` (a JSON object, numbers as sent).
//!   When the access token carries `yt-analytics-monetary.readonly`
//!   ([`YT_ANALYTICS_MONETARY`]), also `estimatedRevenue`, `estimatedAdRevenue`, `grossRevenue`,
//!   `cpm`, `playbackBasedCpm`, `adImpressions`, `monetizedPlaybacks` → `extra`, with
//!   `currency=USD` asked for and set on the row (USD is also the API's default). They are
//!   the channel's *earnings* from ads shown on its videos, not ad spend: `cost_micros`,
//!   `conversion_value` and `impressions` stay null (`adImpressions` are ads served on the
//!   channel's videos, not impressions of the client's ads), as do `clicks` and
//!   `conversions`, which YouTube Analytics does not have. A channel outside the YouTube
//!   Partner Program answers 403 to monetary metrics even with the scope: the fetch then
//!   asks again without them.
//! - **Parsing** goes by `columnHeaders`, never by position; a table without `rows` is
//!   zero rows (the API omits `rows` when it has no data). Malformed data (a missing
//!   column, a row of the wrong length, a non-number metric, a bad date) fails the chunk
//!   with [`ConnectorError::Permanent`] naming the field; no row of the chunk is returned.
//! - **Time zone**: YouTube Analytics reports days in US Pacific time;
//!   [`time_zone`](Connector::time_zone) answers [`TIME_ZONE`] without a call. The
//!   `reports.query` reference does not state it; it is Google's reporting day (AdSense's
//!   `GOOGLE_TIME_ZONE` is America/Los_Angeles) and how YouTube Analytics users label
//!   these days (PST).
//! - **Scopes**: `yt-analytics.readonly` for the user-activity metrics,
//!   `yt-analytics-monetary.readonly` for the monetary ones; the current `reports.query`
//!   reference also says requests now need `youtube.readonly`. A token without what the
//!   channel needs answers 403, which becomes [`ConnectorError::Auth`].
//! - **Late data**: the API reports the most recent days late (its `reports.query`
//!   reference: "the response for a query with the day dimension will not contain rows
//!   for the most recent days"; `endDate` yields data only up to the last day for which all
//!   requested metrics are available). A day missing from an answer is zero rows, not an
//!   error. The schedule's default `lookback_days` for YouTube, 3, makes every run read
//!   the last 3 days before the cursor again, so a day first read empty (or partial) is
//!   read again on each of the next runs until it is 3 days behind the cursor.
//! - **Errors**: Google's `{"error": {"code", "message", "errors": [{"reason"}], "status"}}`.
//!   401 drops the cached token and retries once with a fresh one, then
//!   [`ConnectorError::Auth`]; 403 `forbidden`/`insufficientPermissions` (the token's user
//!   does not own the channel, or the scope is missing) is `Auth`; 429,
//!   `rateLimitExceeded`, `userRateLimitExceeded`, 5xx and timeouts back off with jitter
//!   within the deadline; `quotaExceeded` (the project's daily quota, reset at midnight
//!   Pacific) is [`ConnectorError::Retryable`] at once, as waiting within an invocation
//!   would not help; 400 is [`ConnectorError::Permanent`] with Google's message. The token
//!   travels in the `Authorization` header only, never in a URL, an error or a log line.

mod api;
pub mod rows;
pub mod wire;

use std::collections::HashSet;
use std::sync::Arc;

use adpipe_domain::oauth::YT_ANALYTICS_MONETARY;
use adpipe_domain::{AdMetricRow, Level, Window};
use async_trait::async_trait;
use chrono::NaiveDate;
use chrono_tz::Tz;
use tracing::Instrument;

use self::api::{CallError, Session};
use self::rows::Key;
use crate::connectors::Origin;
use crate::connectors::google_oauth::GoogleOAuth;
use crate::connectors::retry::Backoff;
use crate::ports::{Connector, ConnectorError, Job, Pages};

/// YouTube Analytics days are US Pacific days.
pub const TIME_ZONE: Tz = Tz::America__Los_Angeles;
/// Rows per page of a day's videos: the top-videos reports allow at most 200.
pub const VIDEOS_PER_PAGE: usize = 200;

pub struct YouTubeConnector {
    client: reqwest::Client,
    base: String,
    oauth: Arc<GoogleOAuth>,
    backoff: Backoff,
}

impl YouTubeConnector {
    /// `api_url` is the API base with its version (`YOUTUBE_ANALYTICS_URL`, e.g.
    /// `https://youtubeanalytics.googleapis.com/v2`).
    pub fn new(http: reqwest::Client, api_url: impl Into<String>, oauth: Arc<GoogleOAuth>) -> Self {
        Self {
            client: http,
            base: api_url.into().trim_end_matches('/').to_owned(),
            oauth,
            backoff: Backoff::default(),
        }
    }

    /// Retry waits; tests shrink them to milliseconds.
    pub fn with_backoff(mut self, backoff: Backoff) -> Self {
        self.backoff = backoff;
        self
    }
}

#[async_trait]
impl Connector for YouTubeConnector {
    async fn time_zone(&self, _job: &Job) -> Result<Tz, ConnectorError> {
        Ok(TIME_ZONE)
    }

    async fn fetch_pages(
        &self,
        job: &Job,
        days: Window,
        pages: &Pages,
    ) -> Result<(), ConnectorError> {
        let level = job.schedule.report.level;
        if !matches!(level, Level::Channel | Level::Video) {
            return Err(ConnectorError::Permanent(format!(
                "youtube has no report level {level}; use channel or video"
            )));
        }
        let channel = job.connection.account_id.as_str();
        let span = tracing::info_span!("youtube_fetch", channel, %level, since = %days.since, until = %days.until);
        async {
            let mut session = Session::start(self, job).await?;
            let mut read = Reader {
                monetary: session.token().has_scope(YT_ANALYTICS_MONETARY),
                session: &mut session,
                job,
                ctx: Origin::of(job),
            };
            match level {
                Level::Video => read.videos(days, pages).await,
                _ => pages.send(read.channel(days).await?).await,
            }
        }
        .instrument(span)
        .await
    }
}

/// One fetch: its session, whether it still asks for monetary metrics, its rows' context.
struct Reader<'s, 'a> {
    session: &'s mut Session<'a>,
    job: &'a Job,
    monetary: bool,
    ctx: Origin<'a>,
}

impl Reader<'_, '_> {
    /// Level channel: `dimensions=day` over the whole window.
    async fn channel(&mut self, days: Window) -> Result<Vec<AdMetricRow>, ConnectorError> {
        let query = [
            ("startDate", days.since.to_string()),
            ("endDate", days.until.to_string()),
            ("dimensions", "day".to_owned()),
            ("sort", "day".to_owned()),
        ];
        let (body, monetary) = self.get(&query).await.map_err(|e| self.refusal(e))?;
        rows::parse_table(&body, &self.ctx, Key::Day(days), monetary)
            .map_err(|e| ConnectorError::Permanent(format!("youtube analytics reports: {e}")))
    }

    /// Level video: each day's top videos by views, page by page; handed on a day at a
    /// time (a day's pages are de-duplicated together).
    async fn videos(&mut self, days: Window, pages: &Pages) -> Result<(), ConnectorError> {
        for day in days.days() {
            pages.send(self.videos_of(day).await?).await?;
        }
        Ok(())
    }

    async fn videos_of(&mut self, day: NaiveDate) -> Result<Vec<AdMetricRow>, ConnectorError> {
        let mut rows = Vec::new();
        let mut seen = HashSet::new();
        let mut start = 1;
        loop {
            let query = [
                ("startDate", day.to_string()),
                ("endDate", day.to_string()),
                ("dimensions", "video".to_owned()),
                ("sort", "-views".to_owned()),
                ("maxResults", VIDEOS_PER_PAGE.to_string()),
                ("startIndex", start.to_string()),
            ];
            let (body, monetary) = match self.get(&query).await {
                Ok(answer) => answer,
                Err(CallError::Refused(why)) if start > 1 => {
                    tracing::warn!(%day, listed = rows.len(), reason = %why, "youtube refuses to list more videos of the day; the rest of the day is not extracted");
                    return Ok(rows);
                }
                Err(e) => return Err(self.refusal(e)),
            };
            let page =
                rows::parse_table(&body, &self.ctx, Key::Video(day), monetary).map_err(|e| {
                    ConnectorError::Permanent(format!(
                        "youtube analytics reports ({day}, startIndex {start}): {e}"
                    ))
                })?;
            let full = page.len() >= VIDEOS_PER_PAGE;
            // A ranking that shifts between pages may list a video twice: the first stays.
            rows.extend(page.into_iter().filter(|r| seen.insert(r.ad_id.clone())));
            if !full {
                return Ok(rows);
            }
            start += VIDEOS_PER_PAGE;
        }
    }

    /// The body for `query` plus the fetch's common parameters, and whether it holds the
    /// monetary metrics: a 403 to a request with them is asked again without them (a
    /// channel outside the Partner Program may not read revenue), and the rest of the
    /// fetch goes without.
    async fn get(
        &mut self,
        query: &[(&'static str, String)],
    ) -> Result<(Vec<u8>, bool), CallError> {
        loop {
            let mut params = vec![
                ("ids", format!("channel=={}", self.ctx.account_id)),
                ("metrics", rows::metrics_param(self.monetary)),
            ];
            params.extend(query.iter().cloned());
            if self.monetary {
                params.push(("currency", rows::CURRENCY.to_owned()));
            }
            match self.session.reports(&params).await {
                Err(CallError::Forbidden(why)) if self.monetary => {
                    tracing::warn!(reason = %why, "youtube refuses the monetary metrics; reading the channel without them");
                    self.monetary = false;
                }
                Ok(body) => return Ok((body, self.monetary)),
                Err(e) => return Err(e),
            }
        }
    }

    /// A call's failure as the run sees it; a 403 means the connection must sign in again.
    fn refusal(&self, e: CallError) -> ConnectorError {
        match e {
            CallError::Failed(e) => e,
            CallError::Refused(why) => ConnectorError::Permanent(why),
            CallError::Forbidden(why) => ConnectorError::Auth(format!(
                "{why}: the Google account that connected may not read YouTube Analytics of channel {}; connect the channel again with its owner's account",
                self.job.connection.account_id
            )),
        }
    }
}
