//! The weekday profile: how much of an average day's spend each weekday gets.
//!
//! Each day's spend is divided by the mean of the 7 days centred on it (which removes the
//! level, even across a budget change), and each weekday's factor is the median of those
//! ratios over the recent weeks: a spike moves one ratio, not the median.

/// Weeks of history the profile is estimated from.
const PROFILE_WEEKS: usize = 8;
/// Ratios each weekday needs before the profile departs from flat.
const MIN_RATIOS: usize = 3;

/// Relative daily noise assumed when the history is too short to measure it.
const DEFAULT_CV: f64 = 0.3;

/// Factors by weekday (0 = Monday), averaging 1, and the daily noise around them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Profile {
    factor: [f64; 7],
    /// Robust relative dispersion of a day's spend around level × factor.
    pub cv: f64,
}

impl Profile {
    pub fn flat() -> Profile {
        Profile {
            factor: [1.0; 7],
            cv: DEFAULT_CV,
        }
    }

    /// The factor of weekday `dow` (0 = Monday; taken modulo 7).
    pub fn at(&self, dow: usize) -> f64 {
        self.factor[dow % 7]
    }

    /// The profile of `y` (daily spend, `y[0]` on weekday `dow0`), flat when the history
    /// is too short to tell.
    pub fn estimate(y: &[f64], dow0: usize) -> Profile {
        let mut ratios: [Vec<f64>; 7] = Default::default();
        let n = y.len();
        if n < 7 {
            return Profile::flat();
        }
        let from = 3.max((n - 3).saturating_sub(PROFILE_WEEKS * 7));
        let mut window: f64 = y[from - 3..from + 4].iter().sum();
        for i in from..n - 3 {
            if i > from {
                window += y[i + 3] - y[i - 4];
            }
            // Days in a pause say nothing about the weekday mix.
            if window > 0.0 {
                ratios[(dow0 + i) % 7].push(y[i] * 7.0 / window);
            }
        }
        Profile::from_ratios(&mut ratios)
    }

    fn from_ratios(ratios: &mut [Vec<f64>; 7]) -> Profile {
        if ratios.iter().any(|r| r.len() < MIN_RATIOS) {
            return Profile::flat();
        }
        let mut factor = [0.0; 7];
        for (f, r) in factor.iter_mut().zip(ratios.iter_mut()) {
            *f = median(r);
        }
        let cv = noise(ratios, &factor);
        let mean = factor.iter().sum::<f64>() / 7.0;
        if !(mean > 0.0 && mean.is_finite()) {
            return Profile::flat();
        }
        factor.iter_mut().for_each(|f| *f /= mean);
        Profile { factor, cv }
    }
}

/// 1.4826 × the median absolute relative deviation of the ratios from their weekday's
/// factor (before normalising: the same scale), over the weekdays that spend.
fn noise(ratios: &[Vec<f64>; 7], factor: &[f64; 7]) -> f64 {
    let mut dev: Vec<f64> = ratios
        .iter()
        .zip(factor)
        .filter(|(_, f)| **f > 0.1)
        .flat_map(|(r, f)| r.iter().map(move |x| (x / f - 1.0).abs()))
        .collect();
    if dev.is_empty() {
        return DEFAULT_CV;
    }
    1.4826 * median(&mut dev)
}

/// The median of `v` (reordered); 0 when empty.
pub(super) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_unstable_by(f64::total_cmp);
    let m = v.len() / 2;
    if v.len() % 2 == 1 {
        v[m]
    } else {
        (v[m - 1] + v[m]) / 2.0
    }
}
