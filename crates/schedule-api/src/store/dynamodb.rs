//! [`ControlStore`] on DynamoDB, with the key layout of `adpipe_domain::keys`.
//! Records go through `serde_dynamo`; conditions keep every write honest under concurrency.

use adpipe_domain::keys::{self, EXPIRES_AT, PK, SK};
use adpipe_domain::{Connection, ConnectionId, Run, Schedule, ScheduleId, TenantId};
use adpipe_dynamodb::{Item, from_item, is_condition_failure, key, to_item, unavailable};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use chrono::{DateTime, TimeZone, Utc};
use serde::de::DeserializeOwned;

use crate::error::StoreError;
use crate::ports::{ControlStore, IdempotencyRecord, Page, PageRequest, StoredResponse};

/// Counts the schedules that use a connection, so a connection in use cannot be deleted.
const SCHEDULE_COUNT: &str = "schedule_count";

pub struct DynamoControlStore {
    client: Client,
    table: String,
}

impl DynamoControlStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
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
        let (pk, sk) = (keys::tenant_pk(tenant), keys::connection_sk(id));
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key(pk.clone(), sk.clone())))
            .condition_expression(
                "attribute_exists(#pk) AND (attribute_not_exists(#count) OR #count = :zero)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#count", SCHEDULE_COUNT)
            .expression_attribute_values(":zero", AttributeValue::N("0".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Err(self
                .explain(pk, sk, "connection is used by schedules; delete them first")
                .await),
            Err(e) => Err(unavailable(e).into()),
        }
    }

    async fn create_schedule(&self, schedule: &Schedule) -> Result<(), StoreError> {
        let item = to_item(
            schedule,
            keys::tenant_pk(&schedule.tenant_id),
            keys::schedule_sk(&schedule.id),
        )?;
        let writes = vec![
            self.put(item, "attribute_not_exists(pk)")?,
            self.count_schedule(schedule, 1)?,
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
        let pk = keys::tenant_pk(&schedule.tenant_id);
        let writes = vec![
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
