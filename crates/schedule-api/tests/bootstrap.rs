//! The real `schedule-api` binary, as Lambda runs it: started against a local runtime API,
//! configured by environment, talking to moto.

use std::process::Stdio;
use std::time::Duration;

use adpipe_testkit::{FakeRuntimeApi, Outcome, aws, unique_tenant};
use serde_json::{Value, json};
use tokio::process::Command;

fn sample(name: &str) -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../events/api/").to_owned() + name;
    serde_json::from_str(&std::fs::read_to_string(&path).expect("sample event")).expect("JSON")
}

fn binary(runtime: &FakeRuntimeApi) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_schedule-api"));
    cmd.env_clear()
        .envs(runtime.lambda_env())
        .env("AWS_ENDPOINT_URL", &aws().endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    cmd
}

#[tokio::test]
async fn the_built_binary_answers_api_gateway_events_through_the_runtime_api() {
    let tenant = unique_tenant();
    let mut create = sample("create-connection.json");
    create["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] = json!(tenant);
    let mut list = sample("list-connections.json");
    list["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] = json!(tenant);
    let runtime = FakeRuntimeApi::start(vec![create, list, sample("no-tenant-claim.json")]).await;
    let _child = binary(&runtime)
        .env("CONTROL_TABLE", &aws().control_table)
        .env("EXTRACTOR_FUNCTION_ARN", &aws().extractor_function_arn)
        .spawn()
        .expect("the binary starts");

    let mut answers = Vec::new();
    for _ in 0..3 {
        match runtime.wait_outcome(Duration::from_secs(30)).await {
            Some(Outcome::Response { body, .. }) => answers.push(body),
            other => panic!("expected a response, got {other:?}"),
        }
    }
    assert_eq!(answers[0]["statusCode"], 201, "{}", answers[0]);
    let created: Value = serde_json::from_str(answers[0]["body"].as_str().unwrap()).unwrap();
    assert_eq!(created["account_id"], "act_1234567890");
    let listed: Value = serde_json::from_str(answers[1]["body"].as_str().unwrap()).unwrap();
    assert_eq!(listed["items"][0]["id"], created["id"]);
    assert_eq!(answers[2]["statusCode"], 401);
}

#[tokio::test]
async fn a_missing_variable_stops_the_init_with_one_line_naming_it() {
    let runtime = FakeRuntimeApi::start(vec![]).await;
    let output = binary(&runtime)
        .env(
            "EXTRACTOR_FUNCTION_ARN",
            "arn:aws:lambda:us-east-1:123456789012:function:x",
        )
        .output()
        .await
        .expect("the binary runs");
    assert!(!output.status.success());
    let logs = String::from_utf8_lossy(&output.stdout).to_string()
        + &String::from_utf8_lossy(&output.stderr);
    assert!(logs.contains("CONTROL_TABLE"), "{logs}");
    assert!(
        runtime.first_next_at().is_none(),
        "no event is taken before the config is valid"
    );
}
