//! The `extractor` Lambda: read config, build clients once, run each event.

use adpipe_domain::ExtractorEvent;
use chrono::{DateTime, Utc};
use extractor::{Config, Outcome, aws_extractor};
use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "configuration"))?;
    let sdk = aws_config::load_from_env().await;
    let extractor = aws_extractor(config, &sdk);
    lambda_runtime::run(service_fn(|event: LambdaEvent<ExtractorEvent>| {
        let extractor = &extractor;
        async move {
            let deadline = DateTime::<Utc>::from_timestamp_millis(event.context.deadline as i64)
                .unwrap_or_else(Utc::now);
            let outcome: Outcome = extractor.handle(&event.payload, deadline).await?;
            Ok::<_, Error>(outcome)
        }
    }))
    .await
}
