//! Request bodies and response views of the HTTP API. Bodies refuse unknown fields;
//! views never carry credentials, secret names or another tenant's anything.

use adpipe_domain::{
    Connection, ConnectionStatus, Level, Platform, ReportSpec, ReportSpecInput, Run, RunKind,
    RunStatus, Schedule, Window,
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateConnection {
    pub platform: Platform,
    pub account_id: String,
    pub name: Option<String>,
    pub login_customer_id: Option<String>,
    pub credentials: Credentials,
}

/// The credentials object as sent; its `Debug` never shows a value.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct Credentials(pub serde_json::Map<String, serde_json::Value>);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.keys()).finish()
    }
}

/// `POST /v1/connections/oauth/{platform}/token`: a connection from an authorization code.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConnectWithCode {
    pub code: AuthorizationCode,
    pub redirect_uri: String,
    /// The `state` the sign-in was started with (authorize-url): binds the code to the
    /// tenant that started it.
    pub state: Option<String>,
    pub account_id: String,
    pub name: Option<String>,
    pub login_customer_id: Option<String>,
}

/// An OAuth authorization code as sent; its `Debug` never shows it.
#[derive(Deserialize)]
#[serde(transparent)]
pub struct AuthorizationCode(pub String);

impl std::fmt::Debug for AuthorizationCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuthorizationCode(<redacted>)")
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateSchedule {
    pub connection_id: String,
    pub schedule_expression: String,
    #[serde(default)]
    pub report: ReportSpecInput,
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateSchedule {
    pub schedule_expression: Option<String>,
    pub report: Option<ReportSpecInput>,
    pub enabled: Option<bool>,
    pub description: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ConnectionView {
    pub id: String,
    pub platform: Platform,
    pub account_id: String,
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub login_customer_id: Option<String>,
    pub status: ConnectionStatus,
    pub created_at: DateTime<Utc>,
}

impl From<Connection> for ConnectionView {
    fn from(c: Connection) -> Self {
        Self {
            id: c.id.to_string(),
            platform: c.platform,
            account_id: c.account_id,
            name: c.name,
            login_customer_id: c.login_customer_id,
            status: c.status,
            created_at: c.created_at,
        }
    }
}

/// `GET /v1/connections/oauth/{platform}/authorize-url`.
#[derive(Debug, Serialize)]
pub struct AuthorizeUrlView {
    /// The platform's consent page, for the client's front end to redirect to.
    pub url: String,
    /// The scopes (Google) or permissions (Facebook) the URL asks for.
    pub scopes: Vec<&'static str>,
}

#[derive(Debug, Serialize)]
pub struct ReportView {
    pub level: Level,
    pub lookback_days: u16,
    pub backfill_days: u16,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub conversion_action_types: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct ScheduleView {
    pub id: String,
    pub connection_id: String,
    pub schedule_expression: String,
    pub report: ReportView,
    pub enabled: bool,
    pub description: Option<String>,
    pub rule_name: String,
    pub rule_arn: String,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Schedule> for ScheduleView {
    fn from(s: Schedule) -> Self {
        let ReportSpec {
            level,
            lookback_days,
            backfill_days,
            conversion_action_types,
        } = s.report;
        Self {
            id: s.id.to_string(),
            connection_id: s.connection_id.to_string(),
            schedule_expression: s.schedule_expression.to_string(),
            report: ReportView {
                level,
                lookback_days,
                backfill_days,
                conversion_action_types,
            },
            enabled: s.enabled,
            description: s.description,
            rule_name: s.rule_name,
            rule_arn: s.rule_arn,
            created_at: s.created_at,
            updated_at: s.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct RunView {
    pub run_id: String,
    pub kind: RunKind,
    pub status: RunStatus,
    pub window: Option<Window>,
    pub rows_fetched: u64,
    pub rows_written: u64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

impl From<Run> for RunView {
    fn from(r: Run) -> Self {
        Self {
            run_id: r.run_id.to_string(),
            kind: r.kind,
            status: r.status,
            window: r.window,
            rows_fetched: r.rows_fetched,
            rows_written: r.rows_written,
            started_at: r.started_at,
            finished_at: r.finished_at,
            error: r.error,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct ListView<T> {
    pub items: Vec<T>,
    pub next_token: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct RunAccepted {
    pub run_id: String,
}
