//! [`Store`] on the control table (key layout in `adpipe_domain::keys`): connections and
//! schedules read from the tenant's partition, alerts kept in the tenant's alert partition
//! by first day, projections and the summary beside the connection.

use std::collections::HashMap;

use adpipe_domain::insights::{Alert, MonthProjection};
use adpipe_domain::keys::{self, EXPIRES_AT, PK, SK};
use adpipe_domain::{Connection, Schedule, TenantId};
use adpipe_dynamodb::{Failure, Item, from_item, to_item, unavailable};
use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::{AttributeValue, DeleteRequest, PutRequest, WriteRequest};
use chrono::{Days, NaiveDate};

use crate::ports::{Store, Unavailable};
use crate::summary::Summary;

/// BatchWriteItem's limit.
const BATCH: usize = 25;
/// Rounds of BatchWriteItem for the items DynamoDB left unprocessed (throttling).
const BATCH_ROUNDS: u32 = 5;
/// Alerts and projections outlive the lake's 180 days read by a year: the API's history.
const KEPT_DAYS: u64 = 180 + 365;

pub struct DynamoStore {
    client: Client,
    table: String,
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Every item of `pk` whose sort key is in `[from, to]`.
    async fn query_between(
        &self,
        pk: String,
        from: &str,
        to: &str,
    ) -> Result<Vec<Item>, Unavailable> {
        let mut items = Vec::new();
        let mut start: Option<HashMap<String, AttributeValue>> = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", AttributeValue::S(pk.clone()))
                .expression_attribute_values(":from", AttributeValue::S(from.to_owned()))
                .expression_attribute_values(":to", AttributeValue::S(to.to_owned()))
                .set_exclusive_start_key(start.take())
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| failed(unavailable(e)))?;
            items.extend(out.items.unwrap_or_default());
            match out.last_evaluated_key {
                Some(key) if !key.is_empty() => start = Some(key),
                _ => return Ok(items),
            }
        }
    }

    /// Writes `requests` with BatchWriteItem, retrying what DynamoDB leaves unprocessed.
    async fn write_all(&self, requests: Vec<WriteRequest>) -> Result<(), Unavailable> {
        for chunk in requests.chunks(BATCH) {
            let mut pending = chunk.to_vec();
            for round in 0..BATCH_ROUNDS {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| failed(unavailable(e)))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << round)).await;
            }
            if !pending.is_empty() {
                return Err(Unavailable::dynamodb(format!(
                    "{} writes left unprocessed after {BATCH_ROUNDS} rounds",
                    pending.len()
                )));
            }
        }
        Ok(())
    }

    async fn put(&self, item: Item) -> Result<(), Unavailable> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| failed(unavailable(e)))?;
        Ok(())
    }
}

fn failed(failure: Failure) -> Unavailable {
    Unavailable::dynamodb(failure)
}

/// `item` with the TTL that keeps it [`KEPT_DAYS`] after `day`.
fn expiring(mut item: Item, day: NaiveDate) -> Item {
    let until = day
        .checked_add_days(Days::new(KEPT_DAYS))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(i64::MAX, |t| t.and_utc().timestamp());
    item.insert(EXPIRES_AT.to_owned(), AttributeValue::N(until.to_string()));
    item
}

fn alert_key(tenant: &TenantId, alert: &Alert) -> (String, String) {
    (
        keys::alerts_pk(tenant),
        keys::alert_sk(alert.date, &alert.connection_id, &alert.alert_id),
    )
}

#[async_trait]
impl Store for DynamoStore {
    async fn connection(
        &self,
        tenant: &TenantId,
        connection: &str,
    ) -> Result<Option<Connection>, Unavailable> {
        let Ok(id) = connection.parse() else {
            return Ok(None);
        };
        adpipe_dynamodb::get(
            &self.client,
            &self.table,
            keys::tenant_pk(tenant),
            keys::connection_sk(&id),
        )
        .await
        .map_err(failed)
    }

    async fn schedules(
        &self,
        tenant: &TenantId,
        connection: &Connection,
    ) -> Result<Vec<Schedule>, Unavailable> {
        let prefix = keys::SCHEDULE_PREFIX;
        let items = self
            .query_between(
                keys::tenant_pk(tenant),
                prefix,
                &format!("{prefix}\u{10FFFF}"),
            )
            .await?;
        let mut schedules = Vec::new();
        for item in items {
            let schedule: Schedule = from_item(item).map_err(failed)?;
            if schedule.connection_id == connection.id {
                schedules.push(schedule);
            }
        }
        Ok(schedules)
    }

    async fn alerts_since(
        &self,
        connection: &Connection,
        since: NaiveDate,
    ) -> Result<Vec<Alert>, Unavailable> {
        // Sort keys start with the day: the range is a key condition, the connection a
        // filter on what it returns.
        let items = self
            .query_between(
                keys::alerts_pk(&connection.tenant_id),
                &since.to_string(),
                "9999",
            )
            .await?;
        let mut alerts = Vec::new();
        for item in items {
            let alert: Alert = from_item(item).map_err(failed)?;
            if alert.connection_id == connection.id {
                alerts.push(alert);
            }
        }
        Ok(alerts)
    }

    async fn replace_alerts(
        &self,
        connection: &Connection,
        put: &[Alert],
        remove: &[Alert],
    ) -> Result<(), Unavailable> {
        let tenant = &connection.tenant_id;
        let mut requests = Vec::with_capacity(put.len() + remove.len());
        for alert in put {
            let (pk, sk) = alert_key(tenant, alert);
            let item = expiring(to_item(alert, pk, sk).map_err(failed)?, alert.last_date);
            let request = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(Unavailable::dynamodb)?;
            requests.push(WriteRequest::builder().put_request(request).build());
        }
        for alert in remove {
            let (pk, sk) = alert_key(tenant, alert);
            let request = DeleteRequest::builder()
                .set_key(Some(adpipe_dynamodb::key(pk, sk)))
                .build()
                .map_err(Unavailable::dynamodb)?;
            requests.push(WriteRequest::builder().delete_request(request).build());
        }
        self.write_all(requests).await
    }

    async fn put_projections(
        &self,
        connection: &Connection,
        projections: &[MonthProjection],
    ) -> Result<(), Unavailable> {
        let pk = keys::tenant_pk(&connection.tenant_id);
        let mut requests = Vec::with_capacity(projections.len());
        for p in projections {
            let sk = keys::projection_sk(&connection.id, &p.month);
            let day = p.as_of.unwrap_or_else(|| p.computed_at.date_naive());
            let item = expiring(to_item(p, pk.clone(), sk).map_err(failed)?, day);
            let request = PutRequest::builder()
                .set_item(Some(item))
                .build()
                .map_err(Unavailable::dynamodb)?;
            requests.push(WriteRequest::builder().put_request(request).build());
        }
        self.write_all(requests).await
    }

    async fn put_summary(
        &self,
        connection: &Connection,
        summary: &Summary,
    ) -> Result<(), Unavailable> {
        let item = to_item(
            summary,
            keys::tenant_pk(&connection.tenant_id),
            keys::insights_sk(&connection.id),
        )
        .map_err(failed)?;
        self.put(item).await
    }
}
