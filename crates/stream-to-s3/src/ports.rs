//! The outside dependencies the handler talks to: where finished objects go (and the
//! current table's objects are read back from), and where poison records are set aside.

use async_trait::async_trait;
use bytes::Bytes;

use crate::poison::PoisonRecord;

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The store did not take the object (network, throttling after retries, 5xx, denied).
    #[error("object store: {0}")]
    Unavailable(String),
    /// A conditional write lost: the object changed (or came to exist) since it was read
    /// (S3 answers 412 Precondition Failed, or 409 for a conflicting concurrent write).
    #[error("object store: precondition failed: {0}")]
    PreconditionFailed(String),
}

/// The condition a [`ObjectSink::put_if`] writes under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Precondition {
    /// The object is still the version read, with this ETag (`If-Match`).
    Match(String),
    /// No object exists under the key (`If-None-Match: *`).
    NoneMatch,
}

/// An object as read, with the ETag that names its version.
#[derive(Debug, Clone)]
pub struct Versioned {
    pub body: Bytes,
    pub etag: String,
}

/// Writes whole objects under a key; writing a key again replaces the object.
#[async_trait]
pub trait ObjectSink: Send + Sync {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), SinkError>;

    /// The object under `key` with its ETag, or `None` when there is none.
    async fn get(&self, key: &str) -> Result<Option<Versioned>, SinkError>;

    /// Writes the object only while `condition` holds, else
    /// [`SinkError::PreconditionFailed`].
    async fn put_if(
        &self,
        key: &str,
        body: Bytes,
        condition: Precondition,
    ) -> Result<(), SinkError>;
}

/// Some reports the queue did not take.
#[derive(Debug, thiserror::Error)]
#[error("failure queue: {reason}")]
pub struct QueueError {
    /// Positions, in the slice given to [`FailureQueue::send`] or [`RefreshQueue::request`],
    /// of the messages not sent.
    pub unsent: Vec<usize>,
    pub reason: String,
}

/// The stream's failure queue, where each poison record gets one message for an operator.
#[async_trait]
pub trait FailureQueue: Send + Sync {
    async fn send(&self, records: &[PoisonRecord]) -> Result<(), QueueError>;
}

/// The insights queue: one request per connection whose lake objects a batch touched.
/// ([`QueueError::unsent`] holds positions in `refreshes`.)
#[async_trait]
pub trait RefreshQueue: Send + Sync {
    async fn request(
        &self,
        refreshes: &[adpipe_domain::insights::Refresh],
    ) -> Result<(), QueueError>;
}
