//! The schedule API's operations over its ports. Every operation either completes or
//! leaves nothing behind: a failed step undoes the steps before it.

use adpipe_domain::platform::parse_google_customer_id;
use adpipe_domain::{
    AccountId, Connection, ConnectionId, ConnectionStatus, ExtractorEvent, FieldError, ManualRun,
    Platform, ReportSpec, RunId, Schedule, ScheduleExpression, ScheduleId, TenantId,
};
use adpipe_domain::{hex, keys};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::config::{Config, OAuthConfig};
use crate::error::{ApiError, ErrorCode, StoreError};
use crate::ports::{
    ControlStore, ExtractorInvoker, IdempotencyRecord, OAuthExchange, Page, PageRequest, Quota,
    QuotaExceeded, RuleScheduler, RuleSpec, SecretStore, SecretValue, StoredResponse,
};
use crate::request::{self, encode_token};
use crate::views::{
    ConnectionView, CreateConnection, CreateSchedule, Credentials, ListView, RunAccepted, RunView,
    ScheduleView, UpdateSchedule,
};

const MAX_NAME_CHARS: usize = 128;
/// EventBridge's limit on a rule description.
const MAX_DESCRIPTION_CHARS: usize = 512;
const MAX_TOKEN_BYTES: usize = 8 * 1024;
/// How long a run-now holds its schedule before the extractor picks the invocation up
/// (Lambda queues asynchronous invocations; past this, the claim no longer blocks).
const RUN_NOW_QUEUE_GRACE: chrono::Duration = chrono::Duration::minutes(5);
/// How long an `Idempotency-Key` answers with its first result.
const IDEMPOTENCY_WINDOW: chrono::Duration = chrono::Duration::hours(24);

pub struct Api {
    pub config: Config,
    pub oauth_config: OAuthConfig,
    pub store: Box<dyn ControlStore>,
    pub rules: Box<dyn RuleScheduler>,
    pub secrets: Box<dyn SecretStore>,
    pub invoker: Box<dyn ExtractorInvoker>,
    pub oauth: Box<dyn OAuthExchange>,
}

/// The answer to a request that may carry an `Idempotency-Key`.
#[derive(Debug)]
pub enum Replayable<T> {
    /// Made by this request.
    Created(T),
    /// The first answer to this key and body, as it was stored: this request made nothing.
    Replayed(StoredResponse),
}

/// A connection's fields, validated, before anything is written.
pub(crate) struct NewConnection {
    pub account: AccountId,
    pub name: Option<String>,
    pub login_customer_id: Option<String>,
}

impl NewConnection {
    pub fn parse(
        platform: Platform,
        account_id: &str,
        name: Option<String>,
        login_customer_id: Option<String>,
    ) -> Result<Self, ApiError> {
        let account = AccountId::parse(platform, account_id)?;
        let name = optional_text(name, "name", MAX_NAME_CHARS)?;
        let login_customer_id = match (platform, login_customer_id) {
            (_, None) => None,
            (Platform::GoogleAds, Some(raw)) => {
                Some(parse_google_customer_id(&raw, "login_customer_id")?)
            }
            (_, Some(_)) => {
                return Err(ApiError::invalid(
                    "login_customer_id",
                    "only google_ads connections take a login_customer_id",
                ));
            }
        };
        Ok(Self {
            account,
            name,
            login_customer_id,
        })
    }
}

impl Api {
    pub async fn create_connection(
        &self,
        tenant: &TenantId,
        body: CreateConnection,
    ) -> Result<ConnectionView, ApiError> {
        let new = NewConnection::parse(
            body.platform,
            &body.account_id,
            body.name,
            body.login_customer_id,
        )?;
        let secret = credentials(body.platform, &body.credentials)?;
        self.store_connection(tenant, new, &secret).await
    }

    /// Writes the connection's secret, then its record; a failed record removes the secret.
    pub(crate) async fn store_connection(
        &self,
        tenant: &TenantId,
        new: NewConnection,
        secret: &SecretValue,
    ) -> Result<ConnectionView, ApiError> {
        let id = ConnectionId::generate();
        let now = Utc::now();
        let connection = Connection {
            secret_id: keys::secret_name(&self.config.secret_prefix, tenant, &id),
            id,
            tenant_id: tenant.clone(),
            platform: new.account.platform(),
            account_id: new.account.as_str().to_owned(),
            name: new.name,
            login_customer_id: new.login_customer_id,
            status: ConnectionStatus::Active,
            time_zone: None,
            created_at: now,
            updated_at: now,
        };
        self.take_quota(tenant, &Quota::Connection).await?;
        if let Err(e) = self
            .secrets
            .create_secret(&connection.secret_id, secret, tenant)
            .await
        {
            self.give_back_quota(tenant, &Quota::Connection).await;
            return Err(e.into());
        }
        if let Err(e) = self.store.create_connection(&connection).await {
            self.undo_secret(&connection.secret_id).await;
            self.give_back_quota(tenant, &Quota::Connection).await;
            return Err(e.into());
        }
        tracing::info!(connection_id = %connection.id, platform = %connection.platform, "connection created");
        Ok(connection.into())
    }

    pub async fn connection(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<ConnectionView, ApiError> {
        Ok(self.find_connection(tenant, id).await?.into())
    }

    pub async fn connections(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<ListView<ConnectionView>, ApiError> {
        Ok(list_view(self.store.connections(tenant, page).await?))
    }

    pub async fn delete_connection(&self, tenant: &TenantId, id: &str) -> Result<(), ApiError> {
        let connection = self.find_connection(tenant, id).await?;
        self.store
            .delete_connection(tenant, &connection.id)
            .await
            .map_err(|e| not_found_as(e, "connection"))?;
        // The record is gone: a secret left behind is only an operator's concern.
        if let Err(e) = self.secrets.delete_secret(&connection.secret_id).await {
            tracing::error!(secret = %connection.secret_id, error = %e, "connection deleted, its secret was not: delete it by hand");
        }
        tracing::info!(connection_id = %connection.id, "connection deleted");
        Ok(())
    }

    pub async fn create_schedule(
        &self,
        tenant: &TenantId,
        body: CreateSchedule,
    ) -> Result<ScheduleView, ApiError> {
        let connection_id: ConnectionId = body.connection_id.parse()?;
        let expression = expression(&body.schedule_expression)?;
        let description = optional_text(body.description, "description", MAX_DESCRIPTION_CHARS)?;
        let connection = self
            .store
            .connection(tenant, &connection_id)
            .await?
            .ok_or_else(|| ApiError::not_found("connection").with_field("connection_id"))?;
        let report = ReportSpec::resolve(connection.platform, &body.report)?;
        self.check_read_cost(&expression, &report, "report.lookback_days")?;

        let id = ScheduleId::generate();
        let now = Utc::now();
        let mut schedule = Schedule {
            rule_name: keys::rule_name(&self.config.rule_prefix, &id),
            rule_arn: String::new(),
            id,
            tenant_id: tenant.clone(),
            connection_id,
            platform: connection.platform,
            schedule_expression: expression,
            report,
            enabled: body.enabled.unwrap_or(true),
            description,
            created_at: now,
            updated_at: now,
        };
        let rule = rule_spec(&schedule);
        // Quota, then rule, then target, then record; each failure undoes the steps before.
        let quota = Quota::Schedule(schedule.connection_id.clone());
        self.take_quota(tenant, &quota).await.map_err(|e| {
            if e.status == http::StatusCode::NOT_FOUND {
                ApiError::not_found("connection").with_field("connection_id")
            } else {
                e
            }
        })?;
        schedule.rule_arn = match self.rules.put_rule(&rule).await {
            Ok(arn) => arn,
            Err(e) => {
                return Err(self
                    .undo_schedule(tenant, &quota, &rule.name, e.into())
                    .await);
            }
        };
        if let Err(e) = self
            .rules
            .put_extractor_target(&rule, &self.config.extractor_function_arn)
            .await
        {
            return Err(self
                .undo_schedule(tenant, &quota, &rule.name, e.into())
                .await);
        }
        if let Err(e) = self.store.create_schedule(&schedule).await {
            let err = match e {
                StoreError::NotFound => {
                    ApiError::not_found("connection").with_field("connection_id")
                }
                other => other.into(),
            };
            return Err(self.undo_schedule(tenant, &quota, &rule.name, err).await);
        }
        tracing::info!(schedule_id = %schedule.id, rule = %schedule.rule_name, "schedule created");
        Ok(schedule.into())
    }

    /// `POST /v1/schedules` from its raw JSON body. Without an `Idempotency-Key` it is
    /// [`Api::create_schedule`]. With one, a repeat of the key and body within
    /// [`IDEMPOTENCY_WINDOW`] answers the first result and makes nothing more; the key with
    /// another body is `idempotency_key_reused`, and a key whose first request is still
    /// running a `conflict`. A refused request releases the key: the client may fix the
    /// body and reuse it.
    pub async fn create_schedule_once(
        &self,
        tenant: &TenantId,
        idempotency_key: Option<&str>,
        body: &[u8],
    ) -> Result<Replayable<ScheduleView>, ApiError> {
        let Some(key) = idempotency_key else {
            let view = self.create_schedule(tenant, request::json(body)?).await?;
            return Ok(Replayable::Created(view));
        };
        let record = IdempotencyRecord {
            key_digest: hex(&Sha256::digest(key.as_bytes())),
            request_digest: request_digest(body),
            response: None,
            expires_at: Utc::now() + IDEMPOTENCY_WINDOW,
        };
        if let Some(stored) = self
            .store
            .idempotency_record(tenant, &record.key_digest)
            .await?
        {
            if stored.expires_at > Utc::now() {
                return replay(stored, &record).map(Replayable::Replayed);
            }
        }
        self.store
            .claim_idempotency_key(tenant, &record)
            .await
            .map_err(|e| match e {
                StoreError::Conflict(_) => in_progress(),
                other => other.into(),
            })?;
        let outcome = match request::json(body) {
            Ok(parsed) => self.create_schedule(tenant, parsed).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(view) => {
                let response_body =
                    serde_json::to_string(&view).map_err(|_| ApiError::internal())?;
                let done = IdempotencyRecord {
                    response: Some(StoredResponse {
                        status: http::StatusCode::CREATED.as_u16(),
                        body: response_body,
                    }),
                    ..record
                };
                if let Err(e) = self.store.complete_idempotency_key(tenant, &done).await {
                    tracing::error!(error = %e, "schedule created, its Idempotency-Key result not stored");
                }
                Ok(Replayable::Created(view))
            }
            Err(e) => {
                // A refused request made nothing: the client may fix it and reuse the key.
                if let Err(release) = self
                    .store
                    .release_idempotency_key(tenant, &record.key_digest)
                    .await
                {
                    tracing::error!(error = %release, "Idempotency-Key not released");
                }
                Err(e)
            }
        }
    }

    pub async fn schedule(&self, tenant: &TenantId, id: &str) -> Result<ScheduleView, ApiError> {
        Ok(self.find_schedule(tenant, id).await?.into())
    }

    pub async fn schedules(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<ListView<ScheduleView>, ApiError> {
        Ok(list_view(self.store.schedules(tenant, page).await?))
    }

    pub async fn update_schedule(
        &self,
        tenant: &TenantId,
        id: &str,
        body: UpdateSchedule,
    ) -> Result<ScheduleView, ApiError> {
        if body.schedule_expression.is_none()
            && body.report.is_none()
            && body.enabled.is_none()
            && body.description.is_none()
        {
            return Err(ApiError::invalid(
                "body",
                "name at least one of schedule_expression, report, enabled, description",
            ));
        }
        let new_expression = body
            .schedule_expression
            .as_deref()
            .map(expression)
            .transpose()?;
        let new_description = body
            .description
            .map(|d| optional_text(Some(d), "description", MAX_DESCRIPTION_CHARS))
            .transpose()?;
        let old = self.find_schedule(tenant, id).await?;
        let mut new = old.clone();
        if let Some(report) = &body.report {
            new.report = old.report.updated(old.platform, report)?;
        }
        new.schedule_expression = new_expression.unwrap_or(new.schedule_expression);
        new.enabled = body.enabled.unwrap_or(new.enabled);
        new.description = new_description.unwrap_or(new.description);
        new.updated_at = Utc::now().max(old.updated_at + chrono::Duration::milliseconds(1));
        if (&new.schedule_expression, new.report.lookback_days)
            != (&old.schedule_expression, old.report.lookback_days)
        {
            let field = if new.report.lookback_days == old.report.lookback_days {
                "schedule_expression"
            } else {
                "report.lookback_days"
            };
            self.check_read_cost(&new.schedule_expression, &new.report, field)?;
        }

        // The record is the source of truth: it is written first, under the version read
        // (a concurrent writer that got there first makes this one a 409 that touched
        // nothing), and the rule follows the record.
        match self.store.update_schedule(&new, old.updated_at).await {
            Ok(()) => {}
            Err(e @ StoreError::Conflict(_)) => {
                // The winner brings the rule in line; so does the loser, in case the
                // winner stopped between its record and its rule.
                self.converge_rule(&old, None).await;
                return Err(e.into());
            }
            Err(e) => return Err(not_found_as(e, "schedule")),
        }
        if rule_spec(&new) != rule_spec(&old) {
            if let Err(e) = self.rules.put_rule(&rule_spec(&new)).await {
                // Put the record back as it was, unless another writer has moved it on
                // (then its rule change is the one that counts).
                let mut back = old.clone();
                back.updated_at = new.updated_at + chrono::Duration::milliseconds(1);
                if let Err(undo) = self.store.update_schedule(&back, new.updated_at).await {
                    tracing::warn!(schedule_id = %new.id, error = %undo, "record not put back after a failed rule update");
                }
                self.converge_rule(&new, None).await;
                return Err(e.into());
            }
            self.converge_rule(&new, Some(new.updated_at)).await;
        }
        tracing::info!(schedule_id = %new.id, enabled = new.enabled, "schedule updated");
        Ok(new.into())
    }

    pub async fn delete_schedule(&self, tenant: &TenantId, id: &str) -> Result<(), ApiError> {
        let schedule = self.find_schedule(tenant, id).await?;
        // Targets and rule first: a record without a rule can be deleted again; a rule
        // without a record would fire forever.
        self.rules.delete_rule(&schedule.rule_name).await?;
        self.store
            .delete_schedule(&schedule)
            .await
            .map_err(|e| not_found_as(e, "schedule"))?;
        // A PATCH that raced this request may have put the rule back after it was deleted
        // (its own check then finds the record gone and removes it too): remove it again.
        if let Err(e) = self.rules.delete_rule(&schedule.rule_name).await {
            tracing::error!(rule = %schedule.rule_name, error = %e, "schedule deleted, a concurrent update's rule may remain: delete it by hand");
        }
        tracing::info!(schedule_id = %schedule.id, rule = %schedule.rule_name, "schedule deleted");
        Ok(())
    }

    pub async fn run_schedule(&self, tenant: &TenantId, id: &str) -> Result<RunAccepted, ApiError> {
        let schedule = self.find_schedule(tenant, id).await?;
        let now = Utc::now();
        let per_minute = self.config.limits.run_now_per_minute;
        if !self
            .store
            .count_request(tenant, "run_now", per_minute, now)
            .await?
        {
            let seconds = 60 - now.timestamp().rem_euclid(60).unsigned_abs();
            return Err(ApiError::rate_limited(
                seconds,
                format!(
                    "at most {per_minute} run-now requests a minute per tenant (RUN_NOW_PER_MINUTE); try again in {seconds} s"
                ),
            ));
        }
        let run_id = RunId::generate();
        if let Err(running) = self
            .store
            .claim_run(tenant, &schedule.id, &run_id, now + RUN_NOW_QUEUE_GRACE)
            .await?
        {
            return Err(ApiError::new(
                http::StatusCode::CONFLICT,
                ErrorCode::RunInProgress,
                format!(
                    "run {running} of this schedule is in progress; one run at a time: follow it on GET /v1/schedules/{}/runs",
                    schedule.id
                ),
            ));
        }
        let event = ExtractorEvent::Manual(ManualRun {
            tenant_id: tenant.clone(),
            schedule_id: schedule.id.clone(),
            run_id: run_id.clone(),
            requested_at: now,
        });
        let payload = serde_json::to_vec(&event).map_err(|_| ApiError::internal())?;
        if let Err(e) = self
            .invoker
            .invoke_async(&self.config.extractor_function_arn, payload)
            .await
        {
            if let Err(release) = self
                .store
                .release_run_claim(tenant, &schedule.id, &run_id)
                .await
            {
                tracing::error!(run_id = %run_id, error = %release, "run-now claim not released; it lapses by itself");
            }
            return Err(e.into());
        }
        tracing::info!(schedule_id = %schedule.id, run_id = %run_id, "manual run requested");
        Ok(RunAccepted {
            run_id: run_id.to_string(),
        })
    }

    pub async fn runs(
        &self,
        tenant: &TenantId,
        id: &str,
        page: &PageRequest,
    ) -> Result<ListView<RunView>, ApiError> {
        let schedule = self.find_schedule(tenant, id).await?;
        Ok(list_view(
            self.store.runs(tenant, &schedule.id, page).await?,
        ))
    }

    /// A malformed id is as unknown as a foreign one: 404.
    pub(crate) async fn find_connection(
        &self,
        tenant: &TenantId,
        id: &str,
    ) -> Result<Connection, ApiError> {
        let id: ConnectionId = id.parse().map_err(|_| ApiError::not_found("connection"))?;
        self.store
            .connection(tenant, &id)
            .await?
            .ok_or_else(|| ApiError::not_found("connection"))
    }

    async fn find_schedule(&self, tenant: &TenantId, id: &str) -> Result<Schedule, ApiError> {
        let id: ScheduleId = id.parse().map_err(|_| ApiError::not_found("schedule"))?;
        self.store
            .schedule(tenant, &id)
            .await?
            .ok_or_else(|| ApiError::not_found("schedule"))
    }

    async fn take_quota(&self, tenant: &TenantId, quota: &Quota) -> Result<(), ApiError> {
        let exceeded = match self
            .store
            .take_quota(tenant, quota, &self.config.limits)
            .await?
        {
            Ok(()) => return Ok(()),
            Err(exceeded) => exceeded,
        };
        tracing::info!(?exceeded, "quota reached");
        Err(ApiError::quota_exceeded(match exceeded {
            QuotaExceeded::ConnectionsPerTenant(max) => format!(
                "this tenant holds {max} connections, the most allowed (MAX_CONNECTIONS_PER_TENANT); delete one first"
            ),
            QuotaExceeded::SchedulesPerTenant(max) => format!(
                "this tenant holds {max} schedules, the most allowed (MAX_SCHEDULES_PER_TENANT); delete one first"
            ),
            QuotaExceeded::SchedulesPerConnection(max) => format!(
                "this connection has {max} schedules, the most allowed per connection (MAX_SCHEDULES_PER_CONNECTION); delete one first"
            ),
        }))
    }

    async fn give_back_quota(&self, tenant: &TenantId, quota: &Quota) {
        if let Err(e) = self.store.return_quota(tenant, quota).await {
            tracing::error!(?quota, error = %e, "quota unit not given back: the tenant's count is one too high");
        }
    }

    async fn undo_schedule(
        &self,
        tenant: &TenantId,
        quota: &Quota,
        rule_name: &str,
        cause: ApiError,
    ) -> ApiError {
        let cause = self.undo_rule(rule_name, cause).await;
        self.give_back_quota(tenant, quota).await;
        cause
    }

    /// Refuses a schedule that would re-read more days of data a day than the deployment
    /// allows: each run reads its lookback again (plus today), once per firing.
    fn check_read_cost(
        &self,
        expression: &ScheduleExpression,
        report: &ReportSpec,
        field: &str,
    ) -> Result<(), ApiError> {
        let limit = u64::from(self.config.limits.read_days_per_day);
        let firings = u64::from(expression.max_firings_per_day());
        let days_per_run = u64::from(report.lookback_days) + 1;
        let cost = firings * days_per_run;
        if cost <= limit {
            return Ok(());
        }
        Err(ApiError::invalid(
            field,
            format!(
                "this schedule would re-read {cost} days of data a day ({expression} fires up to {firings} times a day, each run reads lookback_days {} plus today), above this deployment's limit of {limit} (MAX_READ_DAYS_PER_DAY): fire less often or lower report.lookback_days",
                report.lookback_days
            ),
        ))
    }

    async fn undo_secret(&self, name: &str) {
        if let Err(e) = self.secrets.delete_secret(name).await {
            tracing::error!(secret = %name, error = %e, "could not remove the secret of a connection that was not created");
        }
    }

    async fn undo_rule(&self, rule_name: &str, cause: ApiError) -> ApiError {
        if let Err(e) = self.rules.delete_rule(rule_name).await {
            tracing::error!(rule = %rule_name, error = %e, "could not remove the rule of a schedule that was not created: orphan rule");
        }
        cause
    }

    /// Makes the rule say what the schedule's record says, after this request changed
    /// the rule to the version `applied` (`None`: the rule's state is unknown): re-reads
    /// the record and, while another writer has moved it on or it is gone, applies what
    /// it now says (the rule removed with a deleted record). Every writer ends with this
    /// check, so the last rule write follows the last record write.
    async fn converge_rule(&self, schedule: &Schedule, mut applied: Option<DateTime<Utc>>) {
        const ATTEMPTS: usize = 5;
        for _ in 0..ATTEMPTS {
            let current = match self.store.schedule(&schedule.tenant_id, &schedule.id).await {
                Ok(current) => current,
                Err(e) => {
                    tracing::error!(schedule_id = %schedule.id, error = %e, "could not re-read the schedule to check its rule");
                    return;
                }
            };
            let result = match &current {
                None => self.rules.delete_rule(&schedule.rule_name).await,
                Some(record) if Some(record.updated_at) == applied => return,
                Some(record) => self.rules.put_rule(&rule_spec(record)).await.map(|_| ()),
            };
            if let Err(e) = result {
                tracing::error!(schedule_id = %schedule.id, rule = %schedule.rule_name, error = %e, "the rule may not match the schedule's record");
                return;
            }
            match current {
                None => return,
                Some(record) => applied = Some(record.updated_at),
            }
        }
        tracing::error!(schedule_id = %schedule.id, "the schedule kept changing while its rule was brought in line");
    }
}

/// The stored answer to a key, if `request` is the request it was first used with.
fn replay(
    stored: IdempotencyRecord,
    request: &IdempotencyRecord,
) -> Result<StoredResponse, ApiError> {
    if stored.request_digest != request.request_digest {
        return Err(ApiError::new(
            http::StatusCode::CONFLICT,
            ErrorCode::IdempotencyKeyReused,
            "this Idempotency-Key was used with another request body",
        )
        .with_field("Idempotency-Key"));
    }
    stored.response.ok_or_else(in_progress)
}

fn in_progress() -> ApiError {
    ApiError::conflict("a request with this Idempotency-Key is still in progress")
        .with_field("Idempotency-Key")
}

/// The body's canonical JSON (object keys sorted at every depth) when it parses, so
/// whitespace and key order don't make a retry look like another request. Sorted by hand:
/// serde_json keeps insertion order when any crate in the build enables `preserve_order`.
fn request_digest(body: &[u8]) -> String {
    let canonical = serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| serde_json::to_vec(&sorted(v)).ok());
    hex(&Sha256::digest(canonical.as_deref().unwrap_or(body)))
}

fn sorted(value: serde_json::Value) -> serde_json::Value {
    use serde_json::Value;
    match value {
        Value::Object(map) => {
            let mut entries: Vec<_> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

fn rule_spec(s: &Schedule) -> RuleSpec {
    RuleSpec {
        name: s.rule_name.clone(),
        expression: s.schedule_expression.clone(),
        enabled: s.enabled,
        description: s.description.clone().unwrap_or_else(|| {
            format!(
                "adpipe schedule {} ({} {})",
                s.id, s.platform, s.report.level
            )
        }),
        tenant_id: s.tenant_id.clone(),
        schedule_id: s.id.clone(),
    }
}

fn expression(raw: &str) -> Result<ScheduleExpression, FieldError> {
    raw.parse()
        .map_err(|e: adpipe_domain::ScheduleExpressionError| {
            FieldError::new("schedule_expression", e.to_string())
        })
}

fn not_found_as(e: StoreError, what: &str) -> ApiError {
    match e {
        StoreError::NotFound => ApiError::not_found(what),
        other => other.into(),
    }
}

fn list_view<T, V: From<T>>(page: Page<T>) -> ListView<V> {
    ListView {
        items: page.items.into_iter().map(V::from).collect(),
        next_token: page.last_key.as_deref().map(encode_token),
    }
}

/// Free text: trimmed, no control characters, `max` characters at most; empty means absent.
fn optional_text(
    value: Option<String>,
    field: &str,
    max: usize,
) -> Result<Option<String>, FieldError> {
    let Some(text) = value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if text.chars().count() > max {
        return Err(FieldError::new(field, format!("at most {max} characters")));
    }
    if text.chars().any(char::is_control) {
        return Err(FieldError::new(field, "control characters are not allowed"));
    }
    if let Some(c) = text
        .chars()
        .find(|c| adpipe_domain::is_invisible_format(*c))
    {
        return Err(FieldError::new(
            field,
            format!(
                "invisible format or separator characters are not allowed (U+{:04X}: bidi overrides, zero-width characters, line and paragraph separators)",
                u32::from(c)
            ),
        ));
    }
    Ok(Some(text))
}

/// Each platform's credentials object: exactly its one token, a non-empty string.
fn credentials(platform: Platform, given: &Credentials) -> Result<SecretValue, FieldError> {
    let name = platform.credential_name();
    if let Some(other) = given.0.keys().find(|k| *k != name) {
        return Err(FieldError::new(
            format!("credentials.{other}"),
            format!("unknown credential; {platform} connections take only `{name}`"),
        ));
    }
    let field = format!("credentials.{name}");
    let token = match given.0.get(name) {
        None => return Err(FieldError::new(field, "required")),
        Some(serde_json::Value::String(t)) => t.trim(),
        Some(_) => return Err(FieldError::new(field, "must be a string")),
    };
    if token.is_empty()
        || token.len() > MAX_TOKEN_BYTES
        || token.chars().any(|c| c.is_control() || c == ' ')
    {
        return Err(FieldError::new(
            field,
            format!("must be a token of 1-{MAX_TOKEN_BYTES} characters without spaces"),
        ));
    }
    Ok(secret_value(platform, token))
}

/// The connection secret: `{"<credential_name>": token}` ([`Platform::credential_name`]).
pub(crate) fn secret_value(platform: Platform, token: &str) -> SecretValue {
    let secret = serde_json::json!({ platform.credential_name(): token });
    SecretValue(secret.to_string())
}
