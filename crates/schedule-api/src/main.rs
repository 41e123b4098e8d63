//! The `schedule-api` Lambda: read config, build clients once, serve requests.

use lambda_http::{Error, Request, service_fn};
use schedule_api::{Config, OAuthConfig, aws_api_with, handle};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_http::tracing::init_default_subscriber();
    let config =
        Config::from_env().inspect_err(|e| tracing::error!(error = %e, "configuration"))?;
    let oauth_config =
        OAuthConfig::from_env().inspect_err(|e| tracing::error!(error = %e, "configuration"))?;
    let sdk = aws_config::load_from_env().await;
    let api = aws_api_with(config, oauth_config, &sdk);
    lambda_http::run(service_fn(|req: Request| {
        let api = &api;
        async move { Ok::<_, Error>(handle(api, req).await) }
    }))
    .await
}
