//! The platform connectors, chosen by a connection's platform.

pub mod facebook;
pub mod google_ads;
pub mod google_oauth;
pub mod json;
pub mod retry;
pub mod youtube;

use adpipe_domain::{Level, Platform};
use chrono::{DateTime, Utc};

use crate::ports::{Connector, Job};

/// One HTTP exchange's limit, shortened to what is left before the deadline.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP client every connector shares: rustls, connect and request timeouts, adpipe's
/// user agent, and no redirects: a 307/308 would re-send a request that carries a token or
/// the client secret to whatever host it names, so a redirect is an answer like any other
/// non-success status.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("adpipe-extractor/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// What every row of one fetch takes from its job rather than from the platform: whose rows
/// they are, at which level, and when they were read.
#[derive(Debug, Clone)]
pub struct Origin<'a> {
    pub tenant_id: &'a str,
    pub connection_id: &'a str,
    /// The ad account, customer or channel.
    pub account_id: &'a str,
    pub run_id: &'a str,
    pub schedule_id: &'a str,
    pub level: Level,
    /// Whole milliseconds, as the data lake keeps it.
    pub extracted_at: DateTime<Utc>,
}

impl<'a> Origin<'a> {
    /// The job's, read now.
    pub fn of(job: &'a Job) -> Self {
        let now = Utc::now();
        Self {
            tenant_id: job.connection.tenant_id.as_str(),
            connection_id: job.connection.id.as_str(),
            account_id: &job.connection.account_id,
            run_id: job.run_id.as_str(),
            schedule_id: job.schedule.id.as_str(),
            level: job.schedule.report.level,
            extracted_at: DateTime::from_timestamp_millis(now.timestamp_millis()).unwrap_or(now),
        }
    }
}

/// The most one platform answer may hold (a Graph API page, a YouTube table, a Google
/// Ads error): past it the run fails with a message, not the function with its memory. A
/// page at the limits adpipe asks for is a few MiB; Google Ads streams its batches and is
/// bounded by a batch instead.
pub const BODY_CAP: usize = 64 << 20;
/// The most of a failed answer (its error) that is read.
pub const ERROR_BODY_CAP: usize = 1 << 20;

/// Why an answer's body could not be read.
pub(crate) enum BodyError {
    /// Longer than the cap (the cap in bytes).
    TooLarge(usize),
    Transport(reqwest::Error),
}

impl BodyError {
    /// The run record's words for it (no URL: the query may hold a token).
    pub(crate) fn describe(&self) -> String {
        match self {
            BodyError::TooLarge(cap) => format!(
                "the answer is larger than adpipe reads ({} MiB); ask for fewer days or a coarser level",
                cap >> 20
            ),
            BodyError::Transport(e) => transport_error(e),
        }
    }
}

/// The body of `response`, refused as soon as it is known to pass `cap` bytes (by its
/// `Content-Length`, or while it streams in), so memory never holds more than `cap`.
async fn read_capped(mut response: reqwest::Response, cap: usize) -> Result<Vec<u8>, BodyError> {
    let declared = response.content_length().unwrap_or(0);
    if declared > cap as u64 {
        return Err(BodyError::TooLarge(cap));
    }
    let mut body = Vec::with_capacity(declared as usize);
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Transport)? {
        if body.len() + chunk.len() > cap {
            return Err(BodyError::TooLarge(cap));
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// The body of a platform's answer: up to [`BODY_CAP`], or [`ERROR_BODY_CAP`] for a
/// failed one.
pub(crate) async fn read_answer(response: reqwest::Response) -> Result<Vec<u8>, BodyError> {
    let cap = if response.status().is_success() {
        BODY_CAP
    } else {
        ERROR_BODY_CAP
    };
    read_capped(response, cap).await
}

pub(crate) use adpipe_domain::http::transport_error;

/// The connector of each platform: every platform has one.
pub struct Connectors {
    pub facebook: Box<dyn Connector>,
    pub google_ads: Box<dyn Connector>,
    pub youtube: Box<dyn Connector>,
}

impl Connectors {
    pub fn get(&self, platform: Platform) -> &dyn Connector {
        match platform {
            Platform::Facebook => self.facebook.as_ref(),
            Platform::GoogleAds => self.google_ads.as_ref(),
            Platform::Youtube => self.youtube.as_ref(),
        }
    }
}
