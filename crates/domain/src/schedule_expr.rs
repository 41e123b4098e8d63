//! The EventBridge schedule expression of a schedule: `rate(…)` or `cron(…)`.
//!
//! It is parsed once, when a client sends it, with EventBridge's own grammar for scheduled
//! rules (<https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-scheduled-rule-pattern.html>),
//! so a schedule we accept is a rule `PutRule` accepts, and a typo is a 400 that names the
//! field and the fix instead of a 503 from EventBridge. Where the AWS page is silent
//! (lowercase names, `LW`, `L` in a list, doubled spaces) we refuse: stricter than AWS can
//! only cost a client an edit, looser would cost a half-made schedule.
//!
//! On top of the grammar, adpipe refuses schedules that fire more often than every
//! [`MIN_INTERVAL`], judged on the real fire times in UTC (the time zone EventBridge rules
//! run in), and cron expressions that never fire again.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Duration, NaiveTime, SecondsFormat, TimeZone, Timelike, Utc};
use croner::Cron;
use croner::parser::{CronParser, Seconds, Year};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// The shortest time allowed between two runs of one schedule: each run calls the ad
/// platform's reporting API, whose quotas do not stretch to anything tighter.
pub const MIN_INTERVAL: Duration = Duration::minutes(5);

/// A validated EventBridge schedule expression, kept exactly as the client wrote it.
#[derive(Clone)]
pub struct ScheduleExpression {
    text: String,
    schedule: Schedule,
}

#[derive(Clone)]
enum Schedule {
    Rate(Duration),
    Cron(Box<Cron>),
}

impl ScheduleExpression {
    /// EventBridge's limit on `ScheduleExpression`.
    pub const MAX_LEN: usize = 256;

    /// The expression exactly as given, ready for `PutRule`.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn is_rate(&self) -> bool {
        matches!(self.schedule, Schedule::Rate(_))
    }

    /// The first fire time strictly after `after`, in UTC.
    ///
    /// A rate rule counts from the moment EventBridge created it, which this type does not
    /// know, so for a rate this is `after` plus the interval: the latest the next run can be.
    /// `None` when a cron expression has no fire time left (its years are over).
    pub fn next_fire_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.schedule {
            Schedule::Rate(interval) => after.checked_add_signed(*interval),
            Schedule::Cron(cron) => next_cron_fire(cron, after),
        }
    }

    /// The most times it fires in one UTC day: for a rate, a day over its interval; for a
    /// cron, the busiest day of the 35 (a whole month, each weekday five times) from its
    /// next fire time on. What a schedule costs the platforms is this times the days each
    /// run reads.
    pub fn max_firings_per_day(&self) -> u32 {
        match &self.schedule {
            Schedule::Rate(interval) => {
                let minutes = interval.num_minutes().max(1);
                u32::try_from((24 * 60 + minutes - 1) / minutes).unwrap_or(u32::MAX)
            }
            Schedule::Cron(cron) => {
                let Some(first) = next_cron_fire(cron, Utc::now()) else {
                    return 0;
                };
                let end = first + Duration::days(35);
                let (mut busiest, mut day, mut today) = (0u32, first.date_naive(), 0u32);
                let mut at = Some(first);
                while let Some(t) = at.filter(|t| *t < end) {
                    if t.date_naive() != day {
                        (day, today) = (t.date_naive(), 0);
                    }
                    today += 1;
                    busiest = busiest.max(today);
                    at = next_cron_fire(cron, t);
                }
                busiest
            }
        }
    }

    /// Parses and validates `text` as of `now`: "fires again" and the spacing of fire times
    /// are judged from `now` on, so tests can pin the clock. `None` skips those timing
    /// checks: for expressions read back from storage, validated when they were written
    /// (a schedule whose last year has passed must still load, and listing must not
    /// re-walk every schedule's fire times).
    fn parse_at(text: &str, now: Option<DateTime<Utc>>) -> Result<Self, ScheduleExpressionError> {
        check_envelope(text)?;
        let schedule = if let Some(body) = body_of(text, "rate")? {
            Schedule::Rate(parse_rate(body)?)
        } else if let Some(body) = body_of(text, "cron")? {
            Schedule::Cron(Box::new(parse_cron(body, now)?))
        } else {
            return Err(ScheduleExpressionError::UnknownKind);
        };
        Ok(Self {
            text: text.to_owned(),
            schedule,
        })
    }
}

impl FromStr for ScheduleExpression {
    type Err = ScheduleExpressionError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_at(s, Some(Utc::now()))
    }
}

impl fmt::Display for ScheduleExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

/// Shows the expression only: the parsed form is a function of it.
impl fmt::Debug for ScheduleExpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ScheduleExpression")
            .field(&self.text)
            .finish()
    }
}

/// Two expressions are equal when their text is: that is what EventBridge stores.
impl PartialEq for ScheduleExpression {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl Eq for ScheduleExpression {}

impl Serialize for ScheduleExpression {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for ScheduleExpression {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        Self::parse_at(&raw, None).map_err(serde::de::Error::custom)
    }
}

/// Why a schedule expression was refused. The messages go to API clients as they are, so
/// each one names what is wrong and how to write it instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScheduleExpressionError {
    #[error("schedule expression is empty; write `rate(…)` or `cron(…)`")]
    Empty,
    #[error("schedule expression is {len} characters long; the limit is 256")]
    TooLong { len: usize },
    #[error("remove the whitespace around the schedule expression")]
    SurroundingWhitespace,
    #[error("schedule expressions look like `rate(5 minutes)` or `cron(0 8 * * ? *)`")]
    UnknownKind,
    #[error("`{0}(` needs its closing `)` at the very end")]
    Unclosed(&'static str),
    #[error("rate expressions are a value, one space and a unit, e.g. `rate(5 minutes)`")]
    RateShape,
    #[error("rate value must be a whole number ≥ 1, without sign or leading zeros; got `{0}`")]
    RateValue(String),
    #[error("rate value {0} is too large")]
    RateValueTooLarge(String),
    #[error("rate unit must be minute, minutes, hour, hours, day or days; got `{0}`")]
    RateUnit(String),
    #[error(
        "use the singular unit `{singular}` only for a value of 1: write `rate({value} {plural})`"
    )]
    SingularUnitForMany {
        value: u32,
        singular: &'static str,
        plural: &'static str,
    },
    #[error("a value of 1 takes the singular unit: write `rate(1 {singular})`")]
    PluralUnitForOne { singular: &'static str },
    #[error(
        "cron expressions need exactly 6 fields (minutes hours day-of-month month day-of-week year), got {0}"
    )]
    CronFieldCount(usize),
    #[error("separate the 6 cron fields with single spaces")]
    CronSpacing,
    #[error("cron {field} field `{text}`: {problem}")]
    InvalidField {
        field: CronField,
        text: String,
        problem: String,
    },
    #[error("use `?` in exactly one of day-of-month and day-of-week")]
    QuestionMark,
    #[error(
        "schedules may fire at most every 5 minutes; this one fires every {minutes} minute{}",
        if *.minutes == 1 { "" } else { "s" }
    )]
    RateTooFrequent { minutes: i64 },
    #[error(
        "schedules may fire at most every 5 minutes; this one fires {gap_minutes} minute{} apart at {}",
        if *.gap_minutes == 1 { "" } else { "s" },
        .at.to_rfc3339_opts(SecondsFormat::Secs, true)
    )]
    TooFrequent { gap_minutes: i64, at: DateTime<Utc> },
    #[error(
        "this cron expression never fires after {}; check its year, month and day fields",
        .after.to_rfc3339_opts(SecondsFormat::Secs, true)
    )]
    NeverFires { after: DateTime<Utc> },
    /// Our translation for the cron engine was refused: a bug here, not in the input.
    #[error("cron expression could not be evaluated: {0}")]
    Unevaluable(String),
}

/// The six fields of a cron expression, named as the AWS page names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CronField {
    Minutes,
    Hours,
    DayOfMonth,
    Month,
    DayOfWeek,
    Year,
}

impl fmt::Display for CronField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Minutes => "minutes",
            Self::Hours => "hours",
            Self::DayOfMonth => "day-of-month",
            Self::Month => "month",
            Self::DayOfWeek => "day-of-week",
            Self::Year => "year",
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Envelope: what surrounds `rate(…)` / `cron(…)`.

/// Length first, so nothing below ever walks a huge input.
fn check_envelope(text: &str) -> Result<(), ScheduleExpressionError> {
    if text.is_empty() {
        return Err(ScheduleExpressionError::Empty);
    }
    let len = text.chars().count();
    if len > ScheduleExpression::MAX_LEN {
        return Err(ScheduleExpressionError::TooLong { len });
    }
    if text.trim() != text {
        return Err(ScheduleExpressionError::SurroundingWhitespace);
    }
    Ok(())
}

/// The text between `kind(` and the final `)`, if `text` is of that kind.
fn body_of<'a>(
    text: &'a str,
    kind: &'static str,
) -> Result<Option<&'a str>, ScheduleExpressionError> {
    let Some(rest) = text.strip_prefix(kind).and_then(|r| r.strip_prefix('(')) else {
        return Ok(None);
    };
    rest.strip_suffix(')')
        .map(Some)
        .ok_or(ScheduleExpressionError::Unclosed(kind))
}

// ---------------------------------------------------------------------------------------------
// rate(value unit)

/// `(singular, plural, minutes per unit)`.
const RATE_UNITS: [(&str, &str, i64); 3] = [
    ("minute", "minutes", 1),
    ("hour", "hours", 60),
    ("day", "days", 24 * 60),
];

fn parse_rate(body: &str) -> Result<Duration, ScheduleExpressionError> {
    let (value, unit) = body
        .split_once(' ')
        .ok_or(ScheduleExpressionError::RateShape)?;
    if value.is_empty() || unit.is_empty() || unit.contains(char::is_whitespace) {
        return Err(ScheduleExpressionError::RateShape);
    }
    let value = parse_rate_value(value)?;
    let (singular, plural, unit_minutes) = RATE_UNITS
        .into_iter()
        .find(|(singular, plural, _)| unit == *singular || unit == *plural)
        .ok_or_else(|| ScheduleExpressionError::RateUnit(unit.to_owned()))?;
    if value == 1 && unit == plural {
        return Err(ScheduleExpressionError::PluralUnitForOne { singular });
    }
    if value != 1 && unit == singular {
        return Err(ScheduleExpressionError::SingularUnitForMany {
            value,
            singular,
            plural,
        });
    }
    rate_interval(value, unit_minutes)
}

/// AWS documents "a positive number"; we take the plain decimal spelling only.
fn parse_rate_value(value: &str) -> Result<u32, ScheduleExpressionError> {
    let plain = value.bytes().all(|b| b.is_ascii_digit()) && !value.starts_with('0');
    if !plain {
        return Err(ScheduleExpressionError::RateValue(value.to_owned()));
    }
    value
        .parse()
        .map_err(|_| ScheduleExpressionError::RateValueTooLarge(value.to_owned()))
}

fn rate_interval(value: u32, unit_minutes: i64) -> Result<Duration, ScheduleExpressionError> {
    let minutes = i64::from(value) * unit_minutes;
    let interval = Duration::try_minutes(minutes)
        .ok_or_else(|| ScheduleExpressionError::RateValueTooLarge(value.to_string()))?;
    if interval < MIN_INTERVAL {
        return Err(ScheduleExpressionError::RateTooFrequent { minutes });
    }
    Ok(interval)
}

// ---------------------------------------------------------------------------------------------
// cron(minutes hours day-of-month month day-of-week year): the grammar.

/// One parsed cron expression, in AWS terms (day-of-week 1 = SUN).
struct CronSpec {
    minutes: BTreeSet<u16>,
    hours: BTreeSet<u16>,
    day: DayRule,
    months: BTreeSet<u16>,
    years: BTreeSet<u16>,
}

/// Which days fire: AWS lets exactly one of the two day fields choose them.
enum DayRule {
    Month(MonthDays),
    Week(WeekDays),
}

enum MonthDays {
    Days(BTreeSet<u16>),
    /// `L`
    Last,
    /// `15W`: the weekday nearest the 15th, within the month.
    NearestWeekday(u16),
}

enum WeekDays {
    Days(BTreeSet<u16>),
    /// `6L`: the last Friday of the month.
    Last(u16),
    /// `3#2`: the second Tuesday of the month.
    Nth(u16, u16),
}

/// A day field holds `?` or a rule.
enum DayField<T> {
    Unspecified,
    Rule(T),
}

/// How one field reads: its values, names and wildcards, from the AWS table.
struct FieldSpec {
    field: CronField,
    min: u16,
    max: u16,
    /// Names for `min`, `min + 1`, … (months and weekdays).
    names: &'static [&'static str],
    /// Shown in errors: "0-59", "1-12 or JAN-DEC", …
    values: &'static str,
    wildcards: &'static str,
    /// Largest `/` increment; 0 when the field takes no `/`.
    max_step: u16,
    /// Whether `a-b` may wrap past the end (`20-2` in hours, as in the AWS examples).
    wraps: bool,
}

const MINUTES: FieldSpec = FieldSpec {
    field: CronField::Minutes,
    min: 0,
    max: 59,
    names: &[],
    values: "0-59",
    wildcards: ", - * /",
    max_step: 59,
    wraps: true,
};
const HOURS: FieldSpec = FieldSpec {
    field: CronField::Hours,
    min: 0,
    max: 23,
    names: &[],
    values: "0-23",
    wildcards: ", - * /",
    max_step: 23,
    wraps: true,
};
const DAY_OF_MONTH: FieldSpec = FieldSpec {
    field: CronField::DayOfMonth,
    min: 1,
    max: 31,
    names: &[],
    values: "1-31",
    wildcards: ", - * ? / L W",
    max_step: 31,
    wraps: true,
};
const MONTH: FieldSpec = FieldSpec {
    field: CronField::Month,
    min: 1,
    max: 12,
    names: &[
        "JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC",
    ],
    values: "1-12 or JAN-DEC",
    wildcards: ", - * /",
    max_step: 12,
    wraps: true,
};
const DAY_OF_WEEK: FieldSpec = FieldSpec {
    field: CronField::DayOfWeek,
    min: 1,
    max: 7,
    names: &["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"],
    values: "1-7 (1 = SUN) or SUN-SAT",
    wildcards: ", - * ? L #",
    max_step: 0,
    wraps: true,
};
const YEAR: FieldSpec = FieldSpec {
    field: CronField::Year,
    min: 1970,
    max: 2199,
    names: &[],
    values: "1970-2199",
    wildcards: ", - * /",
    max_step: 229,
    wraps: false,
};

/// Day-of-week value AWS gives Saturday, which a lone `L` ("last day of the week") means.
const SATURDAY: u16 = 7;

impl FieldSpec {
    fn invalid(&self, text: &str, problem: String) -> ScheduleExpressionError {
        ScheduleExpressionError::InvalidField {
            field: self.field,
            text: text.to_owned(),
            problem,
        }
    }

    /// Parses a whole field of values, ranges, steps and lists.
    fn parse_list(&self, text: &str) -> Result<BTreeSet<u16>, ScheduleExpressionError> {
        self.check_symbols(text)
            .and_then(|()| self.list_values(text))
            .map_err(|problem| self.invalid(text, problem))
    }

    /// Names the first symbol the field does not take, with the ones it does.
    fn check_symbols(&self, text: &str) -> Result<(), String> {
        let stray = text
            .chars()
            .find(|c| *c == ' ' || (!c.is_alphanumeric() && !self.wildcards.contains(*c)));
        match stray {
            Some(c) => Err(format!(
                "`{c}` is not allowed here; {} takes {} and the wildcards {}",
                self.field, self.values, self.wildcards
            )),
            None => Ok(()),
        }
    }

    fn list_values(&self, text: &str) -> Result<BTreeSet<u16>, String> {
        let mut values = BTreeSet::new();
        for item in text.split(',') {
            values.extend(self.item_values(item)?);
        }
        Ok(values)
    }

    /// `*`, `a`, `a-b`, each optionally `/step`.
    fn item_values(&self, item: &str) -> Result<Vec<u16>, String> {
        if item.is_empty() {
            return Err("empty list item; separate values with single commas".to_owned());
        }
        let (base, step) = match item.split_once('/') {
            Some((base, step)) => (base, self.parse_step(step)?),
            None => (item, 1),
        };
        let stepped = item.contains('/');
        let (start, end) = match base.split_once('-') {
            _ if base == "*" => (self.min, self.max),
            Some((from, to)) => self.parse_range(from, to)?,
            None if stepped => (self.parse_value(base)?, self.max),
            None => {
                let value = self.parse_value(base)?;
                (value, value)
            }
        };
        Ok(self.expand(start, end, step))
    }

    fn parse_range(&self, from: &str, to: &str) -> Result<(u16, u16), String> {
        let (start, end) = (self.parse_value(from)?, self.parse_value(to)?);
        if start > end && !self.wraps {
            return Err(format!("range {from}-{to} runs backwards"));
        }
        Ok((start, end))
    }

    /// Every `step`-th value from `start` to `end`, wrapping past `max` when `start > end`.
    fn expand(&self, start: u16, end: u16, step: u16) -> Vec<u16> {
        let size = self.max - self.min + 1;
        let last = if start > end { end + size } else { end };
        (start..=last)
            .step_by(usize::from(step))
            .map(|v| if v > self.max { v - size } else { v })
            .collect()
    }

    fn parse_step(&self, step: &str) -> Result<u16, String> {
        let parsed = parse_digits(step).filter(|s| (1..=u32::from(self.max_step)).contains(s));
        match parsed {
            Some(step) => Ok(step as u16),
            None if self.max_step == 0 => Err(format!("{} takes no `/`", self.field)),
            None => Err(format!(
                "increment `{step}` must be a whole number from 1 to {}",
                self.max_step
            )),
        }
    }

    /// A number or, for months and weekdays, a capitalised name.
    fn parse_value(&self, token: &str) -> Result<u16, String> {
        if let Some(number) = parse_digits(token) {
            return u16::try_from(number)
                .ok()
                .filter(|n| (self.min..=self.max).contains(n))
                .ok_or_else(|| format!("{token} is out of range {}", self.values));
        }
        if let Some(index) = self.names.iter().position(|name| *name == token) {
            return Ok(self.min + index as u16);
        }
        if let Some(name) = self.names.iter().find(|n| n.eq_ignore_ascii_case(token)) {
            return Err(format!("write names in capitals: `{name}`"));
        }
        if token.is_empty() {
            return Err("a value is missing".to_owned());
        }
        Err(format!(
            "`{token}` is not a value; {} takes {}",
            self.field, self.values
        ))
    }
}

/// Plain decimal digits only: no sign, no spaces.
fn parse_digits(token: &str) -> Option<u32> {
    if token.is_empty() || !token.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // Too many digits for u32 is out of every range, like any other large number.
    Some(token.parse().unwrap_or(u32::MAX))
}

fn parse_cron_spec(body: &str) -> Result<CronSpec, ScheduleExpressionError> {
    let fields: Vec<&str> = body.split_whitespace().collect();
    let [minutes, hours, dom, month, dow, year] = fields[..] else {
        return Err(ScheduleExpressionError::CronFieldCount(fields.len()));
    };
    if body.split(' ').count() != 6 {
        return Err(ScheduleExpressionError::CronSpacing);
    }
    let minutes = MINUTES.parse_list(minutes)?;
    let hours = HOURS.parse_list(hours)?;
    let dom = parse_day_of_month(dom)?;
    let months = MONTH.parse_list(month)?;
    let dow = parse_day_of_week(dow)?;
    let years = YEAR.parse_list(year)?;
    let day = match (dom, dow) {
        (DayField::Rule(days), DayField::Unspecified) => DayRule::Month(days),
        (DayField::Unspecified, DayField::Rule(days)) => DayRule::Week(days),
        _ => return Err(ScheduleExpressionError::QuestionMark),
    };
    Ok(CronSpec {
        minutes,
        hours,
        day,
        months,
        years,
    })
}

/// `?`, `L`, `nW`, or a list. `L` and `W` stand alone: Quartz, whose grammar AWS follows,
/// gives surprising results when they are mixed into lists.
fn parse_day_of_month(text: &str) -> Result<DayField<MonthDays>, ScheduleExpressionError> {
    let spec = &DAY_OF_MONTH;
    spec.check_symbols(text)
        .and_then(|()| match text {
            "?" => Ok(DayField::Unspecified),
            "L" => Ok(DayField::Rule(MonthDays::Last)),
            _ if text.contains('?') => Err("`?` stands alone in its field".to_owned()),
            _ => month_days(text).map(DayField::Rule),
        })
        .map_err(|problem| spec.invalid(text, problem))
}

fn month_days(text: &str) -> Result<MonthDays, String> {
    if let Some(day) = text.strip_suffix('W') {
        return parse_digits(day)
            .and_then(|_| DAY_OF_MONTH.parse_value(day).ok())
            .map(MonthDays::NearestWeekday)
            .ok_or_else(|| "`W` follows a single day, e.g. `15W`".to_owned());
    }
    if text.contains('L') {
        return Err("`L` (last day of the month) stands alone in day-of-month".to_owned());
    }
    if text.contains('W') {
        return Err("`W` follows a single day, e.g. `15W`".to_owned());
    }
    DAY_OF_MONTH.list_values(text).map(MonthDays::Days)
}

/// `?`, `L` (Saturday), `dL`, `d#n`, or a list without increments.
fn parse_day_of_week(text: &str) -> Result<DayField<WeekDays>, ScheduleExpressionError> {
    let spec = &DAY_OF_WEEK;
    spec.check_symbols(text)
        .and_then(|()| match text {
            "?" => Ok(DayField::Unspecified),
            "L" => Ok(DayField::Rule(WeekDays::Days(BTreeSet::from([SATURDAY])))),
            _ if text.contains('?') => Err("`?` stands alone in its field".to_owned()),
            _ => week_days(text).map(DayField::Rule),
        })
        .map_err(|problem| spec.invalid(text, problem))
}

fn week_days(text: &str) -> Result<WeekDays, String> {
    if let Some((day, nth)) = text.split_once('#') {
        return nth_weekday(day, nth);
    }
    if let Some(day) = text.strip_suffix('L') {
        if day.contains([',', '-', 'L']) {
            return Err("with `L`, day-of-week is one day, e.g. `6L` (the last Friday)".to_owned());
        }
        return DAY_OF_WEEK.parse_value(day).map(WeekDays::Last);
    }
    DAY_OF_WEEK.list_values(text).map(WeekDays::Days)
}

/// AWS: "If you use a '#' character, you can define only one expression in the
/// day-of-week field."
fn nth_weekday(day: &str, nth: &str) -> Result<WeekDays, String> {
    if day.contains([',', '-']) || nth.contains([',', '-', '#']) {
        return Err("with `#`, day-of-week is one `day#n`, e.g. `3#2` (the second Tuesday)".into());
    }
    let day = DAY_OF_WEEK.parse_value(day)?;
    let nth = parse_digits(nth)
        .filter(|n| (1..=5).contains(n))
        .ok_or_else(|| format!("`#{nth}` must name the 1st to 5th such day of the month"))?;
    Ok(WeekDays::Nth(day, nth as u16))
}

// ---------------------------------------------------------------------------------------------
// cron: fire times, through croner.

/// Parses the grammar, hands the result to croner, and checks the fire times from `now`.
fn parse_cron(body: &str, now: Option<DateTime<Utc>>) -> Result<Cron, ScheduleExpressionError> {
    let spec = parse_cron_spec(body)?;
    let cron = CronParser::builder()
        .seconds(Seconds::Required)
        .year(Year::Required)
        .build()
        .parse(&croner_pattern(&spec))
        .map_err(|e| ScheduleExpressionError::Unevaluable(e.to_string()))?;
    if let Some(now) = now {
        check_spacing(&cron, now)?;
    }
    Ok(cron)
}

/// croner's own syntax differs from AWS's where it matters (day-of-week 0 = SUN, `0/10`
/// refused, no wrapping ranges, six fields meaning seconds-first), so it only ever sees
/// explicit values: `seconds minutes hours dom month dow year`.
fn croner_pattern(spec: &CronSpec) -> String {
    let (dom, dow) = match &spec.day {
        DayRule::Month(days) => (croner_month_days(days), "*".to_owned()),
        DayRule::Week(days) => ("*".to_owned(), croner_week_days(days)),
    };
    format!(
        "0 {} {} {dom} {} {dow} {}",
        croner_list(&spec.minutes),
        croner_list(&spec.hours),
        croner_list(&spec.months),
        croner_list(&spec.years),
    )
}

fn croner_month_days(days: &MonthDays) -> String {
    match days {
        MonthDays::Days(days) => croner_list(days),
        MonthDays::Last => "L".to_owned(),
        MonthDays::NearestWeekday(day) => format!("{day}W"),
    }
}

/// AWS counts weekdays 1 (SUN) to 7 (SAT), croner 0 (SUN) to 6 (SAT).
fn croner_week_days(days: &WeekDays) -> String {
    let posix = |day: &u16| day - 1;
    match days {
        WeekDays::Days(days) => croner_list(&days.iter().map(posix).collect()),
        WeekDays::Last(day) => format!("{}#L", posix(day)),
        WeekDays::Nth(day, nth) => format!("{}#{nth}", posix(day)),
    }
}

/// `0,5,10-12`: runs of consecutive values become ranges, which keeps the all-years field short.
fn croner_list(values: &BTreeSet<u16>) -> String {
    let mut runs: Vec<(u16, u16)> = Vec::new();
    for &v in values {
        match runs.last_mut() {
            Some((_, end)) if *end + 1 == v => *end = v,
            _ => runs.push((v, v)),
        }
    }
    let items: Vec<String> = runs
        .into_iter()
        .map(|(a, b)| {
            if a == b {
                a.to_string()
            } else {
                format!("{a}-{b}")
            }
        })
        .collect();
    items.join(",")
}

/// croner cannot search before year 1; no AWS cron fires before 1970 anyway.
fn search_floor() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(1969, 12, 31, 23, 59, 59)
        .single()
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

fn next_cron_fire(cron: &Cron, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    // croner searches from the next whole second; a fraction must not skip a fire time.
    let from = after.with_nanosecond(0)?.max(search_floor());
    cron.find_next_occurrence(&from, false).ok()
}

/// Most fires a day can hold (one a minute), bounding the first-days walk.
const MAX_FIRES_PER_DAY: usize = 24 * 60;
/// Days from 1970 to the end of 2199, bounding the midnight walk.
const MAX_FIRING_DAYS: usize = 84_000;

/// The times of day at which every firing day fires first and last.
struct DayShape {
    first: NaiveTime,
    last: NaiveTime,
}

/// Refuses a schedule that never fires after `now`, or fires twice within
/// [`MIN_INTERVAL`] at any point after `now`.
///
/// The hours and minutes fields do not depend on the date, so every firing day fires at
/// the same times of day: walking two firing days shows every gap inside a day. What can
/// still differ is the step from one firing day's last fire to the next firing day's
/// first, and only when the next firing day is the very next date; that step is walked
/// across all firing days, but only when fires sit close enough to midnight to matter.
fn check_spacing(cron: &Cron, now: DateTime<Utc>) -> Result<(), ScheduleExpressionError> {
    let first =
        next_cron_fire(cron, now).ok_or(ScheduleExpressionError::NeverFires { after: now })?;
    match walk_first_days(cron, first)? {
        Some((last_fire, shape)) => walk_midnights(cron, last_fire, &shape),
        None => Ok(()),
    }
}

/// Walks every fire from `first` to the end of the next firing date, checking each gap.
/// Returns that date's last fire and the shape of a whole firing day, or `None` when the
/// schedule ends before that date does.
fn walk_first_days(
    cron: &Cron,
    first: DateTime<Utc>,
) -> Result<Option<(DateTime<Utc>, DayShape)>, ScheduleExpressionError> {
    let mut prev = first;
    let mut second_day_first: Option<DateTime<Utc>> = None;
    for _ in 0..2 * MAX_FIRES_PER_DAY {
        let Some(next) = next_cron_fire(cron, prev) else {
            return Ok(None);
        };
        check_gap(prev, next)?;
        match second_day_first {
            None if next.date_naive() != first.date_naive() => second_day_first = Some(next),
            Some(day_first) if next.date_naive() != day_first.date_naive() => {
                let shape = DayShape {
                    first: day_first.time(),
                    last: prev.time(),
                };
                return Ok(Some((prev, shape)));
            }
            _ => {}
        }
        prev = next;
    }
    Ok(None)
}

/// Checks the step from each firing day's last fire into the next firing day.
fn walk_midnights(
    cron: &Cron,
    mut last_fire: DateTime<Utc>,
    shape: &DayShape,
) -> Result<(), ScheduleExpressionError> {
    let across_midnight = Duration::days(1) - (shape.last - shape.first);
    if across_midnight >= MIN_INTERVAL {
        return Ok(());
    }
    for _ in 0..MAX_FIRING_DAYS {
        let Some(next) = next_cron_fire(cron, last_fire) else {
            return Ok(());
        };
        check_gap(last_fire, next)?;
        last_fire = next.date_naive().and_time(shape.last).and_utc();
    }
    Ok(())
}

fn check_gap(prev: DateTime<Utc>, next: DateTime<Utc>) -> Result<(), ScheduleExpressionError> {
    let gap = next - prev;
    if gap < MIN_INTERVAL {
        return Err(ScheduleExpressionError::TooFrequent {
            gap_minutes: gap.num_minutes(),
            at: prev,
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    type Res = Result<ScheduleExpression, ScheduleExpressionError>;

    fn at(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, mo, d, h, mi, 0).unwrap()
    }

    /// Parses as of 2026-01-01T00:00Z (a Thursday), so results do not move with the clock.
    fn parse(text: &str) -> Res {
        ScheduleExpression::parse_at(text, Some(at(2026, 1, 1, 0, 0)))
    }

    fn fires(text: &str, from: DateTime<Utc>, n: usize) -> Vec<DateTime<Utc>> {
        let expr = parse(text).unwrap();
        std::iter::successors(expr.next_fire_after(from), |t| expr.next_fire_after(*t))
            .take(n)
            .collect()
    }

    fn message(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_slash_after_a_start_counts_from_that_start() {
        let minutes: Vec<u32> = fires("cron(1/10 * * * ? *)", at(2026, 1, 1, 0, 0), 3)
            .iter()
            .map(|t| t.minute())
            .collect();
        assert_eq!(minutes, [1, 11, 21]);
    }

    #[test]
    fn day_of_week_one_is_sunday() {
        let next = fires("cron(0 12 ? * 1 *)", at(2026, 1, 1, 0, 0), 1);
        assert_eq!(next, [at(2026, 1, 4, 12, 0)]);
    }

    #[test]
    fn a_lone_l_in_day_of_week_is_saturday() {
        let next = fires("cron(0 12 ? * L *)", at(2026, 1, 1, 0, 0), 1);
        assert_eq!(next, [at(2026, 1, 3, 12, 0)]);
    }

    #[test]
    fn six_l_is_the_last_friday_of_the_month() {
        let next = fires("cron(15 10 ? * 6L *)", at(2026, 1, 1, 0, 0), 2);
        assert_eq!(next, [at(2026, 1, 30, 10, 15), at(2026, 2, 27, 10, 15)]);
    }

    #[test]
    fn three_hash_two_is_the_second_tuesday() {
        let next = fires("cron(0 9 ? * 3#2 *)", at(2026, 1, 1, 0, 0), 1);
        assert_eq!(next, [at(2026, 1, 13, 9, 0)]);
    }

    #[test]
    fn w_picks_the_nearest_weekday_inside_the_month() {
        // 2026-02-01 is a Sunday: 1W moves forward to Monday the 2nd.
        // 2026-05-31 is a Sunday: the last day cannot move forward, so 31W is Friday the 29th.
        assert_eq!(
            fires("cron(0 0 1W 2 ? *)", at(2026, 1, 1, 0, 0), 1),
            [at(2026, 2, 2, 0, 0)]
        );
        assert_eq!(
            fires("cron(0 0 31W 5 ? *)", at(2026, 1, 1, 0, 0), 1),
            [at(2026, 5, 29, 0, 0)]
        );
    }

    #[test]
    fn l_in_day_of_month_is_the_last_day_even_in_a_leap_february() {
        assert_eq!(
            fires("cron(0 0 L 2 ? *)", at(2027, 6, 1, 0, 0), 1),
            [at(2028, 2, 29, 0, 0)]
        );
    }

    #[test]
    fn an_hour_range_may_wrap_past_midnight() {
        let hours: Vec<u32> = fires("cron(0 22-1 * * ? *)", at(2026, 1, 1, 0, 30), 4)
            .iter()
            .map(|t| t.hour())
            .collect();
        assert_eq!(hours, [1, 22, 23, 0]);
    }

    #[test]
    fn a_year_range_bounds_the_fire_times() {
        let expr = parse("cron(0 0 1 1 ? 2027-2028)").unwrap();
        assert_eq!(
            expr.next_fire_after(at(2026, 6, 1, 0, 0)),
            Some(at(2027, 1, 1, 0, 0))
        );
        assert_eq!(expr.next_fire_after(at(2028, 1, 1, 0, 0)), None);
    }

    #[test]
    fn a_fraction_of_a_second_does_not_skip_a_fire_time() {
        let expr = parse("cron(5 10 * * ? *)").unwrap();
        let just_before = at(2026, 1, 1, 10, 4) + Duration::milliseconds(59_500);
        assert_eq!(
            expr.next_fire_after(just_before),
            Some(at(2026, 1, 1, 10, 5))
        );
    }

    #[test]
    fn fire_times_before_1970_start_in_1970() {
        let expr = parse("cron(0 0 1 1 ? *)").unwrap();
        let long_ago = Utc.with_ymd_and_hms(1500, 1, 1, 0, 0, 0).unwrap();
        assert_eq!(expr.next_fire_after(long_ago), Some(at(1970, 1, 1, 0, 0)));
    }

    #[test]
    fn a_rate_fires_one_interval_after() {
        let expr = parse("rate(2 hours)").unwrap();
        assert_eq!(
            expr.next_fire_after(at(2026, 1, 1, 0, 0)),
            Some(at(2026, 1, 1, 2, 0))
        );
    }

    #[test]
    fn the_gap_across_the_hour_is_reported_with_its_time() {
        assert_eq!(
            message("cron(0,58 * * * ? *)"),
            "schedules may fire at most every 5 minutes; this one fires 2 minutes apart at \
             2026-01-01T00:58:00Z"
        );
    }

    #[test]
    fn the_gap_across_midnight_between_firing_days_is_caught() {
        // Saturday 23:58, then Sunday 00:00.
        let err = parse("cron(0,58 0,23 ? * SAT,SUN *)").unwrap_err();
        assert_eq!(
            err,
            ScheduleExpressionError::TooFrequent {
                gap_minutes: 2,
                at: at(2026, 1, 3, 23, 58)
            }
        );
    }

    #[test]
    fn the_gap_across_new_year_is_caught() {
        let err = parse("cron(0,58 0,23 1,31 1,12 ? *)").unwrap_err();
        assert_eq!(
            err,
            ScheduleExpressionError::TooFrequent {
                gap_minutes: 2,
                at: at(2026, 12, 31, 23, 58)
            }
        );
    }

    #[test]
    fn the_gap_in_a_leap_year_only_is_caught() {
        // Feb 29 23:58, then Mar 1 00:00: only in 2028.
        let err = parse("cron(0,58 0,23 29,1 2,3 ? *)").unwrap_err();
        assert_eq!(
            err,
            ScheduleExpressionError::TooFrequent {
                gap_minutes: 2,
                at: at(2028, 2, 29, 23, 58)
            }
        );
    }

    #[test]
    fn fires_near_midnight_on_days_that_never_touch_are_fine() {
        assert!(parse("cron(0,58 0,23 ? * MON,WED *)").is_ok());
    }

    #[test]
    fn a_year_that_is_over_never_fires() {
        assert_eq!(
            message("cron(0 0 1 1 ? 1999)"),
            "this cron expression never fires after 2026-01-01T00:00:00Z; check its year, month \
             and day fields"
        );
    }

    #[test]
    fn field_errors_name_the_field_and_the_fix() {
        assert_eq!(
            message("cron(0 0 ? * 0 *)"),
            "cron day-of-week field `0`: 0 is out of range 1-7 (1 = SUN) or SUN-SAT"
        );
        assert_eq!(
            message("cron(0 0 ? * mon *)"),
            "cron day-of-week field `mon`: write names in capitals: `MON`"
        );
        assert_eq!(
            message("cron(0 0 ? * MON/2 *)"),
            "cron day-of-week field `MON/2`: `/` is not allowed here; day-of-week takes 1-7 \
             (1 = SUN) or SUN-SAT and the wildcards , - * ? L #"
        );
    }

    #[test]
    fn rate_messages_say_how_to_write_it() {
        assert_eq!(
            message("rate(5 minute)"),
            "use the singular unit `minute` only for a value of 1: write `rate(5 minutes)`"
        );
        assert_eq!(
            message("rate(1 minutes)"),
            "a value of 1 takes the singular unit: write `rate(1 minute)`"
        );
        assert_eq!(
            message("rate(1 minute)"),
            "schedules may fire at most every 5 minutes; this one fires every 1 minute"
        );
    }

    #[test]
    fn the_croner_pattern_spells_out_aws_values() {
        let spec = parse_cron_spec("0/20 20-2 ? JAN,MAR-MAY MON-FRI 2030").unwrap();
        assert_eq!(
            croner_pattern(&spec),
            "0 0,20,40 0-2,20-23 * 1,3-5 1-5 2030"
        );
    }

    #[test]
    fn the_longest_allowed_walk_stays_fast() {
        // Fires close to midnight on days that never touch: the midnight walk runs to 2199.
        let started = std::time::Instant::now();
        assert!(parse("cron(0,58 0,23 ? * MON,WED,FRI *)").is_ok());
        assert!(
            started.elapsed() < std::time::Duration::from_secs(5),
            "{:?}",
            started.elapsed()
        );
    }
}

#[cfg(test)]
mod stored_tests {
    use super::*;

    #[test]
    fn a_stored_expression_whose_last_year_has_passed_still_loads() {
        let stored: ScheduleExpression = serde_json::from_str("\"cron(0 0 1 1 ? 2020)\"").unwrap();
        assert_eq!(stored.as_str(), "cron(0 0 1 1 ? 2020)");
        assert!(
            "cron(0 0 1 1 ? 2020)"
                .parse::<ScheduleExpression>()
                .is_err()
        );
    }

    #[test]
    fn stored_text_that_is_no_expression_is_still_refused() {
        assert!(serde_json::from_str::<ScheduleExpression>("\"cron(0 6 * * *)\"").is_err());
    }

    #[test]
    fn firings_per_day_of_rates_and_crons() {
        for (text, expected) in [
            ("rate(5 minutes)", 288),
            ("rate(7 minutes)", 206),
            ("rate(1 hour)", 24),
            ("rate(1 day)", 1),
            ("rate(7 days)", 1),
            ("cron(0 6 * * ? *)", 1),
            ("cron(0/15 * * * ? *)", 96),
            ("cron(0 9-17 ? * MON-FRI *)", 9),
            ("cron(0/5 * 1 * ? *)", 288),
        ] {
            let e: ScheduleExpression = text.parse().unwrap();
            assert_eq!(e.max_firings_per_day(), expected, "{text}");
        }
    }
}
