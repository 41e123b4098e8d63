//! The one outside dependency the handler talks to: where finished objects go.

use async_trait::async_trait;
use bytes::Bytes;

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
