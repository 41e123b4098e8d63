//! Concurrent writes to one schedule: whatever order they land in, the schedule's record
//! and its EventBridge rule agree afterwards (the record is the source of truth).

use adpipe_testkit::aws;
use serde_json::{Value, json};

use crate::common::Tenant;

const ROUNDS: usize = 12;

/// The rule's `(state, expression)`, or `None` when it does not exist.
async fn rule_state(rule_name: &str) -> Option<(String, String)> {
    let eb = aws().eventbridge().await;
    match eb.describe_rule().name(rule_name).send().await {
        Ok(rule) => Some((
            rule.state()
                .map(|s| s.as_str().to_owned())
                .unwrap_or_default(),
            rule.schedule_expression().unwrap_or_default().to_owned(),
        )),
        Err(e) => {
            let e = e.into_service_error();
            assert!(e.is_resource_not_found_exception(), "DescribeRule: {e}");
            None
        }
    }
}

/// Asserts the rule says what the record says (and is gone with the record).
async fn assert_agree(t: &Tenant, id: &str, rule_name: &str, round: usize) {
    let reply = t.call("GET", &format!("/v1/schedules/{id}"), None).await;
    let rule = rule_state(rule_name).await;
    match reply.status {
        200 => {
            let record: &Value = &reply.body;
            let state = if record["enabled"] == json!(true) {
                "ENABLED"
            } else {
                "DISABLED"
            };
            let expected = (
                state.to_owned(),
                record["schedule_expression"].as_str().unwrap().to_owned(),
            );
            assert_eq!(rule, Some(expected), "round {round}: record {record}");
        }
        404 => assert_eq!(
            rule, None,
            "round {round}: the record is gone, the rule is not"
        ),
        other => panic!("round {round}: GET answered {other}: {}", reply.body),
    }
}

#[tokio::test]
async fn concurrent_patches_leave_the_record_and_the_rule_in_agreement() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let mut statuses = Vec::new();
    for round in 0..ROUNDS {
        let s = t.create_schedule(&conn, "rate(1 hour)").await;
        let id = s["id"].as_str().unwrap().to_owned();
        let rule_name = s["rule_name"].as_str().unwrap().to_owned();
        let path = format!("/v1/schedules/{id}");
        let (a, b) = tokio::join!(
            t.call("PATCH", &path, Some(json!({"enabled": false}))),
            t.call(
                "PATCH",
                &path,
                Some(json!({"schedule_expression": "rate(2 hours)"}))
            ),
        );
        for reply in [&a, &b] {
            assert!(
                matches!(reply.status, 200 | 409),
                "round {round}: {} {}",
                reply.status,
                reply.body
            );
        }
        statuses.push((a.status, b.status));
        assert_agree(&t, &id, &rule_name, round).await;
    }
    // The race was real: in some rounds both requests read the same version.
    assert!(
        statuses.iter().any(|s| s.0 == 409 || s.1 == 409),
        "no round raced: {statuses:?}"
    );
}

#[tokio::test]
async fn delete_racing_patch_leaves_no_rule_without_its_record() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    for round in 0..ROUNDS {
        let s = t.create_schedule(&conn, "rate(1 hour)").await;
        let id = s["id"].as_str().unwrap().to_owned();
        let rule_name = s["rule_name"].as_str().unwrap().to_owned();
        let path = format!("/v1/schedules/{id}");
        let patch = json!({"schedule_expression": format!("rate({} hours)", round + 2)});
        let (deleted, patched) = tokio::join!(
            t.call("DELETE", &path, None),
            t.call("PATCH", &path, Some(patch)),
        );
        assert!(
            matches!(deleted.status, 204 | 404),
            "round {round}: DELETE {} {}",
            deleted.status,
            deleted.body
        );
        assert!(
            matches!(patched.status, 200 | 404 | 409),
            "round {round}: PATCH {} {}",
            patched.status,
            patched.body
        );
        assert_agree(&t, &id, &rule_name, round).await;
        // Deleting what is left must leave nothing behind.
        let again = t.call("DELETE", &path, None).await;
        assert!(matches!(again.status, 204 | 404), "{}", again.body);
        assert_eq!(rule_state(&rule_name).await, None, "round {round}");
    }
    let holdings = t.holdings().await;
    assert!(
        holdings.rules.is_empty(),
        "orphan rules: {:?}",
        holdings.rules
    );
}
