//! Fixtures every connector test shares: dates, windows, and a job for one connection.

#![allow(dead_code)] // each test binary uses its own share

use std::time::Duration;

use adpipe_domain::{
    Connection, ConnectionId, ConnectionStatus, Level, Platform, ReportSpec, RunId, Schedule,
    ScheduleId, TenantId, Window,
};
use chrono::{NaiveDate, Utc};
use extractor::ports::{Credentials, Job};
use wiremock::{MockServer, Request};

pub fn d(s: &str) -> NaiveDate {
    s.parse().expect("a date")
}

pub fn window(since: &str, until: &str) -> Window {
    Window {
        since: d(since),
        until: d(until),
    }
}

/// A deadline far enough away for any test against a local fake.
pub fn soon() -> Duration {
    Duration::from_secs(60)
}

/// A job of tenant `tenant-a` for `account_id` on `platform` at `level`, with
/// `credentials`, due in `deadline_in`.
pub fn job(
    platform: Platform,
    account_id: &str,
    level: Level,
    credentials: Credentials,
    deadline_in: Duration,
) -> Job {
    let tenant: TenantId = "tenant-a".parse().expect("a tenant id");
    let now = Utc::now();
    let connection = Connection {
        id: ConnectionId::generate(),
        tenant_id: tenant.clone(),
        platform,
        account_id: account_id.into(),
        name: None,
        login_customer_id: None,
        status: ConnectionStatus::Active,
        time_zone: None,
        secret_id: "adpipe/tenant-a/con".into(),
        created_at: now,
        updated_at: now,
    };
    let schedule = Schedule {
        id: ScheduleId::generate(),
        tenant_id: tenant,
        connection_id: connection.id.clone(),
        platform,
        schedule_expression: "rate(1 day)".parse().expect("an expression"),
        report: ReportSpec {
            level,
            ..ReportSpec::default_for(platform)
        },
        enabled: true,
        description: None,
        rule_name: "adpipe-sch".into(),
        rule_arn: "arn:aws:events:eu-west-1:123456789012:rule/adpipe-sch".into(),
        created_at: now,
        updated_at: now,
    };
    Job {
        connection,
        schedule,
        run_id: RunId::generate(),
        credentials,
        deadline: Utc::now() + deadline_in,
    }
}

/// Every request the fake platform received, in order.
pub async fn received(server: &MockServer) -> Vec<Request> {
    server.received_requests().await.expect("recorded")
}

/// The requests the fake platform received at `path`, in order.
pub async fn received_at(server: &MockServer, path: &str) -> Vec<Request> {
    let mut requests = received(server).await;
    requests.retain(|r| r.url.path() == path);
    requests
}
