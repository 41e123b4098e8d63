//! The days the model reads: the recent spend up to `as_of`, as non-negative floats, and
//! the forecast of a window of later days from them.

use chrono::{Datelike, NaiveDate};

use super::interval::{self, Quantiles};
use super::level::Level;
use super::profile::Profile;
use super::{HIGH_QUANTILE, HISTORY_DAYS, LOW_QUANTILE, index_of};

/// Days past the newest row that still count as zero-spend days; a longer gap means the
/// entity is not running at all.
const MAX_GAP_DAYS: i64 = 62;

/// The share of the remaining days at its former level a paused entity's interval allows
/// for: it spans "stays paused" to "resumes tomorrow".
const RESTART_SHARE: f64 = 1.0;

/// Spend of the remaining days: expected, and the 80 % interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Forecast {
    pub expected: f64,
    pub low: f64,
    pub high: f64,
}

/// The recent days up to `as_of`, starting at the entity's first day with spend.
pub(super) struct History {
    /// Spend per day, micros, ≥ 0; `None` rows are 0.
    y: Vec<f64>,
    /// Weekday (0 = Monday) of `y[0]`.
    dow0: usize,
    /// The day of `y`'s last element (`as_of`).
    as_of: NaiveDate,
}

impl History {
    pub fn new(first_day: NaiveDate, days: &[Option<i64>], as_of: NaiveDate) -> History {
        let end = index_of(first_day, as_of);
        let last_row = days.len() as i64 - 1;
        let empty = History {
            y: Vec::new(),
            dow0: 0,
            as_of,
        };
        if end < 0 || end - last_row > MAX_GAP_DAYS {
            return empty;
        }
        let start = (end + 1 - HISTORY_DAYS as i64).max(0);
        // Days after the newest row up to `as_of` had no row: no spend.
        let y: Vec<f64> = (start..=end)
            .map(|i| days.get(i as usize).copied().flatten().unwrap_or(0).max(0) as f64)
            .collect();
        // The entity's history starts with its first spend: earlier zeros say nothing
        // about its level or weekday profile.
        let Some(lead) = y.iter().position(|v| *v > 0.0) else {
            return empty;
        };
        let first = as_of - chrono::Days::new((y.len() - 1 - lead) as u64);
        History {
            y: y[lead..].to_vec(),
            dow0: first.weekday().num_days_from_monday() as usize,
            as_of,
        }
    }

    /// The spend of `days` (consecutive, after `as_of`), `None` without spend history.
    pub fn forecast(&self, days: &[NaiveDate]) -> Option<Forecast> {
        let first = *days.first()?;
        if self.y.is_empty() {
            return None;
        }
        let profile = Profile::estimate(&self.y, self.dow0);
        let level = Level::new(&self.y, self.dow0, &profile);
        let now = level.at(self.y.len() - 1);
        let weight: f64 = days
            .iter()
            .map(|d| profile.at(d.weekday().num_days_from_monday() as usize))
            .sum();
        let expected = now.value * weight;
        if expected <= 0.0 {
            // Paused: nothing expected, but a restart is within the interval.
            let high = RESTART_SHARE * level.before_pause(self.y.len() - 1) * weight;
            return Some(Forecast {
                expected: 0.0,
                low: 0.0,
                high,
            });
        }
        let offset = (index_of(self.as_of, first) - 1).max(0) as usize;
        let q = interval::quantiles(&level, offset, days.len(), LOW_QUANTILE, HIGH_QUANTILE)
            .unwrap_or_else(|| interval::fallback(&now, weight, days.len()));
        Some(widen(expected, q))
    }
}

/// The interval around `expected` from the ratio quantiles, always containing it.
fn widen(expected: f64, q: Quantiles) -> Forecast {
    Forecast {
        expected,
        low: expected * q.low.clamp(0.0, 1.0),
        high: expected * q.high.max(1.0),
    }
}
