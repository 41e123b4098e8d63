//! Configuration, read once at init from the environment (README "Configuration").

pub use adpipe_domain::config::ConfigError;
use adpipe_domain::config::Env;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The control table: connections and schedules read, insights written.
    pub control_table: String,
    /// The data lake bucket: `ad_metrics` read, `insights_alerts` written.
    pub data_bucket: String,
}

impl Config {
    /// Every variable the function reads in a deployment; template.yaml sets each.
    pub const VARIABLES: &'static [&'static str] = &["CONTROL_TABLE", "DATA_BUCKET"];

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        Ok(Self {
            control_table: env.required("CONTROL_TABLE")?,
            data_bucket: env.required("DATA_BUCKET")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_variable_is_named() {
        let lookup = |name: &str| Some(format!("{name}-value"));
        assert_eq!(
            Config::from_lookup(lookup).unwrap(),
            Config {
                control_table: "CONTROL_TABLE-value".into(),
                data_bucket: "DATA_BUCKET-value".into(),
            }
        );
        for missing in Config::VARIABLES {
            let err =
                Config::from_lookup(|k| (k != *missing).then(|| lookup(k)).flatten()).unwrap_err();
            assert_eq!(err, ConfigError::Missing(missing));
        }
    }
}
