//! OAuth sign-in: the real handler over moto, with wiremock speaking Google's token
//! endpoint and the Graph API's `oauth/access_token` in their documented wire formats.
//! A code is single-use: a refused request must not spend it, and must leave nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use adpipe_testkit::{FaultProxy, aws, sdk_config, unique_tenant};
use reqwest::Url;
use schedule_api::{Config, OAuthConfig, aws_api_with, handle};
use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::common::{Reply, RequestBuilder, Tenant, error_of, event, log_to_test_output};

const REDIRECT: &str = "https://app.example.com/oauth/callback";
const GOOGLE_CODE: &str = "4/0AeaYSHB-test-code";
const REFRESH: &str = "1//0g-oauth-refresh";
const ACCESS: &str = "ya29.oauth-access";
const FB_CODE: &str = "AQB-fb-test-code";
const SHORT: &str = "EAAB-short-lived";
const LONG: &str = "EAAB-long-lived";
const ADWORDS: &str = "https://www.googleapis.com/auth/adwords";
const YT_ANALYTICS: &str = "https://www.googleapis.com/auth/yt-analytics.readonly";
const YOUTUBE_READONLY: &str = "https://www.googleapis.com/auth/youtube.readonly";
const GRAPH: &str = "/v26.0";
const HTTP: &str = "http://app.example.com/oauth/callback";
const LOOPBACK: &str = "http://localhost:3000/oauth/callback";
const FRAGMENT: &str = "https://app.example.com/oauth/callback#done";
const USER_INFO: &str = "https://u:p@app.example.com/oauth/callback";

/// A tenant whose API reaches AWS through `endpoint` and the platforms at `platforms`,
/// reading the app credentials from `app_secret`.
async fn tenant_with(endpoint: &str, platforms: &MockServer, app_secret: Option<String>) -> Tenant {
    log_to_test_output();
    let id = unique_tenant();
    let rule_prefix = format!("{}-", &id[..14]);
    let config = Config {
        control_table: aws().control_table.clone(),
        extractor_function_arn: aws().extractor_function_arn.clone(),
        rule_prefix: rule_prefix.clone(),
        secret_prefix: "adpipe/".into(),
        tenant_claim: "tenant_id".into(),
        app_credentials_secret: app_secret,
        limits: schedule_api::Limits::default(),
        redirect_uris: vec![REDIRECT.into(), LOOPBACK.into()],
    };
    let oauth = OAuthConfig {
        facebook_graph_url: format!("{}{GRAPH}", platforms.uri()),
        google_oauth_token_url: format!("{}/token", platforms.uri()),
        loopback_redirects: false,
    };
    Tenant {
        id,
        api: aws_api_with(config, oauth, &sdk_config(endpoint).await),
        rule_prefix,
    }
}

async fn tenant(platforms: &MockServer) -> Tenant {
    tenant_with(
        &aws().endpoint,
        platforms,
        Some(aws().app_credentials_secret.clone()),
    )
    .await
}

/// The app credentials moto holds for the tests, as JSON.
async fn app_credentials() -> Value {
    let secret = aws()
        .secretsmanager()
        .await
        .get_secret_value()
        .secret_id(&aws().app_credentials_secret)
        .send()
        .await
        .expect("GetSecretValue");
    serde_json::from_str(secret.secret_string().expect("a string")).expect("JSON")
}

/// A secret of app credentials `value`, under a name no other test uses.
async fn app_secret(value: Value) -> String {
    aws()
        .secretsmanager()
        .await
        .create_secret()
        .name(format!("adpipe-oauth-{}", unique_tenant()))
        .secret_string(value.to_string())
        .send()
        .await
        .expect("CreateSecret")
        .arn
        .expect("an ARN")
}

/// The connection secret of `id`, as moto holds it.
async fn stored_secret(t: &Tenant, id: &str) -> Value {
    let secret = aws()
        .secretsmanager()
        .await
        .get_secret_value()
        .secret_id(format!("adpipe/{}/{id}", t.id))
        .send()
        .await
        .expect("the connection's secret");
    serde_json::from_str(secret.secret_string().expect("a string")).expect("JSON")
}

/// Asserts no code, token or app secret of these tests is in `text`.
async fn assert_no_secret(text: &str) {
    let apps = app_credentials().await;
    let app_secrets = [
        apps["google"]["client_secret"]
            .as_str()
            .expect("google secret"),
        apps["facebook"]["app_secret"]
            .as_str()
            .expect("facebook secret"),
    ];
    for secret in [GOOGLE_CODE, REFRESH, ACCESS, FB_CODE, SHORT, LONG]
        .iter()
        .chain(&app_secrets)
    {
        assert!(!text.contains(secret), "`{secret}` leaked into {text}");
    }
}

fn authorize(t: &Tenant, platform: &str, pairs: Query) -> RequestBuilder {
    // Encoded as a browser would: RequestBuilder::query puts values in the raw query as is.
    let encoded: Vec<(String, String)> = pairs
        .iter()
        .map(|(k, v)| {
            let url = Url::parse_with_params("http://x/", [(k, v)]).expect("a URL");
            let query = url.query().unwrap_or_default().to_owned();
            let value = query.split_once('=').map(|(_, v)| v).unwrap_or_default();
            (k.to_string(), value.to_owned())
        })
        .collect();
    let pairs: Vec<(&str, &str)> = encoded
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    t.request(
        "GET",
        &format!("/v1/connections/oauth/{platform}/authorize-url"),
    )
    .query(&pairs)
}

/// The token call; a body without `state` is first started as a sign-in with a fresh one
/// (authorize-url with the body's redirect URI), as a front end does.
async fn token(t: &Tenant, platform: &str, mut body: Value) -> Reply {
    if body.get("state").is_none() {
        static STARTED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
        let n = STARTED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let state = format!("st-{n}");
        if let Some(uri) = body["redirect_uri"].as_str() {
            let pairs = [("redirect_uri", uri), ("state", state.as_str())];
            t.send(authorize(t, platform, &pairs)).await;
        }
        body["state"] = json!(state);
    }
    t.call(
        "POST",
        &format!("/v1/connections/oauth/{platform}/token"),
        Some(body),
    )
    .await
}

fn google_body(account_id: &str) -> Value {
    json!({"code": GOOGLE_CODE, "redirect_uri": REDIRECT, "account_id": account_id})
}

fn facebook_body() -> Value {
    json!({"code": FB_CODE, "redirect_uri": REDIRECT, "account_id": "act_1234567890", "name": "Main"})
}

/// Google's token endpoint answering a code exchange with `status` and `body`.
async fn google_answers(server: &MockServer, status: u16, body: Value) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(status).set_body_json(body))
        .mount(server)
        .await;
}

fn google_tokens(scope: &str) -> Value {
    json!({"access_token": ACCESS, "expires_in": 3599, "refresh_token": REFRESH, "scope": scope, "token_type": "Bearer"})
}

/// The Graph API exchanging `FB_CODE` for `SHORT`, `SHORT` for `LONG`, and listing
/// `permissions` as granted.
async fn graph_answers(server: &MockServer, permissions: &[&str]) {
    Mock::given(method("GET"))
        .and(path(format!("{GRAPH}/oauth/access_token")))
        .and(query_param("code", FB_CODE))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": SHORT, "token_type": "bearer", "expires_in": 5183944}),
        ))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{GRAPH}/oauth/access_token")))
        .and(query_param("grant_type", "fb_exchange_token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"access_token": LONG, "token_type": "bearer", "expires_in": 5183944}),
        ))
        .mount(server)
        .await;
    let data: Vec<Value> = permissions
        .iter()
        .map(|p| json!({"permission": p, "status": "granted"}))
        .chain([json!({"permission": "email", "status": "declined"})])
        .collect();
    Mock::given(method("GET"))
        .and(path(format!("{GRAPH}/me/permissions")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"data": data})))
        .mount(server)
        .await;
}

/// The query (GET) or form body (POST) parameters of each request the platforms received.
async fn received(server: &MockServer) -> Vec<(String, Vec<(String, String)>)> {
    let requests = server.received_requests().await.expect("recording is on");
    requests
        .iter()
        .map(|r| {
            let form = String::from_utf8_lossy(&r.body).into_owned();
            let query = r.url.query().map(str::to_owned).unwrap_or(form);
            let url = Url::parse(&format!("http://x/?{query}")).expect("a query");
            let pairs = url
                .query_pairs()
                .map(|(k, v)| (k.into(), v.into()))
                .collect();
            (r.url.path().to_owned(), pairs)
        })
        .collect()
}

fn param<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn query_of(url: &str) -> (String, Vec<(String, String)>) {
    let url = Url::parse(url).expect("a URL");
    let base = format!(
        "{}://{}{}",
        url.scheme(),
        url.host_str().unwrap_or_default(),
        url.path()
    );
    (
        base,
        url.query_pairs()
            .map(|(k, v)| (k.into_owned(), v.into_owned()))
            .collect(),
    )
}

/// Sends a sample event of `events/api/` as this tenant.
async fn send_event(t: &Tenant, name: &str) -> Reply {
    let mut event = event(name);
    event["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] = json!(t.id);
    let req = lambda_http::request::from_str(&event.to_string()).expect("an API Gateway event");
    let response = handle(&t.api, req).await;
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(response.body().as_ref()).expect("JSON"),
    }
}

#[tokio::test]
async fn the_google_consent_url_asks_for_offline_access_to_ads_and_youtube_analytics() {
    let platforms = MockServer::start().await;
    let t = tenant(&platforms).await;
    let client_id = app_credentials().await["google"]["client_id"].clone();
    for platform in ["google_ads", "youtube"] {
        let reply = t
            .send(authorize(
                &t,
                platform,
                &[("redirect_uri", REDIRECT), ("state", "s t/+=&x")],
            ))
            .await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let (base, pairs) = query_of(reply.body["url"].as_str().expect("a url"));
        assert_eq!(base, "https://accounts.google.com/o/oauth2/v2/auth");
        let expected = [
            ("client_id", client_id.as_str().unwrap()),
            ("redirect_uri", REDIRECT),
            ("response_type", "code"),
            (
                "scope",
                &format!("{ADWORDS} {YT_ANALYTICS} {YOUTUBE_READONLY}"),
            ),
            ("access_type", "offline"),
            ("prompt", "consent"),
            ("include_granted_scopes", "true"),
            ("state", "s t/+=&x"),
        ];
        let expected: Vec<(String, String)> = expected
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // PKCE (RFC 7636): a fresh challenge each time, BASE64URL of a SHA-256.
        let (pairs, pkce): (Vec<_>, Vec<_>) = pairs
            .into_iter()
            .partition(|(k, _)| !k.starts_with("code_challenge"));
        assert_eq!(pairs, expected, "{platform}");
        assert_eq!(pkce[1], ("code_challenge_method".into(), "S256".into()));
        assert_eq!(pkce[0].1.len(), 43, "{pkce:?}");
        assert_eq!(
            reply.body["scopes"],
            json!([ADWORDS, YT_ANALYTICS, YOUTUBE_READONLY])
        );
        assert_eq!(
            reply.body.as_object().unwrap().len(),
            2,
            "only url and scopes"
        );
    }
    assert_eq!(t.holdings().await, Default::default(), "nothing is created");
}

#[tokio::test]
async fn the_facebook_consent_url_is_the_login_dialog_of_the_graph_version() {
    let platforms = MockServer::start().await;
    let t = tenant(&platforms).await;
    let app_id = app_credentials().await["facebook"]["app_id"].clone();
    let reply = t
        .send(authorize(
            &t,
            "facebook",
            &[("redirect_uri", REDIRECT), ("state", "abc")],
        ))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (base, pairs) = query_of(reply.body["url"].as_str().unwrap());
    assert_eq!(base, "https://www.facebook.com/v26.0/dialog/oauth");
    assert_eq!(param(&pairs, "client_id"), app_id.as_str());
    assert_eq!(param(&pairs, "redirect_uri"), Some(REDIRECT));
    assert_eq!(param(&pairs, "state"), Some("abc"));
    assert_eq!(param(&pairs, "scope"), Some("ads_read"));
    assert_eq!(param(&pairs, "response_type"), Some("code"));
    assert_eq!(pairs.len(), 5);
    assert_eq!(reply.body["scopes"], json!(["ads_read"]));
}

#[tokio::test]
async fn local_mode_admits_a_loopback_http_redirect_uri() {
    let platforms = MockServer::start().await;
    google_answers(&platforms, 200, google_tokens(ADWORDS)).await;
    let mut t = tenant(&platforms).await;
    t.api.oauth_config.loopback_redirects = true; // as adpipe-local-api sets it
    let pairs = [("redirect_uri", LOOPBACK), ("state", "s")];
    let reply = t.send(authorize(&t, "google_ads", &pairs)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let mut body = google_body("1234567890");
    body["redirect_uri"] = json!(LOOPBACK);
    assert_eq!(token(&t, "google_ads", body).await.status, 201);
    let (_, form) = &received(&platforms).await[0];
    assert_eq!(param(form, "redirect_uri"), Some(LOOPBACK));
}

#[tokio::test]
async fn the_sample_authorize_url_event_answers_a_google_consent_url() {
    let platforms = MockServer::start().await;
    let t = tenant(&platforms).await;
    let reply = send_event(&t, "api/oauth-authorize-url.json").await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (_, pairs) = query_of(reply.body["url"].as_str().unwrap());
    assert_eq!(
        param(&pairs, "redirect_uri"),
        Some("https://app.example.com/oauth/callback")
    );
    assert_eq!(param(&pairs, "state"), Some("3q2-7wEAAAk"));
}

#[tokio::test]
async fn a_google_code_becomes_a_connection_holding_only_the_refresh_token() {
    let platforms = MockServer::start().await;
    google_answers(
        &platforms,
        200,
        google_tokens(&format!("{ADWORDS} {YT_ANALYTICS}")),
    )
    .await;
    let t = tenant(&platforms).await;
    let mut body = google_body("123-456-7890");
    body["login_customer_id"] = json!("999-888-7777");
    body["name"] = json!("Acme Search");
    let reply = token(&t, "google_ads", body).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let mut view = reply.body.clone();
    let id = view["id"].take().as_str().unwrap().to_owned();
    assert!(id.starts_with("con_") && view["created_at"].take().is_string());
    assert_eq!(
        view,
        json!({"id": null, "platform": "google_ads", "account_id": "1234567890", "name": "Acme Search",
               "login_customer_id": "9998887777", "status": "active", "created_at": null}),
        "POST /v1/connections' 201, and nothing else"
    );
    assert_no_secret(&reply.body.to_string()).await;

    assert_eq!(
        stored_secret(&t, &id).await,
        json!({"refresh_token": REFRESH})
    );
    let item = t
        .control_item(&format!("CONNECTION#{id}"))
        .await
        .expect("the connection record");
    assert_no_secret(&format!("{item:?}")).await;
    assert_eq!(
        item["secret_id"].as_s().unwrap(),
        &format!("adpipe/{}/{id}", t.id)
    );

    let apps = app_credentials().await;
    let calls = received(&platforms).await;
    assert_eq!(calls.len(), 1, "one exchange, no retry");
    let (path, form) = &calls[0];
    assert_eq!(path, "/token");
    for (name, value) in [
        ("grant_type", "authorization_code"),
        ("code", GOOGLE_CODE),
        ("client_id", apps["google"]["client_id"].as_str().unwrap()),
        (
            "client_secret",
            apps["google"]["client_secret"].as_str().unwrap(),
        ),
        ("redirect_uri", REDIRECT),
    ] {
        assert_eq!(param(form, name), Some(value), "{name}");
    }
}

#[tokio::test]
async fn the_sample_token_event_creates_a_google_ads_connection() {
    let platforms = MockServer::start().await;
    google_answers(&platforms, 200, google_tokens(ADWORDS)).await;
    let t = tenant(&platforms).await;
    // The sample token call finishes the sign-in the sample authorize-url call starts.
    let started = send_event(&t, "api/oauth-authorize-url.json").await;
    assert_eq!(started.status, 200, "{}", started.body);
    let reply = send_event(&t, "api/oauth-token.json").await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["name"], "Acme Search");
    let (_, form) = &received(&platforms).await[0];
    assert_eq!(param(form, "code"), Some("4/0AeaYSHB-example-code"));
}

#[tokio::test]
async fn a_youtube_code_needs_the_youtube_analytics_scope_and_a_google_ads_one_adwords() {
    let platforms = MockServer::start().await;
    google_answers(&platforms, 200, google_tokens(YT_ANALYTICS)).await;
    let t = tenant(&platforms).await;
    let reply = token(&t, "youtube", google_body("UC_x5XG1OV2P6uZZ5FSM9Ttw")).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let before = t.holdings().await;

    let reply = token(&t, "google_ads", google_body("1234567890")).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        error_of(&reply),
        ("insufficient_scope".into(), Some("code".into()))
    );
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains(ADWORDS)
    );
    assert_no_secret(&reply.body.to_string()).await;
    assert_eq!(t.holdings().await, before, "nothing more is created");
}

#[tokio::test]
async fn a_facebook_code_is_exchanged_for_a_long_lived_token() {
    let platforms = MockServer::start().await;
    graph_answers(&platforms, &["ads_read", "public_profile"]).await;
    let t = tenant(&platforms).await;
    let reply = token(&t, "facebook", facebook_body()).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["account_id"], "act_1234567890");
    assert_eq!(reply.body["name"], "Main");
    assert_no_secret(&reply.body.to_string()).await;
    let id = reply.body["id"].as_str().unwrap();
    assert_eq!(stored_secret(&t, id).await, json!({"access_token": LONG}));

    let apps = app_credentials().await;
    let (app_id, app_secret) = (
        apps["facebook"]["app_id"].as_str().unwrap(),
        apps["facebook"]["app_secret"].as_str().unwrap(),
    );
    let calls = received(&platforms).await;
    let paths: Vec<&str> = calls.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/v26.0/oauth/access_token",
            "/v26.0/oauth/access_token",
            "/v26.0/me/permissions"
        ]
    );
    let code = &calls[0].1;
    assert_eq!(param(code, "client_id"), Some(app_id));
    assert_eq!(param(code, "client_secret"), Some(app_secret));
    assert_eq!(param(code, "redirect_uri"), Some(REDIRECT));
    assert_eq!(param(code, "code"), Some(FB_CODE));
    let long = &calls[1].1;
    assert_eq!(param(long, "grant_type"), Some("fb_exchange_token"));
    assert_eq!(param(long, "client_id"), Some(app_id));
    assert_eq!(param(long, "client_secret"), Some(app_secret));
    assert_eq!(param(long, "fb_exchange_token"), Some(SHORT));
    let permissions = &calls[2].1;
    assert_eq!(param(permissions, "access_token"), Some(LONG));
    assert_eq!(
        param(permissions, "appsecret_proof").map(str::len),
        Some(64),
        "a hex HMAC-SHA256"
    );
}

#[tokio::test]
async fn a_facebook_sign_in_that_declined_ads_read_creates_nothing() {
    let platforms = MockServer::start().await;
    graph_answers(&platforms, &["public_profile"]).await;
    let t = tenant(&platforms).await;
    let reply = token(&t, "facebook", facebook_body()).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        error_of(&reply),
        ("insufficient_scope".into(), Some("code".into()))
    );
    assert_eq!(t.holdings().await, Default::default());
}

#[tokio::test]
async fn a_refused_google_code_is_invalid_code_and_creates_nothing() {
    let platforms = MockServer::start().await;
    google_answers(
        &platforms,
        400,
        json!({"error": "invalid_grant", "error_description": "Bad Request"}),
    )
    .await;
    let t = tenant(&platforms).await;
    let reply = token(&t, "google_ads", google_body("1234567890")).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        error_of(&reply),
        ("invalid_code".into(), Some("code".into()))
    );
    assert_no_secret(&reply.body.to_string()).await;
    assert_eq!(t.holdings().await, Default::default());
}

#[tokio::test]
async fn an_expired_or_used_facebook_code_is_invalid_code_and_creates_nothing() {
    for (subcode, message) in [
        (36007, "This authorization code has expired."),
        (36009, "This authorization code has been used."),
    ] {
        let platforms = MockServer::start().await;
        Mock::given(method("GET"))
            .and(path(format!("{GRAPH}/oauth/access_token")))
            .respond_with(ResponseTemplate::new(400).set_body_json(json!({"error": {"message": message, "type": "OAuthException", "code": 100, "error_subcode": subcode, "fbtrace_id": "AbC"}})))
            .expect(1)
            .mount(&platforms)
            .await;
        let t = tenant(&platforms).await;
        let reply = token(&t, "facebook", facebook_body()).await;
        assert_eq!(reply.status, 400, "{}", reply.body);
        assert_eq!(
            error_of(&reply),
            ("invalid_code".into(), Some("code".into()))
        );
        assert_eq!(t.holdings().await, Default::default());
    }
}

#[tokio::test]
async fn a_redirect_uri_the_platform_refuses_is_redirect_uri_mismatch() {
    let platforms = MockServer::start().await;
    google_answers(
        &platforms,
        400,
        json!({"error": "redirect_uri_mismatch", "error_description": "Bad Request"}),
    )
    .await;
    let t = tenant(&platforms).await;
    let reply = token(&t, "youtube", google_body("UC_x5XG1OV2P6uZZ5FSM9Ttw")).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        error_of(&reply),
        ("redirect_uri_mismatch".into(), Some("redirect_uri".into()))
    );
    assert_eq!(t.holdings().await, Default::default());
}

#[tokio::test]
async fn google_issuing_no_refresh_token_is_consent_required() {
    let platforms = MockServer::start().await;
    google_answers(
        &platforms,
        200,
        json!({"access_token": ACCESS, "expires_in": 3599, "scope": ADWORDS, "token_type": "Bearer"}),
    )
    .await;
    let t = tenant(&platforms).await;
    let reply = token(&t, "google_ads", google_body("1234567890")).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(
        error_of(&reply),
        ("consent_required".into(), Some("code".into()))
    );
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("prompt=consent")
    );
    assert_no_secret(&reply.body.to_string()).await;
    assert_eq!(t.holdings().await, Default::default());
}

#[tokio::test]
async fn refused_app_credentials_are_oauth_not_configured() {
    let platforms = MockServer::start().await;
    google_answers(
        &platforms,
        401,
        json!({"error": "invalid_client", "error_description": "Unauthorized"}),
    )
    .await;
    let t = tenant(&platforms).await;
    let reply = token(&t, "google_ads", google_body("1234567890")).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(error_of(&reply).0, "oauth_not_configured");
    assert_no_secret(&reply.body.to_string()).await;
    assert_eq!(t.holdings().await, Default::default());
}

#[tokio::test]
async fn an_upstream_500_answers_503_naming_it_and_creates_nothing() {
    let platforms = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(500).set_body_string("backend error"))
        .expect(1)
        .mount(&platforms)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{GRAPH}/oauth/access_token")))
        .respond_with(ResponseTemplate::new(503).set_body_json(
            json!({"error": {"message": "Service temporarily unavailable", "type": "OAuthException", "code": 2, "fbtrace_id": "x"}}),
        ))
        .expect(1)
        .mount(&platforms)
        .await;
    let t = tenant(&platforms).await;
    for (platform, body, dependency) in [
        (
            "google_ads",
            google_body("1234567890"),
            "Google OAuth token endpoint",
        ),
        ("facebook", facebook_body(), "Facebook Graph API"),
    ] {
        let reply = token(&t, platform, body).await;
        assert_eq!(reply.status, 503, "{}", reply.body);
        assert_eq!(error_of(&reply).0, "dependency_unavailable");
        let message = reply.body["error"]["message"].as_str().unwrap();
        assert!(message.contains(dependency), "{message}");
        assert_no_secret(message).await;
    }
    assert_eq!(t.holdings().await, Default::default());
}

#[tokio::test]
async fn a_token_endpoint_that_does_not_answer_in_time_is_503() {
    let platforms = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(google_tokens(ADWORDS))
                .set_delay(Duration::from_secs(8)),
        )
        .mount(&platforms)
        .await;
    let t = tenant(&platforms).await;
    let started = std::time::Instant::now();
    let reply = token(&t, "google_ads", google_body("1234567890")).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        started.elapsed() < Duration::from_secs(7),
        "gave up after {:?}",
        started.elapsed()
    );
    assert_eq!(t.holdings().await, Default::default());
}

#[tokio::test]
async fn secrets_manager_failing_after_the_exchange_leaves_nothing_half_made() {
    let platforms = MockServer::start().await;
    google_answers(&platforms, 200, google_tokens(ADWORDS)).await;
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let t = tenant_with(
        &proxy.endpoint(),
        &platforms,
        Some(aws().app_credentials_secret.clone()),
    )
    .await;
    proxy.fail("secretsmanager.CreateSecret");
    let reply = token(&t, "google_ads", google_body("1234567890")).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("Secrets Manager"), "{message}");
    assert!(message.contains("start the sign-in again"), "{message}");
    assert_no_secret(&reply.body.to_string()).await;
    assert_eq!(t.holdings().await, Default::default());

    proxy.heal("secretsmanager.CreateSecret");
    let mut body = google_body("1234567890");
    body["state"] = json!("before-the-fault");
    let pairs = [("redirect_uri", REDIRECT), ("state", "before-the-fault")];
    assert_eq!(
        t.send(authorize(&t, "google_ads", &pairs)).await.status,
        200
    );
    proxy.fail("DynamoDB_20120810.PutItem");
    let reply = token(&t, "google_ads", body).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(
        proxy.hits("secretsmanager.DeleteSecret"),
        1,
        "the secret is removed again"
    );
    assert_eq!(t.holdings().await, Default::default());
}

#[tokio::test]
async fn missing_app_credentials_are_oauth_not_configured_and_spend_no_code() {
    let platforms = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&platforms)
        .await;
    let only_google = app_secret(
        json!({"google": {"client_id": "id", "client_secret": "s", "developer_token": "d"}}),
    )
    .await;
    let placeholder = app_secret(json!({"google": {"client_id": "", "client_secret": "", "developer_token": ""}, "facebook": {"app_id": "", "app_secret": ""}})).await;
    let missing = format!("adpipe-oauth-missing-{}", unique_tenant());
    for (secret, platform, names) in [
        (None, "google_ads", "APP_CREDENTIALS_SECRET is not set"),
        (Some(only_google), "facebook", "`facebook` app"),
        (Some(placeholder), "youtube", "`google.client_id`"),
        (Some(missing), "google_ads", "does not exist"),
    ] {
        let t = tenant_with(&aws().endpoint, &platforms, secret).await;
        let body = match platform {
            "facebook" => facebook_body(),
            "youtube" => google_body("UC_x5XG1OV2P6uZZ5FSM9Ttw"),
            _ => google_body("1234567890"),
        };
        for reply in [
            token(&t, platform, body).await,
            t.send(authorize(
                &t,
                platform,
                &[("redirect_uri", REDIRECT), ("state", "s")],
            ))
            .await,
        ] {
            assert_eq!(reply.status, 503, "{}", reply.body);
            assert_eq!(error_of(&reply).0, "oauth_not_configured");
            let message = reply.body["error"]["message"].as_str().unwrap();
            assert!(message.contains(names), "{message}");
        }
        assert_eq!(t.holdings().await, Default::default());
    }
}

/// Query parameters of an authorize-url request.
type Query<'a> = &'a [(&'a str, &'a str)];

/// Asserts `reply` is the error `(status, code, field)`, without secrets.
async fn assert_refused(name: &str, reply: &Reply, expected: (u16, &str, Option<&str>)) {
    let (code, field) = error_of(reply);
    assert_eq!(
        (reply.status, code.as_str(), field.as_deref()),
        expected,
        "{name}: {}",
        reply.body
    );
    assert_no_secret(&reply.body.to_string()).await;
}

#[tokio::test]
async fn every_bad_input_is_refused_before_the_code_is_spent() {
    let platforms = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(500))
        .expect(0)
        .mount(&platforms)
        .await;
    let t = tenant(&platforms).await;
    t.create_connection("facebook").await;
    let before = t.holdings().await;
    let with = |k: &str, v: Value| {
        let mut body = google_body("1234567890");
        body[k] = v;
        body
    };
    let without = |k: &str| {
        let mut body = google_body("1234567890");
        body.as_object_mut().unwrap().remove(k);
        body
    };
    let mut youtube_manager = google_body("UC_x5XG1OV2P6uZZ5FSM9Ttw");
    youtube_manager["login_customer_id"] = json!("1234567890");
    let (ads, yt, fb) = ("google_ads", "youtube", "facebook");
    let uri = "redirect_uri";

    // 400 invalid_request naming the field, on the token call.
    #[rustfmt::skip]
    let bodies = [
        ("missing code", ads, without("code"), "code"),
        ("empty code", ads, with("code", json!("")), "code"),
        ("code with a space", ads, with("code", json!("4/0A b")), "code"),
        ("code not a string", ads, with("code", json!(4)), "code"),
        ("code of 4097", ads, with("code", json!("c".repeat(4097))), "code"),
        ("missing redirect_uri", ads, without(uri), uri),
        ("http redirect_uri", ads, with(uri, json!(HTTP)), uri),
        ("loopback outside local mode", ads, with(uri, json!(LOOPBACK)), uri),
        ("redirect_uri with a fragment", ads, with(uri, json!(FRAGMENT)), uri),
        ("relative redirect_uri", ads, with(uri, json!("/cb")), uri),
        ("redirect_uri with user info", ads, with(uri, json!(USER_INFO)), uri),
        ("missing account_id", ads, without("account_id"), "account_id"),
        ("google id of 9 digits", ads, google_body("123-456-789"), "account_id"),
        ("facebook id without act_", fb, google_body("1234567890"), "account_id"),
        ("youtube id too short", yt, google_body("UC123"), "account_id"),
        ("login_customer_id on youtube", yt, youtube_manager, "login_customer_id"),
        ("bad login_customer_id", ads, with("login_customer_id", json!("12")), "login_customer_id"),
        ("name too long", ads, with("name", json!("n".repeat(129))), "name"),
        ("credentials too", ads, with("credentials", json!({})), "credentials"),
        ("platform in the body", ads, with("platform", json!(ads)), "platform"),
        ("no state", ads, with("state", json!(null)), "state"),
        ("empty state", ads, with("state", json!("")), "state"),
        ("unlisted redirect_uri", ads, with(uri, json!("https://evil.example.com/cb")), uri),
    ];
    for (name, platform, body, field) in bodies {
        let reply = token(&t, platform, body).await;
        assert_refused(name, &reply, (400, "invalid_request", Some(field))).await;
    }

    // 400 invalid_request naming the parameter, on authorize-url.
    let long = "s".repeat(1025);
    #[rustfmt::skip]
    let queries: [(&str, &str, Query, &str); 9] = [
        ("unlisted redirect_uri", ads, &[(uri, "https://app.example.com/other"), ("state", "s")], uri),
        ("missing state", ads, &[(uri, REDIRECT)], "state"),
        ("empty state", ads, &[(uri, REDIRECT), ("state", "")], "state"),
        ("state of 1025", yt, &[(uri, REDIRECT), ("state", &long)], "state"),
        ("state twice", ads, &[(uri, REDIRECT), ("state", "a"), ("state", "b")], "state"),
        ("missing redirect_uri", fb, &[("state", "s")], uri),
        ("http redirect_uri", fb, &[(uri, HTTP), ("state", "s")], uri),
        ("fragment", yt, &[(uri, FRAGMENT), ("state", "s")], uri),
        ("unknown parameter", yt, &[(uri, REDIRECT), ("state", "s"), ("scope", "x")], "scope"),
    ];
    for (name, platform, pairs, field) in queries {
        let reply = t.send(authorize(&t, platform, pairs)).await;
        assert_refused(name, &reply, (400, "invalid_request", Some(field))).await;
    }

    // The rest: path, method, body shape and size, tenant.
    let token_path = "/v1/connections/oauth/google_ads/token";
    let valid = google_body("1234567890");
    let post = |path: &str| t.request("POST", path);
    let huge = with("name", json!("n".repeat(70_000)));
    let others = [
        (
            "unknown platform, token",
            post("/v1/connections/oauth/tiktok/token").json(&valid),
            (404, "not_found", Some("platform")),
        ),
        (
            "unknown platform, authorize-url",
            authorize(&t, "tiktok", &[(uri, REDIRECT), ("state", "s")]),
            (404, "not_found", Some("platform")),
        ),
        (
            "wrong method",
            post("/v1/connections/oauth/facebook/authorize-url"),
            (405, "method_not_allowed", None),
        ),
        (
            "malformed JSON",
            post(token_path).raw_body("{\"code\": "),
            (400, "malformed_request", None),
        ),
        (
            "empty body",
            post(token_path),
            (400, "malformed_request", None),
        ),
        (
            "body over 64 KiB",
            post(token_path).json(&huge),
            (413, "payload_too_large", None),
        ),
        (
            "no tenant claim",
            post(token_path).without_tenant().json(&valid),
            (401, "unauthorized", None),
        ),
    ];
    for (name, request, expected) in others {
        assert_refused(name, &t.send(request).await, expected).await;
    }
    assert_eq!(t.holdings().await, before, "nothing new in moto");
}

/// A `tracing` writer into a shared buffer.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_code_token_or_app_secret_reaches_a_log_line() {
    let platforms = MockServer::start().await;
    graph_answers(&platforms, &["ads_read"]).await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_grant", "error_description": "Malformed auth code."}),
        ))
        .mount(&platforms)
        .await;
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_env_filter("info,schedule_api=trace")
        .json()
        .finish();
    // This test's thread only (a current-thread runtime): other tests keep their output.
    let _guard = tracing::subscriber::set_default(subscriber);
    let t = tenant(&platforms).await;
    assert_eq!(token(&t, "facebook", facebook_body()).await.status, 201);
    assert_eq!(
        token(&t, "google_ads", google_body("1234567890"))
            .await
            .status,
        400
    );
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).expect("UTF-8");
    assert!(log.contains("code exchange failed"), "{log}");
    assert!(log.contains("connection created"), "{log}");
    assert_no_secret(&log).await;
}

#[tokio::test]
async fn a_sign_in_is_finished_only_by_the_tenant_that_started_it_and_only_once() {
    let platforms = MockServer::start().await;
    google_answers(&platforms, 200, google_tokens(ADWORDS)).await;
    let a = tenant(&platforms).await;
    let b = tenant(&platforms).await;
    let pairs = [("redirect_uri", REDIRECT), ("state", "started-by-a")];
    assert_eq!(
        a.send(authorize(&a, "google_ads", &pairs)).await.status,
        200
    );
    let mut body = google_body("1234567890");
    body["state"] = json!("started-by-a");

    // Tenant B holds A's code and state: refused, and A's sign-in is intact.
    let stolen = token(&b, "google_ads", body.clone()).await;
    assert_eq!(stolen.status, 400, "{}", stolen.body);
    assert_eq!(
        error_of(&stolen),
        ("invalid_state".into(), Some("state".into()))
    );
    assert!(received(&platforms).await.is_empty(), "no code spent");
    // Another platform than the one started: refused.
    let other = token(&a, "youtube", {
        let mut b = body.clone();
        b["account_id"] = json!("UC_x5XG1OV2P6uZZ5FSM9Ttw");
        b
    })
    .await;
    assert_eq!(error_of(&other).0, "invalid_state");
    // A's own call succeeds once; a replay is refused.
    let pairs = [("redirect_uri", REDIRECT), ("state", "started-by-a")];
    assert_eq!(
        a.send(authorize(&a, "google_ads", &pairs)).await.status,
        200
    );
    let first = token(&a, "google_ads", body.clone()).await;
    assert_eq!(first.status, 201, "{}", first.body);
    let replay = token(&a, "google_ads", body).await;
    assert_eq!(replay.status, 400, "{}", replay.body);
    assert_eq!(error_of(&replay).0, "invalid_state");
    assert_eq!(received(&platforms).await.len(), 1, "one exchange in all");
    assert!(b.holdings().await.secrets.is_empty());
}

#[tokio::test]
async fn google_sign_ins_use_pkce_s256() {
    let platforms = MockServer::start().await;
    google_answers(&platforms, 200, google_tokens(ADWORDS)).await;
    let t = tenant(&platforms).await;
    let pairs = [("redirect_uri", REDIRECT), ("state", "pkce")];
    let reply = t.send(authorize(&t, "google_ads", &pairs)).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (_, query) = query_of(reply.body["url"].as_str().unwrap());
    assert_eq!(param(&query, "code_challenge_method"), Some("S256"));
    let challenge = param(&query, "code_challenge")
        .expect("a code_challenge")
        .to_owned();
    let mut body = google_body("1234567890");
    body["state"] = json!("pkce");
    assert_eq!(token(&t, "google_ads", body).await.status, 201);
    let (_, form) = &received(&platforms).await[0];
    let verifier = param(form, "code_verifier").expect("a code_verifier");
    assert!((43..=128).contains(&verifier.len()), "{verifier}");
    assert_eq!(schedule_api::signin::pkce_challenge(verifier), challenge);
    assert!(
        t.control_item("OAUTH_STATE#pkce").await.is_none(),
        "the state is stored hashed"
    );

    // Facebook's Login dialog takes no PKCE parameters here.
    let reply = t.send(authorize(&t, "facebook", &pairs)).await;
    let (_, query) = query_of(reply.body["url"].as_str().unwrap());
    assert_eq!(param(&query, "code_challenge"), None);
}

#[tokio::test]
async fn a_token_endpoint_redirect_is_not_followed() {
    let platforms = MockServer::start().await;
    let elsewhere = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(google_tokens(ADWORDS)))
        .expect(0)
        .mount(&elsewhere)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/token", elsewhere.uri())),
        )
        .mount(&platforms)
        .await;
    let t = tenant(&platforms).await;
    let reply = token(&t, "google_ads", google_body("1234567890")).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        elsewhere
            .received_requests()
            .await
            .unwrap_or_default()
            .is_empty()
    );
    assert!(t.holdings().await.secrets.is_empty());
}

#[tokio::test]
async fn a_malformed_app_secret_is_named_without_its_values_in_answers_and_logs() {
    const CANARY: &str = "CANARY-pasted-client-secret-5d02";
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_env_filter("trace")
        .json()
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let platforms = MockServer::start().await;
    // An operator pasted the client secret where the `google` object belongs.
    let secret =
        app_secret(json!({"google": CANARY, "facebook": {"app_id": "1", "app_secret": "s"}})).await;
    let t = tenant_with(&aws().endpoint, &platforms, Some(secret)).await;
    let pairs = [("redirect_uri", REDIRECT), ("state", "s")];
    let reply = t.send(authorize(&t, "google_ads", &pairs)).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(error_of(&reply).0, "oauth_not_configured");
    let message = reply.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("`google`"), "{message}");
    let reply = token(&t, "google_ads", google_body("1234567890")).await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let log = String::from_utf8(captured.0.lock().unwrap().clone()).expect("UTF-8");
    assert!(log.contains("OAuth sign-in is not configured"), "{log}");
    for text in [reply.body.to_string(), log] {
        assert!(!text.contains(CANARY), "the canary leaked: {text}");
    }
}
