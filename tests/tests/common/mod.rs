//! Fixtures shared by the integration tests: an API over moto in a tenant of its own,
//! requests built from the sample events in `events/`, and a view of what moto holds.

use std::path::PathBuf;

use adpipe_testkit::{aws, sdk_config, unique_tenant};
use lambda_http::Body;
use schedule_api::{Api, Config, aws_api, handle};
use serde_json::{Value, json};

pub fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// A file of `events/`, parsed.
pub fn event(name: &str) -> Value {
    let path = workspace_root().join("events").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The handlers' logs, shown with a failing test's output.
pub fn log_to_test_output() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = tracing_subscriber::fmt()
            .with_test_writer()
            .with_env_filter("info")
            .try_init();
    });
}

/// One tenant's view of the schedule API, with its own rule prefix so what it leaves in
/// moto can be counted.
pub struct Tenant {
    pub id: String,
    pub api: Api,
    pub rule_prefix: String,
}

pub struct Reply {
    pub status: u16,
    pub body: Value,
    pub headers: http::HeaderMap,
}

impl Tenant {
    pub async fn new() -> Self {
        Self::at(&aws().endpoint).await
    }

    /// A tenant whose API reaches AWS through `endpoint` (a fault proxy, say).
    pub async fn at(endpoint: &str) -> Self {
        Self::configured(endpoint, |_| {}).await
    }

    /// A tenant whose API runs with these limits.
    pub async fn with_limits(limits: schedule_api::Limits) -> Self {
        Self::configured(&aws().endpoint, |c| c.limits = limits).await
    }

    /// A tenant whose API's configuration `adjust` changed.
    pub async fn configured(endpoint: &str, adjust: impl FnOnce(&mut Config)) -> Self {
        log_to_test_output();
        let id = unique_tenant();
        let rule_prefix = format!("{}-", &id[..14]);
        let config = Config {
            control_table: aws().control_table.clone(),
            extractor_function_arn: aws().extractor_function_arn.clone(),
            rule_prefix: rule_prefix.clone(),
            secret_prefix: "adpipe/".into(),
            tenant_claim: "tenant_id".into(),
            app_credentials_secret: Some(aws().app_credentials_secret.clone()),
            limits: schedule_api::Limits::default(),
            redirect_uris: Vec::new(),
        };
        let mut config = config;
        adjust(&mut config);
        let api = aws_api(config, &sdk_config(endpoint).await);
        Self {
            id,
            api,
            rule_prefix,
        }
    }

    /// Another tenant's API over the same moto.
    pub async fn other() -> Self {
        Self::new().await
    }

    pub fn request(&self, method: &str, path: &str) -> RequestBuilder {
        RequestBuilder::new(method, path).tenant(&self.id)
    }

    pub async fn send(&self, request: RequestBuilder) -> Reply {
        let req = lambda_http::request::from_str(&request.event.to_string())
            .expect("a valid API Gateway event");
        let response = handle(&self.api, req).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = match response.body() {
            Body::Empty => Value::Null,
            body => serde_json::from_slice(body.as_ref()).expect("a JSON response body"),
        };
        Reply {
            status,
            body,
            headers,
        }
    }

    pub async fn call(&self, method: &str, path: &str, body: Option<Value>) -> Reply {
        let mut request = self.request(method, path);
        if let Some(body) = body {
            request = request.json(&body);
        }
        self.send(request).await
    }

    pub async fn create_connection(&self, platform: &str) -> String {
        let reply = self
            .call("POST", "/v1/connections", Some(connection_body(platform)))
            .await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body["id"].as_str().expect("an id").to_owned()
    }

    pub async fn create_schedule(&self, connection_id: &str, expression: &str) -> Value {
        let body = json!({"connection_id": connection_id, "schedule_expression": expression});
        let reply = self.call("POST", "/v1/schedules", Some(body)).await;
        assert_eq!(reply.status, 201, "{}", reply.body);
        reply.body
    }

    /// The control-table item of this tenant with sort key `sk`, as moto holds it.
    pub async fn control_item(
        &self,
        sk: &str,
    ) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        aws()
            .dynamodb()
            .await
            .get_item()
            .table_name(&aws().control_table)
            .key("pk", AttributeValue::S(format!("TENANT#{}", self.id)))
            .key("sk", AttributeValue::S(sk.to_owned()))
            .send()
            .await
            .expect("GetItem")
            .item
    }

    /// What moto holds for this tenant: rule names, secret names, control-table items.
    pub async fn holdings(&self) -> Holdings {
        let aws = aws();
        let rules = aws
            .eventbridge()
            .await
            .list_rules()
            .name_prefix(&self.rule_prefix)
            .send()
            .await
            .expect("ListRules")
            .rules
            .unwrap_or_default()
            .into_iter()
            .filter_map(|r| r.name)
            .collect();
        let secrets = aws
            .secretsmanager()
            .await
            .list_secrets()
            .filters(
                aws_sdk_secretsmanager::types::Filter::builder()
                    .key(aws_sdk_secretsmanager::types::FilterNameStringType::Name)
                    .values(format!("adpipe/{}/", self.id))
                    .build(),
            )
            .send()
            .await
            .expect("ListSecrets")
            .secret_list
            .unwrap_or_default()
            .into_iter()
            .filter_map(|s| s.name)
            .collect();
        let items = aws
            .dynamodb()
            .await
            .query()
            .table_name(&aws.control_table)
            .key_condition_expression("pk = :pk")
            .expression_attribute_values(
                ":pk",
                aws_sdk_dynamodb::types::AttributeValue::S(format!("TENANT#{}", self.id)),
            )
            .send()
            .await
            .expect("Query")
            .items
            .unwrap_or_default()
            .into_iter()
            .filter_map(|mut item| item.remove("sk").and_then(|sk| sk.as_s().ok().cloned()))
            // Counters, rate windows and started sign-ins (10 minutes) are bookkeeping.
            .filter(|sk: &String| {
                !["COUNT#", "RATE#", "OAUTH_STATE#"]
                    .iter()
                    .any(|prefix| sk.starts_with(prefix))
            })
            .collect();
        Holdings {
            rules,
            secrets,
            items,
        }
    }
}

#[derive(Debug, PartialEq, Eq, Default)]
pub struct Holdings {
    pub rules: Vec<String>,
    pub secrets: Vec<String>,
    /// Sort keys of the tenant's control-table items.
    pub items: Vec<String>,
}

/// A valid `POST /v1/connections` body for each platform.
pub fn connection_body(platform: &str) -> Value {
    match platform {
        "facebook" => {
            json!({"platform": "facebook", "account_id": "act_1234567890", "name": "Main", "credentials": {"access_token": "EAAB-test-token"}})
        }
        "google_ads" => {
            json!({"platform": "google_ads", "account_id": "123-456-7890", "login_customer_id": "999-888-7777", "credentials": {"refresh_token": "1//0g-test-refresh"}})
        }
        "youtube" => {
            json!({"platform": "youtube", "account_id": "UC_x5XG1OV2P6uZZ5FSM9Ttw", "credentials": {"refresh_token": "1//0g-test-refresh"}})
        }
        other => panic!("no body for {other}"),
    }
}

/// An HTTP API (payload 2.0) event, starting from `events/api/create-connection.json`.
pub struct RequestBuilder {
    event: Value,
}

impl RequestBuilder {
    pub fn new(method: &str, path: &str) -> Self {
        let mut event = event("api/create-connection.json");
        event["rawPath"] = json!(path);
        event["requestContext"]["http"]["method"] = json!(method);
        event["requestContext"]["http"]["path"] = json!(path);
        event["pathParameters"] = json!({"proxy": path.trim_start_matches("/v1/")});
        event.as_object_mut().expect("an object").remove("body");
        Self { event }
    }

    pub fn tenant(mut self, tenant: &str) -> Self {
        self.event["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] = json!(tenant);
        self
    }

    pub fn without_tenant(mut self) -> Self {
        let claims = &mut self.event["requestContext"]["authorizer"]["jwt"]["claims"];
        claims.as_object_mut().expect("claims").remove("tenant_id");
        self
    }

    pub fn json(self, body: &Value) -> Self {
        self.raw_body(&body.to_string())
    }

    pub fn raw_body(mut self, body: &str) -> Self {
        self.event["body"] = json!(body);
        self
    }

    pub fn query(mut self, pairs: &[(&str, &str)]) -> Self {
        let map: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        self.event["rawQueryString"] = json!(
            pairs
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("&")
        );
        self.event["queryStringParameters"] = Value::Object(map);
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.event["headers"][name] = json!(value);
        self
    }
}

/// Asserts the API's error shape, and returns `(code, field)`.
pub fn error_of(reply: &Reply) -> (String, Option<String>) {
    let error = &reply.body["error"];
    let code = error["code"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.code in {}", reply.body));
    let message = error["message"]
        .as_str()
        .unwrap_or_else(|| panic!("no error.message in {}", reply.body));
    assert!(!message.is_empty());
    let keys: Vec<_> = error
        .as_object()
        .expect("error object")
        .keys()
        .cloned()
        .collect();
    assert!(
        keys.iter()
            .all(|k| ["code", "message", "field"].contains(&k.as_str())),
        "extra keys in {}",
        reply.body
    );
    (code.to_owned(), error["field"].as_str().map(str::to_owned))
}

/// The test row every tier shares (crates/domain/src/fixtures.rs).
pub use adpipe_domain::fixtures::campaign_row;

/// A connector the test keeps a handle on (to script it or read what it was asked) while
/// the extractor owns this one.
pub struct SharedConnector<C>(pub std::sync::Arc<C>);

#[async_trait::async_trait]
impl<C: extractor::ports::Connector> extractor::ports::Connector for SharedConnector<C> {
    async fn time_zone(
        &self,
        job: &extractor::ports::Job,
    ) -> Result<chrono_tz::Tz, extractor::ports::ConnectorError> {
        self.0.time_zone(job).await
    }

    async fn fetch_pages(
        &self,
        job: &extractor::ports::Job,
        days: adpipe_domain::Window,
        pages: &extractor::ports::Pages,
    ) -> Result<(), extractor::ports::ConnectorError> {
        self.0.fetch_pages(job, days, pages).await
    }
}
