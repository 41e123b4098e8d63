//! [`RunStore`] on DynamoDB, with the key layout of `adpipe_domain::keys`.

use adpipe_domain::keys::{self, EXPIRES_AT, PK};
use adpipe_domain::{Connection, ConnectionId, Run, Schedule, ScheduleId, TenantId};
use adpipe_dynamodb::{Item, is_condition_failure, key, to_item, unavailable};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{Duration, NaiveDate, Utc};
use serde::de::DeserializeOwned;

use crate::ports::{RunStore, StartRefused, StoreError};

/// A run still `running` this long after it started died with its process (Lambda stops
/// every invocation by 15 minutes): its redelivered event may start it again.
const LEASE_UNTIL: &str = "lease_until";
const LEASE: Duration = Duration::minutes(15);

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
        item.insert(
            LEASE_UNTIL.to_owned(),
            AttributeValue::N((run.started_at + LEASE).timestamp().to_string()),
        );
        Ok(item)
    }
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

    async fn start_run(&self, run: &Run) -> Result<Result<(), StartRefused>, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(self.run_item(run)?))
            .condition_expression(
                "attribute_not_exists(#pk) OR #status = :failed OR (#status = :running AND #lease < :now)",
            )
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#status", "status")
            .expression_attribute_names("#lease", LEASE_UNTIL)
            .expression_attribute_values(":failed", AttributeValue::S("failed".into()))
            .expression_attribute_values(":running", AttributeValue::S("running".into()))
            .expression_attribute_values(
                ":now",
                AttributeValue::N(Utc::now().timestamp().to_string()),
            )
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
