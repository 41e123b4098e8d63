//! `ScheduleExpression` against EventBridge's grammar for scheduled rules and adpipe's
//! 5-minute floor.
//!
//! The documented cases come from AWS, "Schedule expressions for rules" / "Setting a schedule
//! pattern for scheduled rules" in the Amazon EventBridge User Guide:
//! <https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html>
//! (its cron and rate sections were earlier published as `scheduled-events.html` and
//! `eb-create-rule-schedule.html`).

use adpipe_domain::schedule_expr::MIN_INTERVAL;
use adpipe_domain::{ScheduleExpression, ScheduleExpressionError};
use chrono::{Duration, Utc};
use proptest::prelude::*;

/// What a case must do: parse, or fail with a message containing this text.
type Expect = Result<(), &'static str>;

const OK: Expect = Ok(());

#[rustfmt::skip]
const CASES: &[(&str, Expect)] = &[
    // --- AWS page, cron "Examples" table.
    ("cron(0 10 * * ? *)", OK),
    ("cron(15 12 * * ? *)", OK),
    ("cron(0 18 ? * MON-FRI *)", OK),
    ("cron(0 8 1 * ? *)", OK),
    ("cron(0/15 * * * ? *)", OK),
    ("cron(0/10 * ? * MON-FRI *)", OK),
    ("cron(0/5 8-17 ? * MON-FRI *)", OK),
    ("cron(0/30 20-2 ? * MON-FRI *)", OK),
    // --- AWS page, `put-rule` examples.
    ("cron(0 12 * * ? *)", OK),
    ("cron(5,35 14 * * ? *)", OK),
    // Valid grammar, but its years (2019-2022) are over.
    ("cron(15 10 ? * 6L 2019-2022)", Err("never fires after")),
    ("cron(15 10 ? * 6L 2100-2199)", OK),
    // --- AWS page, "Wildcards": each wildcard's own example.
    ("cron(0 0 1 JAN,FEB,MAR ? *)", OK),
    ("cron(0 0 1-15 * ? *)", OK),
    ("cron(1/10 * * * ? *)", OK),
    ("cron(0 0 7 * ? *)", OK),
    ("cron(0 0 L * ? *)", OK),
    ("cron(0 0 ? * L *)", OK),
    ("cron(0 0 3W * ? *)", OK),
    ("cron(0 0 ? * 3#2 *)", OK),
    ("cron(0 0 ? * 3#1,6#3 *)", Err("with `#`, day-of-week is one `day#n`")),
    // --- AWS page, "Limitations": a value or `*` in one day field needs `?` in the other.
    ("cron(0 18 * * MON-FRI *)", Err("use `?` in exactly one of day-of-month and day-of-week")),
    ("cron(0 0 * * * *)", Err("use `?` in exactly one")),
    ("cron(0 0 ? * ? *)", Err("use `?` in exactly one")),
    ("cron(0 0 ? * * *)", OK),
    // --- AWS page, rate "Examples" and "Limitations".
    ("rate(1 minute)", Err("at most every 5 minutes; this one fires every 1 minute")),
    ("rate(5 minutes)", OK),
    ("rate(1 hour)", OK),
    ("rate(1 day)", OK),
    ("rate(1 hours)", Err("a value of 1 takes the singular unit: write `rate(1 hour)`")),
    ("rate(5 hour)", Err("use the singular unit `hour` only for a value of 1")),
    ("rate(5 hours)", OK),
    // --- rate: singular exactly for 1, plain whole numbers, single spaces, the floor.
    ("rate(1 minutes)", Err("a value of 1 takes the singular unit: write `rate(1 minute)`")),
    ("rate(5 minute)", Err("use the singular unit `minute` only for a value of 1")),
    ("rate(2 days)", OK),
    ("rate(4 minutes)", Err("this one fires every 4 minutes")),
    ("rate(0 minutes)", Err("rate value must be a whole number ≥ 1")),
    ("rate(05 minutes)", Err("without sign or leading zeros")),
    ("rate(+5 minutes)", Err("rate value must be a whole number ≥ 1")),
    ("rate(-5 minutes)", Err("rate value must be a whole number ≥ 1")),
    ("rate(5.0 minutes)", Err("rate value must be a whole number ≥ 1")),
    ("rate(99999999999 days)", Err("is too large")),
    ("rate(5  minutes)", Err("a value, one space and a unit")),
    ("rate( 5 minutes)", Err("a value, one space and a unit")),
    ("rate(5)", Err("a value, one space and a unit")),
    ("rate(5 seconds)", Err("rate unit must be minute, minutes, hour, hours, day or days")),
    ("rate(5 Minutes)", Err("rate unit must be")),
    // --- Envelope.
    ("", Err("schedule expression is empty")),
    (" rate(5 minutes)", Err("remove the whitespace around")),
    ("rate(5 minutes)\n", Err("remove the whitespace around")),
    ("RATE(5 minutes)", Err("look like `rate(5 minutes)` or `cron(0 8 * * ? *)`")),
    ("rate 5 minutes", Err("look like")),
    ("at(2030-01-01T00:00:00)", Err("look like")),
    ("cron(0 10 * * ? *", Err("`cron(` needs its closing `)`")),
    // --- cron: more often than every 5 minutes, from real fire times.
    ("cron(0,58 * * * ? *)", Err("this one fires 2 minutes apart at")),
    ("cron(0/1 * * * ? *)", Err("fires 1 minute apart")),
    ("cron(* * * * ? *)", Err("fires 1 minute apart")),
    ("cron(0,3 8 * * ? *)", Err("fires 3 minutes apart")),
    ("cron(0/5 * * * ? *)", OK),
    ("cron(0,55 * * * ? *)", OK),
    ("cron(0,56 * * * ? *)", Err("fires 4 minutes apart")),
    ("cron(58 23,0 * * ? *)", OK),
    ("cron(0,58 0,23 ? * SAT,SUN *)", Err("fires 2 minutes apart")),
    ("cron(0,58 0,23 ? * MON,WED *)", OK),
    ("cron(0,58 0,23 1,31 1,12 ? *)", Err("fires 2 minutes apart")),
    ("cron(0 0 1 1 ? 1999)", Err("never fires after")),
    ("cron(0 0 30 2 ? *)", Err("never fires after")),
    // --- cron: field count, spacing, ranges.
    ("cron(0 10 * * ?)", Err("cron expressions need exactly 6 fields (minutes hours day-of-month month day-of-week year), got 5")),
    ("cron(0 0 10 * * ? *)", Err("got 7")),
    ("cron()", Err("got 0")),
    ("cron(0  10 * * ? *)", Err("separate the 6 cron fields with single spaces")),
    ("cron(0\t10 * * ? *)", Err("single spaces")),
    ("cron(60 10 * * ? *)", Err("cron minutes field `60`: 60 is out of range 0-59")),
    ("cron(0 24 * * ? *)", Err("cron hours field `24`: 24 is out of range 0-23")),
    ("cron(0 0 0 * ? *)", Err("out of range 1-31")),
    ("cron(0 0 32 * ? *)", Err("out of range 1-31")),
    ("cron(0 0 1 13 ? *)", Err("out of range 1-12 or JAN-DEC")),
    ("cron(0 0 ? * 0 *)", Err("0 is out of range 1-7 (1 = SUN) or SUN-SAT")),
    ("cron(0 0 ? * 8 *)", Err("out of range 1-7")),
    ("cron(0 0 1 1 ? 1969)", Err("out of range 1970-2199")),
    ("cron(0 0 1 1 ? 2200)", Err("out of range 1970-2199")),
    ("cron(0 0 1 1 ? 2199-2100)", Err("range 2199-2100 runs backwards")),
    ("cron(0 0 28-3 * ? *)", OK),
    ("cron(0 0 1 NOV-FEB ? *)", OK),
    ("cron(0 0 ? * FRI-MON *)", OK),
    ("cron(0 0 1 1/3 ? *)", OK),
    ("cron(0 0 1 1 ? 2100-2199/10)", OK),
    ("cron(0/0 * * * ? *)", Err("increment `0` must be a whole number from 1 to 59")),
    ("cron(0/60 * * * ? *)", Err("increment `60`")),
    ("cron(0 0 1,,2 * ? *)", Err("empty list item")),
    // --- cron: names and the `L` `W` `#` rules.
    ("cron(0 0 ? * SUN *)", OK),
    ("cron(0 0 ? * FRI#3 *)", OK),
    ("cron(0 0 ? * mon *)", Err("write names in capitals: `MON`")),
    ("cron(0 0 1 jan ? *)", Err("write names in capitals: `JAN`")),
    ("cron(0 0 ? * MON/2 *)", Err("`/` is not allowed here; day-of-week takes")),
    ("cron(0 0 1 * L *)", Err("use `?` in exactly one")),
    ("cron(0 L * * ? *)", Err("`L` is not a value; hours takes 0-23")),
    ("cron(0 0 1#2 * ? *)", Err("`#` is not allowed here; day-of-month takes")),
    ("cron(0 0 LW * ? *)", Err("`W` follows a single day, e.g. `15W`")),
    ("cron(0 0 1-5W * ? *)", Err("`W` follows a single day")),
    ("cron(0 0 1,L * ? *)", Err("`L` (last day of the month) stands alone")),
    ("cron(0 0 ? * 2L,6L *)", Err("with `L`, day-of-week is one day")),
    ("cron(0 0 ? * MON-FRI#2 *)", Err("with `#`")),
    ("cron(0 0 ? * 2#6 *)", Err("must name the 1st to 5th")),
    ("cron(0 0 ? * 2#0 *)", Err("must name the 1st to 5th")),
    ("cron(0 0 ?,1 * ? *)", Err("`?` stands alone")),
];

#[test]
fn documented_and_tricky_expressions_parse_as_specified() {
    let failures: Vec<String> = CASES
        .iter()
        .filter_map(|(text, expect)| {
            let got = text.parse::<ScheduleExpression>();
            let pass = match (&got, expect) {
                (Ok(_), Ok(())) => true,
                (Err(err), Err(needle)) => err.to_string().contains(needle),
                _ => false,
            };
            (!pass).then(|| format!("{text:?}: expected {expect:?}, got {got:?}"))
        })
        .collect();
    assert!(CASES.len() >= 45);
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn an_expression_of_256_characters_is_accepted() {
    let text = padded_cron(256);
    assert_eq!(text.len(), 256);
    assert!(text.parse::<ScheduleExpression>().is_ok());
}

#[test]
fn an_expression_over_256_characters_is_refused() {
    let err = padded_cron(257).parse::<ScheduleExpression>().unwrap_err();
    assert_eq!(err, ScheduleExpressionError::TooLong { len: 257 });
}

/// A daily cron padded to `len` characters with leading zeros in its minute.
fn padded_cron(len: usize) -> String {
    let short = "cron(0 12 * * ? *)";
    format!("cron({}0 12 * * ? *)", "0".repeat(len - short.len()))
}

#[test]
fn the_expression_is_kept_exactly_as_given() {
    let expr: ScheduleExpression = "cron(0/30 20-2 ? * MON-FRI *)".parse().unwrap();
    assert_eq!(expr.as_str(), "cron(0/30 20-2 ? * MON-FRI *)");
    assert_eq!(expr.to_string(), expr.as_str());
}

#[test]
fn rate_and_cron_tell_themselves_apart() {
    assert!(
        "rate(1 day)"
            .parse::<ScheduleExpression>()
            .unwrap()
            .is_rate()
    );
    assert!(
        !"cron(0 8 1 * ? *)"
            .parse::<ScheduleExpression>()
            .unwrap()
            .is_rate()
    );
}

#[test]
fn serde_writes_the_expression_as_a_plain_string() {
    let expr: ScheduleExpression = "cron(0 8 1 * ? *)".parse().unwrap();
    assert_eq!(
        serde_json::to_string(&expr).unwrap(),
        r#""cron(0 8 1 * ? *)""#
    );
}

#[test]
fn deserializing_validates_like_parsing() {
    let err = serde_json::from_str::<ScheduleExpression>(r#""rate(1 minute)""#).unwrap_err();
    assert!(err.to_string().contains("at most every 5 minutes"), "{err}");
}

#[test]
fn cron_fire_times_are_evaluated_in_utc() {
    let expr: ScheduleExpression = "cron(15 10 * * ? *)".parse().unwrap();
    let next = expr.next_fire_after(Utc::now()).unwrap();
    assert_eq!(next.format("%H:%M:%S").to_string(), "10:15:00");
}

// ---------------------------------------------------------------------------------------------
// Properties.

/// `(singular, plural, minutes per unit)`.
const UNITS: [(&str, &str, i64); 3] = [
    ("minute", "minutes", 1),
    ("hour", "hours", 60),
    ("day", "days", 1440),
];

fn rate_value() -> impl Strategy<Value = u32> {
    prop_oneof![1..=12u32, 1..=100_000u32]
}

proptest! {
    #[test]
    fn a_grammatical_rate_is_accepted_iff_it_is_at_least_5_minutes(
        value in rate_value(),
        unit in 0..UNITS.len(),
    ) {
        let (singular, plural, unit_minutes) = UNITS[unit];
        let text = format!("rate({value} {})", if value == 1 { singular } else { plural });
        let interval = Duration::minutes(i64::from(value) * unit_minutes);
        let parsed = text.parse::<ScheduleExpression>();
        prop_assert_eq!(parsed.is_ok(), interval >= MIN_INTERVAL, "{} -> {:?}", text, parsed);
        if let Ok(expr) = parsed {
            prop_assert_eq!(expr.as_str(), text.as_str());
            prop_assert_eq!(expr.to_string(), text.clone());
            let json = serde_json::to_string(&expr).unwrap();
            prop_assert_eq!(&json, &format!("\"{text}\""));
            prop_assert_eq!(serde_json::from_str::<ScheduleExpression>(&json).unwrap(), expr.clone());
            let now = Utc::now();
            prop_assert_eq!(expr.next_fire_after(now), Some(now + interval));
        }
    }

    #[test]
    fn a_rate_with_the_wrong_number_of_unit_is_refused(
        value in rate_value(),
        unit in 0..UNITS.len(),
    ) {
        let (singular, plural, _) = UNITS[unit];
        let text = format!("rate({value} {})", if value == 1 { plural } else { singular });
        prop_assert!(text.parse::<ScheduleExpression>().is_err(), "{}", text);
    }

    #[test]
    fn arbitrary_strings_never_panic_the_parser(text in any::<String>()) {
        let _ = text.parse::<ScheduleExpression>();
    }

    #[test]
    fn near_miss_strings_never_panic_the_parser(text in near_miss()) {
        if let Ok(expr) = text.parse::<ScheduleExpression>() {
            let _ = expr.next_fire_after(Utc::now());
        }
    }
}

/// Strings made of the grammar's own pieces, to reach past the first check.
fn near_miss() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        "[0-9]{1,4}",
        Just("*".to_owned()),
        Just("?".to_owned()),
        "[0-9]{1,2}[-/#,][0-9]{0,3}",
        "[0-9]{0,2}[LW]",
        "(MON|FRI|JAN|DEC|mon|L|W|#|/|-|,)+",
        "[ -~]{0,6}",
    ];
    let fields = prop::collection::vec(token, 0..8).prop_map(|fields| fields.join(" "));
    (
        prop_oneof![Just("cron("), Just("rate("), Just("")],
        fields,
        prop_oneof![Just(")"), Just("")],
    )
        .prop_map(|(open, body, close)| format!("{open}{body}{close}"))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn accepted_cron_fire_times_increase_at_least_5_minutes_apart(text in valid_cron()) {
        let parsed = text.parse::<ScheduleExpression>();
        match parsed {
            Ok(expr) => {
                let mut prev = Utc::now();
                let mut first = true;
                for _ in 0..60 {
                    let Some(next) = expr.next_fire_after(prev) else { break };
                    prop_assert!(next > prev, "{}: {} then {}", text, prev, next);
                    if !first {
                        prop_assert!(next - prev >= MIN_INTERVAL, "{}: {} then {}", text, prev, next);
                    }
                    first = false;
                    prev = next;
                }
            }
            // The generator writes valid grammar: only the floor or an empty future may refuse it.
            Err(err) => prop_assert!(
                matches!(
                    err,
                    ScheduleExpressionError::TooFrequent { .. } | ScheduleExpressionError::NeverFires { .. }
                ),
                "{}: {}", text, err
            ),
        }
    }
}

fn join(values: Vec<u16>) -> String {
    values
        .iter()
        .map(u16::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

/// A field of values from `min` to `max`: a value, a list, a (wrapping) range, or steps.
fn numeric_field(min: u16, max: u16) -> impl Strategy<Value = String> {
    prop_oneof![
        Just("*".to_owned()),
        (min..=max).prop_map(|v| v.to_string()),
        prop::collection::vec(min..=max, 1..4).prop_map(join),
        (min..=max, min..=max).prop_map(|(a, b)| format!("{a}-{b}")),
        (min..=max, 1..=max).prop_map(|(a, step)| format!("{a}/{step}")),
        (1..=max).prop_map(|step| format!("*/{step}")),
    ]
}

fn day_of_month_field() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => numeric_field(1, 31),
        1 => Just("L".to_owned()),
        1 => (1..=31u16).prop_map(|d| format!("{d}W")),
    ]
}

fn day_of_week_field() -> impl Strategy<Value = String> {
    let name = prop::sample::select(vec!["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]);
    prop_oneof![
        Just("*".to_owned()),
        Just("L".to_owned()),
        (1..=7u16).prop_map(|d| d.to_string()),
        prop::collection::vec(1..=7u16, 1..4).prop_map(join),
        (name.clone(), name.clone()).prop_map(|(a, b)| format!("{a}-{b}")),
        (name, 1..=5u16).prop_map(|(d, n)| format!("{d}#{n}")),
        (1..=7u16).prop_map(|d| format!("{d}L")),
    ]
}

fn year_field() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => Just("*".to_owned()),
        1 => (2100..=2199u16).prop_map(|y| y.to_string()),
        1 => (2100..=2150u16, 2150..=2199u16).prop_map(|(a, b)| format!("{a}-{b}")),
        1 => Just("2000".to_owned()),
    ]
}

fn valid_cron() -> impl Strategy<Value = String> {
    let days = prop_oneof![
        day_of_month_field().prop_map(|dom| (dom, "?".to_owned())),
        day_of_week_field().prop_map(|dow| ("?".to_owned(), dow)),
    ];
    (
        numeric_field(0, 59),
        numeric_field(0, 23),
        days,
        numeric_field(1, 12),
        year_field(),
    )
        .prop_map(|(minutes, hours, (dom, dow), month, year)| {
            format!("cron({minutes} {hours} {dom} {month} {dow} {year})")
        })
}
