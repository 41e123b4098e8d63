//! The control table.

pub mod dynamodb;

pub use dynamodb::DynamoControlStore;
