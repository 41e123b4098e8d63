//! Init time of the release `schedule-api` binary: from spawn to its first
//! `GET /runtime/invocation/next` against a local runtime API, median of 20 spawns.
//! `ADPIPE_INIT_BIN` measures another build of it instead (e.g. another opt-level).

use adpipe_testkit::{init_summary, init_times};

const SPAWNS: usize = 20;

#[tokio::main]
async fn main() {
    let binary = std::env::var("ADPIPE_INIT_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_schedule-api").to_owned());
    let env = [
        ("CONTROL_TABLE", "control"),
        (
            "EXTRACTOR_FUNCTION_ARN",
            "arn:aws:lambda:us-east-1:123456789012:function:extractor",
        ),
        ("AWS_ACCESS_KEY_ID", "x"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
    ];
    let times = init_times(&binary, &env, SPAWNS).await;
    println!(
        "schedule-api init (spawn -> first /next, {SPAWNS} spawns): {}",
        init_summary(&times)
    );
}
