//! adpipe's integration tests: the real handlers with real SDK clients against moto over
//! HTTP, one binary so the suite compiles and links once.

mod common;

mod api_bad_inputs;
mod api_concurrency;
mod api_connections;
mod api_faults;
mod api_idempotency;
mod api_insights;
mod api_isolation;
mod api_limits;
mod api_oauth;
mod api_schedules;
mod docs_true;
mod extractor_killed;
mod extractor_runs;
mod insights_function;
mod lake_migration;
mod openapi;
mod running_cost;
mod staging_digests;
mod stream_to_s3;
mod template_contract;
