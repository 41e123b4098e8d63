//! [`OAuthExchange`] over the platforms' HTTP endpoints (`reqwest`, rustls): Google's token
//! endpoint in `google.rs`, the Graph API's `oauth/access_token` in `facebook.rs`.
//!
//! An exchange is never retried: a code is single-use, so a retry after a lost answer
//! would only be refused. All calls of one exchange share a budget that leaves the
//! function (10 s timeout) time to write the secret and the record. Errors never carry a
//! URL (a Graph URL holds the app secret and the code in its query), a code or a token.

mod facebook;
mod google;

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use reqwest::StatusCode;

use crate::config::OAuthConfig;
use crate::error::DependencyError;
use crate::ports::{FacebookApp, GoogleApp, Grant, OAuthError, OAuthExchange};

pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(3);
/// One call's limit, shortened to what is left of the budget.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(5);
/// Every call of one exchange (Facebook makes three) ends within this.
pub const EXCHANGE_BUDGET: Duration = Duration::from_secs(6);

pub struct HttpOAuth {
    /// Built on the first sign-in, so the function's init does not pay for TLS roots.
    client: OnceLock<reqwest::Client>,
    google_token_url: String,
    facebook_graph_url: String,
}

impl HttpOAuth {
    pub fn new(config: &OAuthConfig) -> Self {
        Self {
            client: OnceLock::new(),
            google_token_url: config.google_oauth_token_url.clone(),
            facebook_graph_url: config.facebook_graph_url.clone(),
        }
    }

    fn client(&self, dependency: &'static str) -> Result<&reqwest::Client, OAuthError> {
        if let Some(client) = self.client.get() {
            return Ok(client);
        }
        let built = reqwest::Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(REQUEST_TIMEOUT)
            .user_agent(concat!("adpipe-schedule-api/", env!("CARGO_PKG_VERSION")))
            // A redirect would re-send the form (code, client secret) to another host.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| {
                DependencyError::new(dependency, format!("HTTP client: {}", e.without_url()))
            })?;
        Ok(self.client.get_or_init(|| built))
    }
}

#[async_trait]
impl OAuthExchange for HttpOAuth {
    async fn google(
        &self,
        app: &GoogleApp,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<Grant, OAuthError> {
        let call = Call::new(self.client(google::DEPENDENCY)?, google::DEPENDENCY);
        let request = google::Exchange {
            code,
            redirect_uri,
            code_verifier,
        };
        google::exchange(&call, &self.google_token_url, app, &request).await
    }

    async fn facebook(
        &self,
        app: &FacebookApp,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Grant, OAuthError> {
        let call = Call::new(self.client(facebook::DEPENDENCY)?, facebook::DEPENDENCY);
        facebook::exchange(&call, &self.facebook_graph_url, app, code, redirect_uri).await
    }
}

/// The calls of one exchange: one client, one dependency name, one deadline.
struct Call<'a> {
    client: &'a reqwest::Client,
    dependency: &'static str,
    deadline: Instant,
}

impl<'a> Call<'a> {
    fn new(client: &'a reqwest::Client, dependency: &'static str) -> Self {
        Self {
            client,
            dependency,
            deadline: Instant::now() + EXCHANGE_BUDGET,
        }
    }

    fn unavailable(&self, detail: impl Into<String>) -> OAuthError {
        DependencyError::new(self.dependency, detail).into()
    }

    /// Sends `request` within what is left of the budget; any answer, even a refusal, is
    /// returned with its status for the caller to read.
    async fn send(
        &self,
        what: &str,
        request: reqwest::RequestBuilder,
    ) -> Result<(StatusCode, Vec<u8>), OAuthError> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(self.unavailable(format!("{what}: no time left")));
        }
        let failed = |e: reqwest::Error| {
            self.unavailable(format!(
                "{what}: {}",
                adpipe_domain::http::transport_error(&e)
            ))
        };
        let response = request
            .timeout(left.min(REQUEST_TIMEOUT))
            .send()
            .await
            .map_err(failed)?;
        let status = response.status();
        let body = response.bytes().await.map_err(failed)?;
        Ok((status, body.to_vec()))
    }
}

/// Whether a status means the platform is unavailable rather than refusing the request.
fn unavailable_status(status: StatusCode) -> bool {
    status.is_server_error() || status == StatusCode::TOO_MANY_REQUESTS
}
