//! The control table, as runs use it.

pub mod dynamodb;
pub mod report_runs;

pub use dynamodb::DynamoRunStore;
pub use report_runs::DynamoReportRuns;
#[cfg(any(test, feature = "test-doubles"))]
pub use report_runs::MemoryReportRuns;
