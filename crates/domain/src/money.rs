//! Money as integer micros, and the decimal strings platforms send it in. No floating
//! point touches an amount: `"12.345678"` is 12 345 678 micros, exactly.

use thiserror::Error;

/// Micros in one unit of a currency.
pub const MICROS_PER_UNIT: i64 = 1_000_000;

/// Why a decimal string is not an amount of micros.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
pub enum MoneyError {
    /// Not `[-]digits[.digits]`: empty, a sign alone, spaces, commas, exponents, two points.
    #[error("not a decimal number")]
    NotDecimal,
    /// A non-zero digit past the sixth after the point: it would not fit in micros.
    #[error("more than 6 fractional digits")]
    TooPrecise,
    /// Beyond what an `i64` of micros holds.
    #[error("out of range")]
    OutOfRange,
}

/// `"12.345678"` → `12_345_678`: digits, an optional `.` with fractional digits, an
/// optional leading `-`. Fractional digits past the sixth are accepted only when they are
/// zeros (`"1.5000000"`), since anything else would be rounded.
pub fn decimal_to_micros(raw: &str) -> Result<i64, MoneyError> {
    let (negative, int, frac) = split_decimal(raw).ok_or(MoneyError::NotDecimal)?;
    let (kept, dropped) = frac.split_at(frac.len().min(6));
    if dropped.bytes().any(|b| b != b'0') {
        return Err(MoneyError::TooPrecise);
    }
    // Accumulate negatively so that i64::MIN micros parses too.
    let mut micros: i64 = 0;
    let padded = kept.bytes().chain(std::iter::repeat(b'0')).take(6);
    for digit in int.bytes().chain(padded) {
        micros = micros
            .checked_mul(10)
            .and_then(|m| m.checked_sub(i64::from(digit - b'0')))
            .ok_or(MoneyError::OutOfRange)?;
    }
    if negative {
        Ok(micros)
    } else {
        micros.checked_neg().ok_or(MoneyError::OutOfRange)
    }
}

/// `12_345_678` → `"12.345678"`; whole amounts keep no point (`"3"`), trailing zeros of the
/// fraction are dropped (`"0.5"`). The inverse of [`decimal_to_micros`].
pub fn micros_to_decimal(micros: i64) -> String {
    let sign = if micros < 0 { "-" } else { "" };
    let abs = micros.unsigned_abs();
    let (int, frac) = (abs / 1_000_000, abs % 1_000_000);
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let frac = format!("{frac:06}");
    format!("{sign}{int}.{}", frac.trim_end_matches('0'))
}

/// Whether `raw` is a plain decimal, `[-]digits[.digits]`, the form platforms send
/// numbers in: safe to write into JSON as a number literal as it is.
pub fn is_plain_decimal(raw: &str) -> bool {
    split_decimal(raw).is_some()
}

/// `[-]int[.frac]` with at least one digit on each side of a point.
fn split_decimal(raw: &str) -> Option<(bool, &str, &str)> {
    let (negative, unsigned) = match raw.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, raw),
    };
    let (int, frac) = unsigned.split_once('.').unwrap_or((unsigned, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    let point_has_digits = !unsigned.contains('.') || !frac.is_empty();
    (!int.is_empty() && digits(int) && digits(frac) && point_has_digits)
        .then_some((negative, int, frac))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn decimals_become_exact_micros_and_malformed_ones_are_refused() {
        use MoneyError::*;
        let cases: &[(&str, Result<i64, MoneyError>)] = &[
            ("0", Ok(0)),
            ("0.01", Ok(10_000)),
            ("12.345678", Ok(12_345_678)),
            ("1234567.89", Ok(1_234_567_890_000)),
            ("5339.5", Ok(5_339_500_000)),
            ("-0.5", Ok(-500_000)),
            ("1.5000000", Ok(1_500_000)),
            ("007.1", Ok(7_100_000)),
            ("9223372036854.775807", Ok(i64::MAX)),
            ("-9223372036854.775808", Ok(i64::MIN)),
            ("9223372036854.775808", Err(OutOfRange)),
            ("99999999999999999999", Err(OutOfRange)),
            ("1.2345678", Err(TooPrecise)),
            ("1e3", Err(NotDecimal)),
            ("", Err(NotDecimal)),
            ("-", Err(NotDecimal)),
            ("1.2.3", Err(NotDecimal)),
            (" 1", Err(NotDecimal)),
            ("1 ", Err(NotDecimal)),
            ("12,5", Err(NotDecimal)),
            ("+1", Err(NotDecimal)),
            (".5", Err(NotDecimal)),
            ("5.", Err(NotDecimal)),
            ("--1", Err(NotDecimal)),
            ("１", Err(NotDecimal)),
        ];
        for (raw, expected) in cases {
            assert_eq!(decimal_to_micros(raw), *expected, "{raw:?}");
        }
    }

    #[test]
    fn micros_format_as_the_shortest_exact_decimal() {
        assert_eq!(micros_to_decimal(0), "0");
        assert_eq!(micros_to_decimal(10_000), "0.01");
        assert_eq!(micros_to_decimal(-500_000), "-0.5");
        assert_eq!(micros_to_decimal(3_000_000), "3");
        assert_eq!(micros_to_decimal(i64::MIN), "-9223372036854.775808");
    }

    #[test]
    fn plain_decimals_are_told_from_other_numbers() {
        assert!(is_plain_decimal("1.234567890"));
        assert!(is_plain_decimal("-3"));
        assert!(!is_plain_decimal("NaN"));
        assert!(!is_plain_decimal("1e-5"));
    }

    proptest! {
        #[test]
        fn formatted_micros_parse_back_to_themselves(micros in any::<i64>()) {
            prop_assert_eq!(decimal_to_micros(&micros_to_decimal(micros)), Ok(micros));
        }

        #[test]
        fn parsing_never_panics(raw in "\\PC{0,24}") {
            let _ = decimal_to_micros(&raw);
        }
    }
}
