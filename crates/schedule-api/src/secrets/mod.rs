//! Connection credentials.

pub mod secretsmanager;

pub use secretsmanager::SecretsManagerStore;
