//! [`ObjectSink`] on S3: one PutObject per object. PutObject replaces a key whole, so a
//! retried batch overwrites the objects it wrote before.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::DisplayErrorContext;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::ports::{ObjectSink, SinkError};

/// The media type Apache Parquet registered with IANA.
const PARQUET: &str = "application/vnd.apache.parquet";

pub struct S3Sink {
    client: Client,
    bucket: String,
}

impl S3Sink {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }
}

#[async_trait]
impl ObjectSink for S3Sink {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), SinkError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(PARQUET)
            .body(ByteStream::from(body))
            .send()
            .await
            .map_err(|e| SinkError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }
}
