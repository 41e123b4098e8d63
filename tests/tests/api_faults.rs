//! Injected faults: a dependency failing mid-operation leaves nothing half-made.

use adpipe_testkit::{FaultProxy, aws};
use serde_json::json;

use crate::common::{Tenant, connection_body, error_of};

#[tokio::test]
async fn put_targets_failing_leaves_no_rule_and_answers_503() {
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let t = Tenant::at(&proxy.endpoint()).await;
    let conn = t.create_connection("facebook").await;
    let before = t.holdings().await;
    proxy.fail("AWSEvents.PutTargets");
    let reply = t
        .call(
            "POST",
            "/v1/schedules",
            Some(json!({"connection_id": conn, "schedule_expression": "rate(1 day)"})),
        )
        .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    let (code, _) = error_of(&reply);
    assert_eq!(code, "dependency_unavailable");
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("EventBridge")
    );
    assert_eq!(proxy.hits("AWSEvents.PutRule"), 1);
    assert_eq!(
        proxy.hits("AWSEvents.DeleteRule"),
        1,
        "the rule is deleted again"
    );
    assert_eq!(t.holdings().await, before, "no rule, no record");
}

#[tokio::test]
async fn the_control_table_failing_after_the_rule_leaves_no_rule() {
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let t = Tenant::at(&proxy.endpoint()).await;
    let conn = t.create_connection("facebook").await;
    let before = t.holdings().await;
    proxy.fail("DynamoDB_20120810.TransactWriteItems");
    let reply = t
        .call(
            "POST",
            "/v1/schedules",
            Some(json!({"connection_id": conn, "schedule_expression": "rate(1 day)"})),
        )
        .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("DynamoDB")
    );
    assert_eq!(
        t.holdings().await,
        before,
        "the rule was removed with the failed record"
    );
}

#[tokio::test]
async fn secrets_manager_failing_on_a_new_connection_leaves_no_record() {
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let t = Tenant::at(&proxy.endpoint()).await;
    proxy.fail("secretsmanager.CreateSecret");
    let reply = t
        .call("POST", "/v1/connections", Some(connection_body("facebook")))
        .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Secrets Manager")
    );
    assert!(!reply.body.to_string().contains("EAAB-test-token"));
    assert_eq!(t.holdings().await, Default::default());
}

#[tokio::test]
async fn the_record_failing_after_the_secret_removes_the_secret() {
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let t = Tenant::at(&proxy.endpoint()).await;
    proxy.fail("DynamoDB_20120810.PutItem");
    let reply = t
        .call("POST", "/v1/connections", Some(connection_body("youtube")))
        .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert_eq!(proxy.hits("secretsmanager.DeleteSecret"), 1);
    assert_eq!(t.holdings().await, Default::default());
}

#[tokio::test]
async fn a_failed_patch_restores_the_rule() {
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let t = Tenant::at(&proxy.endpoint()).await;
    let conn = t.create_connection("facebook").await;
    let s = t.create_schedule(&conn, "rate(1 day)").await;
    proxy.fail("DynamoDB_20120810.PutItem");
    let path = format!("/v1/schedules/{}", s["id"].as_str().unwrap());
    let reply = t
        .call(
            "PATCH",
            &path,
            Some(json!({"schedule_expression": "rate(2 days)", "enabled": false})),
        )
        .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    proxy.heal("DynamoDB_20120810.PutItem");
    let rule = aws()
        .eventbridge()
        .await
        .describe_rule()
        .name(s["rule_name"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(rule.schedule_expression(), Some("rate(1 day)"));
    assert_eq!(rule.state().map(|s| s.as_str()), Some("ENABLED"));
    assert_eq!(t.call("GET", &path, None).await.body, s);
}

#[tokio::test]
async fn a_failed_rule_deletion_keeps_the_schedule_so_delete_can_be_retried() {
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let t = Tenant::at(&proxy.endpoint()).await;
    let conn = t.create_connection("facebook").await;
    let s = t.create_schedule(&conn, "rate(1 day)").await;
    let path = format!("/v1/schedules/{}", s["id"].as_str().unwrap());
    proxy.fail("AWSEvents.DeleteRule");
    assert_eq!(t.call("DELETE", &path, None).await.status, 503);
    assert_eq!(
        t.call("GET", &path, None).await.status,
        200,
        "the record stays while its rule does"
    );
    proxy.heal("AWSEvents.DeleteRule");
    assert_eq!(t.call("DELETE", &path, None).await.status, 204);
    assert!(t.holdings().await.rules.is_empty());
}

#[tokio::test]
async fn run_now_with_lambda_failing_answers_503() {
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let t = Tenant::at(&proxy.endpoint()).await;
    let conn = t.create_connection("facebook").await;
    let s = t.create_schedule(&conn, "rate(1 day)").await;
    proxy.fail_path_prefix("/2015-03-31/functions/");
    let reply = t
        .call(
            "POST",
            &format!("/v1/schedules/{}/runs", s["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(reply.status, 503, "{}", reply.body);
    assert!(
        reply.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Lambda")
    );
}
