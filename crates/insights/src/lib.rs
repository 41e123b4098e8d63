//! adpipe's insights (docs/insights.md): per connection, from the current lake table, the
//! anomaly alerts of every recent day and the month-end spend projections pacing is judged
//! from.
//!
//! `series` is what the models read; `alerts` and `pacing` are the models, pure and
//! deterministic (no AWS client); `synth` makes the seeded synthetic data their accuracy
//! benchmarks run on. `aggregate` turns lake rows into series, `stale` says when a
//! connection's data is late, `refresh` computes and stores one connection, `handler`
//! answers the queue and direct invokes; `lake` and `store` are the S3 and DynamoDB sides.

pub mod aggregate;
pub mod alerts;
pub mod config;
pub mod handler;
pub mod lake;
pub mod pacing;
pub mod ports;
pub mod refresh;
pub mod series;
pub mod stale;
pub mod store;
pub mod summary;
pub mod synth;

pub use config::Config;
pub use refresh::{HISTORY_DAYS, Insights, RefreshError};
pub use summary::Summary;

/// Builds the production function over one shared SDK configuration.
pub fn aws_insights(config: &Config, sdk: &aws_config::SdkConfig) -> Insights {
    Insights::new(
        Box::new(store::dynamodb::DynamoStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.control_table.clone(),
        )),
        Box::new(lake::s3::S3Lake(stream_to_s3::sink::s3::S3Sink::new(
            stream_to_s3::s3_client(sdk),
            config.data_bucket.clone(),
        ))),
    )
}
