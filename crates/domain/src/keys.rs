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
//! | active run  | `RUNS#<t>#<schedule id>`    | `ACTIVE`                 |
//! | counter     | `TENANT#<t>`                | `COUNT#<what>`           |
//! | rate window | `TENANT#<t>`                | `RATE#<what>#<minute>`   |
//! | OAuth state | `TENANT#<t>`                | `OAUTH_STATE#<sha256>`   |
//! | budget      | `TENANT#<t>`                | `BUDGET#<connection id>` |
//! | projection  | `TENANT#<t>`                | `PACING#<connection id>#<YYYY-MM>` |
//! | insights    | `TENANT#<t>`                | `INSIGHTS#<connection id>` |
//! | alert       | `ALERTS#<t>`                | `<date>#<connection id>#<alert id>` |
//!
//! The active-run item is the lease that allows one run per schedule at a time (see
//! [`ActiveRun`]): the API writes it for a run-now before invoking the extractor, the
//! extractor takes it over (or acquires it for a scheduled firing), and deletes it when the
//! run ends. Counters hold a tenant's number of connections and schedules, checked
//! conditionally before any resource is made; rate windows count run-now requests per
//! minute and expire by TTL.
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

/// Sort key of a schedule's active-run lease, in the schedule's run partition (it sorts
/// before every `RUN#…`, so run listings, which query `begins_with(sk, "RUN#")`, skip it).
pub const ACTIVE_RUN_SK: &str = "ACTIVE";

/// Attributes of the active-run lease item (`pk` = [`runs_pk`], `sk` = [`ACTIVE_RUN_SK`]).
///
/// * `run_id` (S): the run holding the schedule.
/// * `request_id` (S): the Lambda request id of the invocation running it; absent while a
///   run-now is queued (written by the API, not yet picked up). A redelivery with the same
///   request id (Lambda's asynchronous retry of a crashed invocation) takes the run over.
/// * `deadline` (N, epoch milliseconds): when the holder is certainly gone (the
///   invocation's deadline, or the queue grace of a run-now); past it the lease is free and
///   a run it still names as `running` is marked `failed` ("abandoned").
/// * `expires_at` (N, epoch seconds): TTL, a day after the deadline.
pub mod active_run {
    pub const RUN_ID: &str = "run_id";
    pub const REQUEST_ID: &str = "request_id";
    pub const DEADLINE: &str = "deadline";
}

/// The error a run left behind by a process that died (killed, out of memory, timed out)
/// is closed with, when the next event for its schedule finds its deadline passed.
pub const ABANDONED_RUN_ERROR: &str = "abandoned: the extractor stopped before the run finished (killed, out of memory or timed out); the next run reads the same days again";

/// A sign-in the tenant started: the SHA-256 (hex) of its `state`, kept 10 minutes.
pub fn oauth_state_sk(state_digest_hex: &str) -> String {
    format!("OAUTH_STATE#{state_digest_hex}")
}

/// A tenant's counter of one kind of resource (`count` attribute, N).
pub fn counter_sk(what: &str) -> String {
    format!("COUNT#{what}")
}

/// A tenant's request counter for one minute (epoch minute), `count` attribute (N).
pub fn rate_sk(what: &str, epoch_minute: i64) -> String {
    format!("RATE#{what}#{epoch_minute}")
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

/// A connection's monthly budget ([`crate::insights::Budget`]).
pub fn budget_sk(connection: &ConnectionId) -> String {
    format!("BUDGET#{connection}")
}

/// The insights function's month-end projection of one month
/// ([`crate::insights::MonthProjection`]); `month` is `YYYY-MM`.
pub fn projection_sk(connection: &ConnectionId, month: &str) -> String {
    format!("PACING#{connection}#{month}")
}

/// The summary of a connection's last insights computation.
pub fn insights_sk(connection: &ConnectionId) -> String {
    format!("INSIGHTS#{connection}")
}

/// Partition of a tenant's alerts, sorted by day: a descending query lists newest first and
/// a day range is a key condition.
pub fn alerts_pk(tenant: &TenantId) -> String {
    format!("ALERTS#{tenant}")
}

/// One alert ([`crate::insights::Alert`]) under [`alerts_pk`], by its first day.
pub fn alert_sk(date: chrono::NaiveDate, connection: &ConnectionId, alert_id: &str) -> String {
    format!("{date}#{connection}#{alert_id}")
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
