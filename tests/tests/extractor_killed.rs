//! The real extractor binary under the local Lambda runtime API, killed in the middle of a
//! run: Lambda's asynchronous retry of that invocation (the same request id) takes the run
//! over, another delivery meanwhile is acknowledged, and a run whose invocation's deadline
//! passed is marked abandoned by the schedule's next event.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use adpipe_testkit::{FakeGraphApi, FakeRuntimeApi, Invocation, Outcome, SilentApi, aws};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use crate::common::{Tenant, event, workspace_root};

/// `target/<profile>/extractor`, built by this test's own cargo if `cargo test` did not
/// build it (`cargo test -p adpipe-tests` alone builds no other package's binaries).
async fn extractor_binary() -> PathBuf {
    static BUILT: tokio::sync::OnceCell<PathBuf> = tokio::sync::OnceCell::const_new();
    BUILT
        .get_or_init(|| async {
            // target/<profile>/deps/integration-<hash>
            let exe = std::env::current_exe().expect("the test binary's path");
            let profile_dir = exe
                .parent()
                .and_then(|d| d.parent())
                .expect("target/<profile>");
            let target_dir = profile_dir.parent().expect("target");
            let status = Command::new(env!("CARGO"))
                .args(["build", "--quiet", "-p", "extractor", "--bin", "extractor"])
                .env("CARGO_TARGET_DIR", target_dir)
                .current_dir(workspace_root())
                .status()
                .await
                .expect("cargo runs");
            assert!(status.success(), "cargo build -p extractor failed");
            profile_dir.join("extractor")
        })
        .await
        .clone()
}

async fn spawn(runtime: &FakeRuntimeApi, graph_url: &str) -> Child {
    let aws = aws();
    Command::new(extractor_binary().await)
        .env_clear()
        .envs(runtime.lambda_env())
        .env("AWS_ENDPOINT_URL", &aws.endpoint)
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("CONTROL_TABLE", &aws.control_table)
        .env("STAGING_TABLE", &aws.staging_table)
        .env("APP_CREDENTIALS_SECRET", &aws.app_credentials_secret)
        .env("FACEBOOK_GRAPH_URL", graph_url)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("the extractor binary starts")
}

/// The scheduled event as the rule renders it, for this schedule.
fn scheduled(tenant: &str, schedule_id: &str, time: &str, event_id: &str) -> Value {
    let mut e = event("extractor/scheduled.json");
    e["tenant_id"] = json!(tenant);
    e["schedule_id"] = json!(schedule_id);
    e["scheduled_time"] = json!(time);
    e["event_id"] = json!(event_id);
    e
}

fn invocation(event: &Value, request_id: Option<&str>, deadline_in: Duration) -> Invocation {
    Invocation {
        event: event.clone(),
        request_id: request_id.map(str::to_owned),
        deadline_in,
    }
}

/// Runs `invocation` through a fresh extractor process against `graph_url`; its answer.
async fn answer(invocation: Invocation, graph_url: &str) -> Value {
    let runtime = FakeRuntimeApi::start_invocations(vec![invocation]).await;
    let _child = spawn(&runtime, graph_url).await;
    match runtime.wait_outcome(Duration::from_secs(60)).await {
        Some(Outcome::Response { body, .. }) => body,
        other => panic!("expected the extractor's answer, got {other:?}"),
    }
}

/// Starts `invocation` against a platform that never answers and kills the process once
/// the run is waiting on it: what an out-of-memory kill or a timeout leaves.
async fn killed_mid_run(invocation: Invocation) {
    let silent = SilentApi::start().await;
    let runtime = FakeRuntimeApi::start_invocations(vec![invocation]).await;
    let mut child = spawn(&runtime, &silent.url("v26.0")).await;
    let until = Instant::now() + Duration::from_secs(30);
    while silent.received() == 0 {
        assert!(Instant::now() < until, "the run never called the platform");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child.kill().await.expect("SIGKILL");
    assert_eq!(
        runtime.wait_outcome(Duration::from_millis(200)).await,
        None,
        "a killed invocation answers nothing"
    );
}

async fn runs(t: &Tenant, schedule_id: &str) -> Vec<Value> {
    let reply = t
        .call("GET", &format!("/v1/schedules/{schedule_id}/runs"), None)
        .await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["items"].as_array().expect("items").clone()
}

#[tokio::test]
async fn a_killed_run_is_taken_over_by_lambdas_retry_and_a_run_past_its_deadline_is_abandoned() {
    let t = Tenant::new().await;
    let connection = t.create_connection("facebook").await;
    let created = t
        .call(
            "POST",
            "/v1/schedules",
            Some(json!({"connection_id": connection, "schedule_expression": "rate(1 day)", "report": {"backfill_days": 3, "lookback_days": 3}})),
        )
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    let sid = created.body["id"].as_str().expect("an id").to_owned();
    let graph = FakeGraphApi::start().await;
    let first = scheduled(&t.id, &sid, "2026-06-01T06:00:00Z", "ev-killed");
    let long = Duration::from_secs(600);

    // 1. Killed while it waits on the platform: the run stays `running`.
    killed_mid_run(invocation(&first, Some("req-killed"), long)).await;
    let listed = runs(&t, &sid).await;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["status"], "running");
    let run_id = listed[0]["run_id"].clone();

    // 2. Another delivery of the event while the dead invocation's deadline is ahead.
    let other = answer(invocation(&first, None, long), &graph.url()).await;
    assert_eq!(other["outcome"], "acknowledged", "{other}");
    assert_eq!(
        other["reason"],
        format!(
            "run {} of this schedule is active",
            run_id.as_str().unwrap()
        )
    );

    // 3. Lambda's retry of the killed invocation: the same request id takes the run over.
    let retried = answer(invocation(&first, Some("req-killed"), long), &graph.url()).await;
    assert_eq!(retried["outcome"], "finished", "{retried}");
    assert_eq!(retried["run"]["run_id"], run_id);
    assert_eq!(retried["run"]["status"], "succeeded", "{retried}");
    assert!(retried["run"]["rows_written"].as_u64().unwrap() > 0);
    let listed = runs(&t, &sid).await;
    assert_eq!(listed.len(), 1, "one run, finished: {listed:?}");
    assert_eq!(listed[0]["status"], "succeeded");

    // 4. A run killed with little time left, and no retry: once its deadline has passed, the
    // next firing marks it failed (abandoned) and runs. The run must still reach the
    // platform before its own deadline (the invocation's less DEADLINE_MARGIN): a few
    // seconds, as a loaded moto can take most of one to read the schedule and the lease.
    let second = scheduled(&t.id, &sid, "2026-06-02T06:00:00Z", "ev-timed-out");
    let deadline_in = extractor::run::DEADLINE_MARGIN.to_std().unwrap() + Duration::from_secs(6);
    let started = Instant::now();
    killed_mid_run(invocation(&second, Some("req-timed-out"), deadline_in)).await;
    tokio::time::sleep(
        (started + deadline_in + Duration::from_millis(500))
            .saturating_duration_since(Instant::now()),
    )
    .await;
    let third = scheduled(&t.id, &sid, "2026-06-03T06:00:00Z", "ev-next-day");
    let next = answer(invocation(&third, None, long), &graph.url()).await;
    assert_eq!(next["run"]["status"], "succeeded", "{next}");
    let listed = runs(&t, &sid).await;
    assert_eq!(listed.len(), 3, "{listed:?}");
    let abandoned: Vec<&Value> = listed.iter().filter(|r| r["status"] == "failed").collect();
    assert_eq!(abandoned.len(), 1, "{listed:?}");
    assert_eq!(
        abandoned[0]["error"],
        adpipe_domain::keys::ABANDONED_RUN_ERROR
    );
    assert!(
        listed.iter().all(|r| r["status"] != "running"),
        "{listed:?}"
    );
}
