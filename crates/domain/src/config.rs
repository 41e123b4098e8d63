//! What every function's init shares: reading its environment once, and one error that
//! names the variable at fault.

use thiserror::Error;

/// The platforms' API bases when their variables are unset: the current versions.
pub const DEFAULT_FACEBOOK_GRAPH_URL: &str = "https://graph.facebook.com/v26.0";
/// Google Ads API v26 (October 2026; v22 was sunset on 2026-10-07).
pub const DEFAULT_GOOGLE_ADS_API_URL: &str = "https://googleads.googleapis.com/v26";
pub const DEFAULT_GOOGLE_OAUTH_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const DEFAULT_YOUTUBE_ANALYTICS_URL: &str = "https://youtubeanalytics.googleapis.com/v2";

#[derive(Debug, Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("environment variable {0} is required")]
    Missing(&'static str),
    #[error("environment variable {name} is malformed: {reason}")]
    Malformed {
        name: &'static str,
        reason: &'static str,
    },
}

/// A lookup of environment variables (the process's, or a test's map); an empty value
/// counts as unset.
pub struct Env<F>(pub F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    pub fn get(&self, name: &str) -> Option<String> {
        (self.0)(name).filter(|v| !v.is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, ConfigError> {
        self.get(name).ok_or(ConfigError::Missing(name))
    }

    pub fn or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }
}
