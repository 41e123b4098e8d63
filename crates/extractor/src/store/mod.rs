//! The control table, as runs use it.

pub mod dynamodb;

pub use dynamodb::DynamoRunStore;
