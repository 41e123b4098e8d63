//! The expected value of a lane on a day, from the four weeks before it only.
//!
//! 1. Trend β: the median week-over-week change of same-weekday pairs (the weekday cycle
//!    cancels in each pair), per day, capped.
//! 2. Weekday effect s_j: for each of the last four 7-day blocks, each day's distance to
//!    its block's median (detrended within the block); s_j is the median over the blocks.
//! 3. Level: the median of the last 7 days, each deseasonalized and carried along the
//!    trend to the forecast day.
//!
//! Every step is a median, so a past spike (or a few days of a past incident) moves the
//! expectation little; a lasting shift is taken in once it holds for most of a week.
//! One-step-ahead errors of these forecasts give each day's dispersion (MAD of the errors
//! of the four weeks before it), which therefore includes the forecast's own error.

use super::stats::{MAD_TO_SD, median_in_place};

/// Days in a week, the only cycle modelled.
const WEEK: usize = 7;

/// Knobs of the forecast (all in [`super::AlertConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Weeks of history a forecast reads.
    pub weeks: usize,
    /// Days with data a forecast needs in its history.
    pub min_history: usize,
    /// Cap on |β| per day on the log scale.
    pub max_slope: f64,
    /// Days of one-step errors a dispersion reads.
    pub dispersion_days: usize,
    /// Errors a dispersion needs.
    pub min_errors: usize,
}

/// Reused buffers: no allocation per forecast.
#[derive(Debug, Default)]
pub struct Scratch {
    a: Vec<f64>,
    b: Vec<f64>,
}

/// Rolling 7-day medians: `out[b]` is the median of `l[b..b + 7]` (NaN-free values, at
/// least 4 of them), NaN otherwise.
pub fn block_medians(l: &[f64], from: usize, out: &mut Vec<f64>, scratch: &mut Scratch) {
    out.clear();
    out.resize(l.len(), f64::NAN);
    for b in from..l.len().saturating_sub(WEEK - 1) {
        scratch.a.clear();
        scratch
            .a
            .extend(l[b..b + WEEK].iter().copied().filter(|v| !v.is_nan()));
        if scratch.a.len() >= 4 {
            out[b] = median_in_place(&mut scratch.a).unwrap_or(f64::NAN);
        }
    }
}

/// The forecast of `l[t]` from `l[from..t]` (NaN = no data that day), `None` without
/// enough history.
pub fn forecast(
    l: &[f64],
    blocks: &[f64],
    from: usize,
    t: usize,
    w: &Window,
    s: &mut Scratch,
) -> Option<f64> {
    let k = w.weeks.min(t.checked_sub(from)? / WEEK);
    if k < 2 {
        return None;
    }
    let start = t - k * WEEK;
    let have = l[start..t].iter().filter(|v| !v.is_nan()).count();
    if have < w.min_history {
        return None;
    }
    let beta = slope(l, start, t, w.max_slope, s);
    let mut season = [0.0; WEEK];
    for (j, sj) in season.iter_mut().enumerate() {
        s.a.clear();
        for block in 1..=k {
            let b = t - block * WEEK;
            let (v, m) = (l[b + j], blocks[b]);
            if !v.is_nan() && !m.is_nan() {
                s.a.push(v - m - beta * (j as f64 - 3.0));
            }
        }
        *sj = median_in_place(&mut s.a).unwrap_or(0.0);
    }
    s.a.clear();
    for (j, sj) in season.iter().enumerate() {
        let v = l[t - WEEK + j];
        if !v.is_nan() {
            s.a.push(v - sj + beta * (WEEK - j) as f64);
        }
    }
    if s.a.len() < 3 {
        return None;
    }
    Some(median_in_place(&mut s.a)? + season[0])
}

/// β: median over same-weekday pairs (d − 7, d) in `start..t` of the change per day.
fn slope(l: &[f64], start: usize, t: usize, cap: f64, s: &mut Scratch) -> f64 {
    s.b.clear();
    for d in start + WEEK..t {
        let (old, new) = (l[d - WEEK], l[d]);
        if !old.is_nan() && !new.is_nan() {
            s.b.push((new - old) / WEEK as f64);
        }
    }
    if s.b.len() < 5 {
        return 0.0;
    }
    median_in_place(&mut s.b).unwrap_or(0.0).clamp(-cap, cap)
}

/// The robust standard deviation of the one-step errors `e` of the `days` before `t`.
pub fn dispersion(e: &[f64], t: usize, w: &Window, s: &mut Scratch) -> Option<f64> {
    let start = t.saturating_sub(w.dispersion_days);
    s.a.clear();
    s.a.extend(e[start..t].iter().filter(|v| !v.is_nan()).map(|v| v.abs()));
    if s.a.len() < w.min_errors {
        return None;
    }
    Some(MAD_TO_SD * median_in_place(&mut s.a)?)
}
