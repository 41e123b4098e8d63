//! The staging table.

pub mod dynamodb;

pub use dynamodb::DynamoStaging;
