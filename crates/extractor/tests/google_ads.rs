//! The Google Ads connector against wiremock fakes of Google's OAuth token endpoint and of
//! `googleAds:searchStream`, answering as Google documents: a JSON array of batches, int64s
//! as strings, zero metrics left out, failures as `google.rpc.Status` carrying a
//! `GoogleAdsFailure` (wrapped in the stream's array). Then against the demo fake of
//! `adpipe-testkit`, so that the fake stays what the connector reads.

mod common;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use adpipe_domain::{AdMetricRow, Level, Platform, Window};
use adpipe_testkit::fake_google_ads::{
    DEMO_CURRENCY, DEMO_CUSTOMER, DEMO_TIME_ZONE, FakeGoogleAds, REVOKED_REFRESH_TOKEN,
    ROWS_PER_BATCH,
};
use chrono::Utc;
use extractor::connectors::google_ads::{Backoff, GoogleAdsConnector, GoogleOAuth};
use extractor::connectors::http_client;
use extractor::ports::{AppCredentials, Connector, ConnectorError, Credentials, GoogleApp, Job};
use reqwest::Url;
use serde_json::{Value, json};
use wiremock::matchers::{header, method, path};

use common::{d, received, received_at, soon, window};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

// ---- fixtures ----------------------------------------------------------------------

const CUSTOMER: &str = "1234567890";
const MANAGER: &str = "9876543210";
const REFRESH_TOKEN: &str = "1//0refresh-token-secret";
const CLIENT_ID: &str = "123-abc.apps.googleusercontent.com";
const CLIENT_SECRET: &str = "GOCSPX-client-secret";
const DEVELOPER_TOKEN: &str = "devtoken-22-characters";
const STREAM: &str = "/v26/customers/1234567890/googleAds:searchStream";
const ADWORDS: &str = "https://www.googleapis.com/auth/adwords";

/// A job for customer 1234567890 at `level`, due in `deadline_in`.
fn job(level: Level, deadline_in: Duration) -> Job {
    let credentials = Credentials {
        token: REFRESH_TOKEN.into(),
        app: AppCredentials {
            google: Some(GoogleApp {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                developer_token: DEVELOPER_TOKEN.into(),
                login_customer_id: None,
            }),
            facebook: None,
        },
    };
    common::job(
        Platform::GoogleAds,
        CUSTOMER,
        level,
        credentials,
        deadline_in,
    )
}

fn oauth(token_url: &str) -> GoogleOAuth {
    GoogleOAuth::new(http_client().expect("an HTTP client"), token_url)
        .with_backoff(Backoff::fast())
}

fn connector_with(api: &str, oauth: GoogleOAuth) -> GoogleAdsConnector {
    GoogleAdsConnector::new(http_client().expect("an HTTP client"), api, Arc::new(oauth))
        .with_backoff(Backoff::fast())
}

/// The connector against `server`, which fakes both the token endpoint and the API.
fn connector(server: &MockServer) -> GoogleAdsConnector {
    connector_with(
        &format!("{}/v26", server.uri()),
        oauth(&format!("{}/token", server.uri())),
    )
}

/// Google's token endpoint: `ya29.access-0`, `ya29.access-1`, … valid `expires_in` seconds.
struct Tokens {
    issued: AtomicUsize,
    expires_in: u64,
}

impl Respond for Tokens {
    fn respond(&self, _: &Request) -> ResponseTemplate {
        let n = self.issued.fetch_add(1, Ordering::SeqCst);
        ResponseTemplate::new(200).set_body_json(json!({
            "access_token": format!("ya29.access-{n}"),
            "expires_in": self.expires_in,
            "scope": format!("{ADWORDS} https://www.googleapis.com/auth/yt-analytics.readonly"),
            "token_type": "Bearer"
        }))
    }
}

async fn mount_tokens(server: &MockServer, expires_in: u64, times: Option<u64>) {
    let mock = Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(Tokens {
            issued: AtomicUsize::new(0),
            expires_in,
        });
    match times {
        Some(n) => mock.expect(n),
        None => mock,
    }
    .mount(server)
    .await;
}

/// A campaign-level `GoogleAdsRow` as Google writes it.
fn campaign_row(id: &str, date: &str, metrics: Value) -> Value {
    json!({
        "customer": {"resourceName": format!("customers/{CUSTOMER}"), "currencyCode": "EUR", "timeZone": "Europe/Paris"},
        "campaign": {"resourceName": format!("customers/{CUSTOMER}/campaigns/{id}"), "name": format!("Campaign {id}"), "id": id},
        "metrics": metrics,
        "segments": {"date": date}
    })
}

fn full_metrics(cost_micros: &str) -> Value {
    json!({
        "impressions": "361324",
        "clicks": "1234",
        "costMicros": cost_micros,
        "conversions": 12.5,
        "conversionsValue": 1234.56,
        "videoTrueviewViews": "420",
        "interactions": "1300",
        "engagements": "66",
        "allConversions": 14.25,
        "allConversionsValue": 1500.5,
        "viewThroughConversions": "3",
        "videoQuartileP100Rate": 0.2512
    })
}

fn batch(rows: Vec<Value>) -> Value {
    json!({"results": rows, "fieldMask": "campaign.id,campaign.name,metrics.costMicros,segments.date", "requestId": "req-batch"})
}

/// A 200 answer streaming `elements` as Google does: a pretty-printed JSON array.
fn stream(elements: Vec<Value>) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_raw(
        serde_json::to_string_pretty(&elements).expect("JSON"),
        "application/json; charset=UTF-8",
    )
}

/// A `google.rpc.Status` with one `GoogleAdsError`.
fn status(http: u16, name: &str, (kind, code): (&str, &str), message: &str) -> Value {
    json!({"error": {
        "code": http,
        "message": "Request contains an invalid argument.",
        "status": name,
        "details": [{
            "@type": "type.googleapis.com/google.ads.googleads.v26.errors.GoogleAdsFailure",
            "errors": [{"errorCode": {kind: code}, "message": message}],
            "requestId": "Xq8Ff1Q2bEw3p4rIyzJ9Ag"
        }]
    }})
}

/// A failed searchStream: the status wrapped in the stream's array.
fn failure(http: u16, name: &str, code: (&str, &str), message: &str) -> ResponseTemplate {
    ResponseTemplate::new(http).set_body_json(json!([status(http, name, code, message)]))
}

fn throttled(retry_delay: &str) -> ResponseTemplate {
    let mut body = status(
        429,
        "RESOURCE_EXHAUSTED",
        ("quotaError", "RESOURCE_EXHAUSTED"),
        "Too many requests. Retry in 0.01 seconds.",
    );
    body["error"]["details"]
        .as_array_mut()
        .expect("details")
        .push(
            json!({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": retry_delay}),
        );
    ResponseTemplate::new(429).set_body_json(json!([body]))
}

fn query_of(req: &Request) -> String {
    let body: Value = serde_json::from_slice(&req.body).expect("a JSON body");
    body["query"].as_str().expect("a query").to_owned()
}

fn header_of(req: &Request, name: &str) -> Option<String> {
    req.headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

fn form(req: &Request) -> HashMap<String, String> {
    let body = String::from_utf8_lossy(&req.body);
    Url::parse(&format!("http://form/?{body}"))
        .expect("a form body")
        .query_pairs()
        .into_owned()
        .collect()
}

fn keys(rows: &[AdMetricRow]) -> Vec<&str> {
    rows.iter().map(|r| r.row_key.as_str()).collect()
}

async fn fetch(
    server: &MockServer,
    level: Level,
    days: Window,
) -> Result<Vec<AdMetricRow>, ConnectorError> {
    connector(server).fetch(&job(level, soon()), days).await
}

/// The error of one fetch against a searchStream answering `answer` every time.
async fn error_for(answer: ResponseTemplate) -> (ConnectorError, usize) {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, None).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(answer)
        .mount(&server)
        .await;
    let err = fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect_err("a failure");
    (err, received_at(&server, STREAM).await.len())
}

fn assert_no_secret(message: &str) {
    for secret in [
        REFRESH_TOKEN,
        CLIENT_SECRET,
        DEVELOPER_TOKEN,
        "ya29.access-",
    ] {
        assert!(!message.contains(secret), "{secret} in {message:?}");
    }
}

// ---- queries and headers -----------------------------------------------------------

#[tokio::test]
async fn each_level_queries_its_resource_day_by_day_over_the_window() {
    let cases = [
        (
            Level::Campaign,
            "campaign",
            vec!["campaign.id", "campaign.name"],
        ),
        (
            Level::AdGroup,
            "ad_group",
            vec![
                "campaign.id",
                "campaign.name",
                "ad_group.id",
                "ad_group.name",
            ],
        ),
        (
            Level::Ad,
            "ad_group_ad",
            vec![
                "campaign.id",
                "campaign.name",
                "ad_group.id",
                "ad_group.name",
                "ad_group_ad.ad.id",
                "ad_group_ad.ad.name",
            ],
        ),
    ];
    for (level, resource, ids) in cases {
        let server = MockServer::start().await;
        mount_tokens(&server, 3599, None).await;
        Mock::given(method("POST"))
            .and(path(STREAM))
            .respond_with(stream(vec![]))
            .expect(1)
            .mount(&server)
            .await;
        fetch(&server, level, window("2026-11-01", "2026-11-07"))
            .await
            .expect("no rows");
        let query = query_of(&received_at(&server, STREAM).await[0]);
        let (select, rest) = query
            .strip_prefix("SELECT ")
            .and_then(|q| q.split_once(" FROM "))
            .expect("SELECT … FROM …");
        assert_eq!(
            rest,
            format!("{resource} WHERE segments.date BETWEEN '2026-11-01' AND '2026-11-07'")
        );
        let selected: Vec<&str> = select.split(", ").collect();
        for field in ids.iter().copied().chain([
            "customer.currency_code",
            "customer.time_zone",
            "metrics.impressions",
            "metrics.clicks",
            "metrics.cost_micros",
            "metrics.conversions",
            "metrics.conversions_value",
            "metrics.video_trueview_views",
            "segments.date",
        ]) {
            assert!(selected.contains(&field), "{field} in {query}");
        }
        assert!(
            !selected.contains(&"metrics.video_views"),
            "v26 has no metrics.video_views"
        );
    }
}

#[tokio::test]
async fn calls_carry_the_access_token_and_developer_token_and_the_token_comes_from_the_refresh_token()
 {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, Some(1)).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .and(header("authorization", "Bearer ya29.access-0"))
        .and(header("developer-token", DEVELOPER_TOKEN))
        .respond_with(stream(vec![]))
        .expect(1)
        .mount(&server)
        .await;
    fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect("no rows");
    let call = &received_at(&server, STREAM).await[0];
    assert_eq!(header_of(call, "login-customer-id"), None);
    assert_eq!(
        header_of(call, "content-type").as_deref(),
        Some("application/json")
    );
    let token = form(&received_at(&server, "/token").await[0]);
    let expected: HashMap<String, String> = [
        ("grant_type", "refresh_token"),
        ("refresh_token", REFRESH_TOKEN),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(token, expected);
}

#[tokio::test]
async fn login_customer_id_is_the_connections_else_the_apps() {
    for (connections, apps, expected) in [
        (Some(MANAGER), Some("111-222-3333"), Some(MANAGER)),
        (None, Some("111-222-3333"), Some("1112223333")),
        (None, None, None),
    ] {
        let server = MockServer::start().await;
        mount_tokens(&server, 3599, None).await;
        Mock::given(method("POST"))
            .and(path(STREAM))
            .respond_with(stream(vec![]))
            .mount(&server)
            .await;
        let mut job = job(Level::Campaign, soon());
        job.connection.login_customer_id = connections.map(str::to_owned);
        if let Some(app) = job.credentials.app.google.as_mut() {
            app.login_customer_id = apps.map(str::to_owned);
        }
        connector(&server)
            .fetch(&job, window("2026-11-01", "2026-11-01"))
            .await
            .expect("no rows");
        let call = &received_at(&server, STREAM).await[0];
        assert_eq!(header_of(call, "login-customer-id").as_deref(), expected);
    }
}

// ---- rows ----------------------------------------------------------------------------

#[tokio::test]
async fn three_batches_yield_every_row_once_with_exact_micros() {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, None).await;
    // 2^53 + 1 micros: a double would round it.
    let big = "9007199254740993";
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(stream(vec![
            batch(vec![
                campaign_row("111", "2026-11-01", full_metrics("1230000")),
                campaign_row("222", "2026-11-01", full_metrics(big)),
            ]),
            batch(vec![campaign_row("111", "2026-11-02", full_metrics("1"))]),
            batch(vec![
                campaign_row("222", "2026-11-02", full_metrics("999999999999")),
                campaign_row("333", "2026-11-02", json!({})),
            ]),
        ]))
        .expect(1)
        .mount(&server)
        .await;
    let job = job(Level::Campaign, soon());
    let rows = connector(&server)
        .fetch(&job, window("2026-11-01", "2026-11-02"))
        .await
        .expect("rows");
    assert_eq!(
        keys(&rows),
        [
            "google_ads|1234567890|campaign|111|2026-11-01",
            "google_ads|1234567890|campaign|222|2026-11-01",
            "google_ads|1234567890|campaign|111|2026-11-02",
            "google_ads|1234567890|campaign|222|2026-11-02",
            "google_ads|1234567890|campaign|333|2026-11-02",
        ]
    );
    let micros: Vec<Option<i64>> = rows.iter().map(|r| r.cost_micros).collect();
    assert_eq!(
        micros,
        [
            Some(1_230_000),
            Some(9_007_199_254_740_993),
            Some(1),
            Some(999_999_999_999),
            Some(0)
        ]
    );
    let first = &rows[0];
    assert_eq!(first.tenant_id, "tenant-a");
    assert_eq!(first.platform, Platform::GoogleAds);
    assert_eq!(first.connection_id, job.connection.id.to_string());
    assert_eq!(first.account_id, CUSTOMER);
    assert_eq!(first.level, Level::Campaign);
    assert_eq!(first.date, d("2026-11-01"));
    assert_eq!(first.run_id, job.run_id.to_string());
    assert_eq!(first.schedule_id, job.schedule.id.to_string());
    assert_eq!(
        (first.campaign_id.as_deref(), first.campaign_name.as_deref()),
        (Some("111"), Some("Campaign 111"))
    );
    assert_eq!(
        (first.ad_group_id.as_deref(), first.ad_id.as_deref()),
        (None, None)
    );
    assert_eq!(first.currency.as_deref(), Some("EUR"));
    assert_eq!(
        (first.impressions, first.clicks),
        (Some(361_324), Some(1234))
    );
    assert_eq!(
        (first.conversions, first.conversion_value),
        (Some(12.5), Some(1234.56))
    );
    assert_eq!(first.video_views, Some(420));
    let extra: Value = serde_json::from_str(first.extra.as_deref().expect("extra")).expect("JSON");
    assert_eq!(
        extra,
        json!({"interactions": 1300, "engagements": 66, "all_conversions": 14.25,
            "all_conversions_value": 1500.5, "view_through_conversions": 3, "video_quartile_p100_rate": 0.2512})
    );
    assert!((Utc::now() - first.extracted_at).num_seconds() < 60);
    assert_eq!(
        first.extracted_at.timestamp_subsec_micros() % 1000,
        0,
        "milliseconds"
    );
}

#[tokio::test]
async fn metrics_that_google_leaves_out_are_zero() {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, None).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(stream(vec![batch(vec![campaign_row(
            "111",
            "2026-11-01",
            json!({"impressions": "5"}),
        )])]))
        .mount(&server)
        .await;
    let rows = fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect("rows");
    let r = &rows[0];
    assert_eq!(
        (r.impressions, r.clicks, r.cost_micros, r.video_views),
        (Some(5), Some(0), Some(0), Some(0))
    );
    assert_eq!((r.conversions, r.conversion_value), (Some(0.0), Some(0.0)));
    let extra: Value = serde_json::from_str(r.extra.as_deref().expect("extra")).expect("JSON");
    assert_eq!(extra["interactions"], json!(0));
    assert_eq!(extra["all_conversions"], json!(0.0));
}

#[tokio::test]
async fn ad_rows_carry_their_campaign_and_ad_group_and_are_keyed_by_ad_group_and_ad() {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, None).await;
    let mut row = campaign_row("111", "2026-11-01", json!({"costMicros": "5000000"}));
    row["adGroup"] = json!({"resourceName": format!("customers/{CUSTOMER}/adGroups/222"), "id": "222", "name": "Ad group \"B\""});
    row["adGroupAd"] = json!({"resourceName": format!("customers/{CUSTOMER}/adGroupAds/222~333"), "ad": {"resourceName": format!("customers/{CUSTOMER}/ads/333"), "id": "333", "name": "Launch spot"}});
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(stream(vec![batch(vec![row])]))
        .mount(&server)
        .await;
    let rows = fetch(&server, Level::Ad, window("2026-11-01", "2026-11-01"))
        .await
        .expect("rows");
    let r = &rows[0];
    assert_eq!(r.row_key, "google_ads|1234567890|ad|222~333|2026-11-01");
    assert_eq!(r.level, Level::Ad);
    assert_eq!(
        (
            r.campaign_id.as_deref(),
            r.ad_group_id.as_deref(),
            r.ad_id.as_deref()
        ),
        (Some("111"), Some("222"), Some("333"))
    );
    assert_eq!(
        (
            r.campaign_name.as_deref(),
            r.ad_group_name.as_deref(),
            r.ad_name.as_deref()
        ),
        (
            Some("Campaign 111"),
            Some("Ad group \"B\""),
            Some("Launch spot")
        )
    );
    assert_eq!(r.cost_micros, Some(5_000_000));
}

#[tokio::test]
async fn an_empty_stream_is_no_rows() {
    for elements in [
        vec![],
        vec![json!({"fieldMask": "campaign.id", "requestId": "r"})],
    ] {
        let server = MockServer::start().await;
        mount_tokens(&server, 3599, None).await;
        Mock::given(method("POST"))
            .and(path(STREAM))
            .respond_with(stream(elements))
            .expect(1)
            .mount(&server)
            .await;
        let rows = fetch(&server, Level::Ad, window("2026-11-01", "2026-11-07"))
            .await
            .expect("no rows");
        assert!(rows.is_empty());
    }
}

// ---- retries -------------------------------------------------------------------------

#[tokio::test]
async fn resource_exhausted_is_retried_after_the_delay_google_asks_without_duplicate_rows() {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, Some(1)).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(throttled("0.05s"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(stream(vec![
            batch(vec![campaign_row("111", "2026-11-01", full_metrics("1"))]),
            batch(vec![campaign_row("222", "2026-11-01", full_metrics("2"))]),
        ]))
        .mount(&server)
        .await;
    let started = Instant::now();
    let rows = fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect("rows after a retry");
    assert!(
        started.elapsed() >= Duration::from_millis(50),
        "waited the retryDelay"
    );
    assert_eq!(
        keys(&rows),
        [
            "google_ads|1234567890|campaign|111|2026-11-01",
            "google_ads|1234567890|campaign|222|2026-11-01"
        ]
    );
    assert_eq!(received_at(&server, STREAM).await.len(), 2);
}

#[tokio::test]
async fn a_503_is_retried() {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, None).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(
            ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(stream(vec![batch(vec![campaign_row(
            "111",
            "2026-11-01",
            json!({}),
        )])]))
        .mount(&server)
        .await;
    let rows = fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect("rows after a retry");
    assert_eq!(rows.len(), 1);
}

#[tokio::test]
async fn an_error_after_some_batches_retries_the_whole_stream_and_keeps_only_the_new_rows() {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, None).await;
    let mut internal = status(
        500,
        "INTERNAL",
        ("internalError", "INTERNAL_ERROR"),
        "An internal error has occurred.",
    );
    internal["error"]["message"] = json!("Internal error encountered.");
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(stream(vec![
            batch(vec![campaign_row(
                "111",
                "2026-11-01",
                json!({"impressions": "1"}),
            )]),
            batch(vec![campaign_row(
                "222",
                "2026-11-01",
                json!({"impressions": "1"}),
            )]),
            internal,
        ]))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(stream(vec![
            batch(vec![campaign_row(
                "111",
                "2026-11-01",
                json!({"impressions": "2"}),
            )]),
            batch(vec![campaign_row(
                "222",
                "2026-11-01",
                json!({"impressions": "2"}),
            )]),
            batch(vec![campaign_row(
                "333",
                "2026-11-01",
                json!({"impressions": "2"}),
            )]),
        ]))
        .mount(&server)
        .await;
    let rows = fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect("rows of the second stream");
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter().all(|r| r.impressions == Some(2)),
        "only the retried stream's rows"
    );
    let distinct: HashSet<&str> = keys(&rows).into_iter().collect();
    assert_eq!(distinct.len(), 3);
}

#[tokio::test]
async fn a_stream_cut_before_its_array_closes_is_retried() {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, None).await;
    let whole = serde_json::to_string(&vec![batch(vec![campaign_row(
        "111",
        "2026-11-01",
        json!({}),
    )])])
    .expect("JSON");
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_raw(whole[..whole.len() - 1].to_owned(), "application/json"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(ResponseTemplate::new(200).set_body_raw(whole, "application/json"))
        .mount(&server)
        .await;
    let rows = fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect("rows after a retry");
    // The cut stream's whole batches were handed on as they came, and the retry's again:
    // the same row twice, which staging writes once (it writes only what changed).
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0], rows[1]);
}

#[tokio::test]
async fn throttling_that_outlasts_the_attempts_is_retryable() {
    let (err, calls) = error_for(throttled("0s")).await;
    assert_eq!(calls, Backoff::fast().max_attempts as usize);
    match err {
        ConnectorError::Retryable(m) => {
            assert!(
                m.contains("RESOURCE_EXHAUSTED") && m.contains("gave up after 5 attempts"),
                "{m}"
            );
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_retry_delay_past_the_deadline_fails_at_once_with_deadline() {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, None).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(throttled("30s"))
        .mount(&server)
        .await;
    let started = Instant::now();
    let err = connector(&server)
        .fetch(
            &job(Level::Campaign, Duration::from_secs(3)),
            window("2026-11-01", "2026-11-01"),
        )
        .await
        .expect_err("no time to wait");
    assert_eq!(err, ConnectorError::Deadline);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "no sleeping past the deadline"
    );
    assert_eq!(received_at(&server, STREAM).await.len(), 1);
}

#[tokio::test]
async fn a_passed_deadline_sends_nothing() {
    let server = MockServer::start().await;
    let mut job = job(Level::Campaign, soon());
    job.deadline = Utc::now() - chrono::Duration::seconds(1);
    let err = connector(&server)
        .fetch(&job, window("2026-11-01", "2026-11-01"))
        .await
        .expect_err("too late");
    assert_eq!(err, ConnectorError::Deadline);
    assert!(received(&server).await.is_empty());
}

// ---- tokens --------------------------------------------------------------------------

#[tokio::test]
async fn unauthenticated_refreshes_the_token_once_and_retries_with_the_new_one() {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, Some(2)).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .and(header("authorization", "Bearer ya29.access-0"))
        .respond_with(failure(
            401,
            "UNAUTHENTICATED",
            ("authenticationError", "OAUTH_TOKEN_EXPIRED"),
            "OAuth token in the header has expired.",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .and(header("authorization", "Bearer ya29.access-1"))
        .respond_with(stream(vec![batch(vec![campaign_row(
            "111",
            "2026-11-01",
            json!({}),
        )])]))
        .expect(1)
        .mount(&server)
        .await;
    let rows = fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect("rows with the refreshed token");
    assert_eq!(rows.len(), 1);
}

#[tokio::test]
async fn unauthenticated_again_after_a_refresh_is_auth() {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, Some(2)).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(failure(
            401,
            "UNAUTHENTICATED",
            ("authenticationError", "OAUTH_TOKEN_REVOKED"),
            "OAuth token in the header has been revoked.",
        ))
        .expect(2)
        .mount(&server)
        .await;
    let err = fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect_err("refused twice");
    match err {
        ConnectorError::Auth(m) => {
            assert!(
                m.contains("OAUTH_TOKEN_REVOKED") && m.contains("connect the account again"),
                "{m}"
            );
            assert_no_secret(&m);
        }
        other => panic!("expected Auth, got {other:?}"),
    }
}

#[tokio::test]
async fn invalid_grant_is_auth_and_search_stream_is_never_called() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(stream(vec![]))
        .expect(0)
        .mount(&server)
        .await;
    let err = fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect_err("refused");
    match err {
        ConnectorError::Auth(m) => {
            assert!(m.contains("invalid_grant"), "{m}");
            assert_no_secret(&m);
        }
        other => panic!("expected Auth, got {other:?}"),
    }
}

#[tokio::test]
async fn an_access_token_is_reused_until_it_nears_expiry_then_refreshed() {
    let server = MockServer::start().await;
    // Valid 2 s, reused until 1 s before expiry.
    mount_tokens(&server, 2, Some(2)).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(stream(vec![]))
        .expect(3)
        .mount(&server)
        .await;
    let connector = connector_with(
        &format!("{}/v26", server.uri()),
        oauth(&format!("{}/token", server.uri())).with_expiry_margin(Duration::from_secs(1)),
    );
    let job = job(Level::Campaign, soon());
    let days = window("2026-11-01", "2026-11-01");
    connector.fetch(&job, days).await.expect("first");
    connector
        .fetch(&job, days)
        .await
        .expect("second, same token");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    connector.fetch(&job, days).await.expect("third, new token");
    let bearers: Vec<Option<String>> = received_at(&server, STREAM)
        .await
        .iter()
        .map(|r| header_of(r, "authorization"))
        .collect();
    let bearer = |n: usize| Some(format!("Bearer ya29.access-{n}"));
    assert_eq!(bearers, [bearer(0), bearer(0), bearer(1)]);
}

#[tokio::test]
async fn a_token_shorter_lived_than_the_margin_is_never_reused() {
    let server = MockServer::start().await;
    // 60 s is inside the default 300 s margin.
    mount_tokens(&server, 60, Some(2)).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(stream(vec![]))
        .mount(&server)
        .await;
    let connector = connector(&server);
    let job = job(Level::Campaign, soon());
    for _ in 0..2 {
        connector
            .fetch(&job, window("2026-11-01", "2026-11-01"))
            .await
            .expect("rows");
    }
}

#[tokio::test]
async fn a_token_without_the_adwords_scope_is_auth() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "access_token": "ya29.access-0", "expires_in": 3599, "token_type": "Bearer",
            "scope": "https://www.googleapis.com/auth/yt-analytics.readonly"
        })))
        .mount(&server)
        .await;
    let err = fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect_err("no AdWords scope");
    assert!(
        matches!(err, ConnectorError::Auth(ref m) if m.contains("AdWords scope")),
        "{err:?}"
    );
    assert!(received_at(&server, STREAM).await.is_empty());
}

// ---- failures ------------------------------------------------------------------------

#[tokio::test]
async fn a_malformed_batch_fails_the_fetch_naming_the_field_and_returns_no_rows() {
    let good = || campaign_row("111", "2026-11-01", json!({}));
    let with = |f: &dyn Fn(&mut Value)| {
        let mut row = campaign_row("222", "2026-11-01", json!({"costMicros": "1000"}));
        f(&mut row);
        row
    };
    let cases: Vec<(Value, &str)> = vec![
        (
            with(&|r| r["metrics"]["costMicros"] = json!("12.5")),
            "batch 1: results[1].metrics.costMicros: not an int64: \"12.5\"",
        ),
        (
            with(&|r| r["metrics"]["impressions"] = json!({"value": 1})),
            "batch 1: results[1].metrics.impressions",
        ),
        (
            with(&|r| r["segments"] = json!({})),
            "batch 1: results[1].segments.date: missing",
        ),
        (
            with(&|r| r["segments"]["date"] = json!("11/01/2026")),
            "batch 1: results[1].segments.date: not a YYYY-MM-DD date",
        ),
        (
            with(&|r| {
                r["campaign"].as_object_mut().map(|c| c.remove("id"));
            }),
            "batch 1: results[1].campaign.id: missing",
        ),
        (
            with(&|r| r["campaign"]["id"] = json!("12ab")),
            "batch 1: results[1].campaign.id: not an int64",
        ),
    ];
    for (bad, expected) in cases {
        let (err, calls) =
            error_for(stream(vec![batch(vec![good()]), batch(vec![good(), bad])])).await;
        assert_eq!(calls, 1, "malformed data is not retried");
        match err {
            ConnectorError::Permanent(m) => {
                assert!(m.contains(expected), "{m:?} should contain {expected:?}")
            }
            other => panic!("expected Permanent, got {other:?}"),
        }
    }
}

#[tokio::test]
async fn invalid_argument_is_permanent_with_googles_errors_and_request_id() {
    let (err, calls) = error_for(failure(
        400,
        "INVALID_ARGUMENT",
        ("queryError", "BAD_FIELD_NAME"),
        "Unrecognized field in the query: 'metrics.video_views'.",
    ))
    .await;
    assert_eq!(calls, 1);
    match err {
        ConnectorError::Permanent(m) => {
            assert_eq!(
                m,
                "google ads searchStream: HTTP 400 INVALID_ARGUMENT: Request contains an invalid argument. \
                 [queryError: BAD_FIELD_NAME — Unrecognized field in the query: 'metrics.video_views'.] \
                 (request id Xq8Ff1Q2bEw3p4rIyzJ9Ag)"
            );
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
}

#[tokio::test]
async fn a_user_who_cannot_read_the_customer_needs_a_new_sign_in_but_an_unapproved_app_does_not() {
    let (err, calls) = error_for(failure(
        403,
        "PERMISSION_DENIED",
        ("authorizationError", "USER_PERMISSION_DENIED"),
        "User doesn't have permission to access customer.",
    ))
    .await;
    assert_eq!(calls, 1);
    assert!(
        matches!(err, ConnectorError::Auth(ref m) if m.contains("USER_PERMISSION_DENIED")),
        "{err:?}"
    );

    let (err, calls) = error_for(failure(
        403,
        "PERMISSION_DENIED",
        (
            "authorizationError",
            "CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION",
        ),
        "The Google Cloud project is only approved for use with test accounts.",
    ))
    .await;
    assert_eq!(calls, 1);
    assert!(
        matches!(err, ConnectorError::Permanent(ref m) if m.contains("CLOUD_PROJECT_NOT_APPROVED_FOR_PRODUCTION")),
        "{err:?}"
    );
}

#[tokio::test]
async fn tokens_echoed_in_an_error_are_redacted() {
    let (err, _) = error_for(failure(
        400,
        "INVALID_ARGUMENT",
        ("headerError", "INVALID_DEVELOPER_TOKEN"),
        &format!("Bad headers: Bearer ya29.access-0, developer-token {DEVELOPER_TOKEN}"),
    ))
    .await;
    let m = err.to_string();
    assert!(
        m.contains("Bearer <redacted>, developer-token <redacted>"),
        "{m}"
    );
    assert_no_secret(&m);
}

#[tokio::test]
async fn a_bad_account_id_or_a_missing_google_app_is_permanent_and_sends_nothing() {
    let server = MockServer::start().await;
    let mut bad_id = job(Level::Campaign, soon());
    bad_id.connection.account_id = "123-456-7890".into();
    let mut no_app = job(Level::Campaign, soon());
    no_app.credentials.app.google = None;
    for job in [bad_id, no_app] {
        let err = connector(&server)
            .fetch(&job, window("2026-11-01", "2026-11-01"))
            .await
            .expect_err("refused");
        assert!(matches!(err, ConnectorError::Permanent(_)), "{err:?}");
    }
    assert!(received(&server).await.is_empty());
}

// ---- time zone -----------------------------------------------------------------------

#[tokio::test]
async fn the_time_zone_is_the_customers() {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, None).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(stream(vec![json!({
            "results": [{"customer": {"resourceName": format!("customers/{CUSTOMER}"), "timeZone": "Europe/Berlin", "currencyCode": "EUR"}}],
            "fieldMask": "customer.timeZone,customer.currencyCode",
            "requestId": "r"
        })]))
        .expect(1)
        .mount(&server)
        .await;
    let tz = connector(&server)
        .time_zone(&job(Level::Campaign, soon()))
        .await
        .expect("a time zone");
    assert_eq!(tz, chrono_tz::Europe::Berlin);
    assert_eq!(
        query_of(&received_at(&server, STREAM).await[0]),
        "SELECT customer.time_zone, customer.currency_code FROM customer"
    );
}

#[tokio::test]
async fn an_unknown_time_zone_is_permanent_and_named() {
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, None).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(stream(vec![
            json!({"results": [{"customer": {"timeZone": "Mars/Olympus_Mons"}}]}),
        ]))
        .mount(&server)
        .await;
    let err = connector(&server)
        .time_zone(&job(Level::Campaign, soon()))
        .await
        .expect_err("unknown");
    assert!(
        matches!(err, ConnectorError::Permanent(ref m) if m.contains("Mars/Olympus_Mons")),
        "{err:?}"
    );
}

// ---- the demo fake -------------------------------------------------------------------

fn demo_job(level: Level) -> Job {
    let mut job = job(level, soon());
    job.connection.account_id = DEMO_CUSTOMER.into();
    job
}

async fn demo(connector: &GoogleAdsConnector, level: Level, days: Window) -> Vec<AdMetricRow> {
    connector
        .fetch(&demo_job(level), days)
        .await
        .expect("the fake's rows")
}

#[tokio::test]
async fn the_connector_reads_the_demo_fake_at_every_level() {
    let fake = FakeGoogleAds::start().await;
    let connector = connector_with(&fake.ads_url(), oauth(&fake.token_url()));
    let tz = connector
        .time_zone(&demo_job(Level::Campaign))
        .await
        .expect("a time zone");
    assert_eq!(tz.name(), DEMO_TIME_ZONE);

    let days = window("2026-10-01", "2026-10-07");
    let campaigns = demo(&connector, Level::Campaign, days).await;
    let ad_groups = demo(&connector, Level::AdGroup, days).await;
    let ad_job = demo_job(Level::Ad);
    let ads = connector
        .fetch(&ad_job, days)
        .await
        .expect("the fake's ads");
    assert_eq!(
        (campaigns.len(), ad_groups.len(), ads.len()),
        (7 * 2, 7 * 4, 7 * 8)
    );
    assert!(ads.len() > 3 * ROWS_PER_BATCH, "several batches");
    for rows in [&campaigns, &ad_groups, &ads] {
        let distinct: HashSet<&str> = keys(rows).into_iter().collect();
        assert_eq!(distinct.len(), rows.len(), "every row once");
        assert!(
            rows.iter()
                .all(|r| r.currency.as_deref() == Some(DEMO_CURRENCY))
        );
    }
    // Every level adds up to the same totals, micros exactly.
    let total = |rows: &[AdMetricRow]| -> (i64, i64, i64) {
        rows.iter().fold((0, 0, 0), |(i, c, v), r| {
            (
                i + r.impressions.unwrap_or(0),
                c + r.cost_micros.unwrap_or(0),
                v + r.video_views.unwrap_or(0),
            )
        })
    };
    assert_eq!(total(&campaigns), total(&ads));
    assert_eq!(total(&ad_groups), total(&ads));
    assert!(total(&ads).2 > 0, "the video campaign has views");
    // A day answers the same every time.
    assert_eq!(
        connector
            .fetch(&ad_job, days)
            .await
            .expect("the fake's ads again")
            .iter()
            .map(|r| r.content_hash())
            .collect::<Vec<_>>(),
        ads.iter().map(|r| r.content_hash()).collect::<Vec<_>>()
    );
    assert_eq!(
        fake.tokens_issued(),
        1,
        "one access token for every call of the connector"
    );
}

#[tokio::test]
async fn the_demo_fake_refuses_other_customers_and_revoked_sign_ins_as_google_does() {
    let fake = FakeGoogleAds::start().await;
    let connector = connector_with(&fake.ads_url(), oauth(&fake.token_url()));
    let days = window("2026-10-01", "2026-10-01");
    let mut other = job(Level::Campaign, soon());
    other.connection.account_id = "5555555555".into();
    let err = connector
        .fetch(&other, days)
        .await
        .expect_err("not the demo customer");
    assert!(
        matches!(err, ConnectorError::Auth(ref m) if m.contains("USER_PERMISSION_DENIED")),
        "{err:?}"
    );

    let mut revoked = demo_job(Level::Campaign);
    revoked.credentials.token = REVOKED_REFRESH_TOKEN.into();
    let err = connector.fetch(&revoked, days).await.expect_err("revoked");
    assert!(
        matches!(err, ConnectorError::Auth(ref m) if m.contains("invalid_grant")),
        "{err:?}"
    );
}

// ---- redirects ----------------------------------------------------------------------

#[tokio::test]
async fn a_redirect_is_never_followed_so_no_secret_reaches_the_host_it_names() {
    // The host a 307/308 points at: it must receive nothing.
    let elsewhere = MockServer::start().await;
    Mock::given(wiremock::matchers::any())
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&elsewhere)
        .await;

    // The token endpoint redirects: the form holds the refresh token and client secret.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(
            ResponseTemplate::new(307)
                .insert_header("location", format!("{}/token", elsewhere.uri())),
        )
        .mount(&server)
        .await;
    let err = fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect_err("a redirect is a failure");
    assert_no_secret(&err.to_string());

    // The API redirects: the call holds the access and developer tokens.
    let server = MockServer::start().await;
    mount_tokens(&server, 3599, None).await;
    Mock::given(method("POST"))
        .and(path(STREAM))
        .respond_with(
            ResponseTemplate::new(308)
                .insert_header("location", format!("{}{STREAM}", elsewhere.uri())),
        )
        .mount(&server)
        .await;
    let err = fetch(&server, Level::Campaign, window("2026-11-01", "2026-11-01"))
        .await
        .expect_err("a redirect is a failure");
    assert_no_secret(&err.to_string());

    let reached = elsewhere.received_requests().await.unwrap_or_default();
    assert!(
        reached.is_empty(),
        "{} requests followed a redirect",
        reached.len()
    );
}
