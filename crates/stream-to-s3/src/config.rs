//! Configuration, read once at init from the environment (docs/architecture.md,
//! "Configuration"; every variable in the README's Configuration table).

pub use adpipe_domain::config::ConfigError;
use adpipe_domain::config::Env;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// The data lake bucket the Parquet objects go to.
    pub data_bucket: String,
    /// The stream's failure queue (`StreamFailureQueue`), where poison records go.
    pub failure_queue_url: String,
    /// The insights queue (`InsightsQueue`), where each touched connection is sent.
    pub insights_queue_url: String,
}

impl Config {
    /// Every variable the function reads in a deployment; template.yaml sets each.
    pub const VARIABLES: &'static [&'static str] =
        &["DATA_BUCKET", "FAILURE_QUEUE_URL", "INSIGHTS_QUEUE_URL"];

    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let env = Env(get);
        Ok(Self {
            data_bucket: env.required("DATA_BUCKET")?,
            failure_queue_url: env.required("FAILURE_QUEUE_URL")?,
            insights_queue_url: env.required("INSIGHTS_QUEUE_URL")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUEUE: &str =
        "https://sqs.us-east-1.amazonaws.com/123456789012/adpipe-StreamFailureQueue";
    const INSIGHTS: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/adpipe-InsightsQueue";

    fn lookup(name: &str) -> Option<String> {
        match name {
            "DATA_BUCKET" => Some("lake".into()),
            "FAILURE_QUEUE_URL" => Some(QUEUE.into()),
            "INSIGHTS_QUEUE_URL" => Some(INSIGHTS.into()),
            _ => None,
        }
    }

    #[test]
    fn the_bucket_and_the_failure_queue_are_read_from_the_environment() {
        let c = Config::from_lookup(lookup).unwrap();
        assert_eq!(c.data_bucket, "lake");
        assert_eq!(c.failure_queue_url, QUEUE);
        assert_eq!(c.insights_queue_url, INSIGHTS);
    }

    #[test]
    fn a_missing_variable_is_named() {
        for missing in Config::VARIABLES {
            let err =
                Config::from_lookup(|k| (k != *missing).then(|| lookup(k)).flatten()).unwrap_err();
            assert_eq!(err, ConfigError::Missing(missing));
            assert!(err.to_string().contains(missing));
        }
    }
}
