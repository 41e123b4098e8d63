//! One `searchStream` call as the connector makes it: `POST
//! {api}/customers/{id}/googleAds:searchStream` with `{"query": GAQL}`, the bearer token,
//! `developer-token` and `login-customer-id`; the body read as it streams in.
//!
//! A call is all or nothing: every try starts a new [`Sink`], so the rows of a stream that
//! failed half-way (a broken connection, an error element after some batches) are dropped
//! and the retried stream's rows replace them. Throttling and passing faults are retried
//! with backoff (at least Google's `retryDelay`) while the deadline allows; a refused
//! access token is refreshed once.

use std::time::Duration;

use adpipe_domain::AdMetricRow;
use reqwest::StatusCode;

use super::GoogleAdsConnector;
use super::failure::{classify, describe};
use super::stream::{Splitter, StreamError};
use super::wire::{Status, error_status};
use crate::connectors::google_oauth::AccessToken;
use crate::connectors::retry::{Attempt, Failure, Retry, Verdict, time_left};
use crate::connectors::{read_answer, transport_error};
use crate::ports::{ConnectorError, Job, Pages};

/// One `searchStream` exchange, body included, at most (and never past the deadline): a
/// week of ad-level rows of a large account streams for a while.
pub const STREAM_TIMEOUT: Duration = Duration::from_secs(300);

/// What becomes of a stream's elements, one call try at a time.
pub(super) trait Sink {
    type Output;
    /// Element `index` of the streamed array, whole.
    fn batch(&mut self, index: usize, bytes: &[u8]) -> Result<(), StreamError>;
    /// The rows read so far and not yet taken, to hand on while the stream goes on.
    fn take_ready(&mut self) -> Vec<AdMetricRow> {
        Vec::new()
    }
    fn finish(self) -> Self::Output;
}

/// A failed answer: what it calls for and how to say it.
fn refused(http: StatusCode, error: Option<&Status>) -> Failure {
    Failure::new(classify(http, error), describe(http, error))
}

/// The calls of one job: its customer, headers and deadline.
pub(super) struct Call<'a> {
    conn: &'a GoogleAdsConnector,
    job: &'a Job,
    url: String,
    developer_token: Option<&'a str>,
    login_customer_id: Option<String>,
}

impl<'a> Call<'a> {
    pub(super) fn new(conn: &'a GoogleAdsConnector, job: &'a Job) -> Result<Self, ConnectorError> {
        let app = job.credentials.app.google.as_ref().ok_or_else(|| {
            ConnectorError::Permanent("app credentials have no google app".into())
        })?;
        let customer = &job.connection.account_id;
        if customer.len() != 10 || !customer.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConnectorError::Permanent(format!(
                "google ads: the connection's account_id {customer:?} is not a 10-digit customer id"
            )));
        }
        let login_customer_id = match (&job.connection.login_customer_id, &app.login_customer_id) {
            (Some(id), _) => Some((id, "the connection's login_customer_id")),
            (None, Some(id)) if !id.trim().is_empty() => {
                Some((id, "APP_CREDENTIALS_SECRET google.login_customer_id"))
            }
            _ => None,
        }
        .map(|(id, what)| {
            adpipe_domain::platform::parse_google_customer_id(id.trim(), "login_customer_id")
                .map_err(|_| {
                    ConnectorError::Permanent(format!(
                        "google ads: {what} {id:?} is not a 10-digit customer id"
                    ))
                })
        })
        .transpose()?;
        Ok(Self {
            conn,
            job,
            url: format!("{}/customers/{customer}/googleAds:searchStream", conn.api),
            developer_token: Some(app.developer_token.trim()).filter(|t| !t.is_empty()),
            login_customer_id,
        })
    }

    /// Streams `query`'s answer into a new sink per try; the last try's output, or why
    /// there is none. With `pages`, the sink's rows are handed on as the stream arrives
    /// (a retried stream hands its rows on again; staging writes only what changed).
    pub(super) async fn search_stream<S, F>(
        &self,
        query: &str,
        sink: F,
        pages: Option<&Pages>,
    ) -> Result<S::Output, ConnectorError>
    where
        S: Sink + Send,
        S::Output: Send,
        F: Fn() -> S + Send + Sync,
    {
        let retry = Retry {
            platform: "google ads",
            backoff: self.conn.backoff,
            deadline: self.job.deadline,
        };
        let mut call = StreamCall {
            call: self,
            query,
            sink,
            pages,
            token: None,
        };
        Ok(retry.run(&mut call).await?)
    }

    /// One request and its whole body. `Err` only when the deadline leaves no time for it.
    async fn try_once<S: Sink>(
        &self,
        token: &AccessToken,
        query: &str,
        mut sink: S,
        pages: Option<&Pages>,
    ) -> Result<Result<S::Output, Failure>, ConnectorError> {
        let timeout = time_left(self.job.deadline, STREAM_TIMEOUT)?;
        let mut request = self
            .conn
            .client
            .post(&self.url)
            .bearer_auth(&token.value)
            .json(&serde_json::json!({ "query": query }))
            .timeout(timeout);
        if let Some(developer_token) = self.developer_token {
            request = request.header("developer-token", developer_token);
        }
        if let Some(login) = &self.login_customer_id {
            request = request.header("login-customer-id", login);
        }
        let mut response = match request.send().await {
            Ok(r) => r,
            Err(e) => return Ok(Err(Failure::transient(transport_error(&e)))),
        };
        let http = response.status();
        if !http.is_success() {
            let body = read_answer(response).await.unwrap_or_default();
            let error = error_status(&body);
            return Ok(Err(refused(http, error.as_ref())));
        }
        let mut splitter = Splitter::new();
        let streamed = loop {
            match response.chunk().await {
                Ok(Some(chunk)) => {
                    if let Err(e) = splitter.push(&chunk, &mut |i, bytes| sink.batch(i, bytes)) {
                        break Err(e);
                    }
                    if let Some(pages) = pages {
                        pages.send(sink.take_ready()).await?;
                    }
                }
                Ok(None) => break splitter.finish(),
                Err(e) => {
                    return Ok(Err(Failure::transient(format!(
                        "the stream broke off after {} batches: {}",
                        splitter.elements(),
                        transport_error(&e)
                    ))));
                }
            }
        };
        tracing::debug!(batches = splitter.elements(), "google ads stream read");
        Ok(match streamed {
            Ok(()) => Ok(sink.finish()),
            Err(StreamError::Failed(status)) => {
                let http = StatusCode::from_u16(status.code)
                    .ok()
                    .filter(|s| !s.is_success())
                    .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
                let failure = refused(http, Some(&status));
                Err(Failure {
                    message: format!(
                        "the stream failed after {} batches: {}",
                        splitter.elements().saturating_sub(1),
                        failure.message
                    ),
                    ..failure
                })
            }
            Err(StreamError::Malformed(why)) => Err(Failure::new(
                Verdict::Permanent(()),
                format!("malformed answer: {why}"),
            )),
            Err(StreamError::Truncated) => Err(Failure::transient(format!(
                "the stream ended before its JSON array closed, after {} batches",
                splitter.elements()
            ))),
        })
    }
}

/// One `searchStream` call as [`Retry::run`] repeats it: a fresh sink and the current
/// access token each try.
struct StreamCall<'c, 'a, F> {
    call: &'c Call<'a>,
    query: &'c str,
    sink: F,
    pages: Option<&'c Pages>,
    /// The last try's token, which an error might echo.
    token: Option<AccessToken>,
}

impl<S, F> Attempt for StreamCall<'_, '_, F>
where
    S: Sink + Send,
    S::Output: Send,
    F: Fn() -> S + Send + Sync,
{
    type Output = S::Output;
    type Refusal = ();

    async fn once(&mut self) -> Result<Result<S::Output, Failure>, ConnectorError> {
        let call = self.call;
        let token = call.conn.oauth.access_token(call.job).await?;
        if token.scope.is_some() && !token.has_scope(adpipe_domain::oauth::ADWORDS) {
            return Err(ConnectorError::Auth(
                "google ads: the connection's sign-in did not grant the AdWords scope; connect the account again".into(),
            ));
        }
        let answer = call
            .try_once(&token, self.query, (self.sink)(), self.pages)
            .await;
        self.token = Some(token);
        Ok(answer?.map_err(|failure| Failure {
            message: format!("google ads searchStream: {}", failure.message),
            ..failure
        }))
    }

    /// Drops the refused token: the next try asks Google for a new one.
    async fn refresh(&mut self) -> Result<(), ConnectorError> {
        self.call.conn.oauth.forget(self.call.job);
        Ok(())
    }

    fn secrets(&self) -> Vec<&str> {
        let token = self.token.as_ref().map(|t| t.value.as_str());
        [token, self.call.developer_token]
            .into_iter()
            .flatten()
            .collect()
    }
}
