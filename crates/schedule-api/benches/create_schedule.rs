//! Handler time of `POST /v1/schedules` with in-memory ports: routing, JWT tenant, JSON
//! parsing, schedule-expression validation, the rule/target/record sequence, the view.

use criterion::{Criterion, criterion_group, criterion_main};
use schedule_api::memory::memory_api;
use schedule_api::{Config, handle};
use serde_json::{Value, json};

fn sample(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/api/").to_owned() + name;
    serde_json::from_str(&std::fs::read_to_string(path).expect("sample event")).expect("JSON")
}

fn config() -> Config {
    Config::from_lookup(|name| match name {
        "CONTROL_TABLE" => Some("control".into()),
        "EXTRACTOR_FUNCTION_ARN" => {
            Some("arn:aws:lambda:us-east-1:123456789012:function:extractor".into())
        }
        _ => None,
    })
    .expect("config")
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let api = memory_api(config());
    let connection = rt.block_on(async {
        let req = lambda_http::request::from_str(&sample("create-connection.json").to_string())
            .expect("event");
        let response = handle(&api, req).await;
        let body: Value = serde_json::from_slice(response.body().as_ref()).expect("JSON");
        body["id"].as_str().expect("connection id").to_owned()
    });
    let mut group = c.benchmark_group("schedule-api");
    for (name, expression) in [
        ("rate", "rate(1 day)"),
        ("cron", "cron(0/15 6-18 ? * MON-FRI *)"),
    ] {
        let mut event = sample("create-schedule.json");
        event["headers"]
            .as_object_mut()
            .expect("headers")
            .remove("idempotency-key");
        let mut body: Value =
            serde_json::from_str(event["body"].as_str().expect("body")).expect("JSON body");
        body["connection_id"] = json!(connection);
        body["schedule_expression"] = json!(expression);
        event["body"] = json!(body.to_string());
        let event = event.to_string();
        group.bench_function(format!("POST /v1/schedules ({name})"), |b| {
            b.iter(|| {
                let req = lambda_http::request::from_str(&event).expect("event");
                let response = rt.block_on(handle(&api, req));
                assert_eq!(response.status(), 201);
            })
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
