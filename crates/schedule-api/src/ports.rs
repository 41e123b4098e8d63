//! The outside world as the schedule API needs it: one narrow trait per dependency.
//! Production wires the AWS adapters (`store/`, `scheduler/`, `secrets/`, `invoker/`) and
//! the platforms' token endpoints (`oauth/`); tests wire the same adapters against moto,
//! a faulty endpoint or a mock platform; the benchmark and unit tests wire `memory`.

use adpipe_domain::insights::{Alert, Budget, Metric, MonthProjection, Severity};
use adpipe_domain::{
    Connection, ConnectionId, Platform, Run, RunId, Schedule, ScheduleExpression, ScheduleId,
    TenantId,
};
use async_trait::async_trait;
use chrono::{DateTime, NaiveDate, Utc};
use thiserror::Error;

use crate::config::Limits;
use crate::error::{DependencyError, StoreError};
use crate::insights::Month;

/// What a tenant's quotas count, taken before the resource is made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Quota {
    Connection,
    /// A schedule on this connection: counts against the tenant's and the connection's limit.
    Schedule(ConnectionId),
}

/// The limit a quota reservation met; nothing was taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QuotaExceeded {
    ConnectionsPerTenant(u32),
    SchedulesPerTenant(u32),
    SchedulesPerConnection(u32),
}

/// An OAuth sign-in a tenant started (`authorize-url`) and has not finished (`token`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthState {
    /// SHA-256 (hex) of the client's `state`: the value itself is not stored.
    pub state_digest: String,
    pub platform: Platform,
    pub redirect_uri: String,
    /// PKCE code verifier (RFC 7636) for the platforms that support it (Google).
    pub code_verifier: Option<String>,
    pub expires_at: DateTime<Utc>,
}

/// One page of a tenant's items, and the sort key to continue after.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub last_key: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: u16,
    /// Sort key of the last item of the previous page.
    pub after: Option<String>,
}

/// A stored `Idempotency-Key`: the request it belongs to and, once answered, the answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyRecord {
    pub key_digest: String,
    pub request_digest: String,
    pub response: Option<StoredResponse>,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredResponse {
    pub status: u16,
    pub body: String,
}

/// Which of a tenant's alerts a list shows; `None` narrows nothing.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AlertFilter {
    /// First days from `since` to `until`, inclusive (a key condition: alerts sort by day).
    pub since: Option<NaiveDate>,
    pub until: Option<NaiveDate>,
    pub connection: Option<ConnectionId>,
    pub metric: Option<Metric>,
    /// This severity and the more severe ones.
    pub min_severity: Option<Severity>,
}

impl AlertFilter {
    /// Whether an alert of first day `day` is within the days asked for.
    pub fn admits(&self, day: NaiveDate) -> bool {
        self.since.is_none_or(|s| s <= day) && self.until.is_none_or(|u| day <= u)
    }

    /// The severities shown: all of them without a minimum.
    pub fn severities(&self) -> Vec<Severity> {
        Severity::ALL
            .iter()
            .copied()
            .filter(|s| self.min_severity.is_none_or(|min| *s >= min))
            .collect()
    }

    /// Whether the filter keeps `alert` (the days apart, which are the store's key range).
    pub fn keeps(&self, alert: &Alert) -> bool {
        self.connection
            .as_ref()
            .is_none_or(|c| *c == alert.connection_id)
            && self.metric.is_none_or(|m| m == alert.metric)
            && self.min_severity.is_none_or(|min| alert.severity >= min)
    }

    /// Whether anything but days narrows the list (then a page may need several reads).
    pub fn narrows(&self) -> bool {
        self.connection.is_some() || self.metric.is_some() || self.min_severity.is_some()
    }
}

#[async_trait]
pub trait ControlStore: Send + Sync {
    /// Fails with `Conflict` if the id exists.
    async fn create_connection(&self, connection: &Connection) -> Result<(), StoreError>;
    async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError>;
    async fn connections(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Connection>, StoreError>;
    /// `Conflict` while schedules use the connection, `NotFound` if there is none. Takes
    /// the connection's budget, projections and insights summary with it (its alerts stay:
    /// they are the tenant's history).
    async fn delete_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<(), StoreError>;

    /// Stores the schedule and counts it on its connection, atomically: `NotFound` if the
    /// connection is gone.
    async fn create_schedule(&self, schedule: &Schedule) -> Result<(), StoreError>;
    async fn schedule(
        &self,
        tenant: &TenantId,
        id: &ScheduleId,
    ) -> Result<Option<Schedule>, StoreError>;
    async fn schedules(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Schedule>, StoreError>;
    /// Replaces the schedule if it is still the version updated at `seen_updated_at`
    /// (`Conflict` otherwise, `NotFound` if it was deleted).
    async fn update_schedule(
        &self,
        schedule: &Schedule,
        seen_updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError>;
    /// Removes the schedule and its cursor, and uncounts it from its connection.
    async fn delete_schedule(&self, schedule: &Schedule) -> Result<(), StoreError>;

    /// Takes one unit of the tenant's quota before the resource is made: `Ok(Err(limit))`
    /// when a limit is reached (nothing taken); `NotFound` when a schedule's connection is
    /// gone. Connections and schedules give their unit back when deleted.
    async fn take_quota(
        &self,
        tenant: &TenantId,
        quota: &Quota,
        limits: &Limits,
    ) -> Result<Result<(), QuotaExceeded>, StoreError>;
    /// Gives back a unit taken for a resource that was then not made.
    async fn return_quota(&self, tenant: &TenantId, quota: &Quota) -> Result<(), StoreError>;

    /// Counts one request of kind `what` in the tenant's window for the current minute:
    /// `false` (not counted) when `limit` requests are already counted in it.
    async fn count_request(
        &self,
        tenant: &TenantId,
        what: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError>;

    /// Claims the schedule's active-run lease for a run-now until `deadline` (the extractor
    /// takes it over when the invocation arrives): `Ok(Err(run))` while `run` holds it.
    async fn claim_run(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        run: &RunId,
        deadline: DateTime<Utc>,
    ) -> Result<Result<(), RunId>, StoreError>;
    /// Frees a claim whose invocation failed, unless an extractor has taken it over.
    async fn release_run_claim(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        run: &RunId,
    ) -> Result<(), StoreError>;

    /// Records a started sign-in (replacing one with the same state).
    async fn put_oauth_state(
        &self,
        tenant: &TenantId,
        state: &OAuthState,
    ) -> Result<(), StoreError>;
    /// Removes and returns the tenant's unexpired sign-in with this state digest, once:
    /// `None` when it was never started by this tenant, has expired or was already used.
    async fn take_oauth_state(
        &self,
        tenant: &TenantId,
        state_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<OAuthState>, StoreError>;

    /// Newest first.
    async fn runs(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        page: &PageRequest,
    ) -> Result<Page<Run>, StoreError>;

    async fn budget(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<Budget>, StoreError>;
    /// Stores (replaces) the budget while its connection exists: `NotFound` if it is gone.
    async fn put_budget(&self, tenant: &TenantId, budget: &Budget) -> Result<(), StoreError>;
    /// `NotFound` when the connection has no budget.
    async fn delete_budget(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<(), StoreError>;
    /// The insights function's projection of `month`, if it has made one.
    async fn projection(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        month: Month,
    ) -> Result<Option<MonthProjection>, StoreError>;
    /// The projection of the latest month the insights function has made one for.
    async fn newest_projection(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<MonthProjection>, StoreError>;
    /// Newest first day first; expired alerts (past their `expires_at`) left out. A page
    /// may hold fewer than `limit` alerts when the filter leaves few in what was read, and
    /// still go on (`last_key`).
    async fn alerts(
        &self,
        tenant: &TenantId,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>, StoreError>;

    async fn idempotency_record(
        &self,
        tenant: &TenantId,
        key_digest: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError>;
    /// Claims the key: `Conflict` if an unexpired record holds it.
    async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError>;
    async fn complete_idempotency_key(
        &self,
        tenant: &TenantId,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError>;
    async fn release_idempotency_key(
        &self,
        tenant: &TenantId,
        key_digest: &str,
    ) -> Result<(), StoreError>;
}

/// An EventBridge rule on the default bus.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleSpec {
    pub name: String,
    pub expression: ScheduleExpression,
    pub enabled: bool,
    pub description: String,
    pub tenant_id: TenantId,
    pub schedule_id: ScheduleId,
}

#[async_trait]
pub trait RuleScheduler: Send + Sync {
    /// Creates or updates the rule (targets are kept); returns its ARN.
    async fn put_rule(&self, rule: &RuleSpec) -> Result<String, DependencyError>;
    /// Makes the extractor the rule's one target, with the contract's input transformer.
    async fn put_extractor_target(
        &self,
        rule: &RuleSpec,
        extractor_arn: &str,
    ) -> Result<(), DependencyError>;
    /// Removes the rule's targets, then the rule. A rule that is already gone is fine.
    async fn delete_rule(&self, rule_name: &str) -> Result<(), DependencyError>;
}

/// A connection's credentials: a JSON object, never logged (see its `Debug`).
#[derive(Clone, PartialEq)]
pub struct SecretValue(pub String);

impl std::fmt::Debug for SecretValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretValue(<redacted>)")
    }
}

#[async_trait]
pub trait SecretStore: Send + Sync {
    async fn create_secret(
        &self,
        name: &str,
        value: &SecretValue,
        tenant: &TenantId,
    ) -> Result<(), DependencyError>;
    /// Deletes at once, without a recovery window. A secret that is already gone is fine.
    async fn delete_secret(&self, name: &str) -> Result<(), DependencyError>;
    /// The platform app credentials held by the secret `id` (`APP_CREDENTIALS_SECRET`).
    /// Adapters may cache them for a few minutes.
    async fn app_credentials(&self, id: &str) -> Result<AppCredentials, AppSecretError>;
}

/// The `APP_CREDENTIALS_SECRET` JSON (docs/architecture.md, "Configuration").
pub use adpipe_domain::app::{AppCredentials, FacebookApp, GoogleApp};

#[derive(Debug, Error)]
pub enum AppSecretError {
    /// Secrets Manager failed or refused the read.
    #[error(transparent)]
    Unavailable(#[from] DependencyError),
    /// The secret does not exist or is not the JSON docs/architecture.md describes: an
    /// operator's fix. The reason names the secret's fields, never their values.
    #[error("app credentials secret: {0}")]
    Unusable(String),
}

/// What an authorization code was exchanged for. `Debug` shows no token.
pub struct Grant {
    /// Google: the refresh token, absent when Google issued none. Facebook: the long-lived
    /// user access token.
    pub token: Option<String>,
    /// The scopes (Google) or permissions (Facebook) granted; `None` when the platform did
    /// not say.
    pub granted: Option<Vec<String>>,
}

impl std::fmt::Debug for Grant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Grant")
            .field("token", &self.token.as_ref().map(|_| "<redacted>"))
            .field("granted", &self.granted)
            .finish()
    }
}

/// Why a code was not exchanged. Details are for the log: the platform's error code and
/// description, never the code, a token or the app secret.
#[derive(Debug, Error)]
pub enum OAuthError {
    /// Refused: expired, already used, revoked, or issued to another app.
    #[error("authorization code refused: {0}")]
    InvalidCode(String),
    /// The redirect URI is not the consent request's, or not registered for the app.
    #[error("redirect_uri refused: {0}")]
    RedirectUriMismatch(String),
    /// The platform refused the app credentials themselves.
    #[error("app credentials refused: {0}")]
    AppRefused(String),
    /// Unreachable, timed out, 5xx or 429, or an answer that could not be read.
    #[error(transparent)]
    Unavailable(#[from] DependencyError),
}

/// The platforms' OAuth token endpoints: one authorization code in, one long-lived
/// credential out. A code is single-use: implementations never retry an exchange.
#[async_trait]
pub trait OAuthExchange: Send + Sync {
    /// Google: `grant_type=authorization_code` at the token endpoint.
    async fn google(
        &self,
        app: &GoogleApp,
        code: &str,
        redirect_uri: &str,
        code_verifier: Option<&str>,
    ) -> Result<Grant, OAuthError>;
    /// Facebook: the code for a short-lived user token, that for a long-lived one, and the
    /// permissions it carries.
    async fn facebook(
        &self,
        app: &FacebookApp,
        code: &str,
        redirect_uri: &str,
    ) -> Result<Grant, OAuthError>;
}

#[async_trait]
pub trait ExtractorInvoker: Send + Sync {
    /// An asynchronous (`Event`) invoke: Lambda queues it and answers 202.
    async fn invoke_async(
        &self,
        function_arn: &str,
        payload: Vec<u8>,
    ) -> Result<(), DependencyError>;
}
