//! Run-now.

pub mod lambda;

pub use lambda::LambdaInvoker;
