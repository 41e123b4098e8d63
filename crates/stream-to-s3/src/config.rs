//! Configuration, read once at init from the environment (CONTRACT §2).

pub use adpipe_domain::config::ConfigError;
use adpipe_domain::config::Env;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The data lake bucket the Parquet objects go to.
    pub data_bucket: String,
}

impl Config {
    /// Every variable the function reads in a deployment; template.yaml sets each.
    pub const VARIABLES: &'static [&'static str] = &["DATA_BUCKET"];

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        Ok(Self {
            data_bucket: env.required("DATA_BUCKET")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bucket_is_read_from_data_bucket() {
        let c = Config::from_lookup(|k| (k == "DATA_BUCKET").then(|| "lake".to_owned())).unwrap();
        assert_eq!(c.data_bucket, "lake");
    }

    #[test]
    fn a_missing_bucket_is_named() {
        let err = Config::from_lookup(|_| None).unwrap_err();
        assert_eq!(err, ConfigError::Missing("DATA_BUCKET"));
        assert!(err.to_string().contains("DATA_BUCKET"));
    }
}
