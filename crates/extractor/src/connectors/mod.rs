//! The platform connectors, chosen by a connection's platform.

pub mod facebook;
pub mod google_ads;
pub mod google_oauth;
pub mod json;
pub mod retry;
pub mod youtube;

use std::collections::HashMap;

use adpipe_domain::Platform;

use crate::ports::Connector;

/// One HTTP exchange's limit, shortened to what is left before the deadline.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);
pub const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP client every connector shares: rustls, connect and request timeouts, adpipe's
/// user agent.
pub fn http_client() -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .timeout(REQUEST_TIMEOUT)
        .user_agent(concat!("adpipe-extractor/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The connectors this build has. A platform without one fails its runs with
/// `connector not implemented: <platform>` rather than panicking.
#[derive(Default)]
pub struct Connectors {
    by_platform: HashMap<Platform, Box<dyn Connector>>,
}

impl Connectors {
    pub fn with(mut self, platform: Platform, connector: Box<dyn Connector>) -> Self {
        self.by_platform.insert(platform, connector);
        self
    }

    pub fn get(&self, platform: Platform) -> Option<&dyn Connector> {
        self.by_platform.get(&platform).map(|c| c.as_ref())
    }
}
