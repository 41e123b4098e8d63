//! The staging table.

pub mod digest;
pub mod dynamodb;
pub mod item;

pub use dynamodb::DynamoStaging;
pub use item::Staged;
