//! [`RunStore`] on DynamoDB, with the key layout of `adpipe_domain::keys`.

use adpipe_domain::keys::{self, ABANDONED_RUN_ERROR, ACTIVE_RUN_SK, EXPIRES_AT, PK, active_run};
use adpipe_domain::{Connection, ConnectionId, Run, RunId, Schedule, ScheduleId, TenantId};
use adpipe_dynamodb::{Item, is_condition_failure, key, to_item, unavailable};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue, ReturnValuesOnConditionCheckFailure};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use serde::de::DeserializeOwned;

use crate::ports::{ActiveRun, LeaseOutcome, RunStore, StartRefused, StoreError};

/// The lease item stays this long after its deadline (TTL), for the record.
const LEASE_KEPT: Duration = Duration::days(1);

/// Run records are history: they leave the table after this long.
const RUN_RETENTION: Duration = Duration::days(90);

pub struct DynamoRunStore {
    client: Client,
    table: String,
}

impl DynamoRunStore {
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
        adpipe_dynamodb::get(&self.client, &self.table, pk, sk).await
    }

    /// Sets one attribute of a connection (and its `updated_at`); a connection deleted
    /// meanwhile is left alone.
    async fn set_on_connection(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        attribute: &str,
        value: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tenant_pk(tenant),
                keys::connection_sk(connection),
            )))
            .update_expression("SET #attr = :value, updated_at = :now")
            .condition_expression("attribute_exists(#pk)")
            .expression_attribute_names("#attr", attribute)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_values(":value", AttributeValue::S(value.to_owned()))
            .expression_attribute_values(":now", AttributeValue::S(Utc::now().to_rfc3339()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    fn run_item(&self, run: &Run) -> Result<Item, StoreError> {
        let mut item = to_item(
            run,
            keys::runs_pk(&run.tenant_id, &run.schedule_id),
            keys::run_sk(&run.run_id),
        )?;
        item.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N((run.started_at + RUN_RETENTION).timestamp().to_string()),
        );
        Ok(item)
    }
}

fn lease_key(tenant: &TenantId, schedule: &ScheduleId) -> Item {
    key(keys::runs_pk(tenant, schedule), ACTIVE_RUN_SK.to_owned())
}

/// A lease item as read back (`ALL_OLD`, or the item a failed condition found).
fn active_run_of(item: &Item) -> Option<ActiveRun> {
    let run_id = item.get(active_run::RUN_ID)?.as_s().ok()?.parse().ok()?;
    let request_id = item
        .get(active_run::REQUEST_ID)
        .and_then(|v| v.as_s().ok())
        .cloned();
    let deadline = item
        .get(active_run::DEADLINE)?
        .as_n()
        .ok()?
        .parse::<i64>()
        .ok()
        .and_then(DateTime::<Utc>::from_timestamp_millis)?;
    Some(ActiveRun {
        run_id,
        request_id,
        deadline,
    })
}

#[derive(serde::Deserialize)]
struct Cursor {
    next_day: NaiveDate,
}

#[async_trait]
impl RunStore for DynamoRunStore {
    async fn schedule(
        &self,
        tenant: &TenantId,
        id: &ScheduleId,
    ) -> Result<Option<Schedule>, StoreError> {
        self.get(keys::tenant_pk(tenant), keys::schedule_sk(id))
            .await
    }

    async fn connection(
        &self,
        tenant: &TenantId,
        id: &ConnectionId,
    ) -> Result<Option<Connection>, StoreError> {
        self.get(keys::tenant_pk(tenant), keys::connection_sk(id))
            .await
    }

    async fn acquire_lease(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        lease: &ActiveRun,
    ) -> Result<LeaseOutcome, StoreError> {
        let mut item = lease_key(tenant, schedule);
        item.insert(
            active_run::RUN_ID.to_owned(),
            AttributeValue::S(lease.run_id.to_string()),
        );
        if let Some(request_id) = &lease.request_id {
            item.insert(
                active_run::REQUEST_ID.to_owned(),
                AttributeValue::S(request_id.clone()),
            );
        }
        item.insert(
            active_run::DEADLINE.to_owned(),
            AttributeValue::N(lease.deadline.timestamp_millis().to_string()),
        );
        item.insert(
            EXPIRES_AT.to_owned(),
            AttributeValue::N((lease.deadline + LEASE_KEPT).timestamp().to_string()),
        );
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression(
                "attribute_not_exists(#pk) OR #deadline < :now_ms OR #request_id = :this_request \
                 OR (#run_id = :this_run AND attribute_not_exists(#request_id))",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#deadline", active_run::DEADLINE)
            .expression_attribute_names("#request_id", active_run::REQUEST_ID)
            .expression_attribute_names("#run_id", active_run::RUN_ID)
            .expression_attribute_values(
                ":now_ms",
                AttributeValue::N(Utc::now().timestamp_millis().to_string()),
            )
            .expression_attribute_values(
                ":this_request",
                AttributeValue::S(lease.request_id.clone().unwrap_or_default()),
            )
            .expression_attribute_values(":this_run", AttributeValue::S(lease.run_id.to_string()))
            .return_values(ReturnValue::AllOld)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        match result {
            Ok(out) => Ok(LeaseOutcome::Acquired {
                previous: out.attributes.as_ref().and_then(active_run_of),
            }),
            Err(SdkError::ServiceError(e)) if e.err().is_conditional_check_failed_exception() => {
                let holder = match e.into_err() {
                    aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(c) => {
                        c.item.as_ref().and_then(active_run_of)
                    }
                    _ => None,
                };
                Ok(LeaseOutcome::Held(holder))
            }
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn release_lease(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        request_id: &str,
    ) -> Result<(), StoreError> {
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(lease_key(tenant, schedule)))
            .condition_expression("#request_id = :this_request")
            .expression_attribute_names("#request_id", active_run::REQUEST_ID)
            .expression_attribute_values(":this_request", AttributeValue::S(request_id.to_owned()))
            .send()
            .await;
        match result {
            // Another invocation holds it now (ours outlived its deadline): it stays theirs.
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
            Ok(_) => Ok(()),
        }
    }

    async fn abandon_run(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        run: &RunId,
        at: DateTime<Utc>,
    ) -> Result<bool, StoreError> {
        // The same string form as the run record's own timestamps.
        let finished_at = serde_dynamo::to_attribute_value::<_, AttributeValue>(at)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::runs_pk(tenant, schedule),
                keys::run_sk(run),
            )))
            .update_expression("SET #status = :failed, #error = :error, finished_at = :at")
            .condition_expression("#status = :running")
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#error", "error")
            .expression_attribute_values(":failed", AttributeValue::S("failed".into()))
            .expression_attribute_values(":running", AttributeValue::S("running".into()))
            .expression_attribute_values(":error", AttributeValue::S(ABANDONED_RUN_ERROR.into()))
            .expression_attribute_values(":at", finished_at)
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failure(&e) => Ok(false),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn start_run(&self, run: &Run) -> Result<Result<(), StartRefused>, StoreError> {
        // The lease holder alone starts a run, so anything but a success is taken over: a
        // failed run, or one left `running` by this invocation's crashed attempt (the same
        // request id, Lambda's retry) or by a holder whose deadline passed.
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.run_item(run)?))
            .condition_expression("attribute_not_exists(#pk) OR #status <> :succeeded")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_values(":succeeded", AttributeValue::S("succeeded".into()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(Ok(())),
            Err(e) if is_condition_failure(&e) => Ok(Err(StartRefused::AlreadyRecorded)),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn finish_run(&self, run: &Run) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.run_item(run)?))
            .send()
            .await
            .map_err(unavailable)?;
        Ok(())
    }

    async fn cursor(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
    ) -> Result<Option<NaiveDate>, StoreError> {
        let cursor: Option<Cursor> = self
            .get(keys::tenant_pk(tenant), keys::cursor_sk(schedule))
            .await?;
        Ok(cursor.map(|c| c.next_day))
    }

    async fn advance_cursor(
        &self,
        tenant: &TenantId,
        schedule: &ScheduleId,
        next_day: NaiveDate,
    ) -> Result<(), StoreError> {
        // ISO dates compare as strings: the condition keeps the cursor from moving back
        // when runs overlap.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(
                keys::tenant_pk(tenant),
                keys::cursor_sk(schedule),
            )))
            .update_expression("SET next_day = :d, updated_at = :now")
            .condition_expression("attribute_not_exists(next_day) OR next_day < :d")
            .expression_attribute_values(":d", AttributeValue::S(next_day.to_string()))
            .expression_attribute_values(":now", AttributeValue::S(Utc::now().to_rfc3339()))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(e) if is_condition_failure(&e) => Ok(()),
            Err(e) => Err(unavailable(e)),
        }
    }

    async fn set_time_zone(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
        time_zone: &str,
    ) -> Result<(), StoreError> {
        self.set_on_connection(tenant, connection, "time_zone", time_zone)
            .await
    }

    async fn mark_reauth_required(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<(), StoreError> {
        self.set_on_connection(tenant, connection, "status", "reauth_required")
            .await
    }
}
