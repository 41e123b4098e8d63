//! [`ObjectSink`] on S3: one PutObject per object. PutObject replaces a key whole, so a
//! retried batch overwrites the objects it wrote before. The current table's objects are
//! read with GetObject and written back with a conditional PutObject (`If-Match` with the
//! ETag read, `If-None-Match: *` for a new one); S3 answers 412 when the condition fails
//! and 409 when a concurrent conditional write to the key is under way.

use async_trait::async_trait;
use aws_sdk_s3::Client;
use aws_sdk_s3::error::{DisplayErrorContext, SdkError};
use aws_sdk_s3::operation::put_object::builders::PutObjectFluentBuilder;
use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;

use crate::ports::{ObjectSink, Precondition, SinkError, Versioned};

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

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// A PutObject of `body` as a Parquet object under `key`.
    fn put_object(&self, key: &str, body: Bytes) -> PutObjectFluentBuilder {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(PARQUET)
            .body(ByteStream::from(body))
    }
}

fn status<E>(error: &SdkError<E, aws_sdk_s3::config::http::HttpResponse>) -> Option<u16> {
    error.raw_response().map(|r| r.status().as_u16())
}

#[async_trait]
impl ObjectSink for S3Sink {
    async fn put(&self, key: &str, body: Bytes) -> Result<(), SinkError> {
        self.put_object(key, body)
            .send()
            .await
            .map_err(|e| SinkError::Unavailable(DisplayErrorContext(e).to_string()))?;
        Ok(())
    }

    async fn get(&self, key: &str) -> Result<Option<Versioned>, SinkError> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return Ok(None);
            }
            Err(e) => return Err(SinkError::Unavailable(DisplayErrorContext(e).to_string())),
        };
        let etag = out
            .e_tag()
            .map(str::to_owned)
            .ok_or_else(|| SinkError::Unavailable(format!("GetObject {key}: no ETag")))?;
        let body = out
            .body
            .collect()
            .await
            .map_err(|e| SinkError::Unavailable(format!("GetObject {key}: body: {e}")))?
            .into_bytes();
        Ok(Some(Versioned { body, etag }))
    }

    async fn put_if(
        &self,
        key: &str,
        body: Bytes,
        condition: Precondition,
    ) -> Result<(), SinkError> {
        let request = self.put_object(key, body);
        let request = match condition {
            Precondition::Match(etag) => request.if_match(etag),
            Precondition::NoneMatch => request.if_none_match("*"),
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) if matches!(status(&e), Some(409 | 412)) => Err(SinkError::PreconditionFailed(
                DisplayErrorContext(e).to_string(),
            )),
            Err(e) => Err(SinkError::Unavailable(DisplayErrorContext(e).to_string())),
        }
    }
}
