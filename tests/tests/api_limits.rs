//! Per-tenant quotas and rates: what one tenant may hold and do, so no tenant can use up
//! what every tenant shares (the account's rules, Lambda concurrency, platform quotas).

use adpipe_testkit::aws;
use aws_sdk_dynamodb::types::AttributeValue;
use schedule_api::Limits;
use serde_json::json;

use crate::common::{Tenant, connection_body, error_of};

fn limits(adjust: impl FnOnce(&mut Limits)) -> Limits {
    let mut limits = Limits::default();
    adjust(&mut limits);
    limits
}

#[tokio::test]
async fn connections_stop_at_the_tenant_limit_before_a_secret_is_made() {
    let t = Tenant::with_limits(limits(|l| l.connections_per_tenant = 2)).await;
    let first = t.create_connection("facebook").await;
    t.create_connection("google_ads").await;
    let third = t
        .call("POST", "/v1/connections", Some(connection_body("youtube")))
        .await;
    assert_eq!(third.status, 409, "{}", third.body);
    let (code, _) = error_of(&third);
    assert_eq!(code, "quota_exceeded");
    let message = third.body["error"]["message"].as_str().unwrap();
    assert!(message.contains("MAX_CONNECTIONS_PER_TENANT"), "{message}");
    assert!(message.contains('2'), "{message}");
    let holdings = t.holdings().await;
    assert_eq!(holdings.secrets.len(), 2, "{:?}", holdings.secrets);

    // Deleting one makes room again.
    let deleted = t
        .call("DELETE", &format!("/v1/connections/{first}"), None)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    t.create_connection("youtube").await;
}

#[tokio::test]
async fn a_tenant_from_before_counters_is_counted_from_what_it_holds() {
    let t = Tenant::with_limits(limits(|l| l.connections_per_tenant = 2)).await;
    t.create_connection("facebook").await;
    t.create_connection("facebook").await;
    // As if the connections had been made before the counter existed.
    aws()
        .dynamodb()
        .await
        .delete_item()
        .table_name(&aws().control_table)
        .key("pk", AttributeValue::S(format!("TENANT#{}", t.id)))
        .key("sk", AttributeValue::S("COUNT#connections".into()))
        .send()
        .await
        .unwrap();
    let third = t
        .call("POST", "/v1/connections", Some(connection_body("facebook")))
        .await;
    assert_eq!(third.status, 409, "{}", third.body);
    let counter = t.control_item("COUNT#connections").await.expect("counter");
    assert_eq!(counter["count"], AttributeValue::N("2".into()));
}

#[tokio::test]
async fn schedules_stop_at_the_connection_and_tenant_limits_before_a_rule_is_made() {
    let t = Tenant::with_limits(limits(|l| {
        l.schedules_per_tenant = 3;
        l.schedules_per_connection = 2;
    }))
    .await;
    let (a, b) = (
        t.create_connection("facebook").await,
        t.create_connection("facebook").await,
    );
    let first = t.create_schedule(&a, "rate(1 day)").await;
    t.create_schedule(&a, "rate(1 day)").await;
    let body = |conn: &str| json!({"connection_id": conn, "schedule_expression": "rate(1 day)"});
    let on_a = t.call("POST", "/v1/schedules", Some(body(&a))).await;
    assert_eq!(on_a.status, 409, "{}", on_a.body);
    assert_eq!(error_of(&on_a).0, "quota_exceeded");
    assert!(
        on_a.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MAX_SCHEDULES_PER_CONNECTION"),
        "{}",
        on_a.body
    );
    t.create_schedule(&b, "rate(1 day)").await;
    let on_b = t.call("POST", "/v1/schedules", Some(body(&b))).await;
    assert_eq!(on_b.status, 409, "{}", on_b.body);
    assert!(
        on_b.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("MAX_SCHEDULES_PER_TENANT"),
        "{}",
        on_b.body
    );
    assert_eq!(t.holdings().await.rules.len(), 3);

    // A deleted schedule gives its unit back to both counts.
    let id = first["id"].as_str().unwrap();
    let deleted = t.call("DELETE", &format!("/v1/schedules/{id}"), None).await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);
    t.create_schedule(&a, "rate(1 day)").await;
    assert_eq!(t.holdings().await.rules.len(), 3);
}

#[tokio::test]
async fn concurrent_creations_never_pass_the_limit() {
    let t = Tenant::with_limits(limits(|l| l.schedules_per_tenant = 3)).await;
    let conn = t.create_connection("facebook").await;
    let body = json!({"connection_id": conn, "schedule_expression": "rate(1 day)"});
    let replies = futures_util::future::join_all(
        (0..7).map(|_| t.call("POST", "/v1/schedules", Some(body.clone()))),
    )
    .await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let refused = replies
        .iter()
        .filter(|r| r.status == 409 && error_of(r).0 == "quota_exceeded")
        .count();
    assert_eq!(
        (created, refused),
        (3, 4),
        "{:?}",
        replies.iter().map(|r| r.status).collect::<Vec<_>>()
    );
    assert_eq!(t.holdings().await.rules.len(), 3);
}

#[tokio::test]
async fn a_schedule_that_would_re_read_too_many_days_a_day_is_refused_with_the_reason() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    // 288 firings a day × (28 + 1) days each = 8352 days a day.
    let body = json!({"connection_id": conn, "schedule_expression": "rate(5 minutes)", "report": {"lookback_days": 28}});
    let reply = t.call("POST", "/v1/schedules", Some(body)).await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(error_of(&reply).1.as_deref(), Some("report.lookback_days"));
    let message = reply.body["error"]["message"].as_str().unwrap();
    for part in ["8352", "288", "MAX_READ_DAYS_PER_DAY", "1000"] {
        assert!(message.contains(part), "{part} not in {message}");
    }
    assert!(t.holdings().await.rules.is_empty());

    // The same limit holds when a PATCH makes an existing schedule fire more often.
    let s = t.create_schedule(&conn, "rate(1 day)").await;
    let path = format!("/v1/schedules/{}", s["id"].as_str().unwrap());
    let reply = t
        .call(
            "PATCH",
            &path,
            Some(json!({"schedule_expression": "rate(5 minutes)"})),
        )
        .await;
    assert_eq!(reply.status, 400, "{}", reply.body);
    assert_eq!(error_of(&reply).1.as_deref(), Some("schedule_expression"));
    let unchanged = t.call("GET", &path, None).await;
    assert_eq!(unchanged.body["schedule_expression"], "rate(1 day)");
    // A short lookback makes a frequent schedule affordable.
    let reply = t
        .call(
            "PATCH",
            &path,
            Some(json!({"schedule_expression": "rate(5 minutes)", "report": {"lookback_days": 1}})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
}

/// Waits out the end of the clock minute, so a test's requests share one rate window.
async fn early_in_a_minute() {
    let second = chrono::Utc::now().timestamp().rem_euclid(60);
    if second > 45 {
        tokio::time::sleep(std::time::Duration::from_secs((61 - second) as u64)).await;
    }
}

#[tokio::test]
async fn one_run_now_at_a_time_per_schedule() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let s = t.create_schedule(&conn, "rate(1 day)").await;
    let path = format!("/v1/schedules/{}/runs", s["id"].as_str().unwrap());
    let first = t.call("POST", &path, None).await;
    assert_eq!(first.status, 202, "{}", first.body);
    let run_id = first.body["run_id"].as_str().unwrap();
    let second = t.call("POST", &path, None).await;
    assert_eq!(second.status, 409, "{}", second.body);
    assert_eq!(error_of(&second).0, "run_in_progress");
    let message = second.body["error"]["message"].as_str().unwrap();
    assert!(message.contains(run_id), "{message}");

    // Another schedule of the tenant is not held up.
    let other = t.create_schedule(&conn, "rate(1 day)").await;
    let other_path = format!("/v1/schedules/{}/runs", other["id"].as_str().unwrap());
    let reply = t.call("POST", &other_path, None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
}

#[tokio::test]
async fn run_now_is_rate_limited_per_tenant_with_retry_after() {
    let t = Tenant::with_limits(limits(|l| l.run_now_per_minute = 2)).await;
    let other = Tenant::with_limits(limits(|l| l.run_now_per_minute = 2)).await;
    let conn = t.create_connection("facebook").await;
    let mut paths = Vec::new();
    for _ in 0..3 {
        let s = t.create_schedule(&conn, "rate(1 day)").await;
        paths.push(format!("/v1/schedules/{}/runs", s["id"].as_str().unwrap()));
    }
    let other_conn = other.create_connection("facebook").await;
    let other_schedule = other.create_schedule(&other_conn, "rate(1 day)").await;

    early_in_a_minute().await;
    for path in &paths[..2] {
        let reply = t.call("POST", path, None).await;
        assert_eq!(reply.status, 202, "{}", reply.body);
    }
    let limited = t.call("POST", &paths[2], None).await;
    assert_eq!(limited.status, 429, "{}", limited.body);
    assert_eq!(error_of(&limited).0, "rate_limited");
    let retry_after: u64 = limited.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert!(
        limited.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("RUN_NOW_PER_MINUTE")
    );
    // Another tenant's rate is its own.
    let path = format!(
        "/v1/schedules/{}/runs",
        other_schedule["id"].as_str().unwrap()
    );
    let reply = other.call("POST", &path, None).await;
    assert_eq!(reply.status, 202, "{}", reply.body);
}
