//! The `insights` Lambda: read config, build the S3 and DynamoDB clients once, handle each
//! queue batch or direct invoke.

use insights::{Config, aws_insights};
use lambda_runtime::{Error, LambdaEvent, service_fn};
use serde_json::Value;

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "configuration"))?;
    let sdk = aws_config::load_from_env().await;
    let insights = aws_insights(&config, &sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<Value>| {
        let insights = &insights;
        async move { insights.invoke(event.payload).await.map_err(Error::from) }
    }))
    .await
}
