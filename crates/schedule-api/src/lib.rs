//! adpipe's control plane: connections and schedules behind API Gateway's HTTP API.
//!
//! `handler` turns one request into one response; `service` holds the operations over the
//! `ports`; the AWS adapters live in `store`, `scheduler`, `secrets` and `invoker`.

pub mod config;
pub mod error;
pub mod handler;
pub mod invoker;
pub mod memory;
pub mod ports;
pub mod request;
pub mod routes;
pub mod scheduler;
pub mod secrets;
pub mod service;
pub mod store;
pub mod views;

pub use config::Config;
pub use handler::handle;
pub use service::Api;

/// Builds the production [`Api`]: the AWS adapters over one shared SDK configuration.
pub fn aws_api(config: Config, sdk: &aws_config::SdkConfig) -> Api {
    Api {
        store: Box::new(store::DynamoControlStore::new(
            aws_sdk_dynamodb::Client::new(sdk),
            config.control_table.clone(),
        )),
        rules: Box::new(scheduler::EventBridgeScheduler::new(
            aws_sdk_eventbridge::Client::new(sdk),
        )),
        secrets: Box::new(secrets::SecretsManagerStore::new(
            aws_sdk_secretsmanager::Client::new(sdk),
        )),
        invoker: Box::new(invoker::LambdaInvoker::new(aws_sdk_lambda::Client::new(
            sdk,
        ))),
        config,
    }
}
