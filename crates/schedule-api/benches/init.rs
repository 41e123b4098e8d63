//! Init time of the release `schedule-api` binary: from spawn to its first
//! `GET /runtime/invocation/next` against a local runtime API, median of 20 spawns.
//! `ADPIPE_INIT_BIN` measures another build of it instead (e.g. another opt-level).

use std::time::{Duration, Instant};

use adpipe_testkit::FakeRuntimeApi;

const SPAWNS: usize = 20;

#[tokio::main]
async fn main() {
    let binary = std::env::var("ADPIPE_INIT_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_schedule-api").to_owned());
    let mut times = Vec::with_capacity(SPAWNS);
    for _ in 0..SPAWNS {
        let runtime = FakeRuntimeApi::start(vec![]).await;
        let started = Instant::now();
        let mut child = tokio::process::Command::new(&binary)
            .env_clear()
            .envs(runtime.lambda_env())
            .env("CONTROL_TABLE", "control")
            .env(
                "EXTRACTOR_FUNCTION_ARN",
                "arn:aws:lambda:us-east-1:123456789012:function:extractor",
            )
            .env("AWS_ACCESS_KEY_ID", "x")
            .env("AWS_SECRET_ACCESS_KEY", "x")
            .stdout(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn schedule-api");
        let deadline = started + Duration::from_secs(10);
        let first = loop {
            if let Some(at) = runtime.first_next_at() {
                break at;
            }
            assert!(Instant::now() < deadline, "no /next within 10 s");
            tokio::time::sleep(Duration::from_micros(200)).await;
        };
        times.push(first.duration_since(started));
        let _ = child.kill().await;
    }
    times.sort();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    println!(
        "schedule-api init (spawn -> first /next, {SPAWNS} spawns): median {:.1} ms, min {:.1} ms, max {:.1} ms",
        ms(times[SPAWNS / 2]),
        ms(times[0]),
        ms(times[SPAWNS - 1])
    );
}
