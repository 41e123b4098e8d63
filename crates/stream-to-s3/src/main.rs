//! The `stream-to-s3` Lambda: read config, build the S3 and SQS clients once, handle each
//! batch.

use lambda_runtime::{Error, LambdaEvent, service_fn};
use stream_to_s3::{Config, StreamEvent, aws_stream_to_s3};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "configuration"))?;
    let sdk = aws_config::load_from_env().await;
    let handler = aws_stream_to_s3(&config, &sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<StreamEvent>| {
        let handler = &handler;
        async move { Ok::<_, Error>(handler.handle(event.payload).await) }
    }))
    .await
}
