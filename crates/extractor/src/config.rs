//! Configuration, read once at init from the environment (docs/architecture.md,
//! "Configuration"; every variable in the README's Configuration table).

pub use adpipe_domain::config::ConfigError;
use adpipe_domain::config::{
    DEFAULT_FACEBOOK_GRAPH_URL, DEFAULT_GOOGLE_ADS_API_URL, DEFAULT_GOOGLE_OAUTH_TOKEN_URL,
    DEFAULT_YOUTUBE_ANALYTICS_URL, Env,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub control_table: String,
    pub staging_table: String,
    pub secret_prefix: String,
    /// Only to name a schedule's rule in the log when its schedule is gone.
    pub rule_prefix: String,
    pub app_credentials_secret: String,
    pub staging_ttl_days: u32,
    pub urls: PlatformUrls,
}

/// Base URLs of the platforms' APIs; overridden only to point at local fakes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformUrls {
    pub facebook_graph: String,
    pub google_ads: String,
    pub google_oauth_token: String,
    pub youtube_analytics: String,
}

impl Config {
    /// Every variable the extractor reads in a deployment; template.yaml sets each.
    pub const VARIABLES: &'static [&'static str] = &[
        "CONTROL_TABLE",
        "STAGING_TABLE",
        "SECRET_PREFIX",
        "RULE_PREFIX",
        "APP_CREDENTIALS_SECRET",
        "STAGING_TTL_DAYS",
    ];

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        let url = |name: &'static str, default: &str| env.platform_url(name, default);
        let staging_ttl_days = match env.get("STAGING_TTL_DAYS") {
            None => 7,
            Some(raw) => raw.parse().ok().filter(|d| (1..=365).contains(d)).ok_or(
                ConfigError::Malformed {
                    name: "STAGING_TTL_DAYS",
                    reason: "a whole number of days from 1 to 365",
                },
            )?,
        };
        Ok(Self {
            control_table: env.required("CONTROL_TABLE")?,
            staging_table: env.required("STAGING_TABLE")?,
            secret_prefix: env.secret_prefix()?,
            rule_prefix: env.rule_prefix()?,
            app_credentials_secret: env.required("APP_CREDENTIALS_SECRET")?,
            staging_ttl_days,
            urls: PlatformUrls {
                facebook_graph: url("FACEBOOK_GRAPH_URL", DEFAULT_FACEBOOK_GRAPH_URL)?,
                google_ads: url("GOOGLE_ADS_API_URL", DEFAULT_GOOGLE_ADS_API_URL)?,
                google_oauth_token: url("GOOGLE_OAUTH_TOKEN_URL", DEFAULT_GOOGLE_OAUTH_TOKEN_URL)?,
                youtube_analytics: url("YOUTUBE_ANALYTICS_URL", DEFAULT_YOUTUBE_ANALYTICS_URL)?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(extra: &'static [(&'static str, &'static str)]) -> impl Fn(&str) -> Option<String> {
        move |k| {
            [
                ("CONTROL_TABLE", "c"),
                ("STAGING_TABLE", "s"),
                ("APP_CREDENTIALS_SECRET", "app"),
            ]
            .iter()
            .chain(extra)
            .find(|(name, _)| *name == k)
            .map(|(_, v)| v.to_string())
        }
    }

    #[test]
    fn defaults_fill_the_optional_variables() {
        let c = Config::from_lookup(base(&[])).unwrap();
        assert_eq!(c.staging_ttl_days, 7);
        assert!(
            c.urls
                .facebook_graph
                .starts_with("https://graph.facebook.com/v")
        );
    }

    #[test]
    fn a_missing_or_malformed_variable_is_named() {
        let err =
            Config::from_lookup(|k| base(&[])(k).filter(|_| k != "STAGING_TABLE")).unwrap_err();
        assert_eq!(err, ConfigError::Missing("STAGING_TABLE"));
        let err = Config::from_lookup(base(&[("STAGING_TTL_DAYS", "0")])).unwrap_err();
        assert!(err.to_string().contains("STAGING_TTL_DAYS"));
        let err = Config::from_lookup(base(&[("GOOGLE_ADS_API_URL", "googleads")])).unwrap_err();
        assert!(err.to_string().contains("GOOGLE_ADS_API_URL"));
        // Tokens and client secrets never go over plain HTTP off this machine.
        let err = Config::from_lookup(base(&[(
            "FACEBOOK_GRAPH_URL",
            "http://graph.facebook.com/v26.0",
        )]))
        .unwrap_err();
        assert!(err.to_string().contains("FACEBOOK_GRAPH_URL"), "{err}");
    }

    #[test]
    fn the_prefixes_are_validated_as_the_schedule_api_validates_them() {
        let c = Config::from_lookup(base(&[])).unwrap();
        assert_eq!(
            (c.secret_prefix.as_str(), c.rule_prefix.as_str()),
            ("adpipe/", "adpipe-")
        );
        let c = Config::from_lookup(base(&[
            ("SECRET_PREFIX", "stack/"),
            ("RULE_PREFIX", "stack."),
        ]))
        .unwrap();
        assert_eq!(
            (c.secret_prefix.as_str(), c.rule_prefix.as_str()),
            ("stack/", "stack.")
        );
        let err = Config::from_lookup(base(&[("RULE_PREFIX", "a very long prefix!")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable RULE_PREFIX is malformed: 1-24 characters of A-Z, a-z, 0-9, '.', '-', '_' (rule names are at most 64 characters)"
        );
        let err = Config::from_lookup(base(&[("SECRET_PREFIX", "adpipe secrets/")])).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable SECRET_PREFIX is malformed: at most 64 characters of A-Z, a-z, 0-9 and /_+=.@-"
        );
    }
}
