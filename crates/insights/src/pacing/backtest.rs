//! The seeded backtest of [`project`](super::project): synthetic daily spend series for
//! campaigns and accounts, projections made on given days of each evaluated month, and
//! their error and interval coverage next to naive baselines. The bench
//! (`benches/pacing_backtest.rs`) reports it; a test asserts a loose bound on it.

mod synth;

use chrono::{Datelike, Days, NaiveDate};

pub use synth::{Kind, SERIES_FIRST_DAY, SynthSeries, generate};

use super::{HISTORY_DAYS, project};

/// What one backtest run covers.
#[derive(Debug, Clone)]
pub struct Config {
    pub seed: u64,
    pub campaigns: usize,
    pub accounts: usize,
    /// First days of the evaluated months (each within the synthetic series).
    pub months: Vec<NaiveDate>,
    /// Days of the month projections are made on (`as_of`).
    pub as_of_days: Vec<u32>,
}

impl Config {
    /// The reported configuration's shape: July to November 2026, days 10, 15 and 20.
    pub fn standard(seed: u64, campaigns: usize, accounts: usize) -> Config {
        let months = (7..=11)
            .filter_map(|m| NaiveDate::from_ymd_opt(2026, m, 1))
            .collect();
        Config {
            seed,
            campaigns,
            accounts,
            months,
            as_of_days: vec![10, 15, 20],
        }
    }
}

/// A way of projecting month-end spend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// [`project`].
    Model,
    /// Spent / days elapsed × days in the month.
    RunRate,
    /// Spent + the last 7 days' mean × the remaining days.
    Last7,
}

impl Method {
    pub const ALL: [Method; 3] = [Method::Model, Method::RunRate, Method::Last7];

    pub fn name(self) -> &'static str {
        match self {
            Method::Model => "model",
            Method::RunRate => "naive run rate",
            Method::Last7 => "last 7 days",
        }
    }
}

/// The accuracy of one method on one projection day.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub as_of_day: u32,
    pub method: Method,
    /// Projections evaluated: months with a positive true total, of entities with spend
    /// by `as_of`.
    pub n: usize,
    /// Mean absolute error, percent of the true month-end spend.
    pub mape: f64,
    /// Median absolute percentage error.
    pub median_ape: f64,
    /// Sum of absolute errors over sum of true totals, percent.
    pub wape: f64,
    /// Share of true totals within the 80 % interval (`None` for methods without one).
    pub coverage: Option<f64>,
    /// Mean interval width, percent of the true total.
    pub width: Option<f64>,
}

/// Runs the backtest of `config`: one row per projection day and method.
pub fn run(config: &Config) -> Vec<Row> {
    let series = generate(config.seed, config.campaigns, config.accounts);
    let mut rows = Vec::new();
    for &day in &config.as_of_days {
        let cases: Vec<Case> = series
            .iter()
            .flat_map(|s| {
                config
                    .months
                    .iter()
                    .filter_map(move |m| Case::new(s, *m, day))
            })
            .collect();
        rows.extend(Method::ALL.iter().map(|m| summarize(day, *m, &cases)));
    }
    rows
}

/// One projection and its truth.
struct Case {
    truth: f64,
    model: (f64, f64, f64),
    run_rate: f64,
    last7: f64,
}

impl Case {
    fn new(series: &SynthSeries, month: NaiveDate, day: u32) -> Option<Case> {
        let as_of = month.with_day(day)?;
        let end = (as_of - series.first_day).num_days();
        let month_start = (month - series.first_day).num_days();
        if end < 0 || month_start < 0 {
            return None;
        }
        let (end, month_start) = (end as usize, month_start as usize);
        let len = days_in_month(month);
        let total = |days: &[Option<i64>]| days.iter().map(|d| d.unwrap_or(0) as f64).sum::<f64>();
        let truth = total(series.days.get(month_start..month_start + len as usize)?);
        if truth <= 0.0 {
            return None;
        }
        // The model sees only what the handler would on `as_of`.
        let start = (end + 1).saturating_sub(HISTORY_DAYS);
        let seen = &series.days[start..=end];
        let first = series.first_day.checked_add_days(Days::new(start as u64))?;
        // The handler projects only entities it has rows for: one not launched yet is
        // nobody's projection.
        if !seen.iter().any(|d| d.unwrap_or(0) > 0) {
            return None;
        }
        let p = project(first, seen, month, as_of);
        let spent = total(&series.days[month_start..=end]);
        let last7 = total(&series.days[end.saturating_sub(6)..=end]) / 7.0;
        Some(Case {
            truth,
            model: (
                p.projected_micros as f64,
                p.low_micros as f64,
                p.high_micros as f64,
            ),
            run_rate: spent / f64::from(day) * f64::from(len),
            last7: spent + last7 * f64::from(len - day),
        })
    }

    fn point(&self, method: Method) -> f64 {
        match method {
            Method::Model => self.model.0,
            Method::RunRate => self.run_rate,
            Method::Last7 => self.last7,
        }
    }
}

fn summarize(day: u32, method: Method, cases: &[Case]) -> Row {
    let mut ape: Vec<f64> = cases
        .iter()
        .map(|c| 100.0 * (c.point(method) - c.truth).abs() / c.truth)
        .collect();
    let n = ape.len().max(1) as f64;
    let abs: f64 = cases
        .iter()
        .map(|c| (c.point(method) - c.truth).abs())
        .sum();
    let truth: f64 = cases.iter().map(|c| c.truth).sum();
    let interval = (method == Method::Model).then(|| {
        let covered = cases
            .iter()
            .filter(|c| c.model.1 <= c.truth && c.truth <= c.model.2);
        let width: f64 = cases
            .iter()
            .map(|c| 100.0 * (c.model.2 - c.model.1) / c.truth)
            .sum();
        (covered.count() as f64 / n, width / n)
    });
    Row {
        as_of_day: day,
        method,
        n: cases.len(),
        mape: ape.iter().sum::<f64>() / n,
        median_ape: super::profile::median(&mut ape),
        wape: 100.0 * abs / truth.max(1.0),
        coverage: interval.map(|i| i.0),
        width: interval.map(|i| i.1),
    }
}

fn days_in_month(first: NaiveDate) -> u32 {
    super::Month::containing(first).map_or(30, |m| m.last.day())
}

/// The rows as a Markdown table.
pub fn table(rows: &[Row]) -> String {
    let mut out = String::from(
        "| as of day | method | n | MAPE % | median APE % | WAPE % | 80 % coverage | mean width % |\n\
         |---|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let opt = |v: Option<f64>, scale: f64| {
            v.map_or("–".to_string(), |v| format!("{:.1}", v * scale))
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} | {:.1} | {:.1} | {} | {} |\n",
            r.as_of_day,
            r.method.name(),
            r.n,
            r.mape,
            r.median_ape,
            r.wape,
            opt(r.coverage, 100.0),
            opt(r.width, 1.0),
        ));
    }
    out
}
