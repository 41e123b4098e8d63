//! `adpipe-migrate-lake`: moves a data lake written before the current table to today's
//! layout (README, "Upgrading a lake written before v2"; the steps are in
//! `stream_to_s3::migrate`). Not a Lambda: `sam build` does not package it; an operator runs
//! it once after deploying, with credentials that may list, read, write and delete in the
//! data bucket:
//!
//! ```text
//! cargo run --release -p stream-to-s3 --bin adpipe-migrate-lake -- \
//!     --bucket <DataBucketName> [--tenant <tenant_id>] [--dry-run]
//! ```
//!
//! Prints what it did as JSON; exits 1 when anything failed (run it again), 2 on bad usage.

use std::process::ExitCode;

use stream_to_s3::migrate::{Options, migrate};

const USAGE: &str =
    "usage: adpipe-migrate-lake --bucket <DataBucketName> [--tenant <tenant_id>] [--dry-run]";

fn options(args: &[String]) -> Result<Options, String> {
    let (mut bucket, mut tenant, mut dry_run) = (None, None, false);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--bucket" => bucket = Some(args.next().ok_or("--bucket takes a bucket name")?.clone()),
            "--tenant" => tenant = Some(args.next().ok_or("--tenant takes a tenant id")?.clone()),
            "--dry-run" => dry_run = true,
            other => return Err(format!("unknown argument `{other}`")),
        }
    }
    let bucket = bucket
        .filter(|b| !b.is_empty())
        .ok_or("--bucket is required")?;
    if let Some(t) = &tenant {
        t.parse::<adpipe_domain::TenantId>()
            .map_err(|e| format!("--tenant: {e}"))?;
    }
    Ok(Options {
        bucket,
        tenant,
        dry_run,
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match options(&args) {
        Ok(options) => options,
        Err(e) => {
            eprintln!("adpipe-migrate-lake: {e}\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let sdk = aws_config::load_from_env().await;
    match migrate(&stream_to_s3::s3_client(&sdk), &options).await {
        Ok(report) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&report).unwrap_or_default()
            );
            if report.failures.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Err(e) => {
            eprintln!("adpipe-migrate-lake: {e}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<String> {
        text.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn usage_is_read_and_bad_usage_named() {
        let o = options(&args("--bucket lake --tenant acme --dry-run")).unwrap();
        assert_eq!(
            (o.bucket.as_str(), o.tenant.as_deref(), o.dry_run),
            ("lake", Some("acme"), true)
        );
        let o = options(&args("--bucket lake")).unwrap();
        assert_eq!((o.tenant, o.dry_run), (None, false));
        for (bad, says) in [
            ("", "--bucket is required"),
            ("--tenant acme", "--bucket is required"),
            ("--bucket", "--bucket takes a bucket name"),
            ("--bucket lake --tenant", "--tenant takes a tenant id"),
            ("--bucket lake --tenant ../x", "--tenant:"),
            ("--bucket lake --force", "unknown argument `--force`"),
        ] {
            let e = options(&args(bad)).unwrap_err();
            assert!(e.contains(says), "{bad}: {e}");
        }
    }
}
