//! The outside dependencies the handler talks to: where finished objects go, and where
//! poison records are set aside.

use async_trait::async_trait;
use bytes::Bytes;

use crate::poison::PoisonRecord;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The store did not take the object (network, throttling after retries, 5xx, denied).
    #[error("object store: {0}")]
    Unavailable(String),
}

/// Writes whole objects under a key; writing a key again replaces the object.
#[async_trait]
pub trait ObjectSink: Send + Sync {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), SinkError>;
}

/// Some reports the queue did not take.
#[derive(Debug, thiserror::Error)]
#[error("failure queue: {reason}")]
pub struct QueueError {
    /// Positions, in the slice given to [`FailureQueue::send`], of the reports not sent.
    pub unsent: Vec<usize>,
    pub reason: String,
}

/// The stream's failure queue, where each poison record gets one message for an operator.
#[async_trait]
pub trait FailureQueue: Send + Sync {
    async fn send(&self, records: &[PoisonRecord]) -> Result<(), QueueError>;
}
