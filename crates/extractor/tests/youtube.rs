//! The YouTube Analytics connector against a wiremock token endpoint and `reports` API that
//! answer as Google documents them: `youtubeAnalytics#resultTable` with `columnHeaders`
//! and `rows` (absent when there is no data), Google's JSON errors with their reasons,
//! and the OAuth token endpoint's refresh answers. The last tests read the demo fake.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use adpipe_domain::oauth::YT_ANALYTICS_MONETARY as MONETARY_SCOPE;
use adpipe_domain::{AdMetricRow, Level, Platform, Window};
use adpipe_testkit::fake_youtube::{DEMO_CHANNEL, FakeYouTube, last_reported_day, today};
use chrono::{Days, Utc};
use extractor::connectors::google_oauth::GoogleOAuth;
use extractor::connectors::http_client;
use extractor::connectors::retry::Backoff;
use extractor::connectors::youtube::{TIME_ZONE, YouTubeConnector};
use extractor::ports::{AppCredentials, Connector, ConnectorError, Credentials, GoogleApp, Job};
use serde_json::{Value, json};
use wiremock::matchers::{method, path};

use common::{d, received, received_at, soon, window};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

// ---- fixtures ----------------------------------------------------------------------

/// Google Developers' channel, the id Google's own examples use.
const CHANNEL: &str = "UC_x5XG1OV2P6uZZ5FSM9Ttw";
const REFRESH_TOKEN: &str = "1//0refresh-token-secret";
const ACCESS_TOKEN: &str = "ya29.access-token-secret";
const CLIENT_SECRET: &str = "GOCSPX-client-secret";
const READONLY_SCOPE: &str = "https://www.googleapis.com/auth/yt-analytics.readonly";
/// The metrics every request asks for, in the connector's order.
const METRICS: [&str; 9] = [
    "views",
    "estimatedMinutesWatched",
    "averageViewDuration",
    "averageViewPercentage",
    "likes",
    "comments",
    "shares",
    "subscribersGained",
    "subscribersLost",
];
const MONETARY_METRICS: [&str; 7] = [
    "estimatedRevenue",
    "estimatedAdRevenue",
    "grossRevenue",
    "cpm",
    "playbackBasedCpm",
    "adImpressions",
    "monetizedPlaybacks",
];

/// A job for the channel at `level`, due in `deadline_in`.
fn job(level: Level, deadline_in: Duration) -> Job {
    job_for(CHANNEL, level, deadline_in)
}

fn job_for(channel: &str, level: Level, deadline_in: Duration) -> Job {
    let credentials = Credentials {
        token: REFRESH_TOKEN.into(),
        app: AppCredentials {
            google: Some(GoogleApp {
                client_id: "1234-app.apps.googleusercontent.com".into(),
                client_secret: CLIENT_SECRET.into(),
                developer_token: "dev-token".into(),
                login_customer_id: None,
            }),
            facebook: None,
        },
    };
    common::job(Platform::Youtube, channel, level, credentials, deadline_in)
}

/// The connector against `server`'s `/v2/reports`, its tokens from `server`'s `/token`.
fn connector(server: &MockServer) -> YouTubeConnector {
    connector_at(&format!("{}/v2", server.uri()), server)
}

fn connector_at(api: &str, token_server: &MockServer) -> YouTubeConnector {
    connector_with(api, token_server, Backoff::fast())
}

fn connector_with(api: &str, token_server: &MockServer, backoff: Backoff) -> YouTubeConnector {
    let http = http_client().expect("an HTTP client");
    let oauth = GoogleOAuth::new(http.clone(), format!("{}/token", token_server.uri()))
        .with_backoff(Backoff::fast());
    YouTubeConnector::new(http, api, Arc::new(oauth)).with_backoff(backoff)
}

/// The token endpoint's answer to a refresh (RFC 6749 §5.1, as Google sends it).
fn token_answer(access_token: &str, scope: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({
        "access_token": access_token,
        "expires_in": expires_in,
        "scope": scope,
        "token_type": "Bearer"
    }))
}

async fn mount_token(server: &MockServer, scope: &str) {
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_answer(ACCESS_TOKEN, scope, 3599))
        .mount(server)
        .await;
}

/// `columnHeaders` for `key` (`day` or `video`) and `metrics`.
fn headers(key: &str, metrics: &[&str]) -> Vec<Value> {
    let mut h = vec![json!({"name": key, "columnType": "DIMENSION", "dataType": "STRING"})];
    h.extend(metrics.iter().map(|m| {
        let float = matches!(
            *m,
            "averageViewPercentage"
                | "estimatedRevenue"
                | "estimatedAdRevenue"
                | "grossRevenue"
                | "cpm"
                | "playbackBasedCpm"
        );
        json!({"name": m, "columnType": "METRIC", "dataType": if float { "FLOAT" } else { "INTEGER" }})
    }));
    h
}

/// A result table; `rows: None` leaves the member out, as the API does without data.
fn table(headers: Vec<Value>, rows: Option<Vec<Value>>) -> Value {
    let mut t = json!({"kind": "youtubeAnalytics#resultTable", "columnHeaders": headers});
    if let Some(rows) = rows {
        t["rows"] = json!(rows);
    }
    t
}

/// The cells of [`METRICS`] for `views`.
fn metric_cells(views: i64) -> Vec<Value> {
    vec![
        json!(views),
        json!(views * 3),
        json!(151),
        json!(41.53),
        json!(views / 20),
        json!(3),
        json!(2),
        json!(5),
        json!(1),
    ]
}

fn monetary_cells() -> Vec<Value> {
    vec![
        json!(12.34),
        json!(11.5),
        json!(22.4),
        json!(4.12),
        json!(6.7),
        json!(5437),
        json!(3340),
    ]
}

fn row(key: &str, views: i64) -> Value {
    let mut cells = vec![json!(key)];
    cells.extend(metric_cells(views));
    json!(cells)
}

fn channel_table(rows: &[(&str, i64)]) -> Value {
    table(
        headers("day", &METRICS),
        Some(rows.iter().map(|(day, views)| row(day, *views)).collect()),
    )
}

fn video_table(rows: &[(String, i64)]) -> Value {
    table(
        headers("video", &METRICS),
        Some(rows.iter().map(|(id, views)| row(id, *views)).collect()),
    )
}

fn ok(body: Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(body)
}

/// Google's JSON error.
fn google_error(code: u16, reason: &str, message: &str, status: &str) -> ResponseTemplate {
    ResponseTemplate::new(code).set_body_json(json!({"error": {
        "code": code,
        "message": message,
        "errors": [{"message": message, "domain": "global", "reason": reason}],
        "status": status
    }}))
}

fn reports() -> wiremock::MockBuilder {
    Mock::given(method("GET")).and(path("/v2/reports"))
}

fn param(req: &Request, name: &str) -> Option<String> {
    req.url
        .query_pairs()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

async fn report_requests(server: &MockServer) -> Vec<Request> {
    received_at(server, "/v2/reports").await
}

async fn token_requests(server: &MockServer) -> usize {
    received_at(server, "/token").await.len()
}

fn assert_no_secret(message: &str) {
    for secret in [ACCESS_TOKEN, REFRESH_TOKEN, CLIENT_SECRET] {
        assert!(!message.contains(secret), "secret in {message:?}");
    }
}

fn keys(rows: &[AdMetricRow]) -> Vec<&str> {
    rows.iter().map(|r| r.row_key.as_str()).collect()
}

// ---- level channel -----------------------------------------------------------------

#[tokio::test]
async fn channel_level_reads_one_row_per_day_with_views_and_the_other_metrics_in_extra() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    reports()
        .respond_with(ok(channel_table(&[
            ("2026-03-01", 1200),
            ("2026-03-02", 900),
        ])))
        .expect(1)
        .mount(&server)
        .await;

    let job = job(Level::Channel, soon());
    let rows = connector(&server)
        .fetch(&job, window("2026-03-01", "2026-03-02"))
        .await
        .expect("rows");

    assert_eq!(
        keys(&rows),
        [
            "youtube|UC_x5XG1OV2P6uZZ5FSM9Ttw|channel|UC_x5XG1OV2P6uZZ5FSM9Ttw|2026-03-01",
            "youtube|UC_x5XG1OV2P6uZZ5FSM9Ttw|channel|UC_x5XG1OV2P6uZZ5FSM9Ttw|2026-03-02",
        ]
    );
    let first = &rows[0];
    assert_eq!(first.platform, Platform::Youtube);
    assert_eq!(first.tenant_id, "tenant-a");
    assert_eq!(first.connection_id, job.connection.id.to_string());
    assert_eq!(first.account_id, CHANNEL);
    assert_eq!(first.level, Level::Channel);
    assert_eq!(first.date, d("2026-03-01"));
    assert_eq!(first.run_id, job.run_id.to_string());
    assert_eq!(first.schedule_id, job.schedule.id.to_string());
    assert_eq!(first.video_views, Some(1200));
    assert_eq!(
        (
            first.campaign_id.as_deref(),
            first.ad_group_id.as_deref(),
            first.ad_id.as_deref()
        ),
        (None, None, None)
    );
    assert_eq!(
        (
            first.impressions,
            first.clicks,
            first.cost_micros,
            first.currency.as_deref()
        ),
        (None, None, None, None)
    );
    assert_eq!((first.conversions, first.conversion_value), (None, None));
    let extra: Value = serde_json::from_str(first.extra.as_deref().expect("extra")).expect("JSON");
    assert_eq!(
        extra,
        json!({"estimatedMinutesWatched": 3600, "averageViewDuration": 151, "averageViewPercentage": 41.53,
               "likes": 60, "comments": 3, "shares": 2, "subscribersGained": 5, "subscribersLost": 1})
    );
    assert!((Utc::now() - first.extracted_at).num_seconds() < 60);

    let req = &report_requests(&server).await[0];
    assert_eq!(
        param(req, "ids").as_deref(),
        Some("channel==UC_x5XG1OV2P6uZZ5FSM9Ttw")
    );
    assert_eq!(param(req, "startDate").as_deref(), Some("2026-03-01"));
    assert_eq!(param(req, "endDate").as_deref(), Some("2026-03-02"));
    assert_eq!(param(req, "metrics"), Some(METRICS.join(",")));
    assert_eq!(param(req, "dimensions").as_deref(), Some("day"));
    assert_eq!(param(req, "sort").as_deref(), Some("day"));
    assert_eq!(
        param(req, "currency"),
        None,
        "no monetary metric, no currency"
    );
    assert_eq!(
        req.headers
            .get("authorization")
            .and_then(|v| v.to_str().ok()),
        Some(format!("Bearer {ACCESS_TOKEN}").as_str())
    );
    assert!(
        !req.url.as_str().contains(ACCESS_TOKEN),
        "the token travels in the header only"
    );
}

#[tokio::test]
async fn a_response_without_the_most_recent_days_is_accepted() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    // Asked for 7 days, YouTube has reported 5 of them so far.
    let days: Vec<String> = (1..=5).map(|n| format!("2026-03-0{n}")).collect();
    let rows: Vec<(&str, i64)> = days.iter().map(|d| (d.as_str(), 100)).collect();
    reports()
        .respond_with(ok(channel_table(&rows)))
        .mount(&server)
        .await;

    let rows = connector(&server)
        .fetch(
            &job(Level::Channel, soon()),
            window("2026-03-01", "2026-03-07"),
        )
        .await
        .expect("rows");

    assert_eq!(rows.len(), 5);
    assert_eq!(rows.last().map(|r| r.date), Some(d("2026-03-05")));
}

#[tokio::test]
async fn a_response_without_rows_is_zero_rows() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    reports()
        .respond_with(ok(table(headers("day", &METRICS), None)))
        .expect(1)
        .mount(&server)
        .await;

    let rows = connector(&server)
        .fetch(
            &job(Level::Channel, soon()),
            window("2026-03-01", "2026-03-07"),
        )
        .await;

    assert_eq!(rows, Ok(Vec::new()));
}

#[tokio::test]
async fn column_headers_in_another_order_yield_the_same_rows() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    reports()
        .respond_with(ok(channel_table(&[("2026-03-01", 1200)])))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    // Metrics reversed, the day last.
    let mut names: Vec<&str> = METRICS.to_vec();
    names.reverse();
    let mut h = headers("day", &names);
    h.rotate_left(1);
    let mut cells = metric_cells(1200);
    cells.reverse();
    cells.push(json!("2026-03-01"));
    reports()
        .respond_with(ok(table(h, Some(vec![json!(cells)]))))
        .mount(&server)
        .await;

    let (connector, job) = (connector(&server), job(Level::Channel, soon()));
    let days = window("2026-03-01", "2026-03-01");
    let first = connector.fetch(&job, days).await.expect("rows");
    let second = connector.fetch(&job, days).await.expect("rows");

    assert_eq!(first.len(), 1);
    assert_eq!(first[0].content_hash(), second[0].content_hash());
    assert_eq!(
        (first[0].video_views, first[0].extra.as_deref()),
        (second[0].video_views, second[0].extra.as_deref())
    );
}

// ---- level video -------------------------------------------------------------------

/// A request for one day's top videos, starting at `start`.
fn videos_of(day: &'static str, start: &'static str) -> impl Fn(&Request) -> bool {
    move |req: &Request| {
        param(req, "startDate").as_deref() == Some(day)
            && param(req, "endDate").as_deref() == Some(day)
            && param(req, "startIndex").as_deref() == Some(start)
    }
}

fn video_ids(prefix: &str, n: usize) -> Vec<(String, i64)> {
    (0..n)
        .map(|i| (format!("{prefix}{i:07}"), 10_000 - i as i64))
        .collect()
}

#[tokio::test]
async fn video_level_reads_each_days_top_videos_with_the_video_id_as_ad_id() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    reports()
        .and(videos_of("2026-03-01", "1"))
        .respond_with(ok(video_table(&[
            ("dQw4w9WgXcQ".into(), 900),
            ("jNQXAC9IVRw".into(), 40),
        ])))
        .expect(1)
        .mount(&server)
        .await;
    reports()
        .and(videos_of("2026-03-02", "1"))
        .respond_with(ok(video_table(&[("dQw4w9WgXcQ".into(), 800)])))
        .expect(1)
        .mount(&server)
        .await;

    let rows = connector(&server)
        .fetch(
            &job(Level::Video, soon()),
            window("2026-03-01", "2026-03-02"),
        )
        .await
        .expect("rows");

    assert_eq!(
        keys(&rows),
        [
            "youtube|UC_x5XG1OV2P6uZZ5FSM9Ttw|video|dQw4w9WgXcQ|2026-03-01",
            "youtube|UC_x5XG1OV2P6uZZ5FSM9Ttw|video|jNQXAC9IVRw|2026-03-01",
            "youtube|UC_x5XG1OV2P6uZZ5FSM9Ttw|video|dQw4w9WgXcQ|2026-03-02",
        ]
    );
    assert_eq!(rows[0].ad_id.as_deref(), Some("dQw4w9WgXcQ"));
    assert_eq!(
        (rows[0].level, rows[0].account_id.as_str()),
        (Level::Video, CHANNEL)
    );
    assert_eq!(rows[2].video_views, Some(800));
    for req in report_requests(&server).await {
        assert_eq!(param(&req, "dimensions").as_deref(), Some("video"));
        assert_eq!(param(&req, "sort").as_deref(), Some("-views"));
        assert_eq!(param(&req, "maxResults").as_deref(), Some("200"));
        assert_eq!(param(&req, "metrics"), Some(METRICS.join(",")));
        assert_eq!(
            param(&req, "ids").as_deref(),
            Some("channel==UC_x5XG1OV2P6uZZ5FSM9Ttw")
        );
    }
}

#[tokio::test]
async fn a_full_page_of_videos_is_followed_by_the_next_start_index_without_duplicates() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    let first = video_ids("a", 200);
    // The ranking shifted between the pages: the last video of page 1 comes again.
    let mut second = vec![first[199].clone()];
    second.extend(video_ids("b", 3));
    reports()
        .and(videos_of("2026-03-01", "1"))
        .respond_with(ok(video_table(&first)))
        .expect(1)
        .mount(&server)
        .await;
    reports()
        .and(videos_of("2026-03-01", "201"))
        .respond_with(ok(video_table(&second)))
        .expect(1)
        .mount(&server)
        .await;

    let rows = connector(&server)
        .fetch(
            &job(Level::Video, soon()),
            window("2026-03-01", "2026-03-01"),
        )
        .await
        .expect("rows");

    assert_eq!(rows.len(), 203);
    let mut ids: Vec<_> = rows.iter().filter_map(|r| r.ad_id.as_deref()).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 203, "no video twice");
}

#[tokio::test]
async fn a_page_past_the_first_that_youtube_refuses_ends_the_days_list() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    reports()
        .and(videos_of("2026-03-01", "1"))
        .respond_with(ok(video_table(&video_ids("a", 200))))
        .mount(&server)
        .await;
    reports()
        .and(videos_of("2026-03-01", "201"))
        .respond_with(google_error(
            400,
            "badRequest",
            "The query is not supported. Check the documentation at https://developers.google.com/youtube/analytics/v2/available_reports for a list of supported queries.",
            "INVALID_ARGUMENT",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let rows = connector(&server)
        .fetch(
            &job(Level::Video, soon()),
            window("2026-03-01", "2026-03-01"),
        )
        .await
        .expect("the first 200 videos");

    assert_eq!(rows.len(), 200);
}

#[tokio::test]
async fn a_malformed_later_day_returns_no_rows_of_the_chunk() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    reports()
        .and(videos_of("2026-03-01", "1"))
        .respond_with(ok(video_table(&[("dQw4w9WgXcQ".into(), 900)])))
        .mount(&server)
        .await;
    let mut bad = video_table(&[("dQw4w9WgXcQ".into(), 800)]);
    bad["rows"][0][1] = json!("lots");
    reports()
        .and(videos_of("2026-03-02", "1"))
        .respond_with(ok(bad))
        .mount(&server)
        .await;

    let err = connector(&server)
        .fetch(
            &job(Level::Video, soon()),
            window("2026-03-01", "2026-03-02"),
        )
        .await
        .expect_err("malformed");

    match err {
        ConnectorError::Permanent(m) => {
            assert!(
                m.contains("2026-03-02") && m.contains("rows[0].views: not a number"),
                "{m}"
            )
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
}

// ---- monetary metrics ----------------------------------------------------------------

#[tokio::test]
async fn monetary_metrics_are_asked_for_only_when_the_token_may_read_them() {
    let server = MockServer::start().await;
    mount_token(&server, &format!("{READONLY_SCOPE} {MONETARY_SCOPE}")).await;
    let all: Vec<&str> = METRICS.iter().chain(&MONETARY_METRICS).copied().collect();
    let mut cells = vec![json!("2026-03-01")];
    cells.extend(metric_cells(1200));
    cells.extend(monetary_cells());
    reports()
        .respond_with(ok(table(headers("day", &all), Some(vec![json!(cells)]))))
        .expect(1)
        .mount(&server)
        .await;

    let rows = connector(&server)
        .fetch(
            &job(Level::Channel, soon()),
            window("2026-03-01", "2026-03-01"),
        )
        .await
        .expect("rows");

    let req = &report_requests(&server).await[0];
    assert_eq!(param(req, "metrics"), Some(all.join(",")));
    assert_eq!(param(req, "currency").as_deref(), Some("USD"));
    let row = &rows[0];
    assert_eq!(row.currency.as_deref(), Some("USD"));
    // Earnings from ads on the channel's videos are not the client's ad spend or impressions.
    assert_eq!(
        (row.cost_micros, row.impressions, row.conversion_value),
        (None, None, None)
    );
    let extra: Value = serde_json::from_str(row.extra.as_deref().expect("extra")).expect("JSON");
    assert_eq!(extra["estimatedRevenue"], json!(12.34));
    assert_eq!(extra["adImpressions"], json!(5437));
    assert_eq!(extra["monetizedPlaybacks"], json!(3340));
}

#[tokio::test]
async fn a_channel_that_may_not_read_revenue_is_read_without_it() {
    let server = MockServer::start().await;
    mount_token(&server, &format!("{READONLY_SCOPE} {MONETARY_SCOPE}")).await;
    reports()
        .and(|req: &Request| param(req, "metrics").is_some_and(|m| m.contains("estimatedRevenue")))
        .respond_with(google_error(
            403,
            "forbidden",
            "Forbidden",
            "PERMISSION_DENIED",
        ))
        .expect(1)
        .mount(&server)
        .await;
    reports()
        .respond_with(ok(channel_table(&[("2026-03-01", 1200)])))
        .expect(1)
        .mount(&server)
        .await;

    let rows = connector(&server)
        .fetch(
            &job(Level::Channel, soon()),
            window("2026-03-01", "2026-03-01"),
        )
        .await
        .expect("rows without revenue");

    assert_eq!((rows.len(), rows[0].currency.as_deref()), (1, None));
}

// ---- throttling, faults, quota ---------------------------------------------------------

#[tokio::test]
async fn throttling_and_server_errors_are_retried_without_duplicate_rows() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    for failure in [
        google_error(
            429,
            "rateLimitExceeded",
            "Resource has been exhausted (e.g. check quota).",
            "RESOURCE_EXHAUSTED",
        ),
        google_error(
            403,
            "userRateLimitExceeded",
            "User Rate Limit Exceeded",
            "PERMISSION_DENIED",
        ),
        google_error(
            503,
            "backendError",
            "The service is currently unavailable.",
            "UNAVAILABLE",
        ),
    ] {
        reports()
            .respond_with(failure)
            .up_to_n_times(1)
            .mount(&server)
            .await;
    }
    reports()
        .respond_with(ok(channel_table(&[
            ("2026-03-01", 1200),
            ("2026-03-02", 900),
        ])))
        .mount(&server)
        .await;

    let rows = connector(&server)
        .fetch(
            &job(Level::Channel, soon()),
            window("2026-03-01", "2026-03-02"),
        )
        .await
        .expect("rows after retries");

    assert_eq!(rows.len(), 2);
    assert_eq!(report_requests(&server).await.len(), 4);
}

#[tokio::test]
async fn throttling_that_outlasts_the_budget_is_retryable_naming_the_last_error() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    reports()
        .respond_with(google_error(
            503,
            "backendError",
            "The service is currently unavailable.",
            "UNAVAILABLE",
        ))
        .mount(&server)
        .await;

    let err = connector(&server)
        .fetch(
            &job(Level::Channel, soon()),
            window("2026-03-01", "2026-03-02"),
        )
        .await
        .expect_err("gives up");

    match err {
        ConnectorError::Retryable(m) => {
            assert!(
                m.contains("The service is currently unavailable.")
                    && m.contains("gave up after 5 attempts"),
                "{m}"
            )
        }
        other => panic!("expected Retryable, got {other:?}"),
    }
    assert_eq!(
        report_requests(&server).await.len(),
        Backoff::fast().max_attempts as usize
    );
}

#[tokio::test]
async fn a_spent_daily_quota_is_retryable_at_once() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    reports()
        .respond_with(google_error(
            403,
            "quotaExceeded",
            "The request cannot be completed because you have exceeded your quota.",
            "PERMISSION_DENIED",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let err = connector(&server)
        .fetch(
            &job(Level::Channel, soon()),
            window("2026-03-01", "2026-03-02"),
        )
        .await
        .expect_err("quota");

    match err {
        ConnectorError::Retryable(m) => assert!(m.contains("quota"), "{m}"),
        other => panic!("expected Retryable, got {other:?}"),
    }
}

#[tokio::test]
async fn a_wait_past_the_deadline_is_deadline_without_sleeping() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    reports()
        .respond_with(google_error(
            503,
            "backendError",
            "The service is currently unavailable.",
            "UNAVAILABLE",
        ))
        .mount(&server)
        .await;
    let slow = Backoff {
        base: Duration::from_secs(30),
        ceiling: Duration::from_secs(60),
        max_attempts: 5,
    };
    let connector = connector_with(&format!("{}/v2", server.uri()), &server, slow);

    let started = Instant::now();
    let err = connector
        .fetch(
            &job(Level::Channel, Duration::from_secs(5)),
            window("2026-03-01", "2026-03-02"),
        )
        .await;

    assert_eq!(err, Err(ConnectorError::Deadline));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "slept {:?}",
        started.elapsed()
    );
    assert_eq!(report_requests(&server).await.len(), 1);
}

#[tokio::test]
async fn a_passed_deadline_sends_nothing() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    let mut job = job(Level::Channel, soon());
    job.deadline = Utc::now() - chrono::Duration::seconds(1);

    let err = connector(&server)
        .fetch(&job, window("2026-03-01", "2026-03-02"))
        .await;

    assert_eq!(err, Err(ConnectorError::Deadline));
    assert!(received(&server).await.is_empty());
}

// ---- OAuth ----------------------------------------------------------------------------

#[tokio::test]
async fn a_refused_access_token_is_refreshed_once_and_the_call_retried() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_answer("ya29.first", READONLY_SCOPE, 3599))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_answer("ya29.second", READONLY_SCOPE, 3599))
        .mount(&server)
        .await;
    reports()
        .respond_with(google_error(
            401,
            "authError",
            "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
            "UNAUTHENTICATED",
        ))
        .up_to_n_times(1)
        .mount(&server)
        .await;
    reports()
        .respond_with(ok(channel_table(&[("2026-03-01", 1200)])))
        .mount(&server)
        .await;

    let rows = connector(&server)
        .fetch(
            &job(Level::Channel, soon()),
            window("2026-03-01", "2026-03-01"),
        )
        .await
        .expect("rows with the fresh token");

    assert_eq!(rows.len(), 1);
    assert_eq!(token_requests(&server).await, 2);
    let bearer: Vec<_> = report_requests(&server)
        .await
        .iter()
        .map(|r| {
            r.headers
                .get("authorization")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .to_owned()
        })
        .collect();
    assert_eq!(bearer, ["Bearer ya29.first", "Bearer ya29.second"]);
}

#[tokio::test]
async fn an_access_token_refused_twice_is_auth() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    reports()
        .respond_with(google_error(
            401,
            "authError",
            "Request had invalid authentication credentials.",
            "UNAUTHENTICATED",
        ))
        .mount(&server)
        .await;

    let err = connector(&server)
        .fetch(
            &job(Level::Channel, soon()),
            window("2026-03-01", "2026-03-01"),
        )
        .await
        .expect_err("auth");

    match &err {
        ConnectorError::Auth(m) => {
            assert!(m.contains("invalid authentication credentials"), "{m}");
            assert_no_secret(m);
        }
        other => panic!("expected Auth, got {other:?}"),
    }
    assert_eq!(report_requests(&server).await.len(), 2);
    assert_eq!(token_requests(&server).await, 2);
}

#[tokio::test]
async fn invalid_grant_is_auth_and_the_api_is_never_called() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"error": "invalid_grant", "error_description": "Token has been expired or revoked."}),
        ))
        .expect(1)
        .mount(&server)
        .await;
    reports()
        .respond_with(ok(channel_table(&[])))
        .expect(0)
        .mount(&server)
        .await;

    let err = connector(&server)
        .fetch(
            &job(Level::Channel, soon()),
            window("2026-03-01", "2026-03-01"),
        )
        .await
        .expect_err("auth");

    match &err {
        ConnectorError::Auth(m) => {
            assert!(m.contains("expired or revoked"), "{m}");
            assert_no_secret(m);
        }
        other => panic!("expected Auth, got {other:?}"),
    }
}

#[tokio::test]
async fn the_access_token_is_reused_across_fetches() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/token"))
        .and(|req: &Request| {
            let body = String::from_utf8_lossy(&req.body);
            body.contains("grant_type=refresh_token")
                && body.contains("refresh_token=1%2F%2F0refresh-token-secret")
        })
        .respond_with(token_answer(ACCESS_TOKEN, READONLY_SCOPE, 3599))
        .expect(1)
        .mount(&server)
        .await;
    reports()
        .respond_with(ok(channel_table(&[("2026-03-01", 1)])))
        .expect(3)
        .mount(&server)
        .await;

    let (connector, job) = (connector(&server), job(Level::Channel, soon()));
    for _ in 0..3 {
        connector
            .fetch(&job, window("2026-03-01", "2026-03-01"))
            .await
            .expect("rows");
    }
}

#[tokio::test]
async fn an_access_token_about_to_expire_is_refreshed_before_the_next_fetch() {
    let server = MockServer::start().await;
    // 60 s left: inside the margin kept before expiry, so never reused.
    Mock::given(method("POST"))
        .and(path("/token"))
        .respond_with(token_answer(ACCESS_TOKEN, READONLY_SCOPE, 60))
        .expect(2)
        .mount(&server)
        .await;
    reports()
        .respond_with(ok(channel_table(&[("2026-03-01", 1)])))
        .expect(2)
        .mount(&server)
        .await;

    let (connector, job) = (connector(&server), job(Level::Channel, soon()));
    for _ in 0..2 {
        connector
            .fetch(&job, window("2026-03-01", "2026-03-01"))
            .await
            .expect("rows");
    }
}

#[tokio::test]
async fn a_channel_the_user_may_not_read_is_auth_with_a_readable_message() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    reports()
        .respond_with(google_error(
            403,
            "forbidden",
            "Forbidden",
            "PERMISSION_DENIED",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let err = connector(&server)
        .fetch(
            &job(Level::Channel, soon()),
            window("2026-03-01", "2026-03-01"),
        )
        .await
        .expect_err("auth");

    match &err {
        ConnectorError::Auth(m) => {
            assert!(
                m.contains(CHANNEL) && m.contains("connect the channel again"),
                "{m}"
            );
            assert_no_secret(m);
        }
        other => panic!("expected Auth, got {other:?}"),
    }
}

#[tokio::test]
async fn a_bad_request_is_permanent_with_googles_message() {
    let server = MockServer::start().await;
    mount_token(&server, READONLY_SCOPE).await;
    reports()
        .respond_with(google_error(
            400,
            "badRequest",
            "Unknown identifier (views2) given in field parameters.metrics.",
            "INVALID_ARGUMENT",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let err = connector(&server)
        .fetch(
            &job(Level::Channel, soon()),
            window("2026-03-01", "2026-03-01"),
        )
        .await
        .expect_err("permanent");

    match &err {
        ConnectorError::Permanent(m) => {
            assert!(
                m.contains("Unknown identifier (views2)") && m.contains("HTTP 400"),
                "{m}"
            );
            assert_no_secret(m);
        }
        other => panic!("expected Permanent, got {other:?}"),
    }
}

// ---- malformed data ---------------------------------------------------------------------

#[tokio::test]
async fn malformed_tables_are_permanent_and_name_the_field() {
    let no_day = table(headers("date", &METRICS), Some(vec![row("2026-03-01", 1)]));
    let mut short = channel_table(&[("2026-03-01", 1), ("2026-03-02", 2)]);
    short["rows"][1] = json!(["2026-03-02", 2, 6]);
    let mut text = channel_table(&[("2026-03-01", 1)]);
    text["rows"][0][1] = json!("12a");
    let mut fraction = channel_table(&[("2026-03-01", 1)]);
    fraction["rows"][0][5] = json!(1.5);
    let mut bad_day = channel_table(&[("2026-03-01", 1)]);
    bad_day["rows"][0][0] = json!("03/01/2026");
    let outside = channel_table(&[("2026-02-28", 1)]);
    let twice = channel_table(&[("2026-03-01", 1), ("2026-03-01", 2)]);
    let no_views = table(headers("day", &METRICS[1..]), Some(vec![]));
    let cases = [
        (ok(no_day), r#"columnHeaders: no "day""#),
        (ok(short), "rows[1]: 3 cells where columnHeaders has 10"),
        (ok(text), r#"rows[0].views: not a number: "12a""#),
        (ok(fraction), "rows[0].likes: not a whole number: 1.5"),
        (
            ok(bad_day),
            r#"rows[0].day: not a YYYY-MM-DD date: "03/01/2026""#,
        ),
        (ok(outside), "rows[0].day: 2026-02-28 is outside the window"),
        (ok(twice), "rows[1].day: 2026-03-01 appears twice"),
        (ok(no_views), r#"columnHeaders: no "views""#),
        (
            ResponseTemplate::new(200).set_body_string("<html>"),
            "not a result table",
        ),
    ];
    for (answer, expected) in cases {
        let server = MockServer::start().await;
        mount_token(&server, READONLY_SCOPE).await;
        reports().respond_with(answer).mount(&server).await;

        let err = connector(&server)
            .fetch(
                &job(Level::Channel, soon()),
                window("2026-03-01", "2026-03-02"),
            )
            .await
            .expect_err(expected);

        match err {
            ConnectorError::Permanent(m) => {
                assert!(m.contains(expected), "{m:?} should name {expected:?}")
            }
            other => panic!("{expected}: expected Permanent, got {other:?}"),
        }
    }
}

// ---- other ------------------------------------------------------------------------------

#[tokio::test]
async fn the_time_zone_is_pacific_without_a_call() {
    let server = MockServer::start().await;

    let tz = connector(&server)
        .time_zone(&job(Level::Channel, soon()))
        .await;

    assert_eq!(tz, Ok(TIME_ZONE));
    assert_eq!(TIME_ZONE.name(), "America/Los_Angeles");
    assert!(received(&server).await.is_empty());
}

#[tokio::test]
async fn a_level_of_another_platform_is_permanent_and_sends_nothing() {
    let server = MockServer::start().await;

    let err = connector(&server)
        .fetch(
            &job(Level::Campaign, soon()),
            window("2026-03-01", "2026-03-01"),
        )
        .await;

    assert!(matches!(err, Err(ConnectorError::Permanent(m)) if m.contains("campaign")));
    assert!(received(&server).await.is_empty());
}

// ---- the demo fake ------------------------------------------------------------------------

#[tokio::test]
async fn the_connector_reads_the_demo_fake_by_channel_and_by_video() {
    let api = FakeYouTube::start().await;
    let tokens = MockServer::start().await;
    mount_token(&tokens, READONLY_SCOPE).await;
    let connector = connector_at(&api.url(), &tokens);
    let last = last_reported_day();
    let week = Window {
        since: last - Days::new(6),
        until: last,
    };

    let channel = connector
        .fetch(&job_for(DEMO_CHANNEL, Level::Channel, soon()), week)
        .await
        .expect("channel rows");
    assert_eq!(channel.len(), 7, "one row per day");
    assert!(
        channel
            .iter()
            .all(|r| r.video_views.is_some_and(|v| v > 0) && r.extra.is_some())
    );

    let videos = connector
        .fetch(&job_for(DEMO_CHANNEL, Level::Video, soon()), week)
        .await
        .expect("video rows");
    assert!(videos.len() > 7, "several videos a day");
    assert!(
        videos
            .iter()
            .all(|r| r.ad_id.as_deref().is_some_and(|id| id.len() == 11))
    );
    // The channel's day is the sum of its videos' days.
    let day_views: i64 = videos
        .iter()
        .filter(|r| r.date == last)
        .filter_map(|r| r.video_views)
        .sum();
    assert_eq!(channel.last().and_then(|r| r.video_views), Some(day_views));

    // Yesterday and the day before are not reported yet: zero rows, not an error.
    let recent = Window {
        since: last + Days::new(1),
        until: today() - Days::new(1),
    };
    let none = connector
        .fetch(&job_for(DEMO_CHANNEL, Level::Channel, soon()), recent)
        .await
        .expect("no rows yet");
    assert!(none.is_empty());
}

#[tokio::test]
async fn the_demo_fake_answers_the_same_day_the_same_and_refuses_what_youtube_refuses() {
    let api = FakeYouTube::start().await;
    let client = http_client().expect("an HTTP client");
    let get = |query: String| {
        let request = client
            .get(format!(
                "{}/reports?ids=channel%3D%3D{DEMO_CHANNEL}&{query}",
                api.url()
            ))
            .bearer_auth("any-token");
        async move {
            let response = request.send().await.expect("an answer");
            (
                response.status().as_u16(),
                response.json::<Value>().await.expect("JSON"),
            )
        }
    };
    let day = last_reported_day();
    let by_day = format!("startDate={day}&endDate={day}&metrics=views,likes&dimensions=day");
    let (status, first) = get(by_day.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(get(by_day).await.1, first);
    for refused in [
        format!("startDate={day}&endDate={day}&metrics=views&dimensions=day,video"),
        format!("startDate={day}&endDate={day}&metrics=views&dimensions=video&maxResults=10"),
        format!(
            "startDate={day}&endDate={day}&metrics=views&dimensions=video&sort=-views&maxResults=201"
        ),
    ] {
        let (status, body) = get(refused.clone()).await;
        assert_eq!(
            (status, body["error"]["errors"][0]["reason"].as_str()),
            (400, Some("badRequest")),
            "{refused}"
        );
    }
    assert_eq!(DEMO_CHANNEL.len(), 24);
    assert!(DEMO_CHANNEL.starts_with("UC"));
}
