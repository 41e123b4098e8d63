//! adpipe's control plane: connections and schedules behind API Gateway's HTTP API.
//!
//! `handler` turns one request into one response; `service` holds the operations over the
//! `ports`, `insights` the budgets, pacing and alerts, and `signin` the OAuth sign-in; the AWS adapters live in `store`, `scheduler`,
//! `secrets` and `invoker`, the platforms' token endpoints in `oauth`.

pub mod config;
pub mod error;
pub mod handler;
pub mod insights;
pub mod invoker;
#[cfg(feature = "local")]
pub mod memory;
pub mod oauth;
pub mod ports;
pub mod request;
pub mod routes;
pub mod scheduler;
pub mod secrets;
pub mod service;
pub mod signin;
pub mod store;
pub mod views;

pub use config::{Config, Limits, OAuthConfig};
pub use handler::handle;
pub use service::Api;

/// [`aws_api_with`] the platforms' own OAuth endpoints and https-only redirect URIs.
pub fn aws_api(config: Config, sdk: &aws_config::SdkConfig) -> Api {
    aws_api_with(config, OAuthConfig::default(), sdk)
}

/// Builds the production [`Api`]: the AWS adapters over one shared SDK configuration, and
/// the platforms' token endpoints of `oauth_config`.
pub fn aws_api_with(config: Config, oauth_config: OAuthConfig, sdk: &aws_config::SdkConfig) -> Api {
    Api {
        oauth: Box::new(oauth::HttpOAuth::new(&oauth_config)),
        oauth_config,
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
