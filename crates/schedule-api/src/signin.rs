//! OAuth sign-in (`openapi.yaml`, the README's OAuth section): the platform's consent URL,
//! and the exchange of the code it returns for a connection, created exactly as `POST
//! /v1/connections` creates one.
//!
//! A code is single-use, so everything that can be checked is checked before it is spent:
//! the body, the account id, the redirect URI, the app credentials. After it is spent, a
//! failure says so: the client must start the sign-in again.

use adpipe_domain::{FieldError, Platform, TenantId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::Utc;
use http::StatusCode;
use reqwest::Url;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ErrorCode};
use crate::ports::{
    AppCredentials, AppSecretError, FacebookApp, GoogleApp, OAuthError, OAuthState,
};
use crate::service::{Api, NewConnection, secret_value};
use crate::views::{AuthorizeUrlView, ConnectWithCode, ConnectionView};

pub const GOOGLE_CONSENT_URL: &str = "https://accounts.google.com/o/oauth2/v2/auth";
pub const FACEBOOK_WWW: &str = "https://www.facebook.com";
pub use adpipe_domain::oauth::{ADS_READ, ADWORDS, YOUTUBE_READONLY, YT_ANALYTICS, required_scope};

const MAX_REDIRECT_URI_BYTES: usize = 2048;
const MAX_STATE_BYTES: usize = 1024;
const MAX_CODE_BYTES: usize = 4096;
/// How long a started sign-in can be finished: the consent screen is a minute's work.
pub const SIGN_IN_TTL: chrono::Duration = chrono::Duration::minutes(10);

/// What the consent asks for. One Google consent covers Google Ads and YouTube Analytics
/// (the README's OAuth table; `reports.query` also needs `youtube.readonly`); YouTube's
/// monetary reports (`yt-analytics-monetary.readonly`) are not asked for, least privilege:
/// the extractor adds revenue to `extra` only for a refresh token that carries that scope.
pub fn requested_scopes(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::GoogleAds | Platform::Youtube => &[ADWORDS, YT_ANALYTICS, YOUTUBE_READONLY],
        Platform::Facebook => &[ADS_READ],
    }
}

/// The `{platform}` of an OAuth path. An unknown one names no resource: 404.
pub fn platform(raw: &str) -> Result<Platform, ApiError> {
    raw.parse().map_err(|_| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no OAuth sign-in for this platform; use facebook, google_ads or youtube",
        )
        .with_field("platform")
    })
}

/// A redirect URI, kept byte for byte: the platforms compare it exactly with the consent
/// request's and the app's registered ones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri(String);

impl RedirectUri {
    /// An absolute `https://` URL with a host, no user info and no fragment (RFC 6749
    /// §3.1.2); `loopback_http` also admits `http://` to localhost (local mode).
    pub fn parse(raw: &str, loopback_http: bool) -> Result<Self, FieldError> {
        let refuse = |message: &str| FieldError::new("redirect_uri", message);
        if raw.is_empty() {
            return Err(refuse(
                "required: the URL of your front end that the platform sends the code to",
            ));
        }
        if raw.len() > MAX_REDIRECT_URI_BYTES {
            return Err(refuse("at most 2048 characters"));
        }
        if raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(refuse("must not contain spaces or control characters"));
        }
        let url = Url::parse(raw).map_err(|_| refuse("must be an absolute URL"))?;
        let lower = raw.to_ascii_lowercase();
        let scheme_ok = match url.scheme() {
            "https" => lower.starts_with("https://"),
            "http" => loopback_http && lower.starts_with("http://") && is_loopback(&url),
            _ => false,
        };
        if !scheme_ok {
            return Err(refuse(if loopback_http {
                "must be an https:// URL, or http:// on localhost, 127.0.0.1 or [::1]"
            } else {
                "must be an https:// URL"
            }));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(refuse("must name a host"));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(refuse("must not carry a user name or password"));
        }
        if raw.contains('#') {
            return Err(refuse("must not have a #fragment"));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_loopback(url: &Url) -> bool {
    let host = url.host_str().unwrap_or_default();
    let ip = host.trim_start_matches('[').trim_end_matches(']');
    host.eq_ignore_ascii_case("localhost")
        || ip
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The client's `state`: echoed by the platform so its front end can check the return
/// is the one it started (CSRF).
fn state(raw: Option<&str>) -> Result<&str, FieldError> {
    let refuse = |message: &str| FieldError::new("state", message);
    let state = raw.filter(|s| !s.is_empty()).ok_or_else(|| {
        refuse(
            "required: an unguessable value your front end checks when the platform redirects back",
        )
    })?;
    if state.len() > MAX_STATE_BYTES {
        return Err(refuse("at most 1024 characters"));
    }
    if state.chars().any(char::is_control) {
        return Err(refuse("must not contain control characters"));
    }
    Ok(state)
}

fn authorization_code(raw: &str) -> Result<&str, FieldError> {
    if raw.is_empty() {
        return Err(FieldError::new(
            "code",
            "required: the `code` query parameter the platform added to your redirect_uri",
        ));
    }
    if raw.len() > MAX_CODE_BYTES || raw.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(FieldError::new(
            "code",
            "must be the code as the platform sent it (URL-decoded): 1-4096 characters without spaces",
        ));
    }
    Ok(raw)
}

impl Api {
    /// `GET /v1/connections/oauth/{platform}/authorize-url`: records the sign-in (its
    /// `state`, for this tenant and platform, for [`SIGN_IN_TTL`]) and answers the consent URL.
    pub async fn authorize_url(
        &self,
        tenant: &TenantId,
        platform: Platform,
        redirect_uri: Option<&str>,
        state: Option<&str>,
    ) -> Result<AuthorizeUrlView, ApiError> {
        let redirect_uri = self.redirect_uri(redirect_uri.unwrap_or_default())?;
        let state = self::state(state)?;
        let apps = self.app_credentials().await?;
        let scopes = requested_scopes(platform);
        let scope = scopes.join(" ");
        let code_verifier =
            matches!(platform, Platform::GoogleAds | Platform::Youtube).then(pkce_verifier);
        let url = match platform {
            Platform::GoogleAds | Platform::Youtube => {
                let challenge = pkce_challenge(code_verifier.as_deref().unwrap_or_default());
                Url::parse_with_params(
                    GOOGLE_CONSENT_URL,
                    &[
                        ("client_id", google_app(&apps)?.client_id.as_str()),
                        ("redirect_uri", redirect_uri.as_str()),
                        ("response_type", "code"),
                        ("scope", &scope),
                        ("access_type", "offline"),
                        // Google issues a refresh token only on consent: always ask for it.
                        ("prompt", "consent"),
                        ("include_granted_scopes", "true"),
                        ("state", state),
                        ("code_challenge", &challenge),
                        ("code_challenge_method", "S256"),
                    ],
                )
            }
            Platform::Facebook => Url::parse_with_params(
                &self.facebook_dialog(),
                &[
                    ("client_id", facebook_app(&apps)?.app_id.as_str()),
                    ("redirect_uri", redirect_uri.as_str()),
                    ("state", state),
                    ("scope", &scope),
                    ("response_type", "code"),
                ],
            ),
        };
        let url = url.map_err(|_| ApiError::internal())?;
        self.store
            .put_oauth_state(
                tenant,
                &OAuthState {
                    state_digest: state_digest(state),
                    platform,
                    redirect_uri: redirect_uri.as_str().to_owned(),
                    code_verifier,
                    expires_at: Utc::now() + SIGN_IN_TTL,
                },
            )
            .await?;
        Ok(AuthorizeUrlView {
            url: url.into(),
            scopes: scopes.to_vec(),
        })
    }

    /// `POST /v1/connections/oauth/{platform}/token`.
    pub async fn connect_with_code(
        &self,
        tenant: &TenantId,
        platform: Platform,
        body: ConnectWithCode,
    ) -> Result<ConnectionView, ApiError> {
        let new = NewConnection::parse(
            platform,
            &body.account_id,
            body.name,
            body.login_customer_id,
        )?;
        let code = authorization_code(&body.code.0)?;
        let redirect_uri = self.redirect_uri(&body.redirect_uri)?;
        let state = self::state(body.state.as_deref())?;
        let apps = self.app_credentials().await?;
        match platform {
            Platform::GoogleAds | Platform::Youtube => google_app(&apps).map(|_| ())?,
            Platform::Facebook => facebook_app(&apps).map(|_| ())?,
        }
        // The sign-in is used up from here on: a replay finds nothing.
        let started = self
            .store
            .take_oauth_state(tenant, &state_digest(state), Utc::now())
            .await?
            .filter(|s| s.platform == platform)
            .ok_or_else(|| invalid_state(platform))?;
        if started.redirect_uri != redirect_uri.as_str() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                ErrorCode::InvalidState,
                "redirect_uri is not the one this sign-in was started with; start the sign-in again",
            )
            .with_field("redirect_uri"));
        }
        let exchanged = match platform {
            Platform::GoogleAds | Platform::Youtube => {
                let app = google_app(&apps)?;
                self.oauth
                    .google(
                        app,
                        code,
                        redirect_uri.as_str(),
                        started.code_verifier.as_deref(),
                    )
                    .await
            }
            Platform::Facebook => {
                let app = facebook_app(&apps)?;
                self.oauth.facebook(app, code, redirect_uri.as_str()).await
            }
        };
        // The code is spent from here on.
        let grant = exchanged.map_err(|e| exchange_error(platform, e))?;
        let token = grant.token.ok_or_else(|| consent_required(platform))?;
        match grant.granted.as_deref() {
            Some(granted) if !granted.iter().any(|s| s == required_scope(platform)) => {
                return Err(insufficient_scope(platform));
            }
            Some(_) => {}
            None => tracing::warn!(%platform, "granted scopes unknown; not checked"),
        }
        tracing::info!(%platform, "authorization code exchanged");
        self.store_connection(tenant, new, &secret_value(platform, &token))
            .await
            .map_err(ApiError::after_spent_code)
    }

    /// A redirect URI of the right shape that the deployment lists (`OAUTH_REDIRECT_URIS`).
    fn redirect_uri(&self, raw: &str) -> Result<RedirectUri, FieldError> {
        let uri = RedirectUri::parse(raw, self.oauth_config.loopback_redirects)?;
        if self
            .config
            .redirect_uris
            .iter()
            .any(|listed| listed == uri.as_str())
        {
            return Ok(uri);
        }
        Err(FieldError::new(
            "redirect_uri",
            if self.config.redirect_uris.is_empty() {
                "this deployment lists no OAuth redirect URIs: an operator must set the stack's RedirectUris parameter"
            } else {
                "not one of this deployment's OAuth redirect URIs (the stack's RedirectUris parameter)"
            },
        ))
    }

    /// `https://www.facebook.com/<version>/dialog/oauth`, the Graph API's version.
    fn facebook_dialog(&self) -> String {
        match self.oauth_config.facebook_version() {
            Some(version) => format!("{FACEBOOK_WWW}/{version}/dialog/oauth"),
            None => format!("{FACEBOOK_WWW}/dialog/oauth"),
        }
    }

    async fn app_credentials(&self) -> Result<AppCredentials, ApiError> {
        let id = self
            .config
            .app_credentials_secret
            .as_deref()
            .ok_or_else(|| not_configured("APP_CREDENTIALS_SECRET is not set"))?;
        self.secrets.app_credentials(id).await.map_err(|e| match e {
            AppSecretError::Unavailable(e) => e.into(),
            AppSecretError::Unusable(why) => {
                not_configured(&format!("APP_CREDENTIALS_SECRET: {why}"))
            }
        })
    }
}

fn google_app(apps: &AppCredentials) -> Result<&GoogleApp, ApiError> {
    let app = apps
        .google
        .as_ref()
        .ok_or_else(|| not_configured("the app credentials have no `google` app"))?;
    if app.client_id.trim().is_empty() {
        return Err(not_configured(
            "`google.client_id` of the app credentials is empty",
        ));
    }
    if app.client_secret.trim().is_empty() {
        return Err(not_configured(
            "`google.client_secret` of the app credentials is empty",
        ));
    }
    Ok(app)
}

fn facebook_app(apps: &AppCredentials) -> Result<&FacebookApp, ApiError> {
    let app = apps
        .facebook
        .as_ref()
        .ok_or_else(|| not_configured("the app credentials have no `facebook` app"))?;
    if app.app_id.trim().is_empty() {
        return Err(not_configured(
            "`facebook.app_id` of the app credentials is empty",
        ));
    }
    if app.app_secret.trim().is_empty() {
        return Err(not_configured(
            "`facebook.app_secret` of the app credentials is empty",
        ));
    }
    Ok(app)
}

/// SHA-256 (hex) of a `state`: what is stored, so the table never holds the value.
fn state_digest(state: &str) -> String {
    adpipe_domain::hex(&Sha256::digest(state.as_bytes()))
}

/// A PKCE code verifier (RFC 7636 §4.1): 64 characters of `[0-9a-f]`, 244 random bits
/// (two version-4 UUIDs).
fn pkce_verifier() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// `code_challenge` for `S256`: BASE64URL(SHA256(verifier)), unpadded (RFC 7636 §4.2).
pub fn pkce_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

fn invalid_state(platform: Platform) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidState,
        format!(
            "state is not a {platform} sign-in this tenant started in the last {} minutes, or it was already used: start the sign-in again with authorize-url",
            SIGN_IN_TTL.num_minutes()
        ),
    )
    .with_field("state")
}

/// An operator's fix: names what is missing, never a value.
fn not_configured(what: &str) -> ApiError {
    tracing::error!(what, "OAuth sign-in is not configured");
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        ErrorCode::OauthNotConfigured,
        format!(
            "OAuth sign-in is not configured: {what}. An operator must put the platform app credentials in the secret named by APP_CREDENTIALS_SECRET."
        ),
    )
}

fn company(platform: Platform) -> &'static str {
    match platform {
        Platform::GoogleAds | Platform::Youtube => "Google",
        Platform::Facebook => "Facebook",
    }
}

fn exchange_error(platform: Platform, e: OAuthError) -> ApiError {
    let who = company(platform);
    tracing::warn!(%platform, error = %e, "code exchange failed");
    match e {
        OAuthError::InvalidCode(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidCode,
            format!(
                "{who} refused the authorization code: it has expired, was already used, or was issued to another app. Start the sign-in again."
            ),
        )
        .with_field("code"),
        OAuthError::RedirectUriMismatch(_) => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::RedirectUriMismatch,
            format!(
                "{who} refused redirect_uri: it must be exactly the one the consent URL was built with, and registered for the app. Start the sign-in again."
            ),
        )
        .with_field("redirect_uri"),
        OAuthError::AppRefused(_) => {
            not_configured(&format!("{who} refused the app credentials"))
        }
        OAuthError::Unavailable(e) => ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            ErrorCode::DependencyUnavailable,
            format!(
                "{} did not complete the request; nothing was created. The authorization code may be used up: if a retry answers invalid_code, start the sign-in again.",
                e.dependency
            ),
        ),
    }
}

fn consent_required(platform: Platform) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::ConsentRequired,
        format!(
            "{} issued no refresh token for this code (it does so only when the person is asked for consent): start the sign-in again from authorize-url, which asks for offline access with prompt=consent.",
            company(platform)
        ),
    )
    .with_field("code")
}

fn insufficient_scope(platform: Platform) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InsufficientScope,
        format!(
            "the sign-in did not grant `{}`, which {platform} connections need: start the sign-in again and allow it. Nothing was created.",
            required_scope(platform)
        ),
    )
    .with_field("code")
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use serde_json::{Value, json};

    use super::*;
    use crate::Config;
    use crate::memory::{MemoryOAuth, MemorySecrets, memory_api};
    use crate::ports::Grant;

    /// An API over memory ports with complete app credentials, whose platform answers
    /// `answers` in turn; and the count of exchanges it makes.
    fn api(answers: Vec<Result<Grant, OAuthError>>) -> (Api, Arc<AtomicUsize>) {
        let config = Config::from_lookup(|k| match k {
            "CONTROL_TABLE" => Some("c".into()),
            "EXTRACTOR_FUNCTION_ARN" => Some("arn:aws:lambda:us-east-1:1:function:x".into()),
            "APP_CREDENTIALS_SECRET" => Some("app".into()),
            "OAUTH_REDIRECT_URIS" => Some(
                "https://app.example.com/cb,https://a.example/cb,https://a.example/cb?x=1".into(),
            ),
            _ => None,
        })
        .unwrap();
        let apps: AppCredentials = serde_json::from_value(json!({
            "google": {"client_id": "gid", "client_secret": "gsecret"},
            "facebook": {"app_id": "fid", "app_secret": "fsecret"}
        }))
        .unwrap();
        let oauth = MemoryOAuth::default();
        oauth.answers.lock().unwrap().extend(answers);
        let exchanges = Arc::clone(&oauth.exchanges);
        let api = Api {
            secrets: Box::new(MemorySecrets {
                app: Some(apps),
                ..MemorySecrets::default()
            }),
            oauth: Box::new(oauth),
            ..memory_api(config)
        };
        (api, exchanges)
    }

    fn body(value: Value) -> ConnectWithCode {
        serde_json::from_value(value).unwrap()
    }

    fn google_ads_body() -> Value {
        json!({"code": "4/0A-code", "redirect_uri": "https://app.example.com/cb", "state": "st-1", "account_id": "123-456-7890"})
    }

    /// Starts the sign-in `body` finishes (its redirect URI and state), as authorize-url does.
    async fn start(api: &Api, platform: Platform, body: &Value) {
        api.authorize_url(
            &tenant(),
            platform,
            body["redirect_uri"].as_str(),
            body["state"].as_str(),
        )
        .await
        .unwrap();
    }

    fn tenant() -> TenantId {
        "t".parse().unwrap()
    }

    #[tokio::test]
    async fn a_code_is_never_spent_on_a_request_that_is_refused_anyway() {
        let (api, exchanges) = api(vec![]);
        let with = |k: &str, v: Value| {
            let mut b = google_ads_body();
            b[k] = v;
            b
        };
        for (bad, field) in [
            (with("account_id", json!("123")), "account_id"),
            (with("login_customer_id", json!("12")), "login_customer_id"),
            (with("name", json!("n".repeat(129))), "name"),
            (with("code", json!("")), "code"),
            (
                with("redirect_uri", json!("http://app.example.com/cb")),
                "redirect_uri",
            ),
        ] {
            let err = api
                .connect_with_code(&tenant(), Platform::GoogleAds, body(bad))
                .await
                .unwrap_err();
            assert_eq!(err.field.as_deref(), Some(field));
        }
        let err = api
            .connect_with_code(
                &tenant(),
                Platform::Facebook,
                body(json!({"code": "c", "redirect_uri": "https://a.example/cb", "account_id": "act_1", "login_customer_id": "1234567890"})),
            )
            .await
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("login_customer_id"));
        assert_eq!(exchanges.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn missing_app_credentials_are_reported_before_the_code_is_spent() {
        let (mut api, exchanges) = api(vec![]);
        api.secrets = Box::new(MemorySecrets {
            app: Some(serde_json::from_value(json!({"google": {"client_id": "gid"}})).unwrap()),
            ..MemorySecrets::default()
        });
        let err = api
            .connect_with_code(&tenant(), Platform::Youtube, body(json!({"code": "c", "redirect_uri": "https://a.example/cb", "state": "s", "account_id": "UC_x5XG1OV2P6uZZ5FSM9Ttw"})))
            .await
            .unwrap_err();
        assert_eq!(
            (err.status, err.code.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "oauth_not_configured")
        );
        assert!(
            err.message.contains("google.client_secret"),
            "{}",
            err.message
        );
        let err = api
            .authorize_url(
                &tenant(),
                Platform::Facebook,
                Some("https://a.example/cb"),
                Some("s"),
            )
            .await
            .unwrap_err();
        assert!(err.message.contains("`facebook` app"), "{}", err.message);
        api.config.app_credentials_secret = None;
        let err = api
            .authorize_url(
                &tenant(),
                Platform::GoogleAds,
                Some("https://a.example/cb"),
                Some("s"),
            )
            .await
            .unwrap_err();
        assert!(err.message.contains("APP_CREDENTIALS_SECRET is not set"));
        assert_eq!(exchanges.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn a_grant_without_refresh_token_or_required_scope_creates_nothing() {
        let (api, _) = api(vec![
            Ok(Grant {
                token: None,
                granted: Some(vec![ADWORDS.into()]),
            }),
            Ok(Grant {
                token: Some("1//r".into()),
                granted: Some(vec![YT_ANALYTICS.into()]),
            }),
        ]);
        start(&api, Platform::GoogleAds, &google_ads_body()).await;
        let err = api
            .connect_with_code(&tenant(), Platform::GoogleAds, body(google_ads_body()))
            .await
            .unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.field.as_deref()),
            ("consent_required", Some("code"))
        );
        start(&api, Platform::GoogleAds, &google_ads_body()).await;
        let err = api
            .connect_with_code(&tenant(), Platform::GoogleAds, body(google_ads_body()))
            .await
            .unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.field.as_deref()),
            ("insufficient_scope", Some("code"))
        );
        assert!(err.message.contains(ADWORDS));
        let page = crate::ports::PageRequest {
            limit: 10,
            after: None,
        };
        assert!(
            api.store
                .connections(&tenant(), &page)
                .await
                .unwrap()
                .items
                .is_empty()
        );
    }

    #[tokio::test]
    async fn an_exchanged_code_creates_the_connection_like_post_connections() {
        let (api, exchanges) = api(vec![]);
        let mut b = google_ads_body();
        b["login_customer_id"] = json!("999-888-7777");
        b["name"] = json!("  Acme  ");
        start(&api, Platform::GoogleAds, &b).await;
        let view = api
            .connect_with_code(&tenant(), Platform::GoogleAds, body(b))
            .await
            .unwrap();
        assert_eq!(
            (
                view.account_id.as_str(),
                view.login_customer_id.as_deref(),
                view.name.as_deref()
            ),
            ("1234567890", Some("9998887777"), Some("Acme"))
        );
        assert_eq!(exchanges.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn consent_urls_carry_the_app_and_the_request() {
        let (api, _) = api(vec![]);
        let view = api
            .authorize_url(
                &tenant(),
                Platform::Facebook,
                Some("https://a.example/cb?x=1"),
                Some("s t"),
            )
            .await
            .unwrap();
        assert_eq!(
            view.url,
            "https://www.facebook.com/v26.0/dialog/oauth?client_id=fid&redirect_uri=https%3A%2F%2Fa.example%2Fcb%3Fx%3D1&state=s+t&scope=ads_read&response_type=code"
        );
        assert_eq!(view.scopes, [ADS_READ]);
    }

    #[tokio::test]
    async fn a_code_is_redeemed_only_with_a_state_this_tenant_started_once() {
        let (api, exchanges) = api(vec![]);
        let other: TenantId = "other".parse().unwrap();
        // Never started; started by another tenant; for another platform.
        let err = api
            .connect_with_code(&tenant(), Platform::GoogleAds, body(google_ads_body()))
            .await
            .unwrap_err();
        assert_eq!(
            (err.code.as_str(), err.field.as_deref()),
            ("invalid_state", Some("state"))
        );
        api.authorize_url(
            &other,
            Platform::GoogleAds,
            Some("https://app.example.com/cb"),
            Some("st-1"),
        )
        .await
        .unwrap();
        let err = api
            .connect_with_code(&tenant(), Platform::GoogleAds, body(google_ads_body()))
            .await
            .unwrap_err();
        assert_eq!(err.code.as_str(), "invalid_state");
        start(&api, Platform::Youtube, &google_ads_body()).await;
        let err = api
            .connect_with_code(&tenant(), Platform::GoogleAds, body(google_ads_body()))
            .await
            .unwrap_err();
        assert_eq!(err.code.as_str(), "invalid_state");
        assert_eq!(exchanges.load(Ordering::SeqCst), 0);
        // Started here: redeemed once, a replay is refused.
        start(&api, Platform::GoogleAds, &google_ads_body()).await;
        api.connect_with_code(&tenant(), Platform::GoogleAds, body(google_ads_body()))
            .await
            .unwrap();
        let err = api
            .connect_with_code(&tenant(), Platform::GoogleAds, body(google_ads_body()))
            .await
            .unwrap_err();
        assert_eq!(err.code.as_str(), "invalid_state");
        assert_eq!(exchanges.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn only_listed_redirect_uris_are_accepted() {
        let (mut api, _) = api(vec![]);
        let err = api
            .authorize_url(
                &tenant(),
                Platform::Facebook,
                Some("https://evil.example/cb"),
                Some("s"),
            )
            .await
            .unwrap_err();
        assert_eq!(err.field.as_deref(), Some("redirect_uri"));
        assert!(err.message.contains("RedirectUris"), "{}", err.message);
        api.config.redirect_uris.clear();
        let err = api
            .authorize_url(
                &tenant(),
                Platform::Facebook,
                Some("https://a.example/cb"),
                Some("s"),
            )
            .await
            .unwrap_err();
        assert!(
            err.message.contains("lists no OAuth redirect URIs"),
            "{}",
            err.message
        );
    }

    #[test]
    fn the_pkce_challenge_is_rfc_7636s() {
        // RFC 7636 Appendix B.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
        let v = pkce_verifier();
        assert!(
            v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()),
            "{v}"
        );
        assert_ne!(v, pkce_verifier());
    }

    #[test]
    fn redirect_uris_must_be_https_without_fragment_or_user_info() {
        let ok = RedirectUri::parse("https://app.example.com/oauth/callback?x=1", false).unwrap();
        assert_eq!(ok.as_str(), "https://app.example.com/oauth/callback?x=1");
        for bad in [
            "",
            "app.example.com/callback",
            "http://app.example.com/callback",
            "https:app.example.com",
            "ftp://app.example.com",
            "https://app.example.com/cb#done",
            "https://app.example.com/cb#",
            "https://user:pw@app.example.com/cb",
            "https://app.example.com/a b",
            "javascript:alert(1)",
        ] {
            let err = RedirectUri::parse(bad, false).unwrap_err();
            assert_eq!(err.field, "redirect_uri", "{bad}");
        }
        let long = format!("https://app.example.com/{}", "a".repeat(2048));
        assert!(RedirectUri::parse(&long, false).is_err());
    }

    #[test]
    fn local_mode_also_admits_plain_http_to_loopback_only() {
        for uri in [
            "http://localhost:3000/cb",
            "http://127.0.0.1:8080/cb",
            "http://[::1]/cb",
        ] {
            assert!(RedirectUri::parse(uri, true).is_ok(), "{uri}");
            assert!(RedirectUri::parse(uri, false).is_err(), "{uri}");
        }
        assert!(RedirectUri::parse("http://app.example.com/cb", true).is_err());
        assert!(RedirectUri::parse("http://localhost.evil.example/cb", true).is_err());
    }

    #[test]
    fn state_is_required_and_bounded() {
        assert!(state(None).is_err());
        assert!(state(Some("")).is_err());
        assert!(state(Some(&"s".repeat(1025))).is_err());
        assert!(state(Some("a\nb")).is_err());
        assert_eq!(state(Some("k7 Q/+=")).unwrap(), "k7 Q/+=");
    }

    #[test]
    fn codes_are_taken_as_sent() {
        assert_eq!(
            authorization_code("4/0AeaYSHB-x_y").unwrap(),
            "4/0AeaYSHB-x_y"
        );
        for bad in ["", "4/0A b", "a\n", &"c".repeat(4097)] {
            assert_eq!(authorization_code(bad).unwrap_err().field, "code");
        }
    }

    #[test]
    fn an_unknown_platform_in_the_path_is_404() {
        let err = platform("tiktok").unwrap_err();
        assert_eq!(
            (err.status, err.code.as_str(), err.field.as_deref()),
            (StatusCode::NOT_FOUND, "not_found", Some("platform"))
        );
        assert_eq!(platform("youtube").unwrap(), Platform::Youtube);
    }

    #[test]
    fn each_platform_needs_the_scope_of_its_connector() {
        for p in Platform::ALL {
            assert!(requested_scopes(p).contains(&required_scope(p)), "{p}");
        }
    }
}
