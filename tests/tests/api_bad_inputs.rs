//! Bad input: a specific 4xx in the documented shape, and nothing new in moto afterwards.
//! moto itself accepts `rate(0 days)` or a five-field cron: adpipe's validator is the gate.

use serde_json::{Value, json};

use crate::common::{RequestBuilder, Tenant, error_of};

struct Case {
    name: &'static str,
    request: RequestBuilder,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
}

fn post(t: &Tenant, path: &str, body: Value) -> RequestBuilder {
    t.request("POST", path).json(&body)
}

fn case(
    name: &'static str,
    request: RequestBuilder,
    status: u16,
    code: &'static str,
    field: Option<&'static str>,
) -> Case {
    Case {
        name,
        request,
        status,
        code,
        field,
    }
}

fn schedule_body(conn: &str, expression: &str) -> Value {
    json!({"connection_id": conn, "schedule_expression": expression})
}

#[tokio::test]
async fn every_bad_input_answers_its_documented_error_and_leaves_nothing_behind() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let schedule = t.create_schedule(&conn, "rate(1 day)").await;
    let sid = schedule["id"].as_str().unwrap().to_owned();
    let before = t.holdings().await;
    let c = &conn;
    let conns = "/v1/connections";
    let scheds = "/v1/schedules";
    let fb = |account: &str| json!({"platform": "facebook", "account_id": account, "credentials": {"access_token": "x"}});
    let with_report = |report: Value| json!({"connection_id": c, "schedule_expression": "rate(1 day)", "report": report});

    let cases = vec![
        case(
            "malformed JSON",
            t.request("POST", conns).raw_body("{\"platform\": "),
            400,
            "malformed_request",
            None,
        ),
        case(
            "trailing garbage",
            t.request("POST", conns).raw_body("{} {}"),
            400,
            "malformed_request",
            None,
        ),
        case(
            "empty body",
            t.request("POST", scheds),
            400,
            "malformed_request",
            None,
        ),
        case(
            "body is an array",
            t.request("POST", conns).raw_body("[]"),
            400,
            "invalid_request",
            Some("body"),
        ),
        case(
            "unknown top-level field",
            post(
                &t,
                conns,
                json!({"platform": "facebook", "account_id": "act_1", "credentials": {"access_token": "x"}, "tenant_id": "evil"}),
            ),
            400,
            "invalid_request",
            Some("tenant_id"),
        ),
        case(
            "unknown platform",
            post(
                &t,
                conns,
                json!({"platform": "tiktok", "account_id": "1", "credentials": {}}),
            ),
            400,
            "invalid_request",
            Some("platform"),
        ),
        case(
            "missing account_id",
            post(
                &t,
                conns,
                json!({"platform": "facebook", "credentials": {"access_token": "x"}}),
            ),
            400,
            "invalid_request",
            Some("account_id"),
        ),
        case(
            "account_id of wrong type",
            post(
                &t,
                conns,
                json!({"platform": "facebook", "account_id": 123, "credentials": {"access_token": "x"}}),
            ),
            400,
            "invalid_request",
            Some("account_id"),
        ),
        case(
            "facebook id without act_",
            post(&t, conns, fb("1234567890")),
            400,
            "invalid_request",
            Some("account_id"),
        ),
        case(
            "facebook id with letters",
            post(&t, conns, fb("act_12ab")),
            400,
            "invalid_request",
            Some("account_id"),
        ),
        case(
            "google id of 9 digits",
            post(
                &t,
                conns,
                json!({"platform": "google_ads", "account_id": "123-456-789", "credentials": {"refresh_token": "r"}}),
            ),
            400,
            "invalid_request",
            Some("account_id"),
        ),
        case(
            "youtube id too short",
            post(
                &t,
                conns,
                json!({"platform": "youtube", "account_id": "UC123", "credentials": {"refresh_token": "r"}}),
            ),
            400,
            "invalid_request",
            Some("account_id"),
        ),
        case(
            "login_customer_id on facebook",
            post(
                &t,
                conns,
                json!({"platform": "facebook", "account_id": "act_1", "login_customer_id": "1234567890", "credentials": {"access_token": "x"}}),
            ),
            400,
            "invalid_request",
            Some("login_customer_id"),
        ),
        case(
            "malformed login_customer_id",
            post(
                &t,
                conns,
                json!({"platform": "google_ads", "account_id": "1234567890", "login_customer_id": "12", "credentials": {"refresh_token": "r"}}),
            ),
            400,
            "invalid_request",
            Some("login_customer_id"),
        ),
        case(
            "credentials of the wrong platform",
            post(
                &t,
                conns,
                json!({"platform": "google_ads", "account_id": "1234567890", "credentials": {"access_token": "x"}}),
            ),
            400,
            "invalid_request",
            Some("credentials.access_token"),
        ),
        case(
            "empty token",
            post(
                &t,
                conns,
                json!({"platform": "youtube", "account_id": "UC_x5XG1OV2P6uZZ5FSM9Ttw", "credentials": {"refresh_token": ""}}),
            ),
            400,
            "invalid_request",
            Some("credentials.refresh_token"),
        ),
        case(
            "token not a string",
            post(
                &t,
                conns,
                json!({"platform": "facebook", "account_id": "act_1", "credentials": {"access_token": 42}}),
            ),
            400,
            "invalid_request",
            Some("credentials.access_token"),
        ),
        case(
            "name with a zero-width space",
            post(
                &t,
                conns,
                json!({"platform": "facebook", "account_id": "act_1", "name": "Main\u{200B}", "credentials": {"access_token": "x"}}),
            ),
            400,
            "invalid_request",
            Some("name"),
        ),
        case(
            "name too long",
            post(
                &t,
                conns,
                json!({"platform": "facebook", "account_id": "act_1", "name": "n".repeat(129), "credentials": {"access_token": "x"}}),
            ),
            400,
            "invalid_request",
            Some("name"),
        ),
        case(
            "body over 64 KiB",
            post(
                &t,
                conns,
                json!({"platform": "facebook", "account_id": "act_1", "name": "n".repeat(70_000), "credentials": {"access_token": "x"}}),
            ),
            413,
            "payload_too_large",
            None,
        ),
        case(
            "rate of zero",
            post(&t, scheds, schedule_body(c, "rate(0 days)")),
            400,
            "invalid_request",
            Some("schedule_expression"),
        ),
        case(
            "plural unit for one",
            post(&t, scheds, schedule_body(c, "rate(1 days)")),
            400,
            "invalid_request",
            Some("schedule_expression"),
        ),
        case(
            "rate too frequent",
            post(&t, scheds, schedule_body(c, "rate(1 minute)")),
            400,
            "invalid_request",
            Some("schedule_expression"),
        ),
        case(
            "five-field cron",
            post(&t, scheds, schedule_body(c, "cron(0 6 * * *)")),
            400,
            "invalid_request",
            Some("schedule_expression"),
        ),
        case(
            "cron with two ?",
            post(&t, scheds, schedule_body(c, "cron(0 6 ? * ? *)")),
            400,
            "invalid_request",
            Some("schedule_expression"),
        ),
        case(
            "cron out of range",
            post(&t, scheds, schedule_body(c, "cron(99 99 * * ? *)")),
            400,
            "invalid_request",
            Some("schedule_expression"),
        ),
        case(
            "cron every minute",
            post(&t, scheds, schedule_body(c, "cron(* * * * ? *)")),
            400,
            "invalid_request",
            Some("schedule_expression"),
        ),
        case(
            "not an expression",
            post(&t, scheds, schedule_body(c, "every day")),
            400,
            "invalid_request",
            Some("schedule_expression"),
        ),
        case(
            "expression of wrong type",
            post(
                &t,
                scheds,
                json!({"connection_id": c, "schedule_expression": 5}),
            ),
            400,
            "invalid_request",
            Some("schedule_expression"),
        ),
        case(
            "lookback over 90",
            post(&t, scheds, with_report(json!({"lookback_days": 91}))),
            400,
            "invalid_request",
            Some("report.lookback_days"),
        ),
        case(
            "negative backfill",
            post(&t, scheds, with_report(json!({"backfill_days": -1}))),
            400,
            "invalid_request",
            Some("report.backfill_days"),
        ),
        case(
            "backfill over 1095",
            post(&t, scheds, with_report(json!({"backfill_days": 1096}))),
            400,
            "invalid_request",
            Some("report.backfill_days"),
        ),
        case(
            "level of another platform",
            post(&t, scheds, with_report(json!({"level": "video"}))),
            400,
            "invalid_request",
            Some("report.level"),
        ),
        case(
            "conversion action types with spaces",
            post(
                &t,
                scheds,
                with_report(json!({"conversion_action_types": ["a purchase"]})),
            ),
            400,
            "invalid_request",
            Some("report.conversion_action_types"),
        ),
        case(
            "unknown report field",
            post(&t, scheds, with_report(json!({"metrics": ["spend"]}))),
            400,
            "invalid_request",
            Some("report.metrics"),
        ),
        case(
            "enabled not a boolean",
            post(
                &t,
                scheds,
                json!({"connection_id": c, "schedule_expression": "rate(1 day)", "enabled": "yes"}),
            ),
            400,
            "invalid_request",
            Some("enabled"),
        ),
        case(
            "malformed connection_id",
            post(&t, scheds, schedule_body("con_nope", "rate(1 day)")),
            400,
            "invalid_request",
            Some("connection_id"),
        ),
        case(
            "unknown connection",
            post(
                &t,
                scheds,
                schedule_body("con_00000000000000000000000000000000", "rate(1 day)"),
            ),
            404,
            "not_found",
            Some("connection_id"),
        ),
        case(
            "description too long",
            post(
                &t,
                scheds,
                json!({"connection_id": c, "schedule_expression": "rate(1 day)", "description": "d".repeat(513)}),
            ),
            400,
            "invalid_request",
            Some("description"),
        ),
        case(
            "description with a right-to-left override",
            post(
                &t,
                scheds,
                json!({"connection_id": c, "schedule_expression": "rate(1 day)", "description": "daily \u{202E}sda"}),
            ),
            400,
            "invalid_request",
            Some("description"),
        ),
        case(
            "description with a line separator",
            post(
                &t,
                scheds,
                json!({"connection_id": c, "schedule_expression": "rate(1 day)", "description": "a\u{2028}b"}),
            ),
            400,
            "invalid_request",
            Some("description"),
        ),
        case(
            "bad Idempotency-Key",
            post(&t, scheds, schedule_body(c, "rate(1 day)"))
                .header("idempotency-key", "has space"),
            400,
            "invalid_request",
            Some("Idempotency-Key"),
        ),
        case(
            "empty PATCH",
            t.request("PATCH", &format!("{scheds}/{sid}"))
                .json(&json!({})),
            400,
            "invalid_request",
            Some("body"),
        ),
        case(
            "PATCH to a too-frequent expression",
            t.request("PATCH", &format!("{scheds}/{sid}"))
                .json(&json!({"schedule_expression": "cron(0/2 * * * ? *)"})),
            400,
            "invalid_request",
            Some("schedule_expression"),
        ),
        case(
            "PATCH of an unknown field",
            t.request("PATCH", &format!("{scheds}/{sid}"))
                .json(&json!({"connection_id": c})),
            400,
            "invalid_request",
            Some("connection_id"),
        ),
        case(
            "limit of zero",
            t.request("GET", scheds).query(&[("limit", "0")]),
            400,
            "invalid_request",
            Some("limit"),
        ),
        case(
            "limit over 100",
            t.request("GET", conns).query(&[("limit", "101")]),
            400,
            "invalid_request",
            Some("limit"),
        ),
        case(
            "limit not a number",
            t.request("GET", scheds).query(&[("limit", "ten")]),
            400,
            "invalid_request",
            Some("limit"),
        ),
        case(
            "next_token not base64",
            t.request("GET", scheds).query(&[("next_token", "!!!")]),
            400,
            "invalid_request",
            Some("next_token"),
        ),
        case(
            "next_token of another list",
            t.request("GET", scheds)
                .query(&[("next_token", "Q09OTkVDVElPTiN4")]),
            400,
            "invalid_request",
            Some("next_token"),
        ),
        case(
            "unknown query parameter",
            t.request("GET", scheds).query(&[("tenant", "other")]),
            400,
            "invalid_request",
            Some("tenant"),
        ),
        case(
            "no tenant claim",
            post(&t, conns, json!({})).without_tenant(),
            401,
            "unauthorized",
            None,
        ),
        case(
            "a tenant claim that is no tenant id",
            post(&t, scheds, json!({})).tenant("../etc"),
            401,
            "unauthorized",
            None,
        ),
        case(
            "unknown route",
            t.request("GET", "/v1/campaigns"),
            404,
            "not_found",
            None,
        ),
        case(
            "wrong method",
            t.request("PUT", &format!("{scheds}/{sid}")),
            405,
            "method_not_allowed",
            None,
        ),
        case(
            "unknown schedule id",
            t.request(
                "GET",
                &format!("{scheds}/sch_00000000000000000000000000000000"),
            ),
            404,
            "not_found",
            None,
        ),
        case(
            "malformed schedule id",
            t.request("DELETE", &format!("{scheds}/x")),
            404,
            "not_found",
            None,
        ),
    ];
    assert!(cases.len() >= 30);
    let mut failures = Vec::new();
    for Case {
        name,
        request,
        status,
        code,
        field,
    } in cases
    {
        let reply = t.send(request).await;
        let got = (reply.status, error_of(&reply));
        let want = (status, (code.to_owned(), field.map(str::to_owned)));
        if got != want {
            failures.push(format!("{name}: got {got:?} {}, want {want:?}", reply.body));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(
        t.holdings().await,
        before,
        "a refused request left something in moto"
    );
}

#[tokio::test]
async fn a_secret_in_a_refused_request_is_not_echoed() {
    let t = Tenant::new().await;
    let body = json!({"platform": "facebook", "account_id": "act_1", "credentials": {"access_token": "EAAB-super-secret", "extra": "EAAB-super-secret"}});
    let reply = t.call("POST", "/v1/connections", Some(body)).await;
    assert_eq!(reply.status, 400);
    assert!(
        !reply.body.to_string().contains("super-secret"),
        "{}",
        reply.body
    );
}
