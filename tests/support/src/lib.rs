//! Test support for adpipe's integration tests.
//!
//! - [`aws()`]: one moto server per test process, with the tables `template.yaml` declares,
//!   the app-credentials secret and an extractor function; build SDK clients per test with
//!   [`TestAws::dynamodb`] & co. (never share a client across `#[tokio::test]`s: each test
//!   has its own runtime and a client's connections die with it).
//! - [`FaultProxy`]: sits between a client and moto and fails chosen operations.
//! - [`FakeRuntimeApi`]: the Lambda runtime API, to run a built `bootstrap` binary locally.
//! - [`unique_tenant`]: tests share one moto, so each works in its own tenant.

mod eventbridge;
pub mod fake_google_ads;
mod fake_graph;
pub mod fake_youtube;
mod fault_proxy;
mod local_aws;
mod moto;
pub mod prices;
mod runtime_api;
mod server;
mod silent;
mod streams;
mod template;

use std::path::PathBuf;

pub use eventbridge::{render_input, scheduled_event};
pub use fake_graph::{DEMO_ACCOUNT, DEMO_TIME_ZONE, FakeGraphApi, LARGE_ACCOUNT, LARGE_ADS};
pub use fault_proxy::{FaultProxy, RequestUnits};
pub use local_aws::{
    TestAws, aws, dynamodb_at, eventbridge_at, lambda_at, s3_at, sdk_config, secretsmanager_at,
};
pub use runtime_api::{FakeRuntimeApi, Invocation, Outcome, init_summary, init_times};
pub use silent::SilentApi;
pub use streams::{Shape, lambda_record};
pub use template::template;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// This process's peak resident set size (`VmHWM`), in MB; 0 where /proc has none.
pub fn peak_rss_mb() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let kb = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    kb / 1024.0
}

/// A tenant id no other test uses: `t-` and 12 lowercase hex digits.
pub fn unique_tenant() -> String {
    format!("t-{}", random_suffix(12))
}

/// `len` (≤ 12) random lowercase hex digits: the head of a UUIDv4, before its version digit.
pub(crate) fn random_suffix(len: usize) -> String {
    uuid::Uuid::new_v4().simple().to_string()[..len].to_owned()
}

/// The workspace root, where `template.yaml` and `.venv` live.
pub(crate) fn workspace_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tenants_are_distinct_and_well_formed() {
        let (a, b) = (unique_tenant(), unique_tenant());
        assert_ne!(a, b);
        assert_eq!(a.len(), 14);
        assert!(a.starts_with("t-"));
        assert!(
            a[2..]
                .chars()
                .all(|c| c.is_ascii_digit() || c.is_ascii_lowercase())
        );
    }
}
