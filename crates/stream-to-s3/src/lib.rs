//! adpipe's stream-to-s3: the staging table's DynamoDB stream into the data lake, one
//! Parquet object per (tenant, platform, day) partition per batch (CONTRACT §5).
//!
//! `records` tells rows from everything else, `encode` makes the Parquet file, `handler`
//! groups, writes and answers Lambda's `batchItemFailures`; `sink` holds the S3 adapter.

pub mod config;
pub mod encode;
pub mod handler;
pub mod ports;
pub mod records;
pub mod sink;

pub use config::Config;
pub use handler::{PREFIX, Partition, StreamToS3, object_key};
pub use ports::{ObjectSink, SinkError};

/// Builds the production handler over one shared SDK configuration.
pub fn aws_stream_to_s3(config: &Config, sdk: &aws_config::SdkConfig) -> StreamToS3 {
    // An endpoint override means a local S3 (moto), which knows no virtual-hosted buckets.
    let s3 = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    StreamToS3::new(Box::new(sink::s3::S3Sink::new(
        aws_sdk_s3::Client::from_conf(s3),
        config.data_bucket.clone(),
    )))
}
