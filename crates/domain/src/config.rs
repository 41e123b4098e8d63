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

    /// A platform API's base URL (`default` when unset), without a trailing `/`: `https://`,
    /// or `http://` to this machine only (the local fakes of tests and the demo), since the
    /// calls carry tokens and client secrets.
    pub fn platform_url(&self, name: &'static str, default: &str) -> Result<String, ConfigError> {
        let url = self.or(name, default);
        if url.starts_with("https://") || is_loopback_http(&url) {
            Ok(url.trim_end_matches('/').to_owned())
        } else {
            Err(ConfigError::Malformed {
                name,
                reason: "not an https:// URL (http:// only to 127.0.0.1, localhost or [::1])",
            })
        }
    }
}

/// Whether `url` is `http://` to 127.0.0.1, localhost or [::1] (any port and path).
fn is_loopback_http(url: &str) -> bool {
    ["http://127.0.0.1", "http://localhost", "http://[::1]"]
        .iter()
        .any(|base| {
            url.strip_prefix(base)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with([':', '/']))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platform_urls_are_https_or_loopback_http() {
        let env = |value: &'static str| Env(move |_: &str| Some(value.to_owned()));
        for ok in [
            "https://graph.facebook.com/v26.0/",
            "http://127.0.0.1:8080/v26.0",
            "http://localhost",
            "http://[::1]:9/x",
        ] {
            assert!(env(ok).platform_url("U", "").is_ok(), "{ok}");
        }
        for refused in [
            "http://graph.facebook.com/v26.0",
            "http://127.0.0.1.evil.example/",
            "http://localhost.evil.example",
            "ftp://127.0.0.1/",
            "graph.facebook.com",
        ] {
            let err = env(refused).platform_url("U", "").unwrap_err();
            assert!(err.to_string().contains('U'), "{refused}: {err}");
        }
    }
}
