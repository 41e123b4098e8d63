//! [`ObjectSink`](crate::ports::ObjectSink) adapters.

pub mod s3;
