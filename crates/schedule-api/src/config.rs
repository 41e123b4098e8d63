//! Configuration, read once at init from the environment (docs/architecture.md,
//! "Configuration"; every variable in the README's Configuration table).

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
    /// What one tenant may hold and do (README "Quotas and limits").
    pub limits: Limits,
    /// `OAUTH_REDIRECT_URIS`: the only redirect URIs the OAuth sign-in accepts, compared
    /// byte for byte. Empty: every sign-in is refused until the operator lists its URIs.
    pub redirect_uris: Vec<String>,
}

/// Per-tenant quotas and rates, one template parameter each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `MAX_CONNECTIONS_PER_TENANT`: each is a paid secret.
    pub connections_per_tenant: u32,
    /// `MAX_SCHEDULES_PER_TENANT`: each is a rule on the account's default bus, whose
    /// quota (300 by default) every tenant shares.
    pub schedules_per_tenant: u32,
    /// `MAX_SCHEDULES_PER_CONNECTION`.
    pub schedules_per_connection: u32,
    /// `RUN_NOW_PER_MINUTE`: run-now requests a tenant may make in one clock minute.
    pub run_now_per_minute: u32,
    /// `MAX_READ_DAYS_PER_DAY`: days of data one schedule may re-read per day (days read by
    /// each run, lookback + today, times firings per day).
    pub read_days_per_day: u32,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            connections_per_tenant: 50,
            schedules_per_tenant: 200,
            schedules_per_connection: 20,
            run_now_per_minute: 10,
            read_days_per_day: 1000,
        }
    }
}

impl Limits {
    fn from_env<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self, ConfigError> {
        let defaults = Self::default();
        let number = |name: &'static str, default: u32| match env.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=1_000_000).contains(n))
                .ok_or(ConfigError::Malformed {
                    name,
                    reason: "a whole number from 1 to 1000000",
                }),
        };
        Ok(Self {
            connections_per_tenant: number(
                "MAX_CONNECTIONS_PER_TENANT",
                defaults.connections_per_tenant,
            )?,
            schedules_per_tenant: number(
                "MAX_SCHEDULES_PER_TENANT",
                defaults.schedules_per_tenant,
            )?,
            schedules_per_connection: number(
                "MAX_SCHEDULES_PER_CONNECTION",
                defaults.schedules_per_connection,
            )?,
            run_now_per_minute: number("RUN_NOW_PER_MINUTE", defaults.run_now_per_minute)?,
            read_days_per_day: number("MAX_READ_DAYS_PER_DAY", defaults.read_days_per_day)?,
        })
    }
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
        "MAX_CONNECTIONS_PER_TENANT",
        "MAX_SCHEDULES_PER_TENANT",
        "MAX_SCHEDULES_PER_CONNECTION",
        "RUN_NOW_PER_MINUTE",
        "MAX_READ_DAYS_PER_DAY",
        "OAUTH_REDIRECT_URIS",
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
        let rule_prefix = env.rule_prefix()?;
        let secret_prefix = env.secret_prefix()?;
        Ok(Self {
            control_table: env.required("CONTROL_TABLE")?,
            extractor_function_arn,
            rule_prefix,
            secret_prefix,
            tenant_claim: env.or("TENANT_CLAIM", "tenant_id"),
            app_credentials_secret: env.get("APP_CREDENTIALS_SECRET"),
            limits: Limits::from_env(&env)?,
            redirect_uris: env
                .get("OAUTH_REDIRECT_URIS")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|uri| !uri.is_empty())
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// The current Graph API and Google's token endpoint: the extractor's defaults too.
pub use adpipe_domain::config::{DEFAULT_FACEBOOK_GRAPH_URL, DEFAULT_GOOGLE_OAUTH_TOKEN_URL};

/// The OAuth sign-in's settings (the README's Configuration table and OAuth section), read
/// at init beside [`Config`].
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
        let url = |name: &'static str, default: &str| env.platform_url(name, default);
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
        let err = Config::from_lookup(env(&[
            ("CONTROL_TABLE", "c"),
            ("EXTRACTOR_FUNCTION_ARN", ARN),
            ("RUN_NOW_PER_MINUTE", "0"),
        ]))
        .unwrap_err();
        assert!(err.to_string().contains("RUN_NOW_PER_MINUTE"), "{err}");
    }

    #[test]
    fn limits_and_redirect_uris_come_from_the_environment() {
        let c = Config::from_lookup(env(&[
            ("CONTROL_TABLE", "c"),
            ("EXTRACTOR_FUNCTION_ARN", ARN),
        ]))
        .unwrap();
        assert_eq!((c.limits, c.redirect_uris.len()), (Limits::default(), 0));
        let c = Config::from_lookup(env(&[
            ("CONTROL_TABLE", "c"),
            ("EXTRACTOR_FUNCTION_ARN", ARN),
            ("MAX_CONNECTIONS_PER_TENANT", "3"),
            ("MAX_SCHEDULES_PER_TENANT", "4"),
            ("MAX_SCHEDULES_PER_CONNECTION", "2"),
            ("RUN_NOW_PER_MINUTE", "5"),
            ("MAX_READ_DAYS_PER_DAY", "100"),
            (
                "OAUTH_REDIRECT_URIS",
                "https://app.example.com/cb, https://admin.example.com/oauth,",
            ),
        ]))
        .unwrap();
        assert_eq!(
            c.limits,
            Limits {
                connections_per_tenant: 3,
                schedules_per_tenant: 4,
                schedules_per_connection: 2,
                run_now_per_minute: 5,
                read_days_per_day: 100,
            }
        );
        assert_eq!(
            c.redirect_uris,
            [
                "https://app.example.com/cb",
                "https://admin.example.com/oauth"
            ]
        );
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
        for bad in [
            "oauth2",
            "http://oauth2.example.com/token",
            "http://127.0.0.1.example.com/token",
            "http://localhostx/token",
        ] {
            let err =
                OAuthConfig::from_lookup(env(&[("GOOGLE_OAUTH_TOKEN_URL", bad)])).unwrap_err();
            assert!(err.to_string().contains("GOOGLE_OAUTH_TOKEN_URL"), "{bad}");
        }
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
