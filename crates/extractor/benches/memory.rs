//! Peak RSS of one ad-level chunk of 100,000 rows: seven days of a large Facebook account
//! (`act_100000` of the fake Graph API, 14,286 ads a day, read through a report run in
//! pages of 500) fetched by the real connector and staged into moto by the real staging.
//! Two ways, each in a process of its own (this binary runs itself again), since a peak is
//! per process:
//!  - `page by page`: `extractor::run::fetch_and_stage`, what runs do;
//!  - `whole chunk`: every row of the chunk fetched, then staged at once, what runs did
//!    before (and what `Connector::fetch` still does for tests).

#[path = "../tests/common/mod.rs"]
mod common;

use std::time::{Duration, Instant};

use adpipe_domain::{Level, Platform, Window};
use adpipe_testkit::{FakeGraphApi, LARGE_ACCOUNT, LARGE_ADS, aws, peak_rss_mb, sdk_config};
use extractor::connectors::facebook::FacebookConnector;
use extractor::ports::{AppCredentials, Connector, Credentials, FacebookApp};
use extractor::staging::DynamoStaging;

const MODE: &str = "ADPIPE_MEMORY_MODE";
const MODES: [&str; 2] = ["page by page", "whole chunk"];

fn main() {
    match std::env::var(MODE) {
        Ok(mode) => measure(&mode),
        Err(_) => {
            let exe = std::env::current_exe().expect("this binary");
            println!(
                "{} ad-level rows in one 7-day chunk (Facebook report run, fake Graph API -> moto)",
                LARGE_ADS * 7
            );
            for mode in MODES {
                let out = std::process::Command::new(&exe)
                    .env(MODE, mode)
                    .output()
                    .expect("the measurement runs");
                assert!(
                    out.status.success(),
                    "{mode}: {}",
                    String::from_utf8_lossy(&out.stderr)
                );
                print!("{}", String::from_utf8_lossy(&out.stdout));
            }
        }
    }
}

fn measure(mode: &str) {
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    runtime.block_on(async {
        let aws = aws();
        let graph = FakeGraphApi::start().await;
        let client = FacebookConnector::http_client().expect("an HTTP client");
        let connector = FacebookConnector::new(
            client,
            graph.url(),
            std::sync::Arc::new(extractor::store::MemoryReportRuns::default()),
        );
        let staging = DynamoStaging::new(
            aws_sdk_dynamodb::Client::new(&sdk_config(&aws.endpoint).await),
            aws.staging_table.clone(),
            7,
        );
        let credentials = Credentials {
            token: "EAAB-memory".into(),
            app: AppCredentials {
                google: None,
                facebook: Some(FacebookApp {
                    app_id: "1".into(),
                    app_secret: "s".into(),
                }),
            },
        };
        let job = common::job(
            Platform::Facebook,
            LARGE_ACCOUNT,
            Level::Ad,
            credentials,
            Duration::from_secs(3_600),
        );
        let chunk = Window {
            since: common::d("2026-11-01"),
            until: common::d("2026-11-07"),
        };
        let before = peak_rss_mb();
        let started = Instant::now();
        let (fetched, written) = match mode {
            "page by page" => {
                let staged =
                    extractor::run::fetch_and_stage(&connector, &staging, &job, chunk).await;
                staged.fetch.expect("fetched");
                staged.staging.expect("staged");
                (staged.rows_fetched, staged.rows_written)
            }
            _ => {
                let rows = connector.fetch(&job, chunk).await.expect("fetched");
                let fetched = rows.len() as u64;
                (fetched, staging.write_all(rows).await.expect("staged"))
            }
        };
        println!(
            "  {mode:<12}  peak RSS {:6.1} MB  (before the chunk {:5.1} MB)  {fetched} rows fetched, {written} written, {:.1} s",
            peak_rss_mb(),
            before,
            started.elapsed().as_secs_f64()
        );
    });
}
