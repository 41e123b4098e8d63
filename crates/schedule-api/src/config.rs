//! Configuration, read once at init from the environment (CONTRACT §2).

pub use adpipe_domain::config::ConfigError;
use adpipe_domain::config::Env;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub control_table: String,
    pub extractor_function_arn: String,
    pub rule_prefix: String,
    pub secret_prefix: String,
    pub tenant_claim: String,
    pub app_credentials_secret: Option<String>,
}

impl Config {
    /// Every variable the schedule API reads in a deployment; template.yaml sets each.
    pub const VARIABLES: &'static [&'static str] = &[
        "CONTROL_TABLE",
        "EXTRACTOR_FUNCTION_ARN",
        "RULE_PREFIX",
        "SECRET_PREFIX",
        "TENANT_CLAIM",
        "APP_CREDENTIALS_SECRET",
    ];

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        let extractor_function_arn = env.required("EXTRACTOR_FUNCTION_ARN")?;
        if !extractor_function_arn.starts_with("arn:")
            || !extractor_function_arn.contains(":function:")
        {
            return Err(ConfigError::Malformed {
                name: "EXTRACTOR_FUNCTION_ARN",
                reason: "not a Lambda function ARN",
            });
        }
        let rule_prefix = env.or("RULE_PREFIX", "adpipe-");
        let rule_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
        if rule_prefix.len() > 24 || !rule_prefix.chars().all(rule_char) {
            return Err(ConfigError::Malformed {
                name: "RULE_PREFIX",
                reason: "1-24 characters of A-Z, a-z, 0-9, '.', '-', '_' (rule names are at most 64 characters)",
            });
        }
        let secret_prefix = env.or("SECRET_PREFIX", "adpipe/");
        let secret_char = |c: char| c.is_ascii_alphanumeric() || "/_+=.@-".contains(c);
        if secret_prefix.len() > 64 || !secret_prefix.chars().all(secret_char) {
            return Err(ConfigError::Malformed {
                name: "SECRET_PREFIX",
                reason: "at most 64 characters of A-Z, a-z, 0-9 and /_+=.@-",
            });
        }
        Ok(Self {
            control_table: env.required("CONTROL_TABLE")?,
            extractor_function_arn,
            rule_prefix,
            secret_prefix,
            tenant_claim: env.or("TENANT_CLAIM", "tenant_id"),
            app_credentials_secret: env.get("APP_CREDENTIALS_SECRET"),
        })
    }
}

/// The current Graph API and Google's token endpoint: the extractor's defaults too.
pub use adpipe_domain::config::{DEFAULT_FACEBOOK_GRAPH_URL, DEFAULT_GOOGLE_OAUTH_TOKEN_URL};

/// The OAuth sign-in's settings (CONTRACT §2, §3), read at init beside [`Config`].
///
/// Kept apart from [`Config`] so the local-mode flag can never come from the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OAuthConfig {
    /// `FACEBOOK_GRAPH_URL`, version included; the Login dialog takes the same version.
    pub facebook_graph_url: String,
    /// `GOOGLE_OAUTH_TOKEN_URL`.
    pub google_oauth_token_url: String,
    /// Whether `http://localhost`, `http://127.0.0.1` and `http://[::1]` redirect URIs are
    /// accepted besides `https://` ones. Only `adpipe-local-api` sets it.
    pub loopback_redirects: bool,
}

impl Default for OAuthConfig {
    fn default() -> Self {
        Self {
            facebook_graph_url: DEFAULT_FACEBOOK_GRAPH_URL.to_owned(),
            google_oauth_token_url: DEFAULT_GOOGLE_OAUTH_TOKEN_URL.to_owned(),
            loopback_redirects: false,
        }
    }
}

impl OAuthConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        let url = |name: &'static str, default: &str| {
            let url = env.or(name, default);
            if url.starts_with("https://") || url.starts_with("http://") {
                Ok(url.trim_end_matches('/').to_owned())
            } else {
                Err(ConfigError::Malformed {
                    name,
                    reason: "not an http(s) URL",
                })
            }
        };
        Ok(Self {
            facebook_graph_url: url("FACEBOOK_GRAPH_URL", DEFAULT_FACEBOOK_GRAPH_URL)?,
            google_oauth_token_url: url("GOOGLE_OAUTH_TOKEN_URL", DEFAULT_GOOGLE_OAUTH_TOKEN_URL)?,
            loopback_redirects: false,
        })
    }

    /// The version segment of `facebook_graph_url` (`v26.0`), if it ends with one.
    pub fn facebook_version(&self) -> Option<&str> {
        let last = self.facebook_graph_url.rsplit('/').next()?;
        let digits = last.strip_prefix('v')?;
        let versioned = !digits.is_empty()
            && digits
                .split('.')
                .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit()));
        versioned.then_some(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    const ARN: &str = "arn:aws:lambda:us-east-1:123456789012:function:extractor";

    #[test]
    fn defaults_fill_the_optional_variables() {
        let c = Config::from_lookup(env(&[
            ("CONTROL_TABLE", "c"),
            ("EXTRACTOR_FUNCTION_ARN", ARN),
        ]))
        .unwrap();
        assert_eq!(
            (
                c.rule_prefix.as_str(),
                c.secret_prefix.as_str(),
                c.tenant_claim.as_str()
            ),
            ("adpipe-", "adpipe/", "tenant_id")
        );
    }

    #[test]
    fn a_missing_or_malformed_variable_is_named() {
        let err = Config::from_lookup(env(&[("EXTRACTOR_FUNCTION_ARN", ARN)])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable CONTROL_TABLE is required"
        );
        let err = Config::from_lookup(env(&[
            ("CONTROL_TABLE", "c"),
            ("EXTRACTOR_FUNCTION_ARN", "extractor"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("EXTRACTOR_FUNCTION_ARN"));
        let err = Config::from_lookup(env(&[
            ("CONTROL_TABLE", "c"),
            ("EXTRACTOR_FUNCTION_ARN", ARN),
            ("RULE_PREFIX", "a very long prefix!"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("RULE_PREFIX"));
    }

    #[test]
    fn oauth_endpoints_default_to_the_platforms_and_never_allow_loopback_from_the_environment() {
        let c = OAuthConfig::from_lookup(env(&[])).unwrap();
        assert_eq!(c, OAuthConfig::default());
        assert_eq!(c.facebook_version(), Some("v26.0"));
        let c = OAuthConfig::from_lookup(env(&[
            ("FACEBOOK_GRAPH_URL", "http://127.0.0.1:9/v25.0/"),
            ("GOOGLE_OAUTH_TOKEN_URL", "http://127.0.0.1:9/token"),
            ("LOOPBACK_REDIRECTS", "true"),
        ]))
        .unwrap();
        assert_eq!(c.facebook_graph_url, "http://127.0.0.1:9/v25.0");
        assert_eq!(c.facebook_version(), Some("v25.0"));
        assert!(!c.loopback_redirects);
        let err =
            OAuthConfig::from_lookup(env(&[("GOOGLE_OAUTH_TOKEN_URL", "oauth2")])).unwrap_err();
        assert!(err.to_string().contains("GOOGLE_OAUTH_TOKEN_URL"));
    }

    #[test]
    fn a_graph_url_without_a_version_has_none() {
        for url in [
            "https://graph.facebook.com",
            "https://graph.facebook.com/v",
            "https://x/v26.0a",
        ] {
            let c = OAuthConfig {
                facebook_graph_url: url.into(),
                ..OAuthConfig::default()
            };
            assert_eq!(c.facebook_version(), None, "{url}");
        }
    }
}
