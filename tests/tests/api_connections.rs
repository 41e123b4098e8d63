//! Connections: created with their credentials in Secrets Manager only.

use adpipe_testkit::aws;
use serde_json::json;

use crate::common::{Tenant, connection_body, error_of};

#[tokio::test]
async fn creating_a_connection_stores_the_record_and_the_secret_but_never_returns_credentials() {
    let t = Tenant::new().await;
    let reply = t
        .call(
            "POST",
            "/v1/connections",
            Some(connection_body("google_ads")),
        )
        .await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap();
    assert!(id.starts_with("con_"));
    assert_eq!(reply.body["platform"], "google_ads");
    assert_eq!(reply.body["account_id"], "1234567890", "dashes are dropped");
    assert_eq!(reply.body["login_customer_id"], "9998887777");
    assert_eq!(reply.body["status"], "active");
    assert!(reply.body["created_at"].is_string());
    let text = reply.body.to_string();
    assert!(
        !text.contains("refresh") && !text.contains("secret"),
        "{text}"
    );

    let secret_name = format!("adpipe/{}/{id}", t.id);
    let secret = aws()
        .secretsmanager()
        .await
        .get_secret_value()
        .secret_id(&secret_name)
        .send()
        .await
        .unwrap();
    let stored: serde_json::Value = serde_json::from_str(secret.secret_string().unwrap()).unwrap();
    assert_eq!(stored, json!({"refresh_token": "1//0g-test-refresh"}));

    let item = t
        .control_item(&format!("CONNECTION#{id}"))
        .await
        .expect("the connection record");
    let dump = format!("{item:?}");
    assert!(
        !dump.contains("1//0g-test-refresh"),
        "credentials must not reach DynamoDB"
    );
    assert_eq!(item["secret_id"].as_s().unwrap(), &secret_name);
}

#[tokio::test]
async fn each_platform_connects_with_its_own_account_format() {
    let t = Tenant::new().await;
    for platform in ["facebook", "google_ads", "youtube"] {
        t.create_connection(platform).await;
    }
    let reply = t.call("GET", "/v1/connections", None).await;
    assert_eq!(reply.status, 200);
    let platforms: Vec<_> = reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["platform"].clone())
        .collect();
    assert_eq!(
        platforms,
        [json!("facebook"), json!("google_ads"), json!("youtube")]
    );
    assert_eq!(reply.body["next_token"], json!(null));
}

#[tokio::test]
async fn a_connection_reads_back_as_created() {
    let t = Tenant::new().await;
    let created = t
        .call("POST", "/v1/connections", Some(connection_body("facebook")))
        .await
        .body;
    let id = created["id"].as_str().unwrap();
    let reply = t.call("GET", &format!("/v1/connections/{id}"), None).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, created);
}

#[tokio::test]
async fn listing_connections_pages_with_an_opaque_token() {
    let t = Tenant::new().await;
    for _ in 0..3 {
        t.create_connection("youtube").await;
    }
    let first = t
        .send(t.request("GET", "/v1/connections").query(&[("limit", "2")]))
        .await;
    assert_eq!(first.body["items"].as_array().unwrap().len(), 2);
    let token = first.body["next_token"]
        .as_str()
        .expect("a next_token")
        .to_owned();
    let second = t
        .send(
            t.request("GET", "/v1/connections")
                .query(&[("limit", "2"), ("next_token", &token)]),
        )
        .await;
    assert_eq!(second.status, 200, "{}", second.body);
    assert_eq!(second.body["items"].as_array().unwrap().len(), 1);
    let mut ids: Vec<_> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .chain(second.body["items"].as_array().unwrap())
        .map(|c| c["id"].clone())
        .collect();
    ids.dedup();
    assert_eq!(ids.len(), 3);
}

#[tokio::test]
async fn deleting_a_connection_removes_the_record_and_the_secret() {
    let t = Tenant::new().await;
    let id = t.create_connection("facebook").await;
    let reply = t
        .call("DELETE", &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!(reply.status, 204);
    assert_eq!(
        t.call("GET", &format!("/v1/connections/{id}"), None)
            .await
            .status,
        404
    );
    let holdings = t.holdings().await;
    assert!(holdings.secrets.is_empty(), "{holdings:?}");
    assert!(holdings.items.is_empty(), "{holdings:?}");
}

#[tokio::test]
async fn a_connection_used_by_a_schedule_cannot_be_deleted() {
    let t = Tenant::new().await;
    let id = t.create_connection("facebook").await;
    let schedule = t.create_schedule(&id, "rate(1 day)").await;
    let reply = t
        .call("DELETE", &format!("/v1/connections/{id}"), None)
        .await;
    assert_eq!(reply.status, 409);
    assert_eq!(error_of(&reply).0, "conflict");
    assert_eq!(t.holdings().await.secrets.len(), 1, "the secret stays");

    let sid = schedule["id"].as_str().unwrap();
    assert_eq!(
        t.call("DELETE", &format!("/v1/schedules/{sid}"), None)
            .await
            .status,
        204
    );
    assert_eq!(
        t.call("DELETE", &format!("/v1/connections/{id}"), None)
            .await
            .status,
        204
    );
}
