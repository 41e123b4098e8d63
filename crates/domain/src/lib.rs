//! What every adpipe function agrees on: identifiers, platforms and account ids, schedule
//! expressions, report specs, the control-table records and key layout, the extractor's
//! events and windows, and the ad-metric row of the data lake. No AWS client lives here.

pub mod app;
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

/// Lowercase hex of `bytes`, as digests and proofs are written (one allocation: it runs
/// once per staged row).
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0x0f)]));
    }
    out
}

pub use event::{ExtractorEvent, ManualRun, ScheduledRun};
pub use ids::{ConnectionId, RunId, ScheduleId, TenantId};
pub use platform::{AccountId, Platform};
pub use records::{Connection, ConnectionStatus, Run, RunKind, RunStatus, Schedule};
pub use report::{Level, ReportSpec, ReportSpecInput};
pub use row::AdMetricRow;
pub use schedule_expr::{ScheduleExpression, ScheduleExpressionError};
pub use window::Window;

#[cfg(test)]
mod tests {
    #[test]
    fn hex_writes_two_lowercase_digits_a_byte() {
        assert_eq!(super::hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(super::hex(&[]), "");
    }
}
