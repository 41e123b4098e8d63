//! Schedules: each is one EventBridge rule with one target, the extractor.

use adpipe_testkit::{aws, render_input};
use serde_json::json;

use crate::common::{Tenant, error_of, event};

async fn rule_and_target(
    rule_name: &str,
) -> (
    aws_sdk_eventbridge::operation::describe_rule::DescribeRuleOutput,
    Vec<aws_sdk_eventbridge::types::Target>,
) {
    let eb = aws().eventbridge().await;
    let rule = eb
        .describe_rule()
        .name(rule_name)
        .send()
        .await
        .expect("the rule exists");
    let targets = eb
        .list_targets_by_rule()
        .rule(rule_name)
        .send()
        .await
        .unwrap()
        .targets
        .unwrap_or_default();
    (rule, targets)
}

#[tokio::test]
async fn creating_a_schedule_creates_its_rule_and_extractor_target_with_the_contract_input() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let body = json!({"connection_id": conn, "schedule_expression": "cron(0 6 * * ? *)", "report": {"level": "ad", "lookback_days": 7}, "description": "daily ads"});
    let reply = t.call("POST", "/v1/schedules", Some(body)).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let s = &reply.body;
    let id = s["id"].as_str().unwrap();
    assert_eq!(s["rule_name"], json!(format!("{}{id}", t.rule_prefix)));
    assert_eq!(
        s["report"],
        json!({"level": "ad", "lookback_days": 7, "backfill_days": 30})
    );
    assert_eq!(s["enabled"], true);
    assert_eq!(s["connection_id"], json!(conn));

    let (rule, targets) = rule_and_target(s["rule_name"].as_str().unwrap()).await;
    assert_eq!(rule.schedule_expression(), Some("cron(0 6 * * ? *)"));
    assert_eq!(rule.state().map(|s| s.as_str()), Some("ENABLED"));
    assert_eq!(rule.arn(), s["rule_arn"].as_str());
    assert_eq!(targets.len(), 1);
    assert_eq!(targets[0].arn(), aws().extractor_function_arn.as_str());
    let transformer = targets[0]
        .input_transformer()
        .expect("an input transformer");
    let rendered = render_input(
        transformer.input_template(),
        transformer.input_paths_map().unwrap(),
        &event("eventbridge/scheduled-event.json"),
    )
    .unwrap();
    assert_eq!(
        rendered,
        json!({"kind": "scheduled", "tenant_id": t.id, "schedule_id": id, "scheduled_time": "2026-11-27T06:00:00Z", "event_id": "89d1a02d-5ec7-412e-82f5-13505f849b41"})
    );
    let parsed: adpipe_domain::ExtractorEvent =
        serde_json::from_value(rendered).expect("the extractor reads it");
    assert_eq!(parsed.schedule_id().as_str(), id);
}

#[tokio::test]
async fn each_platform_gets_its_report_defaults() {
    let t = Tenant::new().await;
    for (platform, level, lookback) in [
        ("facebook", "campaign", 28),
        ("google_ads", "campaign", 14),
        ("youtube", "channel", 3),
    ] {
        let conn = t.create_connection(platform).await;
        let s = t.create_schedule(&conn, "rate(6 hours)").await;
        assert_eq!(
            s["report"],
            json!({"level": level, "lookback_days": lookback, "backfill_days": 30}),
            "{platform}"
        );
    }
}

#[tokio::test]
async fn a_schedule_reads_back_and_lists() {
    let t = Tenant::new().await;
    let conn = t.create_connection("youtube").await;
    let a = t.create_schedule(&conn, "rate(1 day)").await;
    let b = t.create_schedule(&conn, "rate(12 hours)").await;
    let got = t
        .call(
            "GET",
            &format!("/v1/schedules/{}", a["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.body, a);
    let list = t
        .send(t.request("GET", "/v1/schedules").query(&[("limit", "1")]))
        .await;
    assert_eq!(list.body["items"], json!([a]));
    let token = list.body["next_token"].as_str().unwrap().to_owned();
    let rest = t
        .send(
            t.request("GET", "/v1/schedules")
                .query(&[("next_token", &token)]),
        )
        .await;
    assert_eq!(rest.body["items"], json!([b]));
}

#[tokio::test]
async fn disabling_a_schedule_disables_its_rule_without_deleting_it() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let s = t.create_schedule(&conn, "rate(1 day)").await;
    let path = format!("/v1/schedules/{}", s["id"].as_str().unwrap());
    let reply = t
        .call("PATCH", &path, Some(json!({"enabled": false})))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["enabled"], false);
    let (rule, targets) = rule_and_target(s["rule_name"].as_str().unwrap()).await;
    assert_eq!(rule.state().map(|s| s.as_str()), Some("DISABLED"));
    assert_eq!(targets.len(), 1, "the target stays");

    let reply = t
        .call(
            "PATCH",
            &path,
            Some(json!({"enabled": true, "schedule_expression": "cron(30 4 ? * MON-FRI *)"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let (rule, _) = rule_and_target(s["rule_name"].as_str().unwrap()).await;
    assert_eq!(rule.state().map(|s| s.as_str()), Some("ENABLED"));
    assert_eq!(rule.schedule_expression(), Some("cron(30 4 ? * MON-FRI *)"));
}

#[tokio::test]
async fn patching_the_report_keeps_the_fields_not_named() {
    let t = Tenant::new().await;
    let conn = t.create_connection("google_ads").await;
    let s = t.create_schedule(&conn, "rate(1 day)").await;
    let path = format!("/v1/schedules/{}", s["id"].as_str().unwrap());
    let reply = t
        .call(
            "PATCH",
            &path,
            Some(json!({"report": {"backfill_days": 365}, "description": "yearly backfill"})),
        )
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(
        reply.body["report"],
        json!({"level": "campaign", "lookback_days": 14, "backfill_days": 365})
    );
    assert_eq!(reply.body["description"], "yearly backfill");
    assert_ne!(reply.body["updated_at"], s["updated_at"]);
    assert_eq!(t.call("GET", &path, None).await.body, reply.body);
}

#[tokio::test]
async fn deleting_a_schedule_removes_target_rule_and_record() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let s = t.create_schedule(&conn, "rate(1 day)").await;
    let path = format!("/v1/schedules/{}", s["id"].as_str().unwrap());
    assert_eq!(t.call("DELETE", &path, None).await.status, 204);
    let holdings = t.holdings().await;
    assert!(holdings.rules.is_empty(), "{holdings:?}");
    assert!(
        holdings.items.iter().all(|sk| !sk.starts_with("SCHEDULE#")),
        "{holdings:?}"
    );
    let again = t.call("DELETE", &path, None).await;
    assert_eq!(again.status, 404);
    assert_eq!(error_of(&again).0, "not_found");
}

#[tokio::test]
async fn run_now_accepts_and_names_the_run() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let s = t.create_schedule(&conn, "rate(1 day)").await;
    let reply = t
        .call(
            "POST",
            &format!("/v1/schedules/{}/runs", s["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(reply.status, 202, "{}", reply.body);
    let run_id = reply.body["run_id"].as_str().unwrap();
    assert!(run_id.parse::<adpipe_domain::RunId>().is_ok(), "{run_id}");
}

#[tokio::test]
async fn runs_of_a_new_schedule_list_empty() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let s = t.create_schedule(&conn, "rate(1 day)").await;
    let reply = t
        .call(
            "GET",
            &format!("/v1/schedules/{}/runs", s["id"].as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, json!({"items": [], "next_token": null}));
}

#[tokio::test]
async fn a_facebook_schedule_counts_the_conversion_action_types_it_names() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let types = json!(["offsite_conversion.fb_pixel_purchase", "omni_purchase"]);
    let body = json!({"connection_id": conn, "schedule_expression": "rate(1 day)", "report": {"conversion_action_types": types}});
    let reply = t.call("POST", "/v1/schedules", Some(body)).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    assert_eq!(reply.body["report"]["conversion_action_types"], types);
    let google = t.create_connection("google_ads").await;
    let body = json!({"connection_id": google, "schedule_expression": "rate(1 day)", "report": {"conversion_action_types": ["purchase"]}});
    let reply = t.call("POST", "/v1/schedules", Some(body)).await;
    assert_eq!(reply.status, 400);
    assert_eq!(
        reply.body["error"]["field"],
        "report.conversion_action_types"
    );
}
