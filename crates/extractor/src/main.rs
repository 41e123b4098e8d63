//! The `extractor` Lambda: read config, build clients once, run each event.

use adpipe_domain::ExtractorEvent;
use chrono::{DateTime, Utc};
use extractor::{Config, Invocation, Outcome, aws_extractor};
use lambda_runtime::{Error, LambdaEvent, service_fn};

/// A row is ~50 small allocations on its way to DynamoDB (an item is a map of 28 owned
/// names and values); mimalloc makes the staging path ~15 % faster than glibc's allocator
/// (README "Measured figures", `benches/facebook.rs`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
            // The request id is the same on Lambda's asynchronous retry of this event: it is
            // how a retry of a crashed invocation takes its run over.
            let invocation = Invocation {
                request_id: event.context.request_id.clone(),
                deadline,
            };
            let outcome: Outcome = extractor.handle(&event.payload, &invocation).await?;
            Ok::<_, Error>(outcome)
        }
    }))
    .await
}
