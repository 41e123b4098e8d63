//! What every adpipe function agrees on: identifiers, platforms and account ids, schedule
//! expressions, report specs, the control-table records and key layout, the extractor's
//! events and windows, and the ad-metric row of the data lake. No AWS client lives here.

pub mod config;
pub mod error;
pub mod event;
pub mod ids;
pub mod keys;
pub mod money;
pub mod platform;
pub mod records;
pub mod report;
pub mod row;
pub mod schedule_expr;
pub mod window;

pub use error::FieldError;
pub use event::{ExtractorEvent, ManualRun, ScheduledRun};
pub use ids::{ConnectionId, RunId, ScheduleId, TenantId};
pub use platform::{AccountId, Platform};
pub use records::{Connection, ConnectionStatus, Run, RunKind, RunStatus, Schedule};
pub use report::{Level, ReportSpec, ReportSpecInput};
pub use row::AdMetricRow;
pub use schedule_expr::{ScheduleExpression, ScheduleExpressionError};
pub use window::Window;
