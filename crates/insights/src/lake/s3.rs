//! [`Lake`] on S3, through the stream function's S3 adapter (`stream_to_s3::sink::s3`),
//! which already reads and writes the lake's objects; deletes are the insights table's own.

use async_trait::async_trait;
use aws_sdk_s3::error::DisplayErrorContext;
use bytes::Bytes;
use stream_to_s3::ObjectSink;
use stream_to_s3::sink::s3::S3Sink;

use crate::ports::{Lake, Unavailable};

pub struct S3Lake(pub S3Sink);

#[async_trait]
impl Lake for S3Lake {
    async fn get(&self, key: &str) -> Result<Option<Bytes>, Unavailable> {
        let object = self.0.get(key).await.map_err(Unavailable::s3)?;
        Ok(object.map(|o| o.body))
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), Unavailable> {
        self.0
            .put(key, Bytes::from(body))
            .await
            .map_err(Unavailable::s3)
    }

    async fn delete(&self, key: &str) -> Result<(), Unavailable> {
        self.0
            .client()
            .delete_object()
            .bucket(self.0.bucket())
            .key(key)
            .send()
            .await
            .map_err(|e| Unavailable::s3(DisplayErrorContext(e)))?;
        Ok(())
    }
}
