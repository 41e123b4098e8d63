//! The expected value of a lane on a day t, from the four weeks before it only.
//!
//! 1. Level: the median of the last 7 days (one of each weekday, so the weekly cycle
//!    averages out of it) — a block median.
//! 2. Trend β: the median week-over-week change of the same-weekday pairs of the last
//!    three weeks (the cycle cancels in each pair), per day, capped.
//! 3. Weekday effect: how far t's weekday sat from its block's median in each of the last
//!    four weeks (detrended), the median of those four.
//!
//! f(t) = level + β·(distance from the last block's centre to t) + weekday effect.
//! Every step is a median, so a past spike (or a few days of a past incident) moves the
//! expectation little; a lasting shift is taken in once it holds for most of a week.
//! The one-step errors of these forecasts give each day's dispersion (MAD of the errors of
//! the four weeks before it), which therefore includes the forecast's own error.
//!
//! All windows roll (sorted buffers updated by one value a day), so a lane of 100 days
//! costs a few microseconds.

use super::stats::MAD_TO_SD;

/// Days in a week, the only cycle modelled.
const WEEK: usize = 7;

/// Knobs of the forecast (all in [`super::AlertConfig`]).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// Weeks of history a forecast reads (the first day forecast is `weeks·7` into the
    /// series).
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

/// A lane's forecasts `f`, errors `e` and dispersions `sd` by day (NaN where none).
#[derive(Debug, Default)]
pub struct Fit {
    pub f: Vec<f64>,
    pub e: Vec<f64>,
    pub sd: Vec<f64>,
}

/// Reused buffers: no allocation per forecast.
#[derive(Debug, Default)]
pub struct Scratch {
    blocks: Vec<f64>,
    valid: Vec<usize>,
    window: Sorted,
}

/// A sorted window of the finite values pushed and not yet removed.
#[derive(Debug, Default)]
struct Sorted(Vec<f64>);

impl Sorted {
    fn clear(&mut self) {
        self.0.clear();
    }

    /// Insertion by hand: the windows hold at most 28 values, where a shift loop beats
    /// a binary search plus `Vec::insert`'s memmove call.
    fn insert(&mut self, x: f64) {
        if x.is_nan() {
            return;
        }
        let v = &mut self.0;
        v.push(x);
        let mut i = v.len() - 1;
        while i > 0 && v[i - 1] > x {
            v[i] = v[i - 1];
            i -= 1;
        }
        v[i] = x;
    }

    fn remove(&mut self, x: f64) {
        if x.is_nan() {
            return;
        }
        let v = &mut self.0;
        if let Some(mut i) = v.iter().position(|&y| y == x) {
            while i + 1 < v.len() {
                v[i] = v[i + 1];
                i += 1;
            }
            v.pop();
        }
    }

    fn len(&self) -> usize {
        self.0.len()
    }

    fn median(&self) -> f64 {
        median_sorted(&self.0)
    }
}

fn median_sorted(v: &[f64]) -> f64 {
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => 0.5 * (v[n / 2 - 1] + v[n / 2]),
    }
}

/// Fits lane `l` (NaN = no data that day): forecasts and errors on `forecast_from..n`,
/// dispersions on `sd_from..n`. Nothing before `lo` is read.
pub fn fit(
    l: &[f64],
    lo: usize,
    forecast_from: usize,
    sd_from: usize,
    w: &Window,
    s: &mut Scratch,
    out: &mut Fit,
) {
    let n = l.len();
    for v in [&mut out.f, &mut out.e, &mut out.sd] {
        v.clear();
        v.resize(n, f64::NAN);
    }
    let span = w.weeks * WEEK;
    let start = forecast_from.max(lo + span);
    if start >= n {
        return;
    }
    block_medians(l, start - span, &mut s.blocks, &mut s.window);
    s.valid.clear();
    s.valid.push(0);
    for v in l {
        let last = *s.valid.last().unwrap_or(&0);
        s.valid.push(last + usize::from(!v.is_nan()));
    }
    forecasts(l, start, w, s, out);
    dispersions(&out.e, sd_from.max(start), w, &mut s.window, &mut out.sd);
}

/// `out[b]` = median of `l[b..b + 7]` when at least 4 of them have data, for b ≥ `from`.
fn block_medians(l: &[f64], from: usize, out: &mut Vec<f64>, w: &mut Sorted) {
    out.clear();
    out.resize(l.len(), f64::NAN);
    w.clear();
    for &v in &l[from..(from + WEEK - 1).min(l.len())] {
        w.insert(v);
    }
    for b in from..l.len().saturating_sub(WEEK - 1) {
        w.insert(l[b + WEEK - 1]);
        if w.len() >= 4 {
            out[b] = w.median();
        }
        w.remove(l[b]);
    }
}

/// Week-over-week change of day `d`.
fn diff(l: &[f64], d: usize) -> f64 {
    l[d] - l[d - WEEK]
}

fn forecasts(l: &[f64], start: usize, w: &Window, s: &mut Scratch, out: &mut Fit) {
    let span = w.weeks * WEEK;
    let slope_days = span - WEEK;
    s.window.clear();
    for d in start - slope_days..start {
        s.window.insert(diff(l, d));
    }
    for t in start..l.len() {
        let enough = s.valid[t] - s.valid[t - span] >= w.min_history;
        let beta = if s.window.len() >= 5 {
            (s.window.median() / WEEK as f64).clamp(-w.max_slope, w.max_slope)
        } else {
            0.0
        };
        if enough {
            if let Some(f) = forecast_one(l, &s.blocks, t, w.weeks, beta) {
                out.f[t] = f;
                out.e[t] = l[t] - f;
            }
        }
        s.window.remove(diff(l, t - slope_days));
        s.window.insert(diff(l, t));
    }
}

/// f(t) from the block medians and the trend (see the module doc).
fn forecast_one(l: &[f64], blocks: &[f64], t: usize, weeks: usize, beta: f64) -> Option<f64> {
    let level = blocks[t - WEEK];
    if level.is_nan() {
        return None;
    }
    let mut effects = [0.0; 8];
    let mut k = 0;
    for week in 1..=weeks.min(effects.len()) {
        let b = t - week * WEEK;
        let (v, m) = (l[b], blocks[b]);
        if !v.is_nan() && !m.is_nan() {
            // Day b is 3 days before its block's centre: take that much trend back out.
            effects[k] = v - m + 3.0 * beta;
            k += 1;
        }
    }
    let effects = &mut effects[..k];
    effects.sort_unstable_by(f64::total_cmp);
    let season = if k == 0 { 0.0 } else { median_sorted(effects) };
    // The last block's centre is 4 days before t.
    Some(level + 4.0 * beta + season)
}

/// sd[t] = 1.4826 · median |e| over the `dispersion_days` before t (at least `min_errors`).
fn dispersions(e: &[f64], from: usize, w: &Window, win: &mut Sorted, sd: &mut [f64]) {
    let days = w.dispersion_days;
    win.clear();
    for &v in &e[from.saturating_sub(days)..from] {
        win.insert(v.abs());
    }
    for t in from..e.len() {
        if win.len() >= w.min_errors {
            sd[t] = MAD_TO_SD * win.median();
        }
        if t >= days {
            win.remove(e[t - days].abs());
        }
        win.insert(e[t].abs());
    }
}
