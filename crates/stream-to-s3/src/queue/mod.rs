//! [`FailureQueue`](crate::ports::FailureQueue) adapters.

pub mod sqs;
