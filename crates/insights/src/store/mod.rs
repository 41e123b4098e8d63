//! [`Store`](crate::ports::Store) on the control table.

pub mod dynamodb;
