//! Key layout of the control table (`pk`, `sk`, both strings). Everything a tenant owns
//! lives under its own partition, so every read is scoped by the tenant named in the
//! verified JWT and a foreign id simply is not found.
//!
//! | item        | pk                          | sk                       |
//! |-------------|-----------------------------|--------------------------|
//! | connection  | `TENANT#<t>`                | `CONNECTION#<id>`        |
//! | schedule    | `TENANT#<t>`                | `SCHEDULE#<id>`          |
//! | cursor      | `TENANT#<t>`                | `CURSOR#<schedule id>`   |
//! | idempotency | `TENANT#<t>`                | `IDEMPOTENCY#<sha256>`   |
//! | run         | `RUNS#<t>#<schedule id>`    | `RUN#<run id>`           |
//!
//! Run ids are time-ordered, so a descending query on a run partition lists newest first.

use crate::{ConnectionId, RunId, ScheduleId, TenantId};

pub const PK: &str = "pk";
pub const SK: &str = "sk";
/// The TTL attribute of both tables (epoch seconds).
pub const EXPIRES_AT: &str = "expires_at";

pub const CONNECTION_PREFIX: &str = "CONNECTION#";
pub const SCHEDULE_PREFIX: &str = "SCHEDULE#";
pub const RUN_PREFIX: &str = "RUN#";

pub fn tenant_pk(tenant: &TenantId) -> String {
    format!("TENANT#{tenant}")
}

pub fn connection_sk(id: &ConnectionId) -> String {
    format!("{CONNECTION_PREFIX}{id}")
}

pub fn schedule_sk(id: &ScheduleId) -> String {
    format!("{SCHEDULE_PREFIX}{id}")
}

pub fn cursor_sk(id: &ScheduleId) -> String {
    format!("CURSOR#{id}")
}

pub fn idempotency_sk(key_digest_hex: &str) -> String {
    format!("IDEMPOTENCY#{key_digest_hex}")
}

pub fn runs_pk(tenant: &TenantId, schedule: &ScheduleId) -> String {
    format!("RUNS#{tenant}#{schedule}")
}

pub fn run_sk(id: &RunId) -> String {
    format!("{RUN_PREFIX}{id}")
}

/// Partition of the asynchronous report runs the extractor has started for a connection and
/// not yet read (Facebook's `report_run_id`s), so a run stopped by its deadline resumes the
/// same report instead of starting another.
pub fn report_runs_pk(tenant: &TenantId, connection: &ConnectionId) -> String {
    format!("REPORTS#{tenant}#{connection}")
}

/// One pending report run: the level and the days it covers.
pub fn report_run_sk(level: &str, since: chrono::NaiveDate, until: chrono::NaiveDate) -> String {
    format!("REPORT#{level}#{since}#{until}")
}

/// Secrets Manager name of a connection's credentials.
pub fn secret_name(prefix: &str, tenant: &TenantId, id: &ConnectionId) -> String {
    format!("{prefix}{tenant}/{id}")
}

/// EventBridge rule name of a schedule (64 characters at most: the prefix is limited to 24).
pub fn rule_name(prefix: &str, id: &ScheduleId) -> String {
    format!("{prefix}{id}")
}

/// Staging-table key of a row: one partition per tenant, platform and account, one item
/// per entity and day, so a re-extracted day overwrites its row.
pub fn staging_key(tenant: &str, row: &crate::AdMetricRow) -> (String, String) {
    let pk = format!("{tenant}#{}#{}", row.platform, row.account_id);
    let sk = row
        .row_key
        .splitn(3, '|')
        .nth(2)
        .unwrap_or(&row.row_key)
        .to_owned();
    (pk, sk)
}
