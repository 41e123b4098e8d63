//! AWS list prices the running-cost figures use (`tests/tests/running_cost.rs`, README
//! "Running cost"): us-east-1, on-demand, USD, no free tier. One place, with their date:
//! change them here when AWS does.
//!
//! As of 2026-12-07, from AWS's public pricing pages (DynamoDB on-demand after the
//! November 2024 reduction; S3 Standard requests; Lambda arm64). They were not read online
//! on that day (this machine reaches no AWS page): check them before quoting a bill.

/// The date the prices below are as of.
pub const AS_OF: &str = "2026-12-07";
/// DynamoDB on-demand, Standard table class: per write request unit (1 KB).
pub const DYNAMODB_WRITE_UNIT: f64 = 0.625 / 1e6;
/// DynamoDB on-demand, Standard table class: per read request unit (4 KB strongly
/// consistent, 8 KB eventually consistent). GetRecords by a Lambda trigger costs nothing.
pub const DYNAMODB_READ_UNIT: f64 = 0.125 / 1e6;
/// S3 Standard: PUT, COPY, POST, LIST requests.
pub const S3_PUT: f64 = 0.005 / 1e3;
/// S3 Standard: GET and all other requests.
pub const S3_GET: f64 = 0.0004 / 1e3;
/// Lambda on arm64 (the template's default Architecture): per GB-second.
pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
/// Lambda: per request.
pub const LAMBDA_REQUEST: f64 = 0.20 / 1e6;
