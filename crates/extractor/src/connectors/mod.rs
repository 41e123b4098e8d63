//! The platform connectors, chosen by a connection's platform.

pub mod facebook;

use std::collections::HashMap;

use adpipe_domain::Platform;

use crate::ports::Connector;

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
