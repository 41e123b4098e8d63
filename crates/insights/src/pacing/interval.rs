//! The 80 % interval, measured rather than assumed: the model is run at every past day of
//! the entity's own history, and the ratio of what the next days actually spent to what it
//! projected gives the quantiles of the interval. Daily noise, level uncertainty, budget
//! changes and pauses are all in those ratios, as often as this entity has them.

use super::level::{Estimate, Level};

/// Days of history before the first origin (the level needs a week or two).
const FIRST_ORIGIN: usize = 14;
/// Origins needed for the measured quantiles; fewer and the fallback is used.
const MIN_ORIGINS: usize = 20;
/// Days of history the origins span: the entity's recent behaviour matters most.
const ORIGIN_DAYS: usize = 120;
/// Every other day is an origin: neighbouring windows overlap almost entirely, so the
/// skipped ones add little but time.
const ORIGIN_STEP: usize = 2;
/// How much wider than the measured quantiles the interval is, per day of the window:
/// past windows overlap, so the history holds few independent ones (the fewer the longer
/// the window) and their extreme quantiles come out too narrow. Calibrated on the
/// development seed of the backtest, checked on the held-out one.
const INFLATION_PER_DAY: f64 = 0.025;
const MAX_INFLATION: f64 = 1.8;
/// z of the 80 % interval (the 90th percentile of a standard normal).
const Z80: f64 = 1.2816;
/// Relative level drift assumed by the fallback, on top of the daily noise.
const FALLBACK_DRIFT: f64 = 0.25;

/// Quantiles of actual / projected remaining spend.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Quantiles {
    pub low: f64,
    pub high: f64,
}

/// The quantiles of actual / projected spend of the `len` days starting `offset` days
/// after each past origin; `None` when the history has too few origins.
pub(super) fn quantiles(
    level: &Level,
    offset: usize,
    len: usize,
    lo: f64,
    hi: f64,
) -> Option<Quantiles> {
    let n = level.y.len();
    // A window longer than the history allows is shortened: the ratio is relative, so a
    // shorter window still measures the level uncertainty that dominates it.
    let room = n.checked_sub(FIRST_ORIGIN + MIN_ORIGINS * ORIGIN_STEP)?;
    let len = len.min(room).max(1);
    let offset = offset.min(room.saturating_sub(len));
    let last = n.checked_sub(offset + len + 1)?;
    let first = FIRST_ORIGIN.max(last.saturating_sub(ORIGIN_DAYS - 1));
    if last < first {
        return None;
    }
    let sums = Sums::new(level);
    let mut ratios = Vec::with_capacity((last - first) / ORIGIN_STEP + 1);
    for s in (first..=last).rev().step_by(ORIGIN_STEP) {
        let (a, b) = (s + offset + 1, s + offset + len + 1);
        let projected = level.at(s).value * sums.weight(a, b);
        // An origin where nothing was projected says nothing about relative error.
        if projected > 0.0 {
            ratios.push(sums.spend(a, b) / projected);
        }
    }
    if ratios.len() < MIN_ORIGINS {
        return None;
    }
    ratios.sort_unstable_by(f64::total_cmp);
    let inflation = (1.0 + INFLATION_PER_DAY * len as f64).min(MAX_INFLATION);
    let widen = |q: f64| 1.0 + inflation * (quantile(&ratios, q) - 1.0);
    Some(Quantiles {
        low: widen(lo),
        high: widen(hi),
    })
}

/// A normal interval from the dispersion of the level's days and an assumed drift, for
/// histories too short to measure one.
pub(super) fn fallback(now: &Estimate, weight: f64, len: usize) -> Quantiles {
    let days = now.days.max(1) as f64;
    let noise = now.cv * (1.0 / weight.max(1.0) + 1.0 / days).sqrt();
    let sd = (noise * noise + FALLBACK_DRIFT * FALLBACK_DRIFT * (len as f64 / 30.0)).sqrt();
    Quantiles {
        low: 1.0 - Z80 * sd,
        high: 1.0 + Z80 * sd,
    }
}

/// Prefix sums of spend and of weekday factors.
struct Sums {
    spend: Vec<f64>,
    weight: Vec<f64>,
}

impl Sums {
    fn new(level: &Level) -> Sums {
        let n = level.y.len();
        let (mut spend, mut weight) = (Vec::with_capacity(n + 1), Vec::with_capacity(n + 1));
        let (mut s, mut w) = (0.0, 0.0);
        spend.push(s);
        weight.push(w);
        for i in 0..n {
            s += level.y[i];
            w += level.factor(i);
            spend.push(s);
            weight.push(w);
        }
        Sums { spend, weight }
    }

    /// Spend of days `a..b`.
    fn spend(&self, a: usize, b: usize) -> f64 {
        self.spend[b] - self.spend[a]
    }

    /// Weekday factors of days `a..b` summed.
    fn weight(&self, a: usize, b: usize) -> f64 {
        self.weight[b] - self.weight[a]
    }
}

/// The `q` quantile of sorted `v` (linear interpolation), `v` not empty.
fn quantile(v: &[f64], q: f64) -> f64 {
    let pos = q.clamp(0.0, 1.0) * (v.len() - 1) as f64;
    let (i, frac) = (pos.floor() as usize, pos.fract());
    let next = v[(i + 1).min(v.len() - 1)];
    v[i] + (next - v[i]) * frac
}
