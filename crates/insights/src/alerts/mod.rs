//! Anomaly alerts (docs/insights-alerts.md): every recent day of one connection, for the
//! account total and every entity, each metric tested against a robust weekday-and-trend
//! expectation with a count-aware test; Benjamini–Hochberg over each connection-day's
//! tests; `tracking_broken` when conversions stop while spend goes on; one alert per
//! incident (children grouped into the account alert, consecutive days merged).
//!
//! Pure and deterministic: a day's result depends only on the weeks before it, so the
//! alerts are the same whether insights runs daily or once over the whole range.

pub mod baseline;
mod evaluate;
mod forecast;
mod incident;
mod lanes;
mod stats;
#[cfg(test)]
mod tests;

use adpipe_domain::insights::{Alert, AlertKind};

use crate::series::{ConnectionSeries, EntitySeries};
use evaluate::{Finding, Tests, Workspace};
pub use forecast::Window;
pub use stats::{benjamini_hochberg, bh_sorted};

/// The model's knobs. Defaults are the documented ones (docs/insights-alerts.md).
#[derive(Debug, Clone)]
pub struct AlertConfig {
    /// False-discovery rate over each connection-day's tests (Benjamini–Hochberg). 0.05.
    pub q: f64,
    /// The newest days evaluated. 35.
    pub evaluate_days: usize,
    /// Days before those also evaluated, only so that an incident that began there keeps
    /// its first day (and id) when the window moves on. 7.
    pub lookback_days: usize,
    /// The forecast's history and dispersion windows: 4 weeks, at least 14 days with data,
    /// |trend| ≤ 3 %/day, dispersion from the one-step errors of the 28 days before, at
    /// least 10 of them.
    pub window: Window,
    /// Smallest |ln(observed / expected)| an anomaly alerts on: 0.2 (about ±20 %), so a
    /// high-volume entity's statistically clear but immaterial wiggle stays quiet.
    pub min_effect: f64,
    /// Count tests (and conversion-value / ROAS tests) need an expected count of at least
    /// this many that day. 3.
    pub min_expected_count: f64,
    /// Click and conversion lanes are only forecast where the entity averaged at least this
    /// many a day over the four weeks before (below it a test could hardly reach
    /// `min_expected_count`). 1.5.
    pub min_mean_count: f64,
    /// Floor on the negative binomial's overdispersion α: real daily ad counts vary at
    /// least ~7 % beyond Poisson (campaign delivery, auctions). 0.005.
    pub min_overdispersion: f64,
    /// Floor on a money lane's log-scale standard deviation. 0.03.
    pub min_log_sd: f64,
    /// The precision of a dispersion estimate, in normal degrees of freedom: a MAD of 28
    /// one-step errors is about as precise as a variance of 10 normal values (MAD's 37 %
    /// efficiency). Money tests use Student-t with these df; count tests the upper 80 %
    /// bound of the variance. 10.
    pub dispersion_df: f64,
    /// Spend is tested where at least this many impressions are expected (below, spend is
    /// the noise of a handful of impressions). 100.
    pub min_spend_impressions: f64,
    /// Conversion value and ROAS are tested where at least this many conversions are
    /// expected (a value from fewer is a few orders' noise). 10.
    pub min_value_conversions: f64,
    /// `tracking_broken` needs P(0 conversions) below this. 0.001.
    pub tracking_p: f64,
    /// "Reliably converts": conversions on at least this share of the last four weeks'
    /// days with data. 0.8.
    pub reliable_share: f64,
    /// Quiet days bridged when merging an incident's days: a shift that dips under the
    /// threshold for a day or two while the baseline catches up stays one incident. 3.
    pub merge_gap_days: usize,
    pub severity: SeverityRule,
}

/// Severity from effect size and spend at stake (docs/insights-alerts.md).
#[derive(Debug, Clone, Copy)]
pub struct SeverityRule {
    /// Critical: |ln(observed / expected)| ≥ ln 2 (×2 or ÷2) on ≥ 10 % of the account's spend.
    pub critical_effect: f64,
    pub critical_share: f64,
    /// Warning: ≥ ln 1.5 on ≥ 2 % of the account's spend.
    pub warning_effect: f64,
    pub warning_share: f64,
}

impl Default for SeverityRule {
    fn default() -> Self {
        Self {
            critical_effect: 2f64.ln(),
            critical_share: 0.10,
            warning_effect: 1.5f64.ln(),
            warning_share: 0.02,
        }
    }
}

impl Default for AlertConfig {
    fn default() -> Self {
        Self {
            q: 0.05,
            evaluate_days: 35,
            lookback_days: 7,
            window: Window {
                weeks: 4,
                min_history: 14,
                max_slope: 0.03,
                dispersion_days: 28,
                min_errors: 10,
            },
            min_effect: 0.2,
            min_expected_count: 3.0,
            min_mean_count: 1.5,
            min_overdispersion: 0.005,
            min_log_sd: 0.03,
            dispersion_df: 10.0,
            min_spend_impressions: 100.0,
            min_value_conversions: 10.0,
            tracking_p: 0.001,
            reliable_share: 0.8,
            merge_gap_days: 3,
            severity: SeverityRule::default(),
        }
    }
}

/// The alerts of the last `config.evaluate_days` days of `series`, newest first (then
/// severity, then id). Entities with too little history produce nothing.
pub fn detect(series: &ConnectionSeries, config: &AlertConfig) -> Vec<Alert> {
    let n = series.n_days;
    let eval_start = n.saturating_sub(config.evaluate_days);
    let scan_start = eval_start.saturating_sub(config.lookback_days);
    let entities: Vec<&EntitySeries> = std::iter::once(&series.account)
        .chain(series.entities.iter())
        .collect();
    let mut tests = Tests {
        per_day: vec![0; n],
        findings: Vec::new(),
        keep_p: config.q.max(config.tracking_p),
    };
    let mut ws = Workspace::new(config);
    for (i, entity) in entities.iter().enumerate() {
        evaluate::evaluate_entity(i as u32, entity, n, scan_start, config, &mut ws, &mut tests);
    }
    let significant = decide(tests, config);
    incident::build(series, &entities, significant, eval_start, config)
}

/// A finding that passed, with its q-value.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Significant {
    pub finding: Finding,
    pub q: f64,
}

/// Benjamini–Hochberg per day, then the rules: an anomaly needs q ≤ `q` and a material
/// effect; `tracking_broken` needs p < `tracking_p`, and replaces that entity-day's
/// conversion anomalies (the same incident).
fn decide(mut tests: Tests, config: &AlertConfig) -> Vec<Significant> {
    let findings = &mut tests.findings;
    findings.sort_by(|a, b| a.day.cmp(&b.day).then(a.p.total_cmp(&b.p)));
    let mut q = vec![1.0; findings.len()];
    let mut start = 0;
    while start < findings.len() {
        let day = findings[start].day;
        let end = start
            + findings[start..]
                .iter()
                .take_while(|f| f.day == day)
                .count();
        let p: Vec<f64> = findings[start..end].iter().map(|f| f.p).collect();
        bh_sorted(&p, tests.per_day[day as usize] as usize, &mut q[start..end]);
        start = end;
    }
    let passed: Vec<Significant> = findings
        .iter()
        .zip(q)
        .filter(|(f, q)| match f.kind {
            AlertKind::TrackingBroken => f.p < config.tracking_p,
            _ => *q <= config.q && f.effect.abs() >= config.min_effect,
        })
        .map(|(f, q)| Significant { finding: *f, q })
        .collect();
    let tracked: Vec<(u32, u32)> = passed
        .iter()
        .filter(|s| s.finding.kind == AlertKind::TrackingBroken)
        .map(|s| (s.finding.entity, s.finding.day))
        .collect();
    passed
        .into_iter()
        .filter(|s| {
            let f = &s.finding;
            f.kind == AlertKind::TrackingBroken
                || !f.lane.needs_conversions()
                || !tracked.contains(&(f.entity, f.day))
        })
        .collect()
}
