//! Credentials.

pub mod secretsmanager;

pub use secretsmanager::SecretsManagerSource;
