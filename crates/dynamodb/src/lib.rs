//! The DynamoDB glue the schedule API and the extractor share: items keyed by `pk`/`sk`
//! (see `adpipe_domain::keys`), records through `serde_dynamo`, typed reads, and telling a
//! failed condition from an unavailable table. Each crate keeps its own port and error
//! type; this is only what both adapters would otherwise write twice.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;
use serde::de::DeserializeOwned;

pub use adpipe_domain::keys::{PK, SK};

pub type Item = HashMap<String, AttributeValue>;

/// Why a call failed, in the two kinds the adapters answer differently.
#[derive(Debug, thiserror::Error)]
pub enum Failure {
    /// DynamoDB did not answer as asked (network, throttling after retries, 5xx).
    #[error("DynamoDB: {0}")]
    Unavailable(String),
    /// An item could not be turned into its record, or a record into an item.
    #[error("a stored item could not be read: {0}")]
    Corrupt(String),
}

pub fn key(pk: String, sk: String) -> Item {
    HashMap::from([
        (PK.to_owned(), AttributeValue::S(pk)),
        (SK.to_owned(), AttributeValue::S(sk)),
    ])
}

/// A record as an item under `pk`/`sk`.
pub fn to_item<T: Serialize>(record: &T, pk: String, sk: String) -> Result<Item, Failure> {
    let mut item: Item =
        serde_dynamo::to_item(record).map_err(|e| Failure::Corrupt(e.to_string()))?;
    item.extend(key(pk, sk));
    Ok(item)
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, Failure> {
    serde_dynamo::from_item(item).map_err(|e| Failure::Corrupt(e.to_string()))
}

/// The SDK's full error context: names the operation and cause, never item values.
pub fn unavailable<E, R>(err: SdkError<E, R>) -> Failure
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    Failure::Unavailable(DisplayErrorContext(err).to_string())
}

pub fn is_condition_failure<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    err.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// A strongly consistent read of one record.
pub async fn get<T: DeserializeOwned>(
    client: &Client,
    table: &str,
    pk: String,
    sk: String,
) -> Result<Option<T>, Failure> {
    let out = client
        .get_item()
        .table_name(table)
        .set_key(Some(key(pk, sk)))
        .consistent_read(true)
        .send()
        .await
        .map_err(unavailable)?;
    out.item.map(from_item).transpose()
}
