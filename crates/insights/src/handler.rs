//! The function's two events: a batch of the insights queue, and a direct invoke.
//!
//! - Queue batch: each message is a [`Refresh`]; each distinct connection is computed once
//!   per batch, however many messages name it. A message that is not a refresh, or names
//!   a connection that does not exist (foreign, deleted, malformed ids), is logged and
//!   acknowledged: retrying cannot help. A computation that failed on S3 or DynamoDB
//!   fails its messages (`batchItemFailures`), so the queue delivers them again, and after
//!   the queue's `maxReceiveCount` moves them to its dead-letter queue.
//! - `{"kind": "refresh", "tenant_id", "connection_id"}`: one computation, answered with
//!   its summary.

use std::collections::BTreeMap;

use adpipe_domain::insights::Refresh;
use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use serde::Deserialize;
use serde_json::Value;
use tracing::Instrument;

use crate::refresh::{Insights, RefreshError};
use crate::summary::Summary;

/// What the function is invoked with.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
pub enum Request {
    Queue(SqsEvent),
    Refresh(Refresh),
}

#[derive(Debug, thiserror::Error)]
pub enum InvokeError {
    #[error(
        "not an insights queue batch nor {{\"kind\": \"refresh\", \"tenant_id\", \"connection_id\"}}"
    )]
    NotARequest,
    #[error(transparent)]
    Refresh(#[from] RefreshError),
}

impl Insights {
    /// Any invocation: the queue's batch response, or a refresh's summary.
    pub async fn invoke(&self, payload: Value) -> Result<Value, InvokeError> {
        match serde_json::from_value::<Request>(payload).map_err(|_| InvokeError::NotARequest)? {
            Request::Queue(event) => {
                Ok(serde_json::to_value(self.handle_batch(event).await).unwrap_or_default())
            }
            Request::Refresh(refresh) => {
                let summary: Summary = self.refresh(&refresh).await?;
                Ok(serde_json::to_value(summary).unwrap_or_default())
            }
        }
    }

    pub async fn handle_batch(&self, event: SqsEvent) -> SqsBatchResponse {
        let mut wanted: BTreeMap<Refresh, Vec<String>> = BTreeMap::new();
        for message in event.records {
            let id = message.message_id.unwrap_or_default();
            let body = message.body.unwrap_or_default();
            match serde_json::from_str::<Refresh>(&body) {
                Ok(refresh) => wanted.entry(refresh).or_default().push(id),
                // The body may be anything: its size, never its text.
                Err(e) => {
                    tracing::error!(message_id = %id, bytes = body.len(), error = %e, "not a refresh request; acknowledged")
                }
            }
        }
        let mut response = SqsBatchResponse::default();
        for (refresh, ids) in wanted {
            let span = tracing::info_span!("refresh", tenant_id = %refresh.tenant_id, connection_id = %refresh.connection_id, messages = ids.len());
            match self.refresh(&refresh).instrument(span.clone()).await {
                Ok(_) => {}
                Err(RefreshError::NotFound { .. }) => {
                    span.in_scope(|| tracing::warn!("no such connection; acknowledged"));
                }
                Err(RefreshError::Unavailable(e)) => {
                    span.in_scope(|| tracing::error!(error = %e, "insights not computed; the messages will be delivered again"));
                    response
                        .batch_item_failures
                        .extend(ids.into_iter().map(|id| {
                            let mut failure = BatchItemFailure::default();
                            failure.item_identifier = id;
                            failure
                        }));
                }
            }
        }
        response
    }
}
