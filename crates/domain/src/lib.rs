//! What every adpipe function agrees on: identifiers, platforms and account ids, schedule
//! expressions, report specs, the control-table records and key layout, the extractor's
//! events and windows, and the ad-metric row of the data lake. No AWS client lives here.

pub mod app;
pub mod config;
pub mod error;
pub mod event;
#[cfg(any(test, feature = "fixtures"))]
pub mod fixtures;
#[cfg(feature = "http")]
pub mod http;
pub mod ids;
pub mod insights;
pub mod keys;
pub mod money;
pub mod oauth;
pub mod platform;
pub mod records;
pub mod report;
pub mod row;
pub mod schedule_expr;
pub mod window;

pub use error::FieldError;

/// Whether `c` is invisible text that changes how text around it reads: Unicode general
/// categories Cf (format: bidi overrides and isolates, zero-width characters, the BOM),
/// Zl and Zp (U+2028, U+2029). Names and descriptions refuse them, as they refuse control
/// characters (Cc): shown in a dashboard, they can make one schedule look like another.
pub fn is_invisible_format(c: char) -> bool {
    use unicode_properties::{GeneralCategory, UnicodeGeneralCategory};
    matches!(
        c.general_category(),
        GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

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

    #[test]
    fn format_and_separator_characters_are_told_from_visible_text() {
        for c in [
            '\u{202E}',
            '\u{2066}',
            '\u{200B}',
            '\u{200D}',
            '\u{FEFF}',
            '\u{2028}',
            '\u{2029}',
            '\u{00AD}',
            '\u{E0041}',
        ] {
            assert!(super::is_invisible_format(c), "{:?}", c);
        }
        for c in ['a', 'é', ' ', '日', '😀', '-', '\u{00A0}'] {
            assert!(!super::is_invisible_format(c), "{:?}", c);
        }
    }
}
