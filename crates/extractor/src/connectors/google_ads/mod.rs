//! Google Ads: a customer's metrics through `customers/{id}/googleAds:searchStream`
//! (REST, `GOOGLE_ADS_API_URL`, v26 by default), one GAQL query per fetch at the schedule's
//! level — `FROM campaign`, `FROM ad_group`, `FROM ad_group_ad` — over
//! `segments.date BETWEEN` the chunk's days.
//!
//! - Access tokens come from the connection's refresh token ([`GoogleOAuth`], shared with
//!   YouTube); `UNAUTHENTICATED` drops the cached token and refreshes it once, a second
//!   refusal is [`ConnectorError::Auth`], as is `invalid_grant` at the token endpoint.
//! - Headers: `developer-token` from the app credentials (Google's developer-token page
//!   says the header is optional and ignored since tokens were sunset on 2026-09-09, and
//!   that API access now follows the OAuth client's Cloud project; it is sent while the
//!   secret has one) and `login-customer-id`: the connection's manager account, else the
//!   app's, else none.
//! - The answer streams in as a JSON array of batches; it is cut into batches as it
//!   arrives ([`stream`]) and each batch becomes rows at once ([`rows`]), so no more than
//!   one batch's bytes are held beside the rows.
//! - `RESOURCE_EXHAUSTED`, 429, 5xx, timeouts and broken streams are retried whole with
//!   backoff (at least Google's `retryDelay`) within the deadline; what each failure means
//!   is in [`failure`]. A failed call's message lists Google's error codes and messages and
//!   the request id, never a token.
//! - Malformed data fails the fetch with no rows, naming the field
//!   (`batch 0: results[3].metrics.costMicros: not an int64: "12.5"`).

mod call;
pub mod failure;
pub mod gaql;
pub mod rows;
pub mod stream;
pub mod wire;

use std::sync::Arc;

use adpipe_domain::{AdMetricRow, Window};
use async_trait::async_trait;
use chrono_tz::Tz;
use tracing::Instrument;

use self::call::{Call, Sink};
use self::rows::{RowContext, Rows};
use self::stream::StreamError;
use self::wire::Batch;
use crate::connectors::Origin;
pub use crate::connectors::google_oauth::GoogleOAuth;
pub use crate::connectors::retry::Backoff;
use crate::ports::{Connector, ConnectorError, Job, Pages};

pub struct GoogleAdsConnector {
    client: reqwest::Client,
    api: String,
    oauth: Arc<GoogleOAuth>,
    backoff: Backoff,
}

impl GoogleAdsConnector {
    /// `api_url` is the REST base with its version (`GOOGLE_ADS_API_URL`); `oauth` hands out
    /// access tokens (and may be shared with the YouTube connector).
    pub fn new(http: reqwest::Client, api_url: impl Into<String>, oauth: Arc<GoogleOAuth>) -> Self {
        Self {
            client: http,
            api: api_url.into().trim_end_matches('/').to_owned(),
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
impl Connector for GoogleAdsConnector {
    /// `SELECT customer.time_zone, customer.currency_code FROM customer`.
    async fn time_zone(&self, job: &Job) -> Result<Tz, ConnectorError> {
        let call = Call::new(self, job)?;
        let customer = &job.connection.account_id;
        let span = tracing::info_span!("google_ads_time_zone", %customer);
        let zone = call
            .search_stream(gaql::TIME_ZONE_QUERY, TimeZone::default, None)
            .instrument(span)
            .await?;
        let what = format!("google ads customer {customer}");
        let zone = zone.ok_or_else(|| {
            ConnectorError::Permanent(format!("{what}: the customer query answered no time zone"))
        })?;
        zone.parse()
            .map_err(|_| ConnectorError::Permanent(format!("{what}: unknown time zone {zone:?}")))
    }

    async fn fetch_pages(
        &self,
        job: &Job,
        days: Window,
        pages: &Pages,
    ) -> Result<(), ConnectorError> {
        let call = Call::new(self, job)?;
        let level = job.schedule.report.level;
        let query = gaql::metrics_query(level, days).ok_or_else(|| {
            ConnectorError::Permanent(format!("google ads has no report level {level}"))
        })?;
        let ctx = RowContext {
            origin: Origin::of(job),
            window: days,
        };
        let span = tracing::info_span!("google_ads_fetch", customer = %job.connection.account_id, %level, since = %days.since, until = %days.until);
        let rest = call
            .search_stream(&query, || Rows::new(&ctx), Some(pages))
            .instrument(span)
            .await?;
        pages.send(rest).await
    }
}

impl Sink for Rows<'_> {
    type Output = Vec<AdMetricRow>;

    fn batch(&mut self, index: usize, bytes: &[u8]) -> Result<(), StreamError> {
        Rows::batch(self, index, bytes)
    }

    fn take_ready(&mut self) -> Vec<AdMetricRow> {
        self.take()
    }

    fn finish(self) -> Vec<AdMetricRow> {
        self.into_rows()
    }
}

/// The first `customer.timeZone` of the customer query's answer.
#[derive(Default)]
struct TimeZone(Option<String>);

impl Sink for TimeZone {
    type Output = Option<String>;

    fn batch(&mut self, index: usize, bytes: &[u8]) -> Result<(), StreamError> {
        let batch: Batch = wire::parse(bytes)
            .map_err(|e| StreamError::Malformed(format!("batch {index}: {e}")))?;
        if let Some(status) = batch.error {
            return Err(StreamError::Failed(status));
        }
        if self.0.is_none() {
            self.0 = batch
                .results
                .iter()
                .find_map(|r| r.customer.as_ref()?.time_zone.as_ref())
                .map(|z| z.as_str().to_owned());
        }
        Ok(())
    }

    fn finish(self) -> Option<String> {
        self.0
    }
}
