//! One entity's tests: every lane on every scanned day, and the tracking test.
//!
//! A day's test reads only the days before it (at most `weeks·7 + dispersion_days`
//! back), so a day's result is the same whatever range the series spans.

use adpipe_domain::insights::{AlertKind, Direction};

use super::AlertConfig;
use super::forecast::{self, Fit, Scratch};
use super::lanes::{self, COUNT_OFFSET, Count, Exposure, LANES, Lane, Test as LaneTest};
use super::stats;
use crate::series::{EntitySeries, Totals};

/// Below this the normal screen's p-value is kept; above it the exact tail is computed.
/// The screen understates upper tails of small counts, hence the wide margin.
const EXACT_SCREEN_P: f64 = 0.2;

/// How an expectation was modelled, enough to state it in the metric's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Model {
    /// `x` ~ NB(mean `mu`, overdispersion `alpha`) given `exposure` (1 for a plain count).
    Count {
        x: u64,
        mu: f64,
        alpha: f64,
        exposure: f64,
    },
    /// ln(amount) ~ Normal(`f`, `sigma`).
    Money { f: f64, sigma: f64 },
}

/// One test that may become an alert (only those with a small p are kept).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Finding {
    pub entity: u32,
    pub day: u32,
    pub lane: Lane,
    pub kind: AlertKind,
    pub direction: Direction,
    pub p: f64,
    /// ln(observed / expected) on the lane's scale.
    pub effect: f64,
    /// The metric in its unit on that day.
    pub observed: f64,
    pub model: Model,
    /// The entity's spend that day (currency units), for severity.
    pub spend: f64,
}

/// Every day's test count (for Benjamini–Hochberg) and the findings worth adjusting.
#[derive(Debug, Default)]
pub struct Tests {
    pub per_day: Vec<u32>,
    pub findings: Vec<Finding>,
    /// Findings with a p-value above this are only counted.
    pub keep_p: f64,
}

/// Buffers reused across entities.
#[derive(Debug, Default)]
pub struct Workspace {
    l: Vec<Vec<f64>>,
    fits: Vec<Fit>,
    /// Prefix sums of clicks and conversions (gates).
    clicks: Vec<f64>,
    conversions: Vec<f64>,
    scratch: Scratch,
    /// [`stats::variance_upper_bound_factor`] of the config's df, computed once.
    variance_bound: f64,
}

/// What the lanes of one entity share while its days are tested.
struct Entity<'a> {
    id: u32,
    days: &'a [Option<Totals>],
    lo: usize,
}

/// Tests every lane of `series` on the days `scan_start..n`.
pub fn evaluate_entity(
    id: u32,
    series: &EntitySeries,
    n: usize,
    scan_start: usize,
    cfg: &AlertConfig,
    ws: &mut Workspace,
    out: &mut Tests,
) {
    let days = &series.days[..series.days.len().min(n)];
    if days.len() <= scan_start || days[scan_start..].iter().all(Option::is_none) {
        return;
    }
    let lo = scan_start.saturating_sub(cfg.window.weeks * 7 + cfg.window.dispersion_days);
    let entity = Entity { id, days, lo };
    ws.prepare(&entity);
    for lane in LANES {
        if let Some(first) = first_gated_day(&entity, lane, scan_start, cfg, ws) {
            ws.forecast_lane(
                &entity,
                lane,
                first.saturating_sub(cfg.window.dispersion_days),
                cfg,
            );
        }
    }
    for (t, day) in days.iter().enumerate().skip(scan_start) {
        let Some(totals) = *day else { continue };
        for lane in LANES {
            if gate(&entity, lane, t, cfg, ws) {
                test_lane(&entity, lane, t, &totals, cfg, ws, out);
            }
        }
        test_tracking(&entity, t, &totals, cfg, ws, out);
    }
}

/// Count lanes of clicks or conversions are only worth testing where the entity had at
/// least `min_mean_count` of them a day over the last four weeks (a prefix-sum check that
/// spares the forecasts of lanes that could never reach a test).
fn gate(e: &Entity, lane: Lane, t: usize, cfg: &AlertConfig, ws: &Workspace) -> bool {
    let sums = match lane {
        Lane::Clicks | Lane::Ctr | Lane::Cpc => &ws.clicks,
        l if l.needs_conversions() => &ws.conversions,
        _ => return true,
    };
    let span = cfg.window.weeks * 7;
    let start = t.saturating_sub(span).max(e.lo);
    let (a, b) = (start - e.lo, t - e.lo);
    sums[b] - sums[a] >= cfg.min_mean_count * span as f64
}

fn first_gated_day(
    e: &Entity,
    lane: Lane,
    scan_start: usize,
    cfg: &AlertConfig,
    ws: &Workspace,
) -> Option<usize> {
    (scan_start..e.days.len()).find(|&t| gate(e, lane, t, cfg, ws))
}

impl Workspace {
    pub fn new(cfg: &AlertConfig) -> Self {
        Self {
            variance_bound: stats::variance_upper_bound_factor(cfg.dispersion_df),
            ..Self::default()
        }
    }

    /// Fills every lane's log values and the gates' prefix sums over `lo..n`.
    fn prepare(&mut self, e: &Entity) {
        let n = e.days.len();
        self.l.resize_with(LANES.len(), Vec::new);
        self.fits.resize_with(LANES.len(), Fit::default);
        for (lane, fit) in self.l.iter_mut().zip(&mut self.fits) {
            lane.clear();
            lane.resize(n, f64::NAN);
            fit.f.clear();
            fit.f.resize(n, f64::NAN);
            fit.sd.clear();
            fit.sd.resize(n, f64::NAN);
        }
        for (d, day) in e.days.iter().enumerate().skip(e.lo) {
            let Some(t) = day else { continue };
            for (lane, v) in self.l.iter_mut().zip(Lane::all_values(t)) {
                lane[d] = v;
            }
        }
        prefix(&mut self.clicks, &e.days[e.lo..], |t| t.clicks as f64);
        prefix(&mut self.conversions, &e.days[e.lo..], lanes::conversions);
    }

    /// Forecasts of `lane` from `dispersion_days` before `first` (its errors make the
    /// dispersion of `first`), dispersions from `first`.
    fn forecast_lane(&mut self, e: &Entity, lane: Lane, first: usize, cfg: &AlertConfig) {
        let i = lane.index();
        let from = first.saturating_sub(cfg.window.dispersion_days);
        forecast::fit(
            &self.l[i],
            e.lo,
            from,
            first,
            &cfg.window,
            &mut self.scratch,
            &mut self.fits[i],
        );
    }

    fn sigma(&self, lane: Lane, t: usize) -> Option<f64> {
        let sd = self.fits[lane.index()].sd[t];
        (!sd.is_nan()).then_some(sd)
    }

    fn f(&self, lane: Lane, t: usize) -> Option<f64> {
        let f = self.fits[lane.index()].f[t];
        (!f.is_nan()).then_some(f)
    }
}

fn prefix(out: &mut Vec<f64>, days: &[Option<Totals>], of: impl Fn(&Totals) -> f64) {
    out.clear();
    out.push(0.0);
    let mut sum = 0.0;
    for day in days {
        sum += day.as_ref().map_or(0.0, &of);
        out.push(sum);
    }
}

/// A count lane's expectation on day `t`: (mean, overdispersion). `bound`: use the upper
/// confidence bound of the variance (the anomaly tests, thousands a day under BH) rather
/// than its estimate (the tracking test, its own strict p < 0.001 on rare zero days).
fn count_expectation(
    lane: Lane,
    count: Count,
    exposure: f64,
    t: usize,
    bound: bool,
    cfg: &AlertConfig,
    ws: &mut Workspace,
) -> Option<(f64, f64)> {
    let f = ws.f(lane, t)?;
    let sigma = ws.sigma(lane, t)?;
    let mu = (f.exp() * exposure - COUNT_OFFSET).max(0.0);
    // The errors' variance holds the Poisson noise of the typical day's count; what is
    // left is the overdispersion (the NB's α on the log scale: Var ln X ≈ 1/μ + α).
    let typical = ws
        .f(count.lane(), t)
        .map_or(mu, |g| (g.exp() - COUNT_OFFSET).max(0.0));
    let variance = sigma * sigma * if bound { ws.variance_bound } else { 1.0 };
    let alpha = (variance - stats::log_count_sampling_var(typical)).max(cfg.min_overdispersion);
    Some((mu, alpha))
}

fn test_lane(
    e: &Entity,
    lane: Lane,
    t: usize,
    totals: &Totals,
    cfg: &AlertConfig,
    ws: &mut Workspace,
    out: &mut Tests,
) {
    let Some(observed) = lane.observed(totals) else {
        return;
    };
    let finding = match lane.test() {
        LaneTest::Count {
            count,
            exposure,
            inverse,
        } => count_test(lane, count, exposure, inverse, t, totals, cfg, ws),
        LaneTest::Money => money_test(lane, t, totals, cfg, ws),
    };
    let Some((p, effect, direction, model)) = finding else {
        return;
    };
    out.per_day[t] += 1;
    if p <= out.keep_p {
        out.findings.push(Finding {
            entity: e.id,
            day: t as u32,
            lane,
            kind: AlertKind::Anomaly,
            direction,
            p,
            effect,
            observed,
            model,
            spend: lanes::spend(totals),
        });
    }
}

type Outcome = (f64, f64, Direction, Model);

#[allow(clippy::too_many_arguments)]
fn count_test(
    lane: Lane,
    count: Count,
    exposure: Exposure,
    inverse: bool,
    t: usize,
    totals: &Totals,
    cfg: &AlertConfig,
    ws: &mut Workspace,
) -> Option<Outcome> {
    let x = count.of(totals);
    let exposure = exposure.of(totals);
    // A ratio with no count that day (CPC, CPA undefined) is left to the count's own lane.
    if exposure <= 0.0 || (inverse && x == 0) {
        return None;
    }
    let (mu, alpha) = count_expectation(lane, count, exposure, t, true, cfg, ws)?;
    if mu < cfg.min_expected_count {
        return None;
    }
    if lane.needs_conversions() && expected_conversions(t, ws) < cfg.min_expected_count {
        return None;
    }
    let effect = ((x as f64 + COUNT_OFFSET) / (mu + COUNT_OFFSET)).ln();
    let sd = (stats::log_count_sampling_var(mu) + alpha).sqrt();
    let screen = stats::normal_two_sided(effect / sd);
    let p = if screen > EXACT_SCREEN_P {
        screen
    } else {
        stats::nb_two_sided(x, mu, alpha)
    };
    let count_up = effect > 0.0;
    let direction = if count_up != inverse {
        Direction::Up
    } else {
        Direction::Down
    };
    let effect = if inverse { -effect } else { effect };
    Some((
        p,
        effect,
        direction,
        Model::Count {
            x,
            mu,
            alpha,
            exposure,
        },
    ))
}

fn money_test(
    lane: Lane,
    t: usize,
    totals: &Totals,
    cfg: &AlertConfig,
    ws: &mut Workspace,
) -> Option<Outcome> {
    let y = lane.value(totals)?;
    let f = ws.f(lane, t)?;
    let sigma = ws.sigma(lane, t)?.max(cfg.min_log_sd);
    let (count, min) = match lane {
        Lane::Spend => (Lane::Impressions, cfg.min_spend_impressions),
        _ => (Lane::Conversions, cfg.min_value_conversions),
    };
    let expected = ws.f(count, t).map_or(0.0, |g| g.exp() - COUNT_OFFSET);
    if expected < min {
        return None;
    }
    let effect = y - f;
    let screen = stats::normal_two_sided(effect / sigma);
    let p = if screen > EXACT_SCREEN_P {
        screen
    } else {
        stats::t_two_sided(effect / sigma, cfg.dispersion_df)
    };
    let direction = if effect > 0.0 {
        Direction::Up
    } else {
        Direction::Down
    };
    Some((p, effect, direction, Model::Money { f, sigma }))
}

/// The plain conversions forecast of day `t` (0 when there is none).
fn expected_conversions(t: usize, ws: &Workspace) -> f64 {
    ws.f(Lane::Conversions, t)
        .map_or(0.0, |f| (f.exp() - COUNT_OFFSET).max(0.0))
}

/// `tracking_broken`: spend but no conversions (or conversions but no value) on an entity
/// that converted on most days of the last four weeks, where zero is improbable under the
/// CPA lane's expectation for that day's spend.
fn test_tracking(
    e: &Entity,
    t: usize,
    totals: &Totals,
    cfg: &AlertConfig,
    ws: &mut Workspace,
    out: &mut Tests,
) {
    let spend = lanes::spend(totals);
    let conversions = Count::Conversions.of(totals);
    let no_value = conversions > 0 && lanes::value(totals) <= 0.0;
    if spend <= 0.0 || (conversions > 0 && !no_value) {
        return;
    }
    let lane = if no_value {
        Lane::ConversionValue
    } else {
        Lane::Conversions
    };
    if !reliable(e, t, no_value, cfg) {
        return;
    }
    let Some((mu, alpha)) =
        count_expectation(Lane::Cpa, Count::Conversions, spend, t, false, cfg, ws)
    else {
        return;
    };
    let p = stats::nb_zero(mu, alpha);
    // A missing value is stated against the value lane's own expectation.
    let model = if no_value {
        let v = Lane::ConversionValue;
        match (ws.f(v, t), ws.sigma(v, t)) {
            (Some(f), Some(sigma)) => Model::Money {
                f,
                sigma: sigma.max(cfg.min_log_sd),
            },
            _ => return,
        }
    } else {
        Model::Count {
            x: 0,
            mu,
            alpha,
            exposure: 1.0,
        }
    };
    out.per_day[t] += 1;
    if p <= out.keep_p {
        out.findings.push(Finding {
            entity: e.id,
            day: t as u32,
            lane,
            kind: AlertKind::TrackingBroken,
            direction: Direction::Down,
            p,
            effect: f64::NEG_INFINITY,
            observed: if no_value {
                0.0
            } else {
                lanes::conversions(totals)
            },
            model,
            spend,
        });
    }
}

/// Converted (or, for `value`, converted with value) on at least `reliable_share` of the
/// days with data of the last four weeks, with at least `min_history` such days.
fn reliable(e: &Entity, t: usize, value: bool, cfg: &AlertConfig) -> bool {
    let start = t.saturating_sub(cfg.window.weeks * 7);
    let (mut days, mut hits) = (0usize, 0usize);
    for d in e.days[start..t].iter().flatten() {
        if value && Count::Conversions.of(d) == 0 {
            continue;
        }
        days += 1;
        let hit = if value {
            lanes::value(d) > 0.0
        } else {
            Count::Conversions.of(d) > 0
        };
        hits += usize::from(hit);
    }
    days >= cfg.window.min_history && hits as f64 >= cfg.reliable_share * days as f64
}
