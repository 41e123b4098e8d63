//! In-memory ports: the benchmark measures the handler without the network, and unit
//! tests of the handler's shape run without moto. Behaviour follows the AWS adapters
//! (conditions, ordering), not their performance.

use std::collections::BTreeMap;
use std::sync::Mutex;

use adpipe_domain::insights::{Alert, Budget, MonthProjection};
use adpipe_domain::keys;
use adpipe_domain::{Connection, ConnectionId, Run, Schedule, ScheduleId, TenantId};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::config::Limits;
use crate::error::{DependencyError, StoreError};
use crate::insights::{Month, alert_key_date, projection_prefix};
use crate::ports::{
    AlertFilter, AppCredentials, AppSecretError, ControlStore, ExtractorInvoker, FacebookApp,
    GoogleApp, Grant, IdempotencyRecord, OAuthError, OAuthExchange, OAuthState, Page, PageRequest,
    Quota, QuotaExceeded, RuleScheduler, RuleSpec, SecretStore, SecretValue,
};
use adpipe_domain::RunId;

/// Items as JSON, by (pk, sk), sorted like a DynamoDB partition.
#[derive(Default)]
pub struct MemoryStore {
    items: Mutex<BTreeMap<(String, String), serde_json::Value>>,
    idempotency: Mutex<BTreeMap<(String, String), IdempotencyRecord>>,
    /// Requests counted per (tenant, what, epoch minute).
    requests: Mutex<BTreeMap<(String, String, i64), u32>>,
    /// Active runs by (tenant, schedule): the run and its deadline.
    active_runs: Mutex<BTreeMap<(String, String), ActiveRun>>,
    oauth_states: Mutex<BTreeMap<(String, String), OAuthState>>,
}

/// A schedule's active run and the deadline of its claim.
type ActiveRun = (RunId, DateTime<Utc>);

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl MemoryStore {
    fn items(&self) -> std::sync::MutexGuard<'_, BTreeMap<(String, String), serde_json::Value>> {
        self.items.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stores `record` under `pk`/`sk` as another writer would (the insights function's
    /// projections and alerts, in tests and local demos).
    pub fn insert<T: Serialize>(
        &self,
        pk: String,
        sk: String,
        record: &T,
    ) -> Result<(), StoreError> {
        self.put(pk, sk, record)
    }

    fn put<T: Serialize>(&self, pk: String, sk: String, value: &T) -> Result<(), StoreError> {
        let json = serde_json::to_value(value).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.items().insert((pk, sk), json);
        Ok(())
    }

    fn get<T: DeserializeOwned>(&self, pk: String, sk: String) -> Result<Option<T>, StoreError> {
        let found = self.items().get(&(pk, sk)).cloned();
        found
            .map(|v| serde_json::from_value(v).map_err(|e| StoreError::Corrupt(e.to_string())))
            .transpose()
    }

    fn page<T: DeserializeOwned>(
        &self,
        pk: &str,
        prefix: &str,
        page: &PageRequest,
        newest_first: bool,
    ) -> Result<Page<T>, StoreError> {
        let items = self.items();
        let mut keys: Vec<&(String, String)> = items
            .keys()
            .filter(|(p, s)| p == pk && s.starts_with(prefix))
            .collect();
        if newest_first {
            keys.reverse();
        }
        let start = match &page.after {
            Some(after) => keys
                .iter()
                .position(|(_, s)| s == after)
                .map_or(keys.len(), |i| i + 1),
            None => 0,
        };
        let chosen: Vec<_> = keys
            .iter()
            .skip(start)
            .take(usize::from(page.limit))
            .collect();
        let last_key = (start + chosen.len() < keys.len())
            .then(|| chosen.last().map(|(_, s)| s.clone()))
            .flatten();
        let items = chosen
            .iter()
            .map(|k| {
                serde_json::from_value(items[**k].clone())
                    .map_err(|e| StoreError::Corrupt(e.to_string()))
            })
            .collect::<Result<_, _>>()?;
        Ok(Page { items, last_key })
    }

    fn schedule_count(&self, tenant: &TenantId, connection: &ConnectionId) -> usize {
        let pk = keys::tenant_pk(tenant);
        self.items()
            .iter()
            .filter(|((p, s), v)| {
                p == &pk
                    && s.starts_with(keys::SCHEDULE_PREFIX)
                    && v["connection_id"] == connection.as_str()
            })
            .count()
    }
}

#[async_trait]
impl ControlStore for MemoryStore {
    async fn create_connection(&self, c: &Connection) -> Result<(), StoreError> {
        self.put(keys::tenant_pk(&c.tenant_id), keys::connection_sk(&c.id), c)
    }

    async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError> {
        self.get(keys::tenant_pk(tenant), keys::connection_sk(id))
    }

    async fn connections(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Connection>, StoreError> {
        self.page(
            &keys::tenant_pk(tenant),
            keys::CONNECTION_PREFIX,
            page,
            false,
        )
    }

    async fn delete_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<(), StoreError> {
        if self.schedule_count(tenant, id) > 0 {
            return Err(StoreError::Conflict(
                "connection is used by schedules; delete them first".into(),
            ));
        }
        let pk = keys::tenant_pk(tenant);
        let mut items = self.items();
        items
            .remove(&(pk.clone(), keys::connection_sk(id)))
            .ok_or(StoreError::NotFound)?;
        let projections = projection_prefix(id);
        let (budget, insights) = (keys::budget_sk(id), keys::insights_sk(id));
        items.retain(|(p, s), _| {
            p != &pk || !(s == &budget || s == &insights || s.starts_with(&projections))
        });
        Ok(())
    }

    async fn create_schedule(&self, s: &Schedule) -> Result<(), StoreError> {
        if self
            .connection(&s.tenant_id, &s.connection_id)
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound);
        }
        self.put(keys::tenant_pk(&s.tenant_id), keys::schedule_sk(&s.id), s)
    }

    async fn schedule(
        &self,
        tenant: &TenantId,
        id: &ScheduleId,
    ) -> Result<Option<Schedule>, StoreError> {
        self.get(keys::tenant_pk(tenant), keys::schedule_sk(id))
    }

    async fn schedules(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Schedule>, StoreError> {
        self.page(&keys::tenant_pk(tenant), keys::SCHEDULE_PREFIX, page, false)
    }

    async fn update_schedule(
        &self,
        s: &Schedule,
        seen_updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        match self.schedule(&s.tenant_id, &s.id).await? {
            None => Err(StoreError::NotFound),
            Some(current) if current.updated_at != seen_updated_at => {
                Err(StoreError::Conflict("changed".into()))
            }
            Some(_) => self.put(keys::tenant_pk(&s.tenant_id), keys::schedule_sk(&s.id), s),
        }
    }

    async fn delete_schedule(&self, s: &Schedule) -> Result<(), StoreError> {
        let pk = keys::tenant_pk(&s.tenant_id);
        self.items().remove(&(pk.clone(), keys::cursor_sk(&s.id)));
        self.items()
            .remove(&(pk, keys::schedule_sk(&s.id)))
            .map(|_| ())
            .ok_or(StoreError::NotFound)
    }

    /// Checked against the items held (the in-memory store has no concurrent writers to
    /// reserve against).
    async fn take_quota(
        &self,
        tenant: &TenantId,
        quota: &Quota,
        limits: &Limits,
    ) -> Result<Result<(), QuotaExceeded>, StoreError> {
        let pk = keys::tenant_pk(tenant);
        let held = |prefix: &str| {
            self.items()
                .keys()
                .filter(|(p, s)| p == &pk && s.starts_with(prefix))
                .count()
        };
        let at = |n: usize, max: u32| n >= usize::try_from(max).unwrap_or(usize::MAX);
        Ok(match quota {
            Quota::Connection
                if at(held(keys::CONNECTION_PREFIX), limits.connections_per_tenant) =>
            {
                Err(QuotaExceeded::ConnectionsPerTenant(
                    limits.connections_per_tenant,
                ))
            }
            Quota::Connection => Ok(()),
            Quota::Schedule(_) if at(held(keys::SCHEDULE_PREFIX), limits.schedules_per_tenant) => {
                Err(QuotaExceeded::SchedulesPerTenant(
                    limits.schedules_per_tenant,
                ))
            }
            Quota::Schedule(connection) => {
                if self.connection(tenant, connection).await?.is_none() {
                    return Err(StoreError::NotFound);
                }
                if at(
                    self.schedule_count(tenant, connection),
                    limits.schedules_per_connection,
                ) {
                    Err(QuotaExceeded::SchedulesPerConnection(
                        limits.schedules_per_connection,
                    ))
                } else {
                    Ok(())
                }
            }
        })
    }

    async fn return_quota(&self, _tenant: &TenantId, _quota: &Quota) -> Result<(), StoreError> {
        Ok(())
    }

    async fn count_request(
        &self,
        tenant: &TenantId,
        what: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let mut requests = lock(&self.requests);
        let count = requests
            .entry((
                tenant.to_string(),
                what.to_owned(),
                now.timestamp().div_euclid(60),
            ))
            .or_default();
        if *count >= limit {
            return Ok(false);
        }
        *count += 1;
        Ok(true)
    }

    async fn claim_run(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        run: &RunId,
        deadline: DateTime<Utc>,
    ) -> Result<Result<(), RunId>, StoreError> {
        let mut active = lock(&self.active_runs);
        let k = (tenant.to_string(), schedule.to_string());
        if let Some((holder, until)) = active.get(&k) {
            if *until >= Utc::now() {
                return Ok(Err(holder.clone()));
            }
        }
        active.insert(k, (run.clone(), deadline));
        Ok(Ok(()))
    }

    async fn release_run_claim(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        run: &RunId,
    ) -> Result<(), StoreError> {
        let mut active = lock(&self.active_runs);
        let k = (tenant.to_string(), schedule.to_string());
        if active.get(&k).is_some_and(|(holder, _)| holder == run) {
            active.remove(&k);
        }
        Ok(())
    }

    async fn put_oauth_state(
        &self,
        tenant: &TenantId,
        state: &OAuthState,
    ) -> Result<(), StoreError> {
        lock(&self.oauth_states).insert(
            (tenant.to_string(), state.state_digest.clone()),
            state.clone(),
        );
        Ok(())
    }

    async fn take_oauth_state(
        &self,
        tenant: &TenantId,
        state_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<OAuthState>, StoreError> {
        Ok(lock(&self.oauth_states)
            .remove(&(tenant.to_string(), state_digest.to_owned()))
            .filter(|s| s.expires_at > now))
    }

    async fn runs(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        page: &PageRequest,
    ) -> Result<Page<Run>, StoreError> {
        self.page(
            &keys::runs_pk(tenant, schedule),
            keys::RUN_PREFIX,
            page,
            true,
        )
    }

    async fn budget(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<Budget>, StoreError> {
        self.get(keys::tenant_pk(tenant), keys::budget_sk(connection))
    }

    async fn put_budget(&self, tenant: &TenantId, budget: &Budget) -> Result<(), StoreError> {
        if self
            .connection(tenant, &budget.connection_id)
            .await?
            .is_none()
        {
            return Err(StoreError::NotFound);
        }
        self.put(
            keys::tenant_pk(tenant),
            keys::budget_sk(&budget.connection_id),
            budget,
        )
    }

    async fn delete_budget(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<(), StoreError> {
        self.items()
            .remove(&(keys::tenant_pk(tenant), keys::budget_sk(connection)))
            .map(|_| ())
            .ok_or(StoreError::NotFound)
    }

    async fn projection(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        month: Month,
    ) -> Result<Option<MonthProjection>, StoreError> {
        self.get(
            keys::tenant_pk(tenant),
            keys::projection_sk(connection, &month.to_string()),
        )
    }

    async fn newest_projection(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<MonthProjection>, StoreError> {
        let newest = PageRequest {
            limit: 1,
            after: None,
        };
        let page = self.page(
            &keys::tenant_pk(tenant),
            &projection_prefix(connection),
            &newest,
            true,
        )?;
        Ok(page.items.into_iter().next())
    }

    /// The filter over every alert (no read budget: memory is not billed per read).
    async fn alerts(
        &self,
        tenant: &TenantId,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>, StoreError> {
        let pk = keys::alerts_pk(tenant);
        let now = Utc::now().timestamp();
        let items = self.items();
        let mut kept = Vec::new();
        for ((p, sk), value) in items.iter().rev() {
            let after_token = page.after.as_ref().is_none_or(|after| sk < after);
            let in_days = alert_key_date(sk).is_some_and(|day| filter.admits(day));
            let expired = value[keys::EXPIRES_AT].as_i64().is_some_and(|t| t <= now);
            if p != &pk || !after_token || !in_days || expired {
                continue;
            }
            let alert: Alert = serde_json::from_value(value.clone())
                .map_err(|e| StoreError::Corrupt(e.to_string()))?;
            if filter.keeps(&alert) {
                kept.push((sk.clone(), alert));
            }
        }
        let more = kept.len() > usize::from(page.limit);
        kept.truncate(usize::from(page.limit));
        let last_key = kept.last().filter(|_| more).map(|(sk, _)| sk.clone());
        Ok(Page {
            items: kept.into_iter().map(|(_, alert)| alert).collect(),
            last_key,
        })
    }

    async fn idempotency_record(
        &self,
        tenant: &TenantId,
        key_digest: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let map = self.idempotency.lock().unwrap_or_else(|p| p.into_inner());
        Ok(map
            .get(&(tenant.to_string(), key_digest.to_owned()))
            .cloned())
    }

    async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let mut map = self.idempotency.lock().unwrap_or_else(|p| p.into_inner());
        let k = (tenant.to_string(), record.key_digest.clone());
        if map.get(&k).is_some_and(|r| r.expires_at > Utc::now()) {
            return Err(StoreError::Conflict("Idempotency-Key in use".into()));
        }
        map.insert(k, record.clone());
        Ok(())
    }

    async fn complete_idempotency_key(
        &self,
        tenant: &TenantId,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let mut map = self.idempotency.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(
            (tenant.to_string(), record.key_digest.clone()),
            record.clone(),
        );
        Ok(())
    }

    async fn release_idempotency_key(
        &self,
        tenant: &TenantId,
        key_digest: &str,
    ) -> Result<(), StoreError> {
        let mut map = self.idempotency.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&(tenant.to_string(), key_digest.to_owned()));
        Ok(())
    }
}

/// Rules by name, with whether a target is attached.
#[derive(Default)]
pub struct MemoryRules {
    pub rules: Mutex<BTreeMap<String, (RuleSpec, bool)>>,
}

#[async_trait]
impl RuleScheduler for MemoryRules {
    async fn put_rule(&self, rule: &RuleSpec) -> Result<String, DependencyError> {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let has_target = rules.get(&rule.name).is_some_and(|(_, t)| *t);
        rules.insert(rule.name.clone(), (rule.clone(), has_target));
        Ok(format!(
            "arn:aws:events:us-east-1:123456789012:rule/{}",
            rule.name
        ))
    }

    async fn put_extractor_target(
        &self,
        rule: &RuleSpec,
        _extractor_arn: &str,
    ) -> Result<(), DependencyError> {
        let mut rules = self.rules.lock().unwrap_or_else(|p| p.into_inner());
        let entry = rules
            .get_mut(&rule.name)
            .ok_or_else(|| DependencyError::new("EventBridge", "no such rule"))?;
        entry.1 = true;
        Ok(())
    }

    async fn delete_rule(&self, rule_name: &str) -> Result<(), DependencyError> {
        self.rules
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(rule_name);
        Ok(())
    }
}

#[derive(Default)]
pub struct MemorySecrets {
    pub names: Mutex<Vec<String>>,
    /// What any app credentials secret holds; `None`: no such secret.
    pub app: Option<AppCredentials>,
}

#[async_trait]
impl SecretStore for MemorySecrets {
    async fn create_secret(
        &self,
        name: &str,
        _value: &SecretValue,
        _tenant: &TenantId,
    ) -> Result<(), DependencyError> {
        self.names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(name.to_owned());
        Ok(())
    }

    async fn delete_secret(&self, name: &str) -> Result<(), DependencyError> {
        self.names
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|n| n != name);
        Ok(())
    }

    async fn app_credentials(&self, _id: &str) -> Result<AppCredentials, AppSecretError> {
        self.app
            .clone()
            .ok_or_else(|| AppSecretError::Unusable("the secret does not exist".into()))
    }
}

#[derive(Default)]
pub struct MemoryInvoker {
    pub payloads: Mutex<Vec<Vec<u8>>>,
}

#[async_trait]
impl ExtractorInvoker for MemoryInvoker {
    async fn invoke_async(
        &self,
        _function_arn: &str,
        payload: Vec<u8>,
    ) -> Result<(), DependencyError> {
        self.payloads
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(payload);
        Ok(())
    }
}

/// A platform that answers each exchange with the next of `answers`, then with a grant of
/// every scope adpipe asks for. Counts the exchanges.
#[derive(Default)]
pub struct MemoryOAuth {
    pub answers: Mutex<std::collections::VecDeque<Result<Grant, OAuthError>>>,
    /// Shared, so a test keeps a count of an `OAuthExchange` it gave away.
    pub exchanges: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl MemoryOAuth {
    fn answer(&self, token: &str, granted: &[&str]) -> Result<Grant, OAuthError> {
        self.exchanges
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let next = self
            .answers
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front();
        next.unwrap_or_else(|| {
            Ok(Grant {
                token: Some(token.to_owned()),
                granted: Some(granted.iter().map(|s| s.to_string()).collect()),
            })
        })
    }
}

#[async_trait]
impl OAuthExchange for MemoryOAuth {
    async fn google(
        &self,
        _: &GoogleApp,
        _: &str,
        _: &str,
        _: Option<&str>,
    ) -> Result<Grant, OAuthError> {
        self.answer(
            "1//memory-refresh",
            crate::signin::requested_scopes(adpipe_domain::Platform::GoogleAds),
        )
    }

    async fn facebook(&self, _: &FacebookApp, _: &str, _: &str) -> Result<Grant, OAuthError> {
        self.answer(
            "EAAB-memory-long-lived",
            crate::signin::requested_scopes(adpipe_domain::Platform::Facebook),
        )
    }
}

/// An [`crate::Api`] over in-memory ports.
pub fn memory_api(config: crate::Config) -> crate::Api {
    crate::Api {
        config,
        oauth_config: crate::OAuthConfig::default(),
        store: Box::<MemoryStore>::default(),
        rules: Box::<MemoryRules>::default(),
        secrets: Box::<MemorySecrets>::default(),
        invoker: Box::<MemoryInvoker>::default(),
        oauth: Box::<MemoryOAuth>::default(),
    }
}
