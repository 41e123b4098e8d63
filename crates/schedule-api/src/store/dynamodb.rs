//! [`ControlStore`] on DynamoDB, with the key layout of `adpipe_domain::keys`.
//! Records go through `serde_dynamo`; conditions keep every write honest under concurrency.

use adpipe_domain::insights::{Alert, Budget, MonthProjection};
use adpipe_domain::keys::{self, EXPIRES_AT, PK, SK};
use adpipe_domain::{Connection, ConnectionId, Run, Schedule, ScheduleId, TenantId};
use adpipe_dynamodb::{Item, from_item, is_condition_failure, key, to_item, unavailable};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue, ConditionCheck, Delete, Put, ReturnValue, Select, TransactWriteItem, Update,
};
use chrono::{DateTime, TimeZone, Utc};
use serde::de::DeserializeOwned;

use crate::config::Limits;
use crate::error::StoreError;
use crate::insights::{Month, projection_prefix};
use crate::ports::{
    AlertFilter, ControlStore, IdempotencyRecord, OAuthState, Page, PageRequest, Quota,
    QuotaExceeded, StoredResponse,
};
use adpipe_domain::{Platform, RunId};

/// Counts the schedules that use a connection, so a connection in use cannot be deleted,
/// and so the schedules-per-connection limit holds.
const SCHEDULE_COUNT: &str = "schedule_count";
/// The attribute of a tenant counter and of a rate window.
const COUNT: &str = "count";
const CONNECTIONS: &str = "connections";
const SCHEDULES: &str = "schedules";
/// What one `TransactWriteItems` may hold.
const MAX_TRANSACTION_ITEMS: usize = 100;
/// DynamoDB calls one page of alerts makes at most: a filter that keeps few alerts ends
/// the page early, with a token, rather than reading the tenant's whole history at once.
const ALERT_READS_PER_PAGE: usize = 5;
/// Alerts read per call while a filter narrows the list (DynamoDB applies `Limit` before
/// the filter).
const ALERT_READ_BATCH: i32 = 200;
/// The attributes of an alert record the filters compare ([`Alert`]'s field names).
const ALERT_CONNECTION: &str = "connection_id";
const ALERT_METRIC: &str = "metric";
const ALERT_SEVERITY: &str = "severity";

pub struct DynamoControlStore {
    client: Client,
    table: String,
    alert_reads: AlertReads,
}

/// How much one page of a filtered alert list may read.
#[derive(Debug, Clone, Copy)]
struct AlertReads {
    per_page: usize,
    batch: i32,
}

impl DynamoControlStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
            alert_reads: AlertReads {
                per_page: ALERT_READS_PER_PAGE,
                batch: ALERT_READ_BATCH,
            },
        }
    }

    /// This store with a page of alerts reading at most `per_page` times `batch` alerts
    /// while a filter narrows the list (tests reach that bound without thousands of items).
    pub fn with_alert_reads(mut self, per_page: usize, batch: i32) -> Self {
        self.alert_reads = AlertReads {
            per_page: per_page.max(1),
            batch: batch.max(1),
        };
        self
    }

    async fn get<T: DeserializeOwned>(
        &self,
        pk: String,
        sk: String,
    ) -> Result<Option<T>, StoreError> {
        Ok(adpipe_dynamodb::get(&self.client, &self.table, pk, sk).await?)
    }

    async fn exists(&self, pk: String, sk: String) -> Result<bool, StoreError> {
        Ok(self.get::<serde_json::Value>(pk, sk).await?.is_some())
    }

    async fn query<T: DeserializeOwned>(
        &self,
        pk: String,
        sk_prefix: &str,
        page: &PageRequest,
        newest_first: bool,
    ) -> Result<Page<T>, StoreError> {
        let start = page
            .after
            .as_ref()
            .map(|after| key(pk.clone(), after.clone()));
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_values(":pk", AttributeValue::S(pk))
            .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
            .limit(i32::from(page.limit))
            .scan_index_forward(!newest_first)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(unavailable)?;
        let items = out
            .items
            .unwrap_or_default()
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        let last_key = out.last_evaluated_key.and_then(|mut k| match k.remove(SK) {
            Some(AttributeValue::S(sk)) => Some(sk),
            _ => None,
        });
        Ok(Page { items, last_key })
    }

    /// Every sort key of `pk` that starts with `sk_prefix`, oldest first.
    async fn sort_keys(&self, pk: &str, sk_prefix: &str) -> Result<Vec<String>, StoreError> {
        let mut found = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .projection_expression("#sk")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.to_owned()))
                .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            found.extend(
                out.items
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(sort_key),
            );
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(found);
            }
        }
    }

    /// The alerts of `pk` within the filter's days, newest first, the rest of the filter
    /// and the TTL as a filter expression. Sort keys start with the day: `<since>` sorts
    /// before every key of that day and `<until>$` after every one (`$` follows `#`).
    fn alert_query(&self, pk: String, filter: &AlertFilter) -> QueryFluentBuilder {
        let mut query = self
            .client
            .query()
            .table_name(&self.table)
            .scan_index_forward(false)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":pk", AttributeValue::S(pk));
        let since = filter.since.map(|d| d.to_string());
        let until = filter.until.map(|d| format!("{d}$"));
        let range = match (&since, &until) {
            (Some(_), Some(_)) => " AND #sk BETWEEN :since AND :until",
            (Some(_), None) => " AND #sk >= :since",
            (None, Some(_)) => " AND #sk <= :until",
            (None, None) => "",
        };
        if !range.is_empty() {
            query = query.expression_attribute_names("#sk", SK);
        }
        for (name, value) in [(":since", since), (":until", until)] {
            if let Some(value) = value {
                query = query.expression_attribute_values(name, AttributeValue::S(value));
            }
        }
        // DynamoDB deletes expired items within days, not at once.
        let mut conditions = vec!["(attribute_not_exists(#exp) OR #exp > :now)".to_owned()];
        query = query
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":now", epoch_seconds(Utc::now()));
        if let Some(connection) = &filter.connection {
            conditions.push("#conn = :conn".into());
            query = query
                .expression_attribute_names("#conn", ALERT_CONNECTION)
                .expression_attribute_values(":conn", AttributeValue::S(connection.to_string()));
        }
        if let Some(metric) = filter.metric {
            conditions.push("#metric = :metric".into());
            query = query
                .expression_attribute_names("#metric", ALERT_METRIC)
                .expression_attribute_values(":metric", AttributeValue::S(metric.to_string()));
        }
        if filter.min_severity.is_some() {
            let mut names = Vec::new();
            for (i, severity) in filter.severities().into_iter().enumerate() {
                names.push(format!(":sev{i}"));
                query = query.expression_attribute_values(
                    format!(":sev{i}"),
                    AttributeValue::S(severity.to_string()),
                );
            }
            conditions.push(format!("#severity IN ({})", names.join(", ")));
            query = query.expression_attribute_names("#severity", ALERT_SEVERITY);
        }
        query
            .key_condition_expression(format!("#pk = :pk{range}"))
            .filter_expression(conditions.join(" AND "))
    }

    fn put(&self, item: Item, condition: &str) -> Result<TransactWriteItem, StoreError> {
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(condition)
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().put(put).build())
    }

    fn count_schedule(
        &self,
        schedule: &Schedule,
        delta: i64,
    ) -> Result<TransactWriteItem, StoreError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tenant_pk(&schedule.tenant_id),
                keys::connection_sk(&schedule.connection_id),
            )))
            .update_expression("ADD #count :delta")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#count", SCHEDULE_COUNT)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn delete(
        &self,
        pk: String,
        sk: String,
        condition: Option<&str>,
    ) -> Result<TransactWriteItem, StoreError> {
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .set_condition_expression(condition.map(str::to_owned))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        Ok(TransactWriteItem::builder().delete(delete).build())
    }

    async fn transact(&self, items: Vec<TransactWriteItem>) -> Result<(), TransactOutcome> {
        match self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(err) if condition_cancelled(&err) => Err(TransactOutcome::ConditionFailed),
            Err(err) => Err(TransactOutcome::Failed(unavailable(err).into())),
        }
    }

    /// A tenant's counter of `what` exists: the first time (a tenant from before counters
    /// were kept), it starts at the number of items the tenant holds.
    async fn ensure_counter(
        &self,
        tenant: &TenantId,
        what: &str,
        sk_prefix: &str,
    ) -> Result<(), StoreError> {
        let pk = keys::tenant_pk(tenant);
        let sk = keys::counter_sk(what);
        if self.exists(pk.clone(), sk.clone()).await? {
            return Ok(());
        }
        let mut held: i64 = 0;
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(":prefix", AttributeValue::S(sk_prefix.to_owned()))
                .select(Select::Count)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(unavailable)?;
            held += i64::from(out.count);
            start = out.last_evaluated_key;
            if start.is_none() {
                break;
            }
        }
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk, sk)))
            .update_expression("SET #count = :held")
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#count", COUNT)
            .expression_attribute_values(":held", AttributeValue::N(held.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            // Another request started it meanwhile.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e).into()),
        }
    }

    /// `ADD count :delta` on a tenant counter, below `max` when given.
    fn count_on_tenant(
        &self,
        tenant: &TenantId,
        what: &str,
        delta: i64,
        max: Option<u32>,
    ) -> Result<Update, StoreError> {
        let mut update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(keys::tenant_pk(tenant), keys::counter_sk(what))))
            .update_expression("ADD #count :delta")
            .expression_attribute_names("#count", COUNT)
            .expression_attribute_values(":delta", AttributeValue::N(delta.to_string()));
        if let Some(max) = max {
            update = update
                .condition_expression("#count < :max")
                .expression_attribute_values(":max", AttributeValue::N(max.to_string()));
        }
        update
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))
    }

    async fn update(&self, update: Update) -> Result<bool, StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(update.table_name())
            .set_key(Some(update.key().clone()))
            .update_expression(update.update_expression())
            .set_condition_expression(update.condition_expression().map(str::to_owned))
            .set_expression_attribute_names(update.expression_attribute_names().cloned())
            .set_expression_attribute_values(update.expression_attribute_values().cloned())
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e).into()),
        }
    }

    /// After a failed condition, tells a missing item from one that changed or is in use.
    async fn explain(&self, pk: String, sk: String, conflict: &str) -> StoreError {
        match self.exists(pk, sk).await {
            Ok(true) => StoreError::Conflict(conflict.to_owned()),
            Ok(false) => StoreError::NotFound,
            Err(e) => e,
        }
    }
}

enum TransactOutcome {
    ConditionFailed,
    Failed(StoreError),
}

/// A transaction cancelled by one of its conditions, as opposed to a conflict with another
/// transaction or throttling (worth retrying, and never a 404 or 409).
fn condition_cancelled(err: &SdkError<TransactWriteItemsError, HttpResponse>) -> bool {
    match err.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => e
            .cancellation_reasons()
            .iter()
            .any(|r| r.code() == Some("ConditionalCheckFailed")),
        _ => false,
    }
}

/// A page of alerts that ends at its last one, going on after it when `more` may follow.
fn alert_page(kept: Vec<(String, Alert)>, more: bool) -> Page<Alert> {
    let last_key = kept.last().filter(|_| more).map(|(sk, _)| sk.clone());
    Page {
        items: kept.into_iter().map(|(_, alert)| alert).collect(),
        last_key,
    }
}

/// The sort key of an item read from the table.
fn sort_key(mut item: Item) -> Option<String> {
    match item.remove(SK) {
        Some(AttributeValue::S(sk)) => Some(sk),
        _ => None,
    }
}

fn epoch_millis(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(t.timestamp_millis().to_string())
}

fn epoch_seconds(t: DateTime<Utc>) -> AttributeValue {
    AttributeValue::N(t.timestamp().to_string())
}

#[async_trait]
impl ControlStore for DynamoControlStore {
    async fn create_connection(&self, connection: &Connection) -> Result<(), StoreError> {
        let mut item = to_item(
            connection,
            keys::tenant_pk(&connection.tenant_id),
            keys::connection_sk(&connection.id),
        )?;
        item.insert(SCHEDULE_COUNT.to_owned(), AttributeValue::N("0".into()));
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                Err(StoreError::Conflict("connection id exists".into()))
            }
            Err(e) => Err(unavailable(e).into()),
        }
    }

    async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError> {
        self.get(keys::tenant_pk(tenant), keys::connection_sk(id))
            .await
    }

    async fn connections(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Connection>, StoreError> {
        self.query(
            keys::tenant_pk(tenant),
            keys::CONNECTION_PREFIX,
            page,
            false,
        )
        .await
    }

    async fn delete_connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<(), StoreError> {
        self.ensure_counter(tenant, CONNECTIONS, keys::CONNECTION_PREFIX)
            .await?;
        let (pk, sk) = (keys::tenant_pk(tenant), keys::connection_sk(id));
        let delete = Delete::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), sk.clone())))
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#count) OR #count = :zero)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#count", SCHEDULE_COUNT)
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let mut writes = vec![
            TransactWriteItem::builder().delete(delete).build(),
            TransactWriteItem::builder()
                .update(self.count_on_tenant(tenant, CONNECTIONS, -1, None)?)
                .build(),
            self.delete(pk.clone(), keys::budget_sk(id), None)?,
            self.delete(pk.clone(), keys::insights_sk(id), None)?,
        ];
        // The connection's projections go with it, in the same transaction as far as they
        // fit (a month each: 96 is eight years), the rest right after.
        let projections = self.sort_keys(&pk, &projection_prefix(id)).await?;
        let room = MAX_TRANSACTION_ITEMS - writes.len();
        let (now, later) = projections.split_at(projections.len().min(room));
        for projection in now {
            writes.push(self.delete(pk.clone(), projection.clone(), None)?);
        }
        match self.transact(writes).await {
            Ok(()) => {}
            Err(TransactOutcome::ConditionFailed) => {
                return Err(self
                    .explain(pk, sk, "connection is used by schedules; delete them first")
                    .await);
            }
            Err(TransactOutcome::Failed(e)) => return Err(e),
        }
        for chunk in later.chunks(MAX_TRANSACTION_ITEMS) {
            let deletes = chunk
                .iter()
                .map(|projection| self.delete(pk.clone(), projection.clone(), None))
                .collect::<Result<Vec<_>, _>>()?;
            // Unconditional deletes: only an unavailable table fails them.
            if let Err(TransactOutcome::Failed(e)) = self.transact(deletes).await {
                tracing::error!(connection_id = %id, error = %e, "connection deleted, some of its projections were not: nothing reads them, delete PACING#<id>#… by hand");
            }
        }
        Ok(())
    }

    async fn create_schedule(&self, schedule: &Schedule) -> Result<(), StoreError> {
        let item = to_item(
            schedule,
            keys::tenant_pk(&schedule.tenant_id),
            keys::schedule_sk(&schedule.id),
        )?;
        // The schedule's unit of the connection's count was taken with its quota.
        let connection_exists = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tenant_pk(&schedule.tenant_id),
                keys::connection_sk(&schedule.connection_id),
            )))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let writes = vec![
            self.put(item, "attribute_not_exists(pk)")?,
            TransactWriteItem::builder()
                .condition_check(connection_exists)
                .build(),
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TransactOutcome::Failed(e)) => Err(e),
            Err(TransactOutcome::ConditionFailed) => {
                let pk = keys::tenant_pk(&schedule.tenant_id);
                match self
                    .exists(pk, keys::connection_sk(&schedule.connection_id))
                    .await?
                {
                    false => Err(StoreError::NotFound),
                    true => Err(StoreError::Conflict("schedule id exists".into())),
                }
            }
        }
    }

    async fn schedule(
        &self,
        tenant: &TenantId,
        id: &ScheduleId,
    ) -> Result<Option<Schedule>, StoreError> {
        self.get(keys::tenant_pk(tenant), keys::schedule_sk(id))
            .await
    }

    async fn schedules(
        &self,
        tenant: &TenantId,
        page: &PageRequest,
    ) -> Result<Page<Schedule>, StoreError> {
        self.query(keys::tenant_pk(tenant), keys::SCHEDULE_PREFIX, page, false)
            .await
    }

    async fn update_schedule(
        &self,
        schedule: &Schedule,
        seen_updated_at: DateTime<Utc>,
    ) -> Result<(), StoreError> {
        let (pk, sk) = (
            keys::tenant_pk(&schedule.tenant_id),
            keys::schedule_sk(&schedule.id),
        );
        let seen = serde_dynamo::to_attribute_value(seen_updated_at)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_item(schedule, pk.clone(), sk.clone())?))
            .condition_expression("attribute_exists(#pk) AND updated_at = :seen")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":seen", seen)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(self
                .explain(
                    pk,
                    sk,
                    "the schedule was changed by another request; read it and try again",
                )
                .await),
            Err(e) => Err(unavailable(e).into()),
        }
    }

    async fn delete_schedule(&self, schedule: &Schedule) -> Result<(), StoreError> {
        self.ensure_counter(&schedule.tenant_id, SCHEDULES, keys::SCHEDULE_PREFIX)
            .await?;
        let pk = keys::tenant_pk(&schedule.tenant_id);
        let uncount = self.count_on_tenant(&schedule.tenant_id, SCHEDULES, -1, None)?;
        let writes = vec![
            TransactWriteItem::builder().update(uncount).build(),
            self.delete(
                pk.clone(),
                keys::schedule_sk(&schedule.id),
                Some("attribute_exists(pk)"),
            )?,
            self.delete(pk, keys::cursor_sk(&schedule.id), None)?,
            self.count_schedule(schedule, -1)?,
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TransactOutcome::ConditionFailed) => Err(StoreError::NotFound),
            Err(TransactOutcome::Failed(e)) => Err(e),
        }
    }

    async fn take_quota(
        &self,
        tenant: &TenantId,
        quota: &Quota,
        limits: &Limits,
    ) -> Result<Result<(), QuotaExceeded>, StoreError> {
        match quota {
            Quota::Connection => {
                self.ensure_counter(tenant, CONNECTIONS, keys::CONNECTION_PREFIX)
                    .await?;
                let max = limits.connections_per_tenant;
                let update = self.count_on_tenant(tenant, CONNECTIONS, 1, Some(max))?;
                Ok(if self.update(update).await? {
                    Ok(())
                } else {
                    Err(QuotaExceeded::ConnectionsPerTenant(max))
                })
            }
            Quota::Schedule(connection) => {
                self.ensure_counter(tenant, SCHEDULES, keys::SCHEDULE_PREFIX)
                    .await?;
                let per_tenant = limits.schedules_per_tenant;
                let per_connection = limits.schedules_per_connection;
                let on_connection = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(
                        keys::tenant_pk(tenant),
                        keys::connection_sk(connection),
                    )))
                    .update_expression("ADD #count :one")
                    .condition_expression(
                        "attribute_exists(#pk) AND (attribute_not_exists(#count) OR #count < :max)",
                    )
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#count", SCHEDULE_COUNT)
                    .expression_attribute_values(":one", AttributeValue::N("1".into()))
                    .expression_attribute_values(
                        ":max",
                        AttributeValue::N(per_connection.to_string()),
                    )
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                // Two conditional updates, the tenant's unit given back if the connection's
                // is refused (a transaction would be one more write of the same kind as the
                // schedule's own, for no gain: either order leaves the counts right).
                let on_tenant = self.count_on_tenant(tenant, SCHEDULES, 1, Some(per_tenant))?;
                if !self.update(on_tenant).await? {
                    return Ok(Err(QuotaExceeded::SchedulesPerTenant(per_tenant)));
                }
                let taken = self.update(on_connection).await;
                if !matches!(taken, Ok(true)) {
                    self.update(self.count_on_tenant(tenant, SCHEDULES, -1, None)?)
                        .await?;
                }
                if !taken? {
                    let pk = keys::tenant_pk(tenant);
                    return if self.exists(pk, keys::connection_sk(connection)).await? {
                        Ok(Err(QuotaExceeded::SchedulesPerConnection(per_connection)))
                    } else {
                        Err(StoreError::NotFound)
                    };
                }
                Ok(Ok(()))
            }
        }
    }

    async fn return_quota(&self, tenant: &TenantId, quota: &Quota) -> Result<(), StoreError> {
        match quota {
            Quota::Connection => {
                self.update(self.count_on_tenant(tenant, CONNECTIONS, -1, None)?)
                    .await?;
            }
            Quota::Schedule(connection) => {
                self.update(self.count_on_tenant(tenant, SCHEDULES, -1, None)?)
                    .await?;
                let on_connection = Update::builder()
                    .table_name(&self.table)
                    .set_key(Some(key(
                        keys::tenant_pk(tenant),
                        keys::connection_sk(connection),
                    )))
                    .update_expression("ADD #count :minus")
                    .condition_expression("attribute_exists(#pk)")
                    .expression_attribute_names("#pk", PK)
                    .expression_attribute_names("#count", SCHEDULE_COUNT)
                    .expression_attribute_values(":minus", AttributeValue::N("-1".into()))
                    .build()
                    .map_err(|e| StoreError::Unavailable(e.to_string()))?;
                self.update(on_connection).await?;
            }
        }
        Ok(())
    }

    async fn count_request(
        &self,
        tenant: &TenantId,
        what: &str,
        limit: u32,
        now: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        let minute = now.timestamp().div_euclid(60);
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tenant_pk(tenant),
                keys::rate_sk(what, minute),
            )))
            .update_expression("ADD #count :one SET #exp = :exp")
            .condition_expression("attribute_not_exists(#count) OR #count < :limit")
            .expression_attribute_names("#count", COUNT)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":one", AttributeValue::N("1".into()))
            .expression_attribute_values(":limit", AttributeValue::N(limit.to_string()))
            .expression_attribute_values(":exp", AttributeValue::N(((minute + 2) * 60).to_string()))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        self.update(update).await
    }

    async fn claim_run(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        run: &RunId,
        deadline: DateTime<Utc>,
    ) -> Result<Result<(), RunId>, StoreError> {
        use keys::active_run;
        let (pk, sk) = (
            keys::runs_pk(tenant, schedule),
            keys::ACTIVE_RUN_SK.to_owned(),
        );
        for _ in 0..2 {
            let result = self
                .client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(key(pk.clone(), sk.clone())))
                .item(active_run::RUN_ID, AttributeValue::S(run.to_string()))
                .item(active_run::DEADLINE, epoch_millis(deadline))
                .item(
                    EXPIRES_AT,
                    epoch_seconds(deadline + chrono::Duration::days(1)),
                )
                .condition_expression("attribute_not_exists(#pk) OR #deadline < :now")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#deadline", active_run::DEADLINE)
                .expression_attribute_values(":now", epoch_millis(Utc::now()))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(Ok(())),
                Err(e) if is_condition_failure(&e) => {
                    let held: Option<serde_json::Value> = self.get(pk.clone(), sk.clone()).await?;
                    let holder = held
                        .as_ref()
                        .and_then(|h| h[active_run::RUN_ID].as_str())
                        .and_then(|id| id.parse::<RunId>().ok());
                    match holder {
                        Some(holder) => return Ok(Err(holder)),
                        // Released meanwhile: try again.
                        None => continue,
                    }
                }
                Err(e) => return Err(unavailable(e).into()),
            }
        }
        Err(StoreError::Conflict(
            "the schedule's active run changed while it was claimed; try again".into(),
        ))
    }

    async fn release_run_claim(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        run: &RunId,
    ) -> Result<(), StoreError> {
        use keys::active_run;
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::runs_pk(tenant, schedule),
                keys::ACTIVE_RUN_SK.to_owned(),
            )))
            .condition_expression("#run = :run AND attribute_not_exists(#request)")
            .expression_attribute_names("#run", active_run::RUN_ID)
            .expression_attribute_names("#request", active_run::REQUEST_ID)
            .expression_attribute_values(":run", AttributeValue::S(run.to_string()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e).into()),
        }
    }

    async fn put_oauth_state(
        &self,
        tenant: &TenantId,
        state: &OAuthState,
    ) -> Result<(), StoreError> {
        let stored = StoredOAuthState {
            platform: state.platform,
            redirect_uri: state.redirect_uri.clone(),
            code_verifier: state.code_verifier.clone(),
            expires_at: state.expires_at.timestamp(),
        };
        let item = to_item(
            &stored,
            keys::tenant_pk(tenant),
            keys::oauth_state_sk(&state.state_digest),
        )?;
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn take_oauth_state(
        &self,
        tenant: &TenantId,
        state_digest: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<OAuthState>, StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tenant_pk(tenant),
                keys::oauth_state_sk(state_digest),
            )))
            .condition_expression("attribute_exists(#pk) AND #exp > :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":now", epoch_seconds(now))
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let old = match result {
            Ok(out) => out.attributes,
            Err(e) if is_condition_failure(&e) => return Ok(None),
            Err(e) => return Err(unavailable(e).into()),
        };
        let Some(old) = old else { return Ok(None) };
        let stored: StoredOAuthState = from_item(old)?;
        Ok(Some(OAuthState {
            state_digest: state_digest.to_owned(),
            platform: stored.platform,
            redirect_uri: stored.redirect_uri,
            code_verifier: stored.code_verifier,
            expires_at: Utc
                .timestamp_opt(stored.expires_at, 0)
                .single()
                .unwrap_or_default(),
        }))
    }

    async fn runs(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        page: &PageRequest,
    ) -> Result<Page<Run>, StoreError> {
        self.query(
            keys::runs_pk(tenant, schedule),
            keys::RUN_PREFIX,
            page,
            true,
        )
        .await
    }

    async fn budget(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<Budget>, StoreError> {
        self.get(keys::tenant_pk(tenant), keys::budget_sk(connection))
            .await
    }

    async fn put_budget(&self, tenant: &TenantId, budget: &Budget) -> Result<(), StoreError> {
        let pk = keys::tenant_pk(tenant);
        let item = to_item(budget, pk.clone(), keys::budget_sk(&budget.connection_id))?;
        let put = Put::builder()
            .table_name(&self.table)
            .set_item(Some(item))
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let connection_exists = ConditionCheck::builder()
            .table_name(&self.table)
            .set_key(Some(key(pk, keys::connection_sk(&budget.connection_id))))
            .condition_expression("attribute_exists(pk)")
            .build()
            .map_err(|e| StoreError::Unavailable(e.to_string()))?;
        let writes = vec![
            TransactWriteItem::builder().put(put).build(),
            TransactWriteItem::builder()
                .condition_check(connection_exists)
                .build(),
        ];
        match self.transact(writes).await {
            Ok(()) => Ok(()),
            Err(TransactOutcome::ConditionFailed) => Err(StoreError::NotFound),
            Err(TransactOutcome::Failed(e)) => Err(e),
        }
    }

    async fn delete_budget(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tenant_pk(tenant),
                keys::budget_sk(connection),
            )))
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#pk", PK)
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(StoreError::NotFound),
            Err(e) => Err(unavailable(e).into()),
        }
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
        .await
    }

    async fn newest_projection(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<MonthProjection>, StoreError> {
        // `PACING#<id>#YYYY-MM` sorts by month: the last key is the latest month.
        let newest = PageRequest {
            limit: 1,
            after: None,
        };
        let page: Page<MonthProjection> = self
            .query(
                keys::tenant_pk(tenant),
                &projection_prefix(connection),
                &newest,
                true,
            )
            .await?;
        Ok(page.items.into_iter().next())
    }

    async fn alerts(
        &self,
        tenant: &TenantId,
        filter: &AlertFilter,
        page: &PageRequest,
    ) -> Result<Page<Alert>, StoreError> {
        let pk = keys::alerts_pk(tenant);
        let query = self.alert_query(pk.clone(), filter);
        let limit = usize::from(page.limit);
        let batch = if filter.narrows() {
            self.alert_reads.batch.max(i32::from(page.limit))
        } else {
            i32::from(page.limit)
        };
        let mut kept: Vec<(String, Alert)> = Vec::new();
        let mut start = page.after.clone();
        for _ in 0..self.alert_reads.per_page {
            let out = query
                .clone()
                .limit(batch)
                .set_exclusive_start_key(start.map(|sk| key(pk.clone(), sk)))
                .send()
                .await
                .map_err(unavailable)?;
            for item in out.items.unwrap_or_default() {
                if kept.len() == limit {
                    // More alerts were read than the page holds: go on after its last.
                    return Ok(alert_page(kept, true));
                }
                let Some(AttributeValue::S(sk)) = item.get(SK) else {
                    return Err(StoreError::Corrupt("an alert without a sort key".into()));
                };
                kept.push((sk.clone(), from_item(item)?));
            }
            start = out.last_evaluated_key.and_then(sort_key);
            if start.is_none() || kept.len() == limit {
                let more = start.is_some();
                return Ok(alert_page(kept, more));
            }
        }
        // The reads are spent before the page is full: go on from where reading stopped.
        Ok(Page {
            items: kept.into_iter().map(|(_, alert)| alert).collect(),
            last_key: start,
        })
    }

    async fn idempotency_record(
        &self,
        tenant: &TenantId,
        key_digest: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let stored: Option<StoredIdempotency> = self
            .get(keys::tenant_pk(tenant), keys::idempotency_sk(key_digest))
            .await?;
        Ok(stored.map(|s| s.into_record(key_digest)))
    }

    async fn claim_idempotency_key(
        &self,
        tenant: &TenantId,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(idempotency_item(tenant, record)?))
            .condition_expression("attribute_not_exists(#pk) OR #exp < :now")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#exp", EXPIRES_AT)
            .expression_attribute_values(":now", epoch_seconds(Utc::now()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => {
                Err(StoreError::Conflict("Idempotency-Key in use".into()))
            }
            Err(e) => Err(unavailable(e).into()),
        }
    }

    async fn complete_idempotency_key(
        &self,
        tenant: &TenantId,
        record: &IdempotencyRecord,
    ) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(idempotency_item(tenant, record)?))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn release_idempotency_key(
        &self,
        tenant: &TenantId,
        key_digest: &str,
    ) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tenant_pk(tenant),
                keys::idempotency_sk(key_digest),
            )))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }
}

/// The stored form of an [`OAuthState`] (its key holds the digest).
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredOAuthState {
    platform: Platform,
    redirect_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    code_verifier: Option<String>,
    expires_at: i64,
}

/// The stored form of an [`IdempotencyRecord`].
#[derive(serde::Serialize, serde::Deserialize)]
struct StoredIdempotency {
    request_digest: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_status: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    response_body: Option<String>,
    expires_at: i64,
}

impl StoredIdempotency {
    fn into_record(self, key_digest: &str) -> IdempotencyRecord {
        let response = match (self.response_status, self.response_body) {
            (Some(status), Some(body)) => Some(StoredResponse { status, body }),
            _ => None,
        };
        IdempotencyRecord {
            key_digest: key_digest.to_owned(),
            request_digest: self.request_digest,
            response,
            expires_at: Utc
                .timestamp_opt(self.expires_at, 0)
                .single()
                .unwrap_or_default(),
        }
    }
}

fn idempotency_item(tenant: &TenantId, record: &IdempotencyRecord) -> Result<Item, StoreError> {
    let stored = StoredIdempotency {
        request_digest: record.request_digest.clone(),
        response_status: record.response.as_ref().map(|r| r.status),
        response_body: record.response.as_ref().map(|r| r.body.clone()),
        expires_at: record.expires_at.timestamp(),
    };
    Ok(to_item(
        &stored,
        keys::tenant_pk(tenant),
        keys::idempotency_sk(&record.key_digest),
    )?)
}
