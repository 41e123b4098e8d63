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
}
