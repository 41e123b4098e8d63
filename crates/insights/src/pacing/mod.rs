//! Month-end spend projection (budget pacing), pure and deterministic
//! (`docs/insights-pacing.md`).
//!
//! [`project`] reads one entity's daily spend and projects one month's total: the spend to
//! date, plus the remaining days at the entity's recent level shaped by its weekday
//! profile, with an 80 % interval measured from the entity's own past forecast errors.
//! The handler calls it once for the account total and once per campaign, for the current
//! month and the previous months within the series.
//!
//! `profile` estimates the weekday factors, `level` the recent daily level (robust to a
//! spike, following a budget change, zero once paused), `interval` the 80 % interval;
//! `backtest` is the seeded synthetic evaluation the bench and a test share.

pub mod backtest;
mod history;
mod interval;
mod level;
mod profile;
#[cfg(test)]
mod tests;

use adpipe_domain::insights::Projection;
use chrono::{Datelike, Months, NaiveDate};

use crate::series::EntitySeries;
use history::History;

/// Projection of `month_first_day`'s month total spend (micros) from the daily spend
/// `days` (index 0 = `first_day`; `None` = no row that day, i.e. no spend), as of `as_of`:
/// the newest day counted; the month's days after it are projected.
///
/// - `spent_micros` is the exact sum of the month's days up to `as_of` (refunds, i.e.
///   negative days, are summed too; the result is floored at 0 and saturates at `i64::MAX`).
/// - A month that ended by `as_of` has `projected = low = high = spent`.
/// - A later month is projected from the recent level (0 without spend history).
/// - Always `0 ≤ spent ≤ low ≤ projected ≤ high`.
///
/// Only days up to `as_of` are read, and of those only the last [`HISTORY_DAYS`] for the
/// model (all of them for `spent`). `month_first_day` may be any day of the month.
pub fn project(
    first_day: NaiveDate,
    days: &[Option<i64>],
    month_first_day: NaiveDate,
    as_of: NaiveDate,
) -> Projection {
    let Some(month) = Month::containing(month_first_day) else {
        return exact(0);
    };
    let spent = spent(first_day, days, month, as_of);
    let remaining = month.days_after(as_of);
    if remaining.is_empty() {
        return exact(spent);
    }
    let history = History::new(first_day, days, as_of);
    let Some(forecast) = history.forecast(&remaining) else {
        return exact(spent);
    };
    let micros = |x: f64| spent.saturating_add(x.round().max(0.0) as i64);
    Projection {
        spent_micros: spent,
        projected_micros: micros(forecast.expected),
        low_micros: micros(forecast.low),
        high_micros: micros(forecast.high),
    }
}

/// [`project`] on an entity's spend (`cost_micros`) in a series starting on `first_day`.
pub fn project_entity(
    first_day: NaiveDate,
    entity: &EntitySeries,
    month_first_day: NaiveDate,
    as_of: NaiveDate,
) -> Projection {
    let days = daily_spend(entity);
    project(first_day, &days, month_first_day, as_of)
}

/// An entity's daily spend in micros, `None` where it has no row.
pub fn daily_spend(entity: &EntitySeries) -> Vec<Option<i64>> {
    entity
        .days
        .iter()
        .map(|d| d.map(|t| t.cost_micros))
        .collect()
}

/// Days of history the model reads (the spend to date reads every day it is given).
pub const HISTORY_DAYS: usize = 182;

/// The 80 % interval's quantiles.
const LOW_QUANTILE: f64 = 0.10;
const HIGH_QUANTILE: f64 = 0.90;

/// A projection with nothing left to project.
fn exact(spent: i64) -> Projection {
    Projection {
        spent_micros: spent,
        projected_micros: spent,
        low_micros: spent,
        high_micros: spent,
    }
}

/// One calendar month, its first and last day.
#[derive(Debug, Clone, Copy)]
struct Month {
    first: NaiveDate,
    last: NaiveDate,
}

impl Month {
    /// `None` only at the edge of chrono's calendar.
    fn containing(day: NaiveDate) -> Option<Month> {
        let first = day.with_day(1)?;
        let last = first.checked_add_months(Months::new(1))?.pred_opt()?;
        Some(Month { first, last })
    }

    /// The month's days after `as_of`, oldest first.
    fn days_after(self, as_of: NaiveDate) -> Vec<NaiveDate> {
        let start = match as_of.succ_opt() {
            Some(next) => next.max(self.first),
            None => return Vec::new(),
        };
        start.iter_days().take_while(|d| *d <= self.last).collect()
    }
}

/// The exact sum of the month's days up to `as_of`, floored at 0.
fn spent(first_day: NaiveDate, days: &[Option<i64>], month: Month, as_of: NaiveDate) -> i64 {
    let end = month.last.min(as_of);
    let lo = index_of(first_day, month.first).max(0);
    let hi = index_of(first_day, end).min(days.len() as i64 - 1);
    if hi < lo {
        return 0;
    }
    let sum: i128 = days[lo as usize..=hi as usize]
        .iter()
        .map(|d| i128::from(d.unwrap_or(0)))
        .sum();
    sum.clamp(0, i128::from(i64::MAX)) as i64
}

/// The index of `day` in a series starting on `first_day` (negative before it).
fn index_of(first_day: NaiveDate, day: NaiveDate) -> i64 {
    (day - first_day).num_days()
}
