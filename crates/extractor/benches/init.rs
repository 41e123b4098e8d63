//! Init time of the release `extractor` binary (mimalloc, opt-level 3): from spawn to its
//! first `GET /runtime/invocation/next` against a local runtime API, median of 20 spawns.
//! `ADPIPE_INIT_BIN` measures another build of it instead.

use adpipe_testkit::{init_summary, init_times};

const SPAWNS: usize = 20;

#[tokio::main]
async fn main() {
    let binary = std::env::var("ADPIPE_INIT_BIN")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_extractor").to_owned());
    let env = [
        ("CONTROL_TABLE", "control"),
        ("STAGING_TABLE", "staging"),
        ("APP_CREDENTIALS_SECRET", "adpipe/app"),
        ("AWS_ACCESS_KEY_ID", "x"),
        ("AWS_SECRET_ACCESS_KEY", "x"),
    ];
    let times = init_times(&binary, &env, SPAWNS).await;
    println!(
        "extractor init (spawn -> first /next, {SPAWNS} spawns): {}",
        init_summary(&times)
    );
}
