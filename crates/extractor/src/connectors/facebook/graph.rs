//! One fetch's conversation with the Graph API: every call signed with the token and its
//! `appsecret_proof`, retried within a budget, paced by Meta's usage headers, never waiting
//! past the deadline, and described in errors and logs by method and path only — the query
//! string carries the token, and so do `paging.next` URLs.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use reqwest::{Method, StatusCode, Url};

use super::throttle::{Backoff, Refusal, Usage, Verdict, classify};
use super::wire::{self, ErrorBody, GraphError};
use super::{FacebookConnector, REQUEST_TIMEOUT, appsecret_proof};
use crate::connectors::retry::{self, Attempt, Failure, Retry, Stop};
use crate::connectors::{BodyError, read_answer, transport_error};
use crate::ports::{ConnectorError, Job, ReportRuns};

/// Why a call did not answer.
#[derive(Debug)]
pub(super) enum CallError {
    /// Meta asks for a smaller query; the caller decides how to ask for less.
    TooMuchData(String),
    Failed(ConnectorError),
}

impl From<ConnectorError> for CallError {
    fn from(e: ConnectorError) -> Self {
        CallError::Failed(e)
    }
}

impl CallError {
    /// Asking for less is not possible here: too much data becomes a retryable failure.
    pub(super) fn into_connector(self) -> ConnectorError {
        match self {
            CallError::TooMuchData(msg) => ConnectorError::Retryable(msg),
            CallError::Failed(e) => e,
        }
    }
}

/// The pause Meta's usage headers asked for, per ad account, as an instant before which
/// the account is not called again.
#[derive(Default)]
pub(super) struct HoldOff(std::sync::Mutex<std::collections::HashMap<String, Instant>>);

impl HoldOff {
    /// How long the account is still held off.
    pub(super) fn remaining(&self, account: &str) -> Duration {
        let now = Instant::now();
        self.lock()
            .get(account)
            .map_or(Duration::ZERO, |until| until.saturating_duration_since(now))
    }

    /// Holds the account off for `pause` from now (zero lifts the hold-off).
    pub(super) fn set(&self, account: &str, pause: Duration) {
        let mut map = self.lock();
        if pause.is_zero() {
            map.remove(account);
        } else {
            map.insert(account.to_owned(), Instant::now() + pause);
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Instant>> {
        // Entries are whole instants: a poisoned map is still right.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

pub(super) struct Session<'a> {
    client: &'a reqwest::Client,
    /// Where the hold-off outlives this session: the next fetch of the same account (the
    /// run's next chunk, or the next run in a warm process) starts by honouring it.
    hold_off: &'a HoldOff,
    report_runs: &'a dyn ReportRuns,
    account: &'a str,
    base: Url,
    backoff: Backoff,
    deadline: DateTime<Utc>,
    token: &'a str,
    proof: String,
    /// Hold-off before the next call, from the last answer's usage headers.
    pause: Duration,
}

impl<'a> Session<'a> {
    pub(super) fn new(conn: &'a FacebookConnector, job: &'a Job) -> Result<Self, ConnectorError> {
        let app = job.credentials.app.facebook.as_ref().ok_or_else(|| {
            ConnectorError::Permanent("app credentials have no facebook app".into())
        })?;
        let token = job.credentials.token.as_str();
        if token.is_empty() {
            return Err(ConnectorError::Auth(
                "facebook: the connection has no access token; connect the account again".into(),
            ));
        }
        let base = Url::parse(&conn.graph).map_err(|e| {
            ConnectorError::Permanent(format!("facebook: the Graph API URL is malformed: {e}"))
        })?;
        let account = job.connection.account_id.as_str();
        Ok(Self {
            client: &conn.client,
            hold_off: &conn.hold_off,
            report_runs: conn.report_runs.as_ref(),
            account,
            base,
            backoff: conn.backoff,
            deadline: job.deadline,
            token,
            proof: appsecret_proof(token, &app.app_secret),
            pause: conn.hold_off.remaining(account),
        })
    }

    /// Where report runs left pending are kept.
    pub(super) fn report_runs(&self) -> &'a dyn ReportRuns {
        self.report_runs
    }

    pub(super) fn backoff(&self) -> Backoff {
        self.backoff
    }

    /// `{graph}/{path}?{params}`.
    pub(super) fn url(&self, path: &str, params: &[(&str, &str)]) -> Result<Url, ConnectorError> {
        let mut url = self.base.clone();
        url.path_segments_mut()
            .map_err(|_| {
                ConnectorError::Permanent("facebook: the Graph API URL has no path".into())
            })?
            .pop_if_empty()
            .extend(path.split('/'));
        url.query_pairs_mut().extend_pairs(params);
        Ok(url)
    }

    /// A `paging.next` URL to request: on the Graph API's own host (it is sent the token),
    /// its credentials dropped so that [`Session::get`] signs it like any other call.
    pub(super) fn follow(&self, next: &str) -> Result<Url, ConnectorError> {
        let url = Url::parse(next)
            .ok()
            .filter(|u| u.origin() == self.base.origin());
        let url = url.ok_or_else(|| {
            ConnectorError::Permanent(
                "facebook insights: paging.next is not a Graph API URL".into(),
            )
        })?;
        Ok(unsigned(url))
    }

    pub(super) async fn get(&mut self, what: &str, url: Url) -> Result<Vec<u8>, CallError> {
        self.send(what, Method::GET, url, &[]).await
    }

    /// A POST with its parameters (and the credentials) in a form body.
    pub(super) async fn post(
        &mut self,
        what: &str,
        url: Url,
        form: &[(&str, &str)],
    ) -> Result<Vec<u8>, CallError> {
        self.send(what, Method::POST, url, form).await
    }

    /// Waits `wait`, unless that would outlive the deadline.
    pub(super) async fn sleep(&self, wait: Duration) -> Result<(), ConnectorError> {
        crate::connectors::retry::sleep_before(self.deadline, wait, "facebook").await
    }

    /// The call, retried as [`Retry::run`] decides; Meta's "ask for less data" is handed
    /// back to the caller, who may.
    async fn send(
        &mut self,
        what: &str,
        method: Method,
        url: Url,
        form: &[(&str, &str)],
    ) -> Result<Vec<u8>, CallError> {
        let retry = Retry {
            platform: "facebook",
            backoff: self.backoff,
            deadline: self.deadline,
        };
        let mut call = GraphCall {
            session: self,
            what,
            method,
            url: unsigned(url),
            form,
        };
        retry.run(&mut call).await.map_err(|stop| match stop {
            Stop::Permanent(Refusal::TooMuchData, message) => CallError::TooMuchData(message),
            Stop::Permanent(Refusal::Request, message) => ConnectorError::Permanent(message).into(),
            Stop::Failed(e) => e.into(),
        })
    }

    /// One request: its body, or its classified failure described without the URL.
    async fn try_once(
        &mut self,
        what: &str,
        method: &Method,
        url: &Url,
        form: &[(&str, &str)],
    ) -> Result<Result<Vec<u8>, Failure<Refusal>>, ConnectorError> {
        let remaining = retry::time_left(self.deadline, REQUEST_TIMEOUT)?;
        let auth = [
            ("access_token", self.token),
            ("appsecret_proof", self.proof.as_str()),
        ];
        let request = if *method == Method::GET {
            self.client.get(url.clone()).query(&auth)
        } else {
            let body: Vec<(&str, &str)> = form.iter().chain(&auth).copied().collect();
            self.client.request(method.clone(), url.clone()).form(&body)
        };
        let failed = |verdict, detail: String| {
            Ok(Err(Failure::new(
                verdict,
                format!("facebook {what}: {detail}"),
            )))
        };
        let response = match request.timeout(remaining).send().await {
            Ok(r) => r,
            Err(e) => return failed(Verdict::RetryAfter(Duration::ZERO), transport_error(&e)),
        };
        let status = response.status();
        let usage = Usage::from_headers(response.headers());
        self.pause = usage.pause(&self.backoff);
        self.hold_off.set(self.account, self.pause);
        let body = match read_answer(response).await {
            Ok(body) => body,
            Err(e @ BodyError::TooLarge(_)) => {
                return failed(Verdict::Permanent(Refusal::Request), e.describe());
            }
            Err(e) => return failed(Verdict::RetryAfter(Duration::ZERO), e.describe()),
        };
        tracing::debug!(%method, path = url.path(), status = status.as_u16(), bytes = body.len(), "facebook call");
        if status.is_success() {
            return Ok(Ok(body));
        }
        let error = wire::parse::<ErrorBody>(&body).ok().map(|b| b.error);
        failed(
            classify(status, error.as_ref()),
            describe(status, error.as_ref()),
        )
    }

    /// The token and its proof: what a Graph API answer might echo.
    fn secrets(&self) -> Vec<&str> {
        vec![self.token, self.proof.as_str()]
    }

    /// The message with the token and its proof replaced, whatever echoed them.
    pub(super) fn redact(&self, message: String) -> String {
        retry::redact(message, &self.secrets())
    }
}

/// One Graph API call as [`Retry::run`] repeats it.
struct GraphCall<'s, 'a> {
    session: &'s mut Session<'a>,
    what: &'s str,
    method: Method,
    url: Url,
    form: &'s [(&'s str, &'s str)],
}

impl Attempt for GraphCall<'_, '_> {
    type Output = Vec<u8>;
    type Refusal = Refusal;

    /// Waits out the pause the last answer's usage headers asked for, then calls; a
    /// retryable failure asks the driver to wait at least the pause its own answer set.
    async fn once(&mut self) -> Result<Result<Vec<u8>, Failure<Refusal>>, ConnectorError> {
        let session = &mut *self.session;
        let pause = std::mem::take(&mut session.pause);
        session.sleep(pause).await?;
        let answer = session
            .try_once(self.what, &self.method, &self.url, self.form)
            .await?;
        Ok(answer.map_err(|mut failure| {
            if let Verdict::RetryAfter(_) = failure.verdict {
                failure.verdict = Verdict::RetryAfter(std::mem::take(&mut session.pause));
            }
            failure
        }))
    }

    fn secrets(&self) -> Vec<&str> {
        self.session.secrets()
    }
}

/// `url` with `name` set to `value`, or removed; every other parameter kept in order.
pub(super) fn with_param(mut url: Url, name: &str, value: Option<&str>) -> Url {
    let mut pairs: Vec<(String, String)> = url
        .query_pairs()
        .filter(|(k, _)| k != name)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if let Some(value) = value {
        pairs.push((name.to_owned(), value.to_owned()));
    }
    url.set_query(None);
    if !pairs.is_empty() {
        url.query_pairs_mut().extend_pairs(pairs);
    }
    url
}

/// `url` without credentials: every call adds its own.
fn unsigned(url: Url) -> Url {
    with_param(
        with_param(url, "access_token", None),
        "appsecret_proof",
        None,
    )
}

/// Meta's error as the run record shows it: its message and the ids support asks for.
fn describe(status: StatusCode, error: Option<&GraphError>) -> String {
    let Some(e) = error else {
        return format!("HTTP {status} without a Graph API error in the body");
    };
    let mut out = format!("{} (HTTP {}, code {}", e.message, status.as_u16(), e.code);
    if let Some(sub) = e.error_subcode {
        out.push_str(&format!(", subcode {sub}"));
    }
    if let Some(kind) = &e.kind {
        out.push_str(&format!(", type {kind}"));
    }
    if let Some(trace) = &e.fbtrace_id {
        out.push_str(&format!(", fbtrace_id {trace}"));
    }
    out.push(')');
    if let Some(user) = e.error_user_msg.as_deref().filter(|m| !m.is_empty()) {
        out.push_str(&format!(": {user}"));
    }
    out
}
