//! adpipe's stream-to-s3: the staging table's DynamoDB stream into the data lake
//! (docs/architecture.md, "The data lake"): one history object per (tenant, platform, day)
//! partition per batch, and the batch merged into the current table's one object per
//! (tenant, platform, day, connection).
//!
//! `event` and `image` read Lambda's event straight into rows, `records` tells rows from
//! everything else, `encode` makes the Parquet file, `current` reads and merges the
//! current table's objects, `handler` groups, writes, sets poison records aside and
//! answers Lambda's `batchItemFailures`; `sink` holds the S3 adapter, `queue` the SQS one
//! for the failure queue. `migrate` is the one-off upgrade of a lake written before the
//! current table (the `adpipe-migrate-lake` binary, which no function packages).

pub mod config;
pub mod current;
pub mod encode;
pub mod event;
pub mod handler;
pub mod image;
pub mod migrate;
pub mod poison;
pub mod ports;
pub mod queue;
pub mod records;
pub mod sink;

pub use config::Config;
pub use current::{CURRENT_PREFIX, MERGE_ATTEMPTS, MergeError, Merged, current_key, merge_into};
pub use event::StreamEvent;
pub use handler::{HISTORY_PREFIX, Partition, StreamToS3, object_key};
pub use poison::PoisonRecord;
pub use ports::{
    FailureQueue, ObjectSink, Precondition, QueueError, RefreshQueue, SinkError, Versioned,
};

/// The S3 client of `sdk`. An endpoint override means a local S3 (moto), which knows no
/// virtual-hosted buckets: path-style requests then.
pub fn s3_client(sdk: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::config::Builder::from(sdk)
        .force_path_style(sdk.endpoint_url().is_some())
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

/// Builds the production handler over one shared SDK configuration.
pub fn aws_stream_to_s3(config: &Config, sdk: &aws_config::SdkConfig) -> StreamToS3 {
    StreamToS3::new(
        Box::new(sink::s3::S3Sink::new(
            s3_client(sdk),
            config.data_bucket.clone(),
        )),
        Box::new(queue::sqs::SqsQueue::failures(
            aws_sdk_sqs::Client::new(sdk),
            config.failure_queue_url.clone(),
        )),
    )
    .with_refreshes(Box::new(queue::sqs::SqsQueue::refreshes(
        aws_sdk_sqs::Client::new(sdk),
        config.insights_queue_url.clone(),
    )))
}
