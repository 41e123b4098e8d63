//! Schedule rules.

pub mod eventbridge;

pub use eventbridge::{EXTRACTOR_TARGET_ID, EventBridgeScheduler, input_transformer};
