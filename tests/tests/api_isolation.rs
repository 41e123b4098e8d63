//! Tenant isolation: another tenant's id answers 404, exactly as an unknown id.

use serde_json::json;

use crate::common::{Tenant, error_of};

#[tokio::test]
async fn another_tenant_can_neither_see_nor_touch_nor_use_a_tenants_objects() {
    let a = Tenant::new().await;
    let b = Tenant::other().await;
    let conn = a.create_connection("facebook").await;
    let s = a.create_schedule(&conn, "rate(1 day)").await;
    let sid = s["id"].as_str().unwrap();
    let a_before = a.holdings().await;

    let attempts = [
        ("GET", format!("/v1/connections/{conn}"), None),
        ("DELETE", format!("/v1/connections/{conn}"), None),
        ("GET", format!("/v1/schedules/{sid}"), None),
        (
            "PATCH",
            format!("/v1/schedules/{sid}"),
            Some(json!({"enabled": false})),
        ),
        ("DELETE", format!("/v1/schedules/{sid}"), None),
        ("POST", format!("/v1/schedules/{sid}/runs"), None),
        ("GET", format!("/v1/schedules/{sid}/runs"), None),
    ];
    for (method, path, body) in attempts {
        let reply = b.call(method, &path, body).await;
        assert_eq!(reply.status, 404, "{method} {path}: {}", reply.body);
        assert_eq!(error_of(&reply).0, "not_found");
    }
    let reply = b
        .call(
            "POST",
            "/v1/schedules",
            Some(json!({"connection_id": conn, "schedule_expression": "rate(1 day)"})),
        )
        .await;
    assert_eq!(
        (reply.status, error_of(&reply)),
        (404, ("not_found".into(), Some("connection_id".into())))
    );

    for path in ["/v1/connections", "/v1/schedules"] {
        let list = b.call("GET", path, None).await;
        assert_eq!(list.body["items"], json!([]), "{path}");
    }
    assert_eq!(a.holdings().await, a_before, "A's objects are untouched");
    assert_eq!(b.holdings().await, Default::default(), "B made nothing");
}

#[tokio::test]
async fn a_page_token_cannot_reach_another_tenants_list() {
    let a = Tenant::new().await;
    let b = Tenant::other().await;
    let conn = a.create_connection("youtube").await;
    a.create_connection("youtube").await;
    let first = a
        .send(a.request("GET", "/v1/connections").query(&[("limit", "1")]))
        .await;
    let token = first.body["next_token"].as_str().unwrap().to_owned();
    let reply = b
        .send(
            b.request("GET", "/v1/connections")
                .query(&[("next_token", &token)]),
        )
        .await;
    assert_eq!(reply.status, 200);
    assert_eq!(
        reply.body["items"],
        json!([]),
        "the token resumes B's own (empty) list, not A's"
    );
    assert!(!reply.body.to_string().contains(&conn));
}
