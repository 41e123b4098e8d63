//! What every function's init shares: reading its environment once, and one error that
//! names the variable at fault.

use thiserror::Error;

/// The platforms' API bases when their variables are unset: the current versions.
pub const DEFAULT_FACEBOOK_GRAPH_URL: &str = "https://graph.facebook.com/v26.0";
/// Google Ads API v26 (October 2026; v22 was sunset on 2026-10-07).
pub const DEFAULT_GOOGLE_ADS_API_URL: &str = "https://googleads.googleapis.com/v26";
pub const DEFAULT_GOOGLE_OAUTH_TOKEN_URL: &str = "https://oauth2.googleapis.com/token";
pub const DEFAULT_YOUTUBE_ANALYTICS_URL: &str = "https://youtubeanalytics.googleapis.com/v2";

/// `RULE_PREFIX` when unset: the start of every schedule rule's name.
pub const DEFAULT_RULE_PREFIX: &str = "adpipe-";
/// `SECRET_PREFIX` when unset: the start of every connection secret's name.
pub const DEFAULT_SECRET_PREFIX: &str = "adpipe/";

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

    /// `RULE_PREFIX` ([`DEFAULT_RULE_PREFIX`] when unset): at most 24 of the characters
    /// EventBridge takes in a rule name, so that the prefix and a schedule id stay within
    /// its 64 (`keys::rule_name`).
    pub fn rule_prefix(&self) -> Result<String, ConfigError> {
        self.prefix(
            "RULE_PREFIX",
            DEFAULT_RULE_PREFIX,
            24,
            |c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'),
            "1-24 characters of A-Z, a-z, 0-9, '.', '-', '_' (rule names are at most 64 characters)",
        )
    }

    /// `SECRET_PREFIX` ([`DEFAULT_SECRET_PREFIX`] when unset): at most 64 of the characters
    /// Secrets Manager takes in a secret name (`keys::secret_name`).
    pub fn secret_prefix(&self) -> Result<String, ConfigError> {
        self.prefix(
            "SECRET_PREFIX",
            DEFAULT_SECRET_PREFIX,
            64,
            |c| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c),
            "at most 64 characters of A-Z, a-z, 0-9 and /_+=.@-",
        )
    }

    /// A name prefix of at most `max_len` bytes, each character `allowed`.
    fn prefix(
        &self,
        name: &'static str,
        default: &str,
        max_len: usize,
        allowed: fn(char) -> bool,
        reason: &'static str,
    ) -> Result<String, ConfigError> {
        let prefix = self.or(name, default);
        if prefix.len() > max_len || !prefix.chars().all(allowed) {
            return Err(ConfigError::Malformed { name, reason });
        }
        Ok(prefix)
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
    fn prefixes_default_and_are_refused_naming_their_variable() {
        let unset = Env(|_: &str| None);
        assert_eq!(unset.rule_prefix().unwrap(), DEFAULT_RULE_PREFIX);
        assert_eq!(unset.secret_prefix().unwrap(), DEFAULT_SECRET_PREFIX);
        let read = |name: &'static str, value: &str| {
            let value = value.to_owned();
            let env = Env(move |k: &str| (k == name).then(|| value.clone()));
            match name {
                "RULE_PREFIX" => env.rule_prefix(),
                _ => env.secret_prefix(),
            }
        };
        assert_eq!(
            read("RULE_PREFIX", "stack.prod_1-").unwrap(),
            "stack.prod_1-"
        );
        assert_eq!(
            read("SECRET_PREFIX", "a/b_c+d=e.f@g-").unwrap(),
            "a/b_c+d=e.f@g-"
        );
        let (long_rule, long_secret) = ("r".repeat(25), "s".repeat(65));
        for (variable, bad) in [
            ("RULE_PREFIX", "has space"),
            ("RULE_PREFIX", "slash/"),
            ("RULE_PREFIX", &long_rule),
            ("SECRET_PREFIX", "has space"),
            ("SECRET_PREFIX", "star*"),
            ("SECRET_PREFIX", &long_secret),
        ] {
            match read(variable, bad) {
                Err(ConfigError::Malformed { name, .. }) if name == variable => {}
                other => panic!("{variable}={bad}: {other:?}"),
            }
        }
    }

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
