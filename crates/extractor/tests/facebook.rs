//! The Facebook connector against a wiremock Graph API that answers as Meta documents it:
//! insights pages with `paging.next`, asynchronous report runs, Graph errors with their
//! codes, and the usage headers.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use adpipe_domain::{Level, Platform, Window};
use chrono::Utc;
use extractor::connectors::facebook::{Backoff, FacebookConnector, appsecret_proof};
use extractor::ports::{
    AppCredentials, Connector, ConnectorError, Credentials, FacebookApp, Job, ReportRunKey,
    ReportRuns,
};
use extractor::store::MemoryReportRuns;
use hmac::{Hmac, Mac};
use reqwest::Url;
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path, query_param, query_param_is_missing};

use common::{received, soon, window};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};

// ---- fixtures ----------------------------------------------------------------------

const VERSION: &str = "/v26.0";
const ACCOUNT: &str = "act_123";
const TOKEN: &str = "EAAB-secret-user-token";
const APP_SECRET: &str = "app-secret-42";

/// A job for `act_123` at `level`, due in `deadline_in`.
fn job(level: Level, deadline_in: Duration) -> Job {
    let credentials = Credentials {
        token: TOKEN.into(),
        app: AppCredentials {
            google: None,
            facebook: Some(FacebookApp {
                app_id: "1234".into(),
                app_secret: APP_SECRET.into(),
            }),
        },
    };
    common::job(Platform::Facebook, ACCOUNT, level, credentials, deadline_in)
}

fn connector(server: &MockServer) -> FacebookConnector {
    connector_at(&format!("{}{VERSION}", server.uri()))
}

fn connector_at(graph: &str) -> FacebookConnector {
    connector_keeping(graph, std::sync::Arc::new(MemoryReportRuns::default()))
}

/// A connector whose pending report runs are kept in `report_runs`.
fn connector_keeping(
    graph: &str,
    report_runs: std::sync::Arc<dyn ReportRuns>,
) -> FacebookConnector {
    let client = FacebookConnector::http_client().expect("an HTTP client");
    FacebookConnector::new(client, graph, report_runs).with_backoff(Backoff {
        base: Duration::from_millis(1),
        ceiling: Duration::from_millis(5),
        max_attempts: 3,
    })
}

/// An insights row at campaign level, as Meta sends it: every number a string.
fn campaign_row(id: &str, date: &str) -> Value {
    json!({
        "campaign_id": id,
        "campaign_name": format!("Campaign {id}"),
        "account_currency": "EUR",
        "impressions": "361324",
        "clicks": "1234",
        "spend": "5339.5",
        "reach": "200000",
        "frequency": "1.80662",
        "cpm": "14.777601",
        "ctr": "0.341522",
        "unique_clicks": "1100",
        "actions": [
            {"action_type": "link_click", "value": "1000"},
            {"action_type": "omni_purchase", "value": "12", "7d_click": "10", "1d_view": "2"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "12"},
            {"action_type": "purchase", "value": "12"}
        ],
        "action_values": [
            {"action_type": "omni_purchase", "value": "1234.56"},
            {"action_type": "offsite_conversion.fb_pixel_purchase", "value": "1234.56"}
        ],
        "video_play_actions": [{"action_type": "video_view", "value": "5000"}],
        "date_start": date,
        "date_stop": date
    })
}

fn ad_row(id: &str, date: &str) -> Value {
    let mut row = campaign_row("c-1", date);
    row["adset_id"] = json!("as-1");
    row["adset_name"] = json!("Ad set 1");
    row["ad_id"] = json!(id);
    row["ad_name"] = json!(format!("Ad {id}"));
    row
}

/// A page of `rows`; `next` as Meta writes it: the full URL, token included.
fn page(rows: Vec<Value>, next: Option<String>) -> Value {
    let mut paging = json!({"cursors": {"before": "MAZDZD", "after": "MQZDZD"}});
    if let Some(next) = next {
        paging["next"] = json!(next);
    }
    json!({"data": rows, "paging": paging})
}

fn next_url(server: &MockServer, edge: &str, after: &str) -> String {
    format!(
        "{}{VERSION}/{edge}?access_token={TOKEN}&fields=campaign_id&limit=500&after={after}",
        server.uri()
    )
}

fn graph_error(status: u16, code: i64, subcode: Option<i64>, message: &str) -> ResponseTemplate {
    let mut error = json!({
        "message": message,
        "type": "OAuthException",
        "code": code,
        "fbtrace_id": "AbCdEfGh123"
    });
    if let Some(sub) = subcode {
        error["error_subcode"] = json!(sub);
    }
    ResponseTemplate::new(status).set_body_json(json!({ "error": error }))
}

fn query(req: &Request) -> HashMap<String, String> {
    req.url.query_pairs().into_owned().collect()
}

fn form(req: &Request) -> HashMap<String, String> {
    let body = String::from_utf8_lossy(&req.body);
    Url::parse(&format!("http://form/?{body}"))
        .expect("a form body")
        .query_pairs()
        .into_owned()
        .collect()
}

/// Matches a report-run POST for exactly `days`.
fn report_for(since: &'static str, until: &'static str) -> impl Fn(&Request) -> bool {
    move |req: &Request| {
        form(req).get("time_range").map(String::as_str)
            == Some(&*format!(r#"{{"since":"{since}","until":"{until}"}}"#))
    }
}

fn insights_path() -> String {
    format!("{VERSION}/{ACCOUNT}/insights")
}

async fn mount_report(server: &MockServer, id: &str, status: &str, rows: Vec<Value>) {
    let percent = if status == "Job Completed" { 100 } else { 0 };
    Mock::given(method("GET"))
        .and(path(format!("{VERSION}/{id}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": id, "async_status": status, "async_percent_completion": percent}),
        ))
        .mount(server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{VERSION}/{id}/insights")))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(rows, None)))
        .mount(server)
        .await;
}

async fn fetch(
    server: &MockServer,
    level: Level,
    days: Window,
) -> Result<Vec<adpipe_domain::AdMetricRow>, ConnectorError> {
    connector(server).fetch(&job(level, soon()), days).await
}

fn assert_no_secret(message: &str) {
    let proof = appsecret_proof(TOKEN, APP_SECRET);
    assert!(!message.contains(TOKEN), "token in {message:?}");
    assert!(!message.contains(&proof), "proof in {message:?}");
}

// ---- paging and rows ---------------------------------------------------------------

#[tokio::test]
async fn insights_pages_are_followed_until_paging_next_is_absent() {
    let server = MockServer::start().await;
    let edge = format!("{ACCOUNT}/insights");
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![
                campaign_row("c-1", "2026-03-01"),
                campaign_row("c-2", "2026-03-01"),
            ],
            Some(next_url(&server, &edge, "p2")),
        )))
        .expect(1)
        .mount(&server)
        .await;
    // A short page that is not the last one.
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .and(query_param("after", "p2"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![campaign_row("c-1", "2026-03-02")],
            Some(next_url(&server, &edge, "p3")),
        )))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .and(query_param("after", "p3"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(vec![campaign_row("c-2", "2026-03-02")], None)),
        )
        .expect(1)
        .mount(&server)
        .await;

    let job = job(Level::Campaign, soon());
    let rows = connector(&server)
        .fetch(&job, window("2026-03-01", "2026-03-02"))
        .await
        .expect("rows");

    let keys: Vec<_> = rows.iter().map(|r| r.row_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "facebook|act_123|campaign|c-1|2026-03-01",
            "facebook|act_123|campaign|c-2|2026-03-01",
            "facebook|act_123|campaign|c-1|2026-03-02",
            "facebook|act_123|campaign|c-2|2026-03-02",
        ]
    );
    let first = &rows[0];
    assert_eq!(first.tenant_id, "tenant-a");
    assert_eq!(first.connection_id, job.connection.id.to_string());
    assert_eq!(first.account_id, ACCOUNT);
    assert_eq!(first.level, Level::Campaign);
    assert_eq!(first.run_id, job.run_id.to_string());
    assert_eq!(first.schedule_id, job.schedule.id.to_string());
    assert_eq!(first.campaign_name.as_deref(), Some("Campaign c-1"));
    assert_eq!(
        (first.ad_group_id.as_deref(), first.ad_id.as_deref()),
        (None, None)
    );
    assert_eq!(first.currency.as_deref(), Some("EUR"));
    assert_eq!(
        (first.impressions, first.clicks),
        (Some(361_324), Some(1234))
    );
    assert_eq!(first.cost_micros, Some(5_339_500_000));
    // omni_purchase only: its pixel and `purchase` variants are the same purchases.
    assert_eq!(first.conversions, Some(12.0));
    assert_eq!(first.conversion_value, Some(1234.56));
    assert_eq!(first.video_views, Some(5000));
    let extra: Value = serde_json::from_str(first.extra.as_deref().expect("extra")).expect("JSON");
    assert_eq!(
        extra,
        json!({"reach": 200000, "frequency": 1.80662, "cpm": 14.777601, "ctr": 0.341522, "unique_clicks": 1100})
    );
    assert!((Utc::now() - first.extracted_at).num_seconds() < 60);

    // Every page, the followed ones too, is signed with our own token and proof.
    let proof = appsecret_proof(TOKEN, APP_SECRET);
    for req in received(&server).await {
        let q = query(&req);
        assert_eq!(q.get("access_token").map(String::as_str), Some(TOKEN));
        assert_eq!(q.get("appsecret_proof"), Some(&proof));
        assert_eq!(q.get("limit").map(String::as_str), Some("500"));
    }
    let first_query = query(&received(&server).await[0]);
    assert_eq!(first_query["level"], "campaign");
    assert_eq!(first_query["time_increment"], "1");
    assert_eq!(
        first_query["time_range"],
        r#"{"since":"2026-03-01","until":"2026-03-02"}"#
    );
    for field in [
        "campaign_id",
        "campaign_name",
        "account_currency",
        "impressions",
        "clicks",
        "spend",
        "actions",
        "action_values",
        "video_play_actions",
    ] {
        assert!(
            first_query["fields"].split(',').any(|f| f == field),
            "{field}"
        );
    }
}

#[tokio::test]
async fn a_schedules_conversion_action_types_replace_the_default() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(vec![campaign_row("c-1", "2026-03-01")], None)),
        )
        .mount(&server)
        .await;
    let mut job = job(Level::Campaign, soon());
    job.schedule.report.conversion_action_types = vec![
        "link_click".into(),
        "offsite_conversion.fb_pixel_purchase".into(),
        "omni_purchase".into(),
    ];
    let rows = connector(&server)
        .fetch(&job, window("2026-03-01", "2026-03-01"))
        .await
        .expect("rows");
    // 1000 link clicks + 12 purchases, counted once although listed under two channels.
    assert_eq!(rows[0].conversions, Some(1012.0));
    assert_eq!(rows[0].conversion_value, Some(1234.56));
}

// ---- asynchronous report runs ------------------------------------------------------

#[tokio::test]
async fn ad_level_runs_a_report_polls_it_and_reads_its_pages() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(insights_path()))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"report_run_id": "6023920149050"})),
        )
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{VERSION}/6023920149050")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "6023920149050", "async_status": "Job Running", "async_percent_completion": 40}),
        ))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{VERSION}/6023920149050")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "6023920149050", "async_status": "Job Completed", "async_percent_completion": 100}),
        ))
        .mount(&server)
        .await;
    let edge = "6023920149050/insights";
    Mock::given(method("GET"))
        .and(path(format!("{VERSION}/{edge}")))
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![ad_row("ad-1", "2026-03-01"), ad_row("ad-2", "2026-03-01")],
            Some(next_url(&server, edge, "p2")),
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{VERSION}/{edge}")))
        .and(query_param("after", "p2"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(vec![ad_row("ad-1", "2026-03-02")], None)),
        )
        .mount(&server)
        .await;

    let rows = fetch(&server, Level::Ad, window("2026-03-01", "2026-03-02"))
        .await
        .expect("rows");

    let keys: Vec<_> = rows.iter().map(|r| r.row_key.as_str()).collect();
    assert_eq!(
        keys,
        [
            "facebook|act_123|ad|ad-1|2026-03-01",
            "facebook|act_123|ad|ad-2|2026-03-01",
            "facebook|act_123|ad|ad-1|2026-03-02",
        ]
    );
    let r = &rows[0];
    assert_eq!(
        (
            r.campaign_id.as_deref(),
            r.ad_group_id.as_deref(),
            r.ad_group_name.as_deref(),
            r.ad_name.as_deref()
        ),
        (Some("c-1"), Some("as-1"), Some("Ad set 1"), Some("Ad ad-1"))
    );
    let requests = received(&server).await;
    let post = requests
        .iter()
        .find(|r| r.method.as_str() == "POST")
        .expect("a POST");
    let body = form(post);
    assert_eq!(body["level"], "ad");
    assert_eq!(body["time_increment"], "1");
    assert_eq!(
        body["time_range"],
        r#"{"since":"2026-03-01","until":"2026-03-02"}"#
    );
    assert_eq!(body["access_token"], TOKEN);
    assert_eq!(body["appsecret_proof"], appsecret_proof(TOKEN, APP_SECRET));
    assert!(body["fields"].split(',').any(|f| f == "ad_name"));
    let polls = requests
        .iter()
        .filter(|r| r.url.path() == format!("{VERSION}/6023920149050"))
        .count();
    assert_eq!(polls, 3, "polled until Job Completed");
}

#[tokio::test]
async fn a_report_run_still_computing_at_the_deadline_is_resumed_by_the_next_fetch() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(insights_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"report_run_id": "777"})))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("{VERSION}/777")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": "777", "async_status": "Job Running", "async_percent_completion": 60}),
        ))
        .mount(&server)
        .await;
    let connector = connector(&server);
    let days = window("2026-03-01", "2026-03-02");
    let job = job(Level::Ad, Duration::from_millis(300));

    let first = connector.fetch(&job, days).await;

    assert_eq!(
        first.expect_err("still computing"),
        ConnectorError::Deadline
    );
    server.verify().await;
    // The next run (a new deadline): the report has completed meanwhile. No second POST.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path(insights_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"report_run_id": "778"})))
        .expect(0)
        .mount(&server)
        .await;
    mount_report(
        &server,
        "777",
        "Job Completed",
        vec![ad_row("ad-1", "2026-03-01")],
    )
    .await;
    let next = Job {
        deadline: Utc::now() + chrono::Duration::seconds(60),
        ..job
    };

    let rows = connector
        .fetch(&next, days)
        .await
        .expect("rows of the resumed report");

    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0].row_key, "facebook|act_123|ad|ad-1|2026-03-01");
    // Read: forgotten, so a third fetch of the same days starts a new report.
    server.reset().await;
    Mock::given(method("POST"))
        .and(path(insights_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"report_run_id": "779"})))
        .expect(1)
        .mount(&server)
        .await;
    mount_report(&server, "779", "Job Completed", vec![]).await;
    assert_eq!(connector.fetch(&next, days).await.map(|r| r.len()), Ok(0));
}

#[tokio::test]
async fn a_remembered_report_run_that_is_gone_is_replaced_by_a_new_one() {
    let server = MockServer::start().await;
    // Meta no longer knows report 555 (results expired).
    Mock::given(method("GET"))
        .and(path(format!("{VERSION}/555")))
        .respond_with(graph_error(
            400,
            100,
            Some(33),
            "Unsupported get request. Object with ID '555' does not exist",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(insights_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"report_run_id": "556"})))
        .expect(1)
        .mount(&server)
        .await;
    mount_report(
        &server,
        "556",
        "Job Completed",
        vec![ad_row("ad-9", "2026-03-01")],
    )
    .await;
    let job = job(Level::Ad, soon());
    let days = window("2026-03-01", "2026-03-01");
    let memory = std::sync::Arc::new(MemoryReportRuns::default());
    let key = ReportRunKey {
        tenant: job.connection.tenant_id.clone(),
        connection: job.connection.id.clone(),
        level: "ad",
        window: days,
    };
    memory.remember(&key, "555").await.expect("remembered");

    let rows = connector_keeping(&format!("{}{VERSION}", server.uri()), memory.clone())
        .fetch(&job, days)
        .await
        .expect("rows of a new report");

    assert_eq!(rows.len(), 1);
    assert_eq!(memory.recall(&key).await.expect("readable"), None);
}

#[tokio::test]
async fn a_failed_report_run_is_split_into_halves_that_succeed() {
    let server = MockServer::start().await;
    for (since, until, id) in [
        ("2026-03-01", "2026-03-04", "901"),
        ("2026-03-01", "2026-03-02", "902"),
        ("2026-03-03", "2026-03-04", "903"),
    ] {
        Mock::given(method("POST"))
            .and(path(insights_path()))
            .and(report_for(since, until))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"report_run_id": id})))
            .expect(1)
            .mount(&server)
            .await;
    }
    mount_report(&server, "901", "Job Failed", vec![]).await;
    mount_report(
        &server,
        "902",
        "Job Completed",
        vec![ad_row("ad-1", "2026-03-01"), ad_row("ad-1", "2026-03-02")],
    )
    .await;
    mount_report(
        &server,
        "903",
        "Job Completed",
        vec![ad_row("ad-1", "2026-03-03"), ad_row("ad-1", "2026-03-04")],
    )
    .await;

    let rows = fetch(&server, Level::Ad, window("2026-03-01", "2026-03-04"))
        .await
        .expect("rows");

    let dates: Vec<_> = rows.iter().map(|r| r.date.to_string()).collect();
    assert_eq!(
        dates,
        ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04"]
    );
}

#[tokio::test]
async fn a_single_day_whose_report_is_skipped_is_retryable() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(insights_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"report_run_id": "904"})))
        .expect(1)
        .mount(&server)
        .await;
    mount_report(&server, "904", "Job Skipped", vec![]).await;

    let err = fetch(&server, Level::Ad, window("2026-03-01", "2026-03-01"))
        .await
        .expect_err("a skipped day");

    let ConnectorError::Retryable(message) = &err else {
        panic!("expected Retryable, got {err:?}");
    };
    assert!(
        message.contains("report run 904") && message.contains("Job Skipped"),
        "{message}"
    );
}

// ---- throttling, budget, deadline ------------------------------------------------------

#[tokio::test]
async fn a_throttled_call_is_retried_and_yields_no_duplicate_rows() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(
            graph_error(400, 17, Some(2_446_079), "(#17) User request limit reached").insert_header(
                "x-business-use-case-usage",
                r#"{"123":[{"type":"ads_insights","call_count":100,"total_cputime":40,"total_time":40,"estimated_time_to_regain_access":0}]}"#,
            ),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(vec![campaign_row("c-1", "2026-03-01"), campaign_row("c-2", "2026-03-01")], None))
                .insert_header("x-fb-ads-insights-throttle", r#"{"app_id_util_pct":80,"acc_id_util_pct":12,"ads_api_access_tier":"standard_access"}"#),
        )
        .mount(&server)
        .await;

    let rows = fetch(&server, Level::Campaign, window("2026-03-01", "2026-03-01"))
        .await
        .expect("rows after the throttle");

    assert_eq!(rows.len(), 2);
    let mut keys: Vec<_> = rows.iter().map(|r| &r.row_key).collect();
    keys.dedup();
    assert_eq!(keys.len(), 2, "no duplicate rows");
    assert_eq!(received(&server).await.len(), 2);
}

#[tokio::test]
async fn a_throttle_that_outlasts_the_budget_is_retryable_naming_the_last_error() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(graph_error(
            400,
            4,
            None,
            "(#4) Application request limit reached",
        ))
        .expect(3)
        .mount(&server)
        .await;

    let err = fetch(&server, Level::Campaign, window("2026-03-01", "2026-03-01"))
        .await
        .expect_err("throttled throughout");

    let ConnectorError::Retryable(message) = &err else {
        panic!("expected Retryable, got {err:?}");
    };
    assert!(
        message.contains("(#4) Application request limit reached"),
        "{message}"
    );
    assert!(message.contains("fbtrace_id AbCdEfGh123"), "{message}");
    assert!(message.contains("gave up after 3 attempts"), "{message}");
}

#[tokio::test]
async fn a_server_error_is_retried() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(
            ResponseTemplate::new(503).set_body_string("<html>Service Unavailable</html>"),
        )
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(vec![campaign_row("c-1", "2026-03-01")], None)),
        )
        .mount(&server)
        .await;

    let rows = fetch(&server, Level::Campaign, window("2026-03-01", "2026-03-01")).await;

    assert_eq!(rows.expect("rows").len(), 1);
}

#[tokio::test]
async fn a_throttle_whose_regain_time_is_past_the_deadline_stops_at_once_with_deadline() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(
            graph_error(400, 80000, Some(2_446_079), "There have been too many calls from this ad-account.").insert_header(
                "x-business-use-case-usage",
                r#"{"123":[{"type":"ads_insights","call_count":100,"total_cputime":100,"total_time":100,"estimated_time_to_regain_access":30}]}"#,
            ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let job = job(Level::Campaign, Duration::from_secs(20));
    let started = Instant::now();

    let result = connector(&server)
        .fetch(&job, window("2026-03-01", "2026-03-01"))
        .await;

    assert_eq!(
        result.expect_err("past the deadline"),
        ConnectorError::Deadline
    );
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_hold_off_asked_for_by_one_fetch_is_honoured_by_the_next_fetch_of_the_account() {
    // The first chunk's last answer succeeds but says the account is out of capacity for a
    // minute; the run's next chunk, on the same connector, must not call before then.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(vec![campaign_row("c-1", "2026-03-01")], None))
                .insert_header(
                    "x-business-use-case-usage",
                    r#"{"123":[{"type":"ads_insights","call_count":100,"total_cputime":100,"total_time":100,"estimated_time_to_regain_access":1}]}"#,
                ),
        )
        .expect(1)
        .mount(&server)
        .await;
    let connector = connector(&server);

    let first = connector
        .fetch(
            &job(Level::Campaign, soon()),
            window("2026-03-01", "2026-03-01"),
        )
        .await;
    assert_eq!(first.map(|rows| rows.len()), Ok(1));
    let started = Instant::now();
    let second = connector
        .fetch(
            &job(Level::Campaign, Duration::from_secs(20)),
            window("2026-03-02", "2026-03-02"),
        )
        .await;

    assert_eq!(second.expect_err("held off"), ConnectorError::Deadline);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_passed_deadline_sends_nothing() {
    let server = MockServer::start().await;
    let mut job = job(Level::Campaign, soon());
    job.deadline = Utc::now() - chrono::Duration::seconds(1);

    let result = connector(&server)
        .fetch(&job, window("2026-03-01", "2026-03-01"))
        .await;

    assert_eq!(result.expect_err("deadline"), ConnectorError::Deadline);
    assert!(received(&server).await.is_empty());
}

#[tokio::test]
async fn reduce_the_amount_of_data_retries_with_half_the_page_size() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .and(query_param("limit", "500"))
        .respond_with(graph_error(
            500,
            1,
            Some(99),
            "Please reduce the amount of data you're asking for, then retry your request",
        ))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .and(query_param("limit", "250"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(page(vec![campaign_row("c-1", "2026-03-01")], None)),
        )
        .expect(1)
        .mount(&server)
        .await;

    let rows = fetch(&server, Level::Campaign, window("2026-03-01", "2026-03-01"))
        .await
        .expect("rows in smaller pages");

    assert_eq!(rows.len(), 1);
    let requests = received(&server).await;
    assert_eq!(query(&requests[1])["limit"], "250");
}

// ---- auth, credentials, secrets ----------------------------------------------------------

#[tokio::test]
async fn an_invalid_token_is_auth_after_exactly_one_request() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(graph_error(
            400,
            190,
            Some(463),
            "Error validating access token: Session has expired",
        ))
        .expect(1)
        .mount(&server)
        .await;

    let err = fetch(&server, Level::Campaign, window("2026-03-01", "2026-03-01"))
        .await
        .expect_err("expired token");

    let ConnectorError::Auth(message) = &err else {
        panic!("expected Auth, got {err:?}");
    };
    assert!(message.contains("Session has expired"), "{message}");
    assert_no_secret(message);
}

#[tokio::test]
async fn other_client_errors_are_permanent_with_metas_message_and_trace_id() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(graph_error(400, 100, None, "(#100) Invalid parameter"))
        .expect(1)
        .mount(&server)
        .await;

    let err = fetch(&server, Level::Campaign, window("2026-03-01", "2026-03-01"))
        .await
        .expect_err("a bad request");

    let ConnectorError::Permanent(message) = &err else {
        panic!("expected Permanent, got {err:?}");
    };
    assert!(
        message.contains("(#100) Invalid parameter") && message.contains("fbtrace_id AbCdEfGh123"),
        "{message}"
    );
}

#[tokio::test]
async fn appsecret_proof_is_the_hmac_sha256_of_the_token_keyed_by_the_app_secret() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{VERSION}/{ACCOUNT}")))
        .and(query_param("fields", "timezone_name,currency"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": ACCOUNT, "timezone_name": "America/Los_Angeles", "currency": "USD"}),
        ))
        .expect(1)
        .mount(&server)
        .await;

    let tz = connector(&server)
        .time_zone(&job(Level::Campaign, soon()))
        .await;

    assert_eq!(tz.expect("a time zone"), chrono_tz::America::Los_Angeles);
    let mut mac = Hmac::<Sha256>::new_from_slice(APP_SECRET.as_bytes()).expect("a key");
    mac.update(TOKEN.as_bytes());
    let expected: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let requests = received(&server).await;
    let q = query(&requests[0]);
    assert_eq!(q["appsecret_proof"], expected);
    assert_eq!(q["access_token"], TOKEN);
}

#[tokio::test]
async fn an_unknown_time_zone_is_permanent_and_named() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(format!("{VERSION}/{ACCOUNT}")))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": ACCOUNT, "timezone_name": "Mars/Olympus_Mons", "currency": "USD"}),
        ))
        .mount(&server)
        .await;

    let err = connector(&server)
        .time_zone(&job(Level::Campaign, soon()))
        .await;

    let Err(ConnectorError::Permanent(message)) = err else {
        panic!("expected Permanent, got {err:?}");
    };
    assert!(message.contains("Mars/Olympus_Mons"), "{message}");
}

#[tokio::test]
async fn a_missing_facebook_app_is_permanent_and_sends_nothing() {
    let server = MockServer::start().await;
    let mut job = job(Level::Campaign, soon());
    job.credentials.app.facebook = None;

    let err = connector(&server)
        .fetch(&job, window("2026-03-01", "2026-03-01"))
        .await;

    assert_eq!(
        err.expect_err("no app"),
        ConnectorError::Permanent("app credentials have no facebook app".into())
    );
    assert!(received(&server).await.is_empty());
}

#[tokio::test]
async fn the_token_never_appears_in_an_error_message() {
    // Meta echoing the token back in its message.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(graph_error(
            400,
            190,
            None,
            &format!("Malformed access token {TOKEN}"),
        ))
        .mount(&server)
        .await;
    let echoed = fetch(&server, Level::Campaign, window("2026-03-01", "2026-03-01")).await;

    // A paging.next that points away from the Graph API, token and all.
    let other = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![campaign_row("c-1", "2026-03-01")],
            Some(format!(
                "https://graph.example.net/v26.0/act_123/insights?access_token={TOKEN}&after=x"
            )),
        )))
        .mount(&other)
        .await;
    let elsewhere = fetch(&other, Level::Campaign, window("2026-03-01", "2026-03-01")).await;

    // Nothing listening: the transport error must not quote the URL.
    let refused = connector_at("http://127.0.0.1:9/v26.0")
        .fetch(
            &job(Level::Campaign, soon()),
            window("2026-03-01", "2026-03-01"),
        )
        .await;

    for (case, result) in [
        ("echoed", echoed),
        ("elsewhere", elsewhere),
        ("refused", refused),
    ] {
        let err = result.expect_err(case);
        assert!(!matches!(err, ConnectorError::Deadline), "{case}");
        assert_no_secret(&err.to_string());
    }
}

// ---- malformed platform data --------------------------------------------------------

/// Serves `body` as the only insights page and returns the connector's error.
async fn error_for(body: ResponseTemplate) -> ConnectorError {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(body)
        .mount(&server)
        .await;
    fetch(&server, Level::Campaign, window("2026-03-01", "2026-03-02"))
        .await
        .expect_err("malformed data")
}

fn rows_with(i: usize, field: &str, value: Value) -> ResponseTemplate {
    let mut rows: Vec<Value> = (0..4)
        .map(|n| campaign_row(&format!("c-{n}"), "2026-03-01"))
        .collect();
    if value.is_null() {
        rows[i].as_object_mut().expect("an object").remove(field);
    } else {
        rows[i][field] = value;
    }
    ResponseTemplate::new(200).set_body_json(page(rows, None))
}

#[tokio::test]
async fn malformed_platform_data_is_permanent_and_names_the_field() {
    let cases = [
        (
            rows_with(3, "spend", json!("12,5")),
            r#"facebook insights: data[3].spend: invalid decimal "12,5""#,
        ),
        (
            rows_with(1, "campaign_id", Value::Null),
            "facebook insights: data[1].campaign_id: missing",
        ),
        (
            rows_with(0, "date_start", Value::Null),
            "facebook insights: data[0].date_start: missing",
        ),
        (
            rows_with(2, "impressions", json!({"value": 3})),
            "facebook insights: data[2].impressions",
        ),
        (
            rows_with(2, "clicks", json!("many")),
            r#"facebook insights: data[2].clicks: not a whole number: "many""#,
        ),
        (
            rows_with(1, "actions", json!("none")),
            "facebook insights: data[1].actions",
        ),
        (
            rows_with(0, "date_start", json!("2026-02-01")),
            "data[0].date_start: 2026-02-01 is outside the window",
        ),
        (
            rows_with(0, "reach", json!("1e9")),
            "data[0].reach: not a decimal number",
        ),
        (
            ResponseTemplate::new(200).set_body_json(json!({"paging": {}})),
            "missing field `data`",
        ),
        (
            ResponseTemplate::new(200).set_body_string(r#"{"data": [{"campaign_id": "c-1", "#),
            "facebook insights: ",
        ),
    ];
    for (body, expected) in cases {
        let err = error_for(body).await;
        let ConnectorError::Permanent(message) = &err else {
            panic!("{expected}: expected Permanent, got {err:?}");
        };
        assert!(
            message.contains(expected),
            "{message:?} should contain {expected:?}"
        );
        assert_no_secret(message);
    }
}

#[tokio::test]
async fn a_malformed_later_page_returns_no_rows_at_all() {
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .and(query_param_is_missing("after"))
        .respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![campaign_row("c-1", "2026-03-01")],
            Some(next_url(&server, &format!("{ACCOUNT}/insights"), "p2")),
        )))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .and(query_param("after", "p2"))
        .respond_with(rows_with(0, "spend", json!(true)))
        .mount(&server)
        .await;

    let result = fetch(&server, Level::Campaign, window("2026-03-01", "2026-03-01")).await;

    let Err(ConnectorError::Permanent(message)) = result else {
        panic!("expected Permanent, got {result:?}");
    };
    assert!(message.contains("data[0].spend"), "{message}");
}

// ---- memory: page by page, bounded bodies -------------------------------------------

#[tokio::test]
async fn each_page_is_handed_on_as_it_is_read_and_the_next_waits_for_it_to_be_taken() {
    use extractor::ports::Pages;
    let server = MockServer::start().await;
    let edge = format!("{ACCOUNT}/insights");
    for n in 1..=4 {
        let after = (n > 1).then(|| format!("p{n}"));
        let next = (n < 4).then(|| next_url(&server, &edge, &format!("p{}", n + 1)));
        let mock = Mock::given(method("GET")).and(path(insights_path()));
        let mock = match &after {
            Some(a) => mock.and(query_param("after", a.as_str())),
            None => mock.and(query_param_is_missing("after")),
        };
        mock.respond_with(ResponseTemplate::new(200).set_body_json(page(
            vec![campaign_row(&format!("c-{n}"), "2026-03-01")],
            next,
        )))
        .mount(&server)
        .await;
    }
    let (pages, mut received) = Pages::channel();
    let connector = connector(&server);
    let job = job(Level::Campaign, soon());
    let fetching = tokio::spawn(async move {
        connector
            .fetch_pages(&job, window("2026-03-01", "2026-03-01"), &pages)
            .await
    });
    // Nothing is taken: one page waits, the reader blocks on the next and asks no further.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let asked = server.received_requests().await.unwrap_or_default().len();
    assert!(asked <= 2, "{asked} pages read while none was taken");
    let mut ids = Vec::new();
    while let Some(page) = received.recv().await {
        assert_eq!(page.len(), 1, "one page at a time");
        ids.extend(page.into_iter().filter_map(|r| r.campaign_id));
    }
    fetching.await.expect("joined").expect("fetched");
    assert_eq!(ids, ["c-1", "c-2", "c-3", "c-4"]);
}

#[tokio::test]
async fn an_answer_larger_than_the_cap_fails_the_fetch_with_a_message() {
    let server = MockServer::start().await;
    let huge = vec![b' '; extractor::connectors::BODY_CAP + 1];
    Mock::given(method("GET"))
        .and(path(insights_path()))
        .respond_with(ResponseTemplate::new(200).set_body_raw(huge, "application/json"))
        .mount(&server)
        .await;
    let err = fetch(&server, Level::Campaign, window("2026-03-01", "2026-03-01"))
        .await
        .expect_err("a refusal");
    let message = err.to_string();
    assert!(
        message.contains("larger than adpipe reads (64 MiB)"),
        "{message}"
    );
    assert!(matches!(err, ConnectorError::Permanent(_)), "{err:?}");
    assert_no_secret(&message);
}
