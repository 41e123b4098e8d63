//! The recent daily level: what an average day (weekday factor 1) spends now.
//!
//! Each recent day's spend divided by its weekday factor estimates the level. The level is
//! the trimmed mean of the last week of those (a single spike, high or low, is dropped),
//! unless the last 3 days agree on a different level (a budget change): then their median.
//! A run of zero days longer than the entity's usual zero runs is a pause: level 0, and
//! the days before a pause do not count for the level after it.

use super::profile::{Profile, median};

/// Days whose weekday factor is below this carry too little spend to tell the level.
const ACTIVE_FACTOR: f64 = 0.25;
/// Active days the level is estimated from.
const WINDOW: usize = 7;
/// Days looked back for them (past inactive weekdays and short zero runs).
const LOOKBACK: usize = 42;
/// Days of the "recent" level a budget change is detected on (see `median3`).
const SHORT: usize = 3;
/// How many robust standard deviations the recent days must move to count as a change.
const SHIFT_SIGMAS: f64 = 2.0;
/// The smallest relative spread assumed when telling a change from noise.
const MIN_CV: f64 = 0.05;
/// A zero run is a pause when a run that long would happen by chance less often than this.
const PAUSE_CHANCE: f64 = 0.01;
/// Bounds of a pause's length, in days of average spend (weekday factors summed).
const PAUSE_MASS: (f64, f64) = (2.0, 10.0);

/// The level as of one day.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Estimate {
    /// Spend of an average day, micros.
    pub value: f64,
    /// Relative daily noise around it.
    pub cv: f64,
    /// Number of those days.
    pub days: usize,
}

impl Estimate {
    const PAUSED: Estimate = Estimate {
        value: 0.0,
        cv: 0.0,
        days: 0,
    };
}

/// One history's level at any of its days.
pub(super) struct Level<'a> {
    pub y: &'a [f64],
    pub dow0: usize,
    pub profile: &'a Profile,
    /// Weekday factors summed over a zero run that make it a pause.
    pause_mass: f64,
}

impl<'a> Level<'a> {
    pub fn new(y: &'a [f64], dow0: usize, profile: &'a Profile) -> Level<'a> {
        let mut level = Level {
            y,
            dow0,
            profile,
            pause_mass: PAUSE_MASS.0,
        };
        level.pause_mass = level.pause_mass();
        level
    }

    /// The weekday factor of day `i`.
    pub fn factor(&self, i: usize) -> f64 {
        self.profile.at(self.dow0 + i)
    }

    /// The level from the days up to `end` (inclusive).
    pub fn at(&self, end: usize) -> Estimate {
        let mut z = [0.0; WINDOW];
        let k = self.recent(end, &mut z);
        if k == 0 {
            return Estimate::PAUSED;
        }
        let z = &z[..k];
        let value = self.changed(z).unwrap_or_else(|| trimmed_mean(z));
        Estimate {
            value,
            cv: self.profile.cv,
            days: k,
        }
    }

    /// The median of the newest `SHORT` days when it differs from the older days' median
    /// by more than the noise explains (a budget change, or a restart).
    fn changed(&self, z: &[f64]) -> Option<f64> {
        if z.len() < SHORT + 2 {
            return None;
        }
        let short = median3(z[0], z[1], z[2]);
        let mut old = [0.0; WINDOW];
        let old = &mut old[..z.len() - SHORT];
        old.copy_from_slice(&z[SHORT..]);
        let old = median(old);
        let sd = self.profile.cv.max(MIN_CV) * short.max(old);
        ((short - old).abs() > SHIFT_SIGMAS * sd).then_some(short)
    }

    /// The level before the zero run ending on `end` (the level a paused entity would
    /// resume at).
    pub fn before_pause(&self, end: usize) -> f64 {
        let last = end.min(self.y.len().saturating_sub(1));
        match self.y[..=last].iter().rposition(|v| *v > 0.0) {
            Some(i) => self.at(i).value,
            None => 0.0,
        }
    }

    /// Fills `z` with the level estimates of the most recent active days up to `end`
    /// (newest first) and returns their number; 0 when paused on `end`.
    fn recent(&self, end: usize, z: &mut [f64; WINDOW]) -> usize {
        let (mut k, mut zeros, mut zero_mass) = (0, 0, 0.0);
        let first = end.saturating_sub(LOOKBACK);
        for i in (first..=end.min(self.y.len().saturating_sub(1))).rev() {
            let f = self.factor(i);
            if f < ACTIVE_FACTOR {
                continue;
            }
            if self.y[i] <= 0.0 {
                zeros += 1;
                zero_mass += f;
                if zero_mass >= self.pause_mass {
                    // The days before a pause belong to another regime.
                    return k;
                }
                continue;
            }
            // Zero days shorter than a pause are ordinary days of this regime.
            for _ in 0..zeros {
                k = push(z, k, 0.0);
            }
            (zeros, zero_mass) = (0, 0.0);
            k = push(z, k, self.y[i] / f);
            if k == WINDOW {
                return k;
            }
        }
        for _ in 0..zeros {
            k = push(z, k, 0.0);
        }
        k
    }

    /// The factor mass of a zero run unlikely by chance given how often active days spend
    /// nothing.
    fn pause_mass(&self) -> f64 {
        let recent = self.y.len().saturating_sub(8 * 7);
        let (mut active, mut zero) = (0usize, 0usize);
        for i in recent..self.y.len() {
            if self.factor(i) >= ACTIVE_FACTOR {
                active += 1;
                zero += usize::from(self.y[i] <= 0.0);
            }
        }
        let p0 = zero as f64 / active.max(1) as f64;
        if p0 <= 0.0 {
            return PAUSE_MASS.0;
        }
        (PAUSE_CHANCE.ln() / p0.min(0.99).ln()).clamp(PAUSE_MASS.0, PAUSE_MASS.1)
    }
}

fn push(z: &mut [f64; WINDOW], k: usize, v: f64) -> usize {
    if k < WINDOW {
        z[k] = v;
        k + 1
    } else {
        k
    }
}

/// The mean without the highest and lowest value (from 5 values on).
fn trimmed_mean(z: &[f64]) -> f64 {
    let sum: f64 = z.iter().sum();
    if z.len() < 5 {
        return sum / z.len().max(1) as f64;
    }
    // No sort: this runs at every origin of the interval's history.
    let max = z.iter().copied().fold(f64::MIN, f64::max);
    let min = z.iter().copied().fold(f64::MAX, f64::min);
    (sum - max - min) / (z.len() - 2) as f64
}

fn median3(a: f64, b: f64, c: f64) -> f64 {
    a.max(b).min(a.min(b).max(c))
}
