//! The control-plane records adpipe keeps in the control table. Storage keys are added by
//! the store (see [`crate::keys`]); API views are shaped by the schedule API.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::{
    ConnectionId, Platform, ReportSpec, RunId, ScheduleExpression, ScheduleId, TenantId, Window,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ConnectionStatus {
    Active,
    /// The platform refused the stored credentials: the client must connect the account again.
    ReauthRequired,
}

/// A tenant's ad account. Its credentials live in Secrets Manager under `secret_id`, never here.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Connection {
    pub id: ConnectionId,
    pub tenant_id: TenantId,
    pub platform: Platform,
    /// Canonical account id (see [`crate::AccountId`]).
    pub account_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Google Ads manager account that grants access, 10 digits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub login_customer_id: Option<String>,
    pub status: ConnectionStatus,
    /// IANA time zone of the ad account, learned by the extractor; UTC until then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<String>,
    pub secret_id: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schedule {
    pub id: ScheduleId,
    pub tenant_id: TenantId,
    pub connection_id: ConnectionId,
    pub platform: Platform,
    pub schedule_expression: ScheduleExpression,
    pub report: ReportSpec,
    pub enabled: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub rule_name: String,
    pub rule_arn: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunKind {
    Scheduled,
    Manual,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
}

/// One extractor run, recorded from its start to its end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub run_id: RunId,
    pub tenant_id: TenantId,
    pub schedule_id: ScheduleId,
    pub kind: RunKind,
    pub status: RunStatus,
    /// Absent when the run ended before a window was known, or the window was empty.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<Window>,
    pub rows_fetched: u64,
    pub rows_written: u64,
    pub started_at: DateTime<Utc>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Lambda request id of the invocation running it (an asynchronous retry of a crashed
    /// invocation carries the same id and takes the run over). Not shown to tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// When that invocation is stopped by Lambda at the latest. Not shown to tenants.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<DateTime<Utc>>,
}
