//! `Idempotency-Key` on `POST /v1/schedules`.

use serde_json::json;

use crate::common::{Tenant, error_of};

#[tokio::test]
async fn the_same_key_and_body_answer_the_first_result_and_create_nothing_more() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let body = json!({"connection_id": conn, "schedule_expression": "rate(1 day)"});
    let first = t
        .send(
            t.request("POST", "/v1/schedules")
                .json(&body)
                .header("idempotency-key", "k-1"),
        )
        .await;
    assert_eq!(first.status, 201, "{}", first.body);
    // Same JSON, other key order and spacing: the same request.
    let same =
        format!("{{ \"schedule_expression\": \"rate(1 day)\",  \"connection_id\": \"{conn}\" }}");
    let replay = t
        .send(
            t.request("POST", "/v1/schedules")
                .raw_body(&same)
                .header("idempotency-key", "k-1"),
        )
        .await;
    assert_eq!(replay.status, 201);
    assert_eq!(replay.body, first.body);
    assert_eq!(
        replay
            .headers
            .get("idempotent-replayed")
            .map(|v| v.to_str().unwrap()),
        Some("true")
    );
    assert_eq!(t.holdings().await.rules.len(), 1);
}

#[tokio::test]
async fn the_same_key_with_another_body_is_a_conflict() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let first = t
        .send(
            t.request("POST", "/v1/schedules")
                .json(&json!({"connection_id": conn, "schedule_expression": "rate(1 day)"}))
                .header("idempotency-key", "k-2"),
        )
        .await;
    assert_eq!(first.status, 201);
    let other = t
        .send(
            t.request("POST", "/v1/schedules")
                .json(&json!({"connection_id": conn, "schedule_expression": "rate(2 days)"}))
                .header("idempotency-key", "k-2"),
        )
        .await;
    assert_eq!(other.status, 409);
    assert_eq!(
        error_of(&other),
        (
            "idempotency_key_reused".into(),
            Some("Idempotency-Key".into())
        )
    );
    assert_eq!(t.holdings().await.rules.len(), 1);
}

#[tokio::test]
async fn a_refused_request_does_not_spend_its_key() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let bad = t
        .send(
            t.request("POST", "/v1/schedules")
                .json(&json!({"connection_id": conn, "schedule_expression": "rate(1 minute)"}))
                .header("idempotency-key", "k-3"),
        )
        .await;
    assert_eq!(bad.status, 400);
    let fixed = t
        .send(
            t.request("POST", "/v1/schedules")
                .json(&json!({"connection_id": conn, "schedule_expression": "rate(5 minutes)", "report": {"lookback_days": 1}}))
                .header("idempotency-key", "k-3"),
        )
        .await;
    assert_eq!(fixed.status, 201, "{}", fixed.body);
}

#[tokio::test]
async fn keys_are_scoped_to_the_tenant() {
    let a = Tenant::new().await;
    let b = Tenant::other().await;
    let (ca, cb) = (
        a.create_connection("facebook").await,
        b.create_connection("facebook").await,
    );
    let ra = a
        .send(
            a.request("POST", "/v1/schedules")
                .json(&json!({"connection_id": ca, "schedule_expression": "rate(1 day)"}))
                .header("idempotency-key", "shared"),
        )
        .await;
    let rb = b
        .send(
            b.request("POST", "/v1/schedules")
                .json(&json!({"connection_id": cb, "schedule_expression": "rate(1 day)"}))
                .header("idempotency-key", "shared"),
        )
        .await;
    assert_eq!((ra.status, rb.status), (201, 201));
    assert_ne!(ra.body["id"], rb.body["id"]);
}
