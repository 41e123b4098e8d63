//! adpipe's extractor: fired by schedule rules and run-now, it pulls a connection's ad
//! data for the schedule's window and stages it in DynamoDB.
//!
//! `run` is the framework (window, run record, cursor, deadline); `connectors` holds the
//! platforms; `store` and `staging` are the DynamoDB adapters.

pub mod config;
pub mod connectors;
pub mod ports;
pub mod run;
pub mod secrets;
pub mod staging;
pub mod store;

use std::sync::Arc;

pub use config::Config;
pub use run::{Extractor, Invocation, Outcome};

/// Builds the production [`Extractor`] over one shared SDK configuration.
pub fn aws_extractor(config: Config, sdk: &aws_config::SdkConfig) -> Extractor {
    let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
    // Fails only if the TLS backend cannot initialise: nothing would work without it.
    let http = connectors::http_client().expect("the HTTP client (rustls) initialises");
    let facebook = connectors::facebook::FacebookConnector::new(
        http.clone(),
        config.urls.facebook_graph.clone(),
        Arc::new(store::DynamoReportRuns::new(
            dynamodb.clone(),
            config.control_table.clone(),
        )),
    );
    let google_oauth = Arc::new(connectors::google_oauth::GoogleOAuth::new(
        http.clone(),
        config.urls.google_oauth_token.clone(),
    ));
    let google_ads = connectors::google_ads::GoogleAdsConnector::new(
        http.clone(),
        config.urls.google_ads.clone(),
        google_oauth.clone(),
    );
    let youtube = connectors::youtube::YouTubeConnector::new(
        http.clone(),
        config.urls.youtube_analytics.clone(),
        google_oauth.clone(),
    );
    Extractor {
        store: Box::new(store::DynamoRunStore::new(
            dynamodb.clone(),
            config.control_table.clone(),
        )),
        secrets: Box::new(secrets::SecretsManagerSource::new(
            aws_sdk_secretsmanager::Client::new(sdk),
            config.app_credentials_secret.clone(),
        )),
        staging: Box::new(staging::DynamoStaging::new(
            dynamodb,
            config.staging_table.clone(),
            config.staging_ttl_days,
        )),
        connectors: connectors::Connectors {
            facebook: Box::new(facebook),
            google_ads: Box::new(google_ads),
            youtube: Box::new(youtube),
        },
        config,
    }
}
