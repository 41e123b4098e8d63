//! Seeded synthetic daily spend: campaigns with weekly seasonality of varying strength
//! (some spend on weekdays only), slow trends, noise over daily spend from 5 to 50 000
//! currency units, budget changes (more likely mid-month), pauses (some
//! restarted, some for good), late launches and occasional spikes; accounts are sums of
//! such campaigns. The same seed gives the same series.

use chrono::NaiveDate;
use fastrand::Rng;

/// The first day of every synthetic series.
pub const SERIES_FIRST_DAY: NaiveDate = match NaiveDate::from_ymd_opt(2026, 1, 1) {
    Some(d) => d,
    None => panic!("valid date"),
};
/// Days in every series: 2026-01-01 to 2026-11-30.
const SERIES_DAYS: usize = 334;
const MICROS: f64 = 1_000_000.0;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Campaign,
    Account,
}

/// One synthetic entity's daily spend, in micros; `None` while not running.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthSeries {
    pub kind: Kind,
    pub first_day: NaiveDate,
    pub days: Vec<Option<i64>>,
}

/// `campaigns` campaigns and `accounts` accounts (each the sum of 5 to 15 campaigns of its
/// own), from `seed`.
pub fn generate(seed: u64, campaigns: usize, accounts: usize) -> Vec<SynthSeries> {
    let mut rng = Rng::with_seed(seed);
    let mut out: Vec<SynthSeries> = (0..campaigns).map(|_| campaign(&mut rng)).collect();
    for _ in 0..accounts {
        let parts: Vec<SynthSeries> = (0..rng.usize(5..=15)).map(|_| campaign(&mut rng)).collect();
        out.push(sum(&parts));
    }
    out
}

fn sum(parts: &[SynthSeries]) -> SynthSeries {
    let days = (0..SERIES_DAYS)
        .map(|i| {
            let day: Vec<i64> = parts.iter().filter_map(|p| p.days[i]).collect();
            (!day.is_empty()).then(|| day.iter().sum())
        })
        .collect();
    SynthSeries {
        kind: Kind::Account,
        first_day: SERIES_FIRST_DAY,
        days,
    }
}

/// What shapes one campaign.
struct Shape {
    base: f64,
    weekday: [f64; 7],
    /// Log-level drift per day (a trend) and its random-walk step.
    trend: f64,
    walk: f64,
    /// Log-normal daily noise.
    sigma: f64,
    launch: usize,
}

impl Shape {
    fn draw(rng: &mut Rng) -> Shape {
        // Daily spend from 5 to 50 000 units, log-uniform.
        let base = (5f64.ln() + rng.f64() * (50_000f64.ln() - 5f64.ln())).exp();
        // Small budgets are noisier.
        let sigma = 0.05 + rng.f64() * 0.35 + if base < 50.0 { 0.2 } else { 0.0 };
        let launch = if rng.f64() < 0.8 {
            0
        } else {
            rng.usize(0..300)
        };
        Shape {
            base,
            weekday: weekday_profile(rng),
            trend: normal(rng) * 0.004,
            walk: 0.005 + rng.f64() * 0.02,
            sigma,
            launch,
        }
    }
}

fn weekday_profile(rng: &mut Rng) -> [f64; 7] {
    let strength = if rng.f64() < 0.3 {
        0.03
    } else {
        0.05 + rng.f64() * 0.5
    };
    let weekdays_only = rng.f64() < 0.1;
    let mut w = [1.0; 7];
    for (d, f) in w.iter_mut().enumerate() {
        *f = if weekdays_only && d >= 5 {
            0.0
        } else {
            (1.0 + strength * normal(rng)).max(0.1)
        };
    }
    w
}

fn campaign(rng: &mut Rng) -> SynthSeries {
    let shape = Shape::draw(rng);
    let mut log_level = 0.0;
    let mut paused_for = 0usize;
    let mut stopped = false;
    // 2026-01-01 is a Thursday (weekday 3 from Monday).
    let days = (0..SERIES_DAYS)
        .map(|i| {
            log_level += shape.trend + shape.walk * normal(rng) + budget_change(rng, i);
            (paused_for, stopped) = pause(rng, paused_for, stopped);
            if i < shape.launch || paused_for > 0 || stopped {
                return None;
            }
            let mean = shape.base * log_level.exp() * shape.weekday[(i + 3) % 7];
            Some((day_spend(rng, mean, shape.sigma) * MICROS).round() as i64)
        })
        .collect();
    SynthSeries {
        kind: Kind::Campaign,
        first_day: SERIES_FIRST_DAY,
        days,
    }
}

/// A budget change (log factor) on day `i`: rare at any time, three times as likely on
/// days 8–18 of each 30-day period (roughly mid-month).
fn budget_change(rng: &mut Rng, i: usize) -> f64 {
    let mid_month = (i % 30) >= 8 && (i % 30) <= 18;
    let chance = if mid_month { 1.0 / 40.0 } else { 1.0 / 120.0 };
    if rng.f64() < chance {
        -0.9 + rng.f64() * 1.5
    } else {
        0.0
    }
}

/// Pauses: started with a small daily chance, restarted after 2 to 20 days, or never.
fn pause(rng: &mut Rng, paused_for: usize, stopped: bool) -> (usize, bool) {
    if stopped {
        return (0, true);
    }
    if paused_for > 0 {
        return (paused_for - 1, false);
    }
    if rng.f64() < 1.0 / 200.0 {
        if rng.f64() < 0.3 {
            return (0, true);
        }
        return (rng.usize(2..=20), false);
    }
    (0, false)
}

/// One day's spend around `mean` (units): log-normal noise, a spike now and then, and
/// whole zero days for tiny budgets.
fn day_spend(rng: &mut Rng, mean: f64, sigma: f64) -> f64 {
    if rng.f64() < (-mean / 3.0).exp() {
        return 0.0;
    }
    let spike = if rng.f64() < 1.0 / 50.0 {
        2.0 + rng.f64() * 4.0
    } else {
        1.0
    };
    mean * spike * (sigma * normal(rng) - sigma * sigma / 2.0).exp()
}

/// A standard normal draw (Box–Muller).
fn normal(rng: &mut Rng) -> f64 {
    let u = rng.f64().max(f64::MIN_POSITIVE);
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.f64()).cos()
}
