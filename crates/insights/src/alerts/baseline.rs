//! The naive baseline the accuracy benchmark compares [`super::detect`] with: a rolling
//! 7-day z-score of each metric in its own unit, |z| ≥ 3, no seasonality, no count model,
//! no false-discovery control, no grouping. It gets the same day merging as the detector so
//! that the comparison is about the statistics, not the bookkeeping.

use adpipe_domain::insights::{ACCOUNT_LEVEL, Alert, AlertKind, Direction, Severity, alert_id};

use super::lanes::LANES;
use crate::series::{ConnectionSeries, EntitySeries};

/// The z-score threshold.
pub const Z: f64 = 3.0;
/// Days of history (the window) and the days with data it needs.
const WINDOW: usize = 7;
const MIN_DAYS: usize = 5;

/// The baseline's alerts on the last `evaluate_days` days of `series`.
pub fn detect(series: &ConnectionSeries, evaluate_days: usize) -> Vec<Alert> {
    let n = series.n_days;
    let start = n.saturating_sub(evaluate_days);
    let mut out = Vec::new();
    let entities = std::iter::once(&series.account).chain(series.entities.iter());
    for (i, entity) in entities.enumerate() {
        for lane in LANES {
            let values: Vec<Option<f64>> = entity
                .days
                .iter()
                .take(n)
                .map(|d| d.as_ref().and_then(|t| lane.observed(t)))
                .collect();
            let hits = hits(&values, start);
            for (first, last, direction, z) in merge(&hits) {
                out.push(alert(
                    series,
                    entity,
                    i == 0,
                    lane.metric(),
                    first,
                    last,
                    direction,
                    z,
                    &values,
                ));
            }
        }
    }
    out.sort_by(|a, b| b.date.cmp(&a.date).then(a.alert_id.cmp(&b.alert_id)));
    out
}

/// Days at or after `start` with |z| ≥ [`Z`] against the previous 7 days with data.
fn hits(values: &[Option<f64>], start: usize) -> Vec<(usize, Direction, f64)> {
    let mut out = Vec::new();
    for t in start..values.len() {
        let Some(x) = values[t] else { continue };
        let window: Vec<f64> = values[t.saturating_sub(WINDOW)..t]
            .iter()
            .flatten()
            .copied()
            .collect();
        if window.len() < MIN_DAYS {
            continue;
        }
        let mean = window.iter().sum::<f64>() / window.len() as f64;
        let var =
            window.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (window.len() - 1) as f64;
        if var <= 0.0 {
            continue;
        }
        let z = (x - mean) / var.sqrt();
        if z.abs() >= Z {
            let direction = if z > 0.0 {
                Direction::Up
            } else {
                Direction::Down
            };
            out.push((t, direction, z));
        }
    }
    out
}

/// Consecutive hits in one direction (one quiet day bridged) → (first, last, direction, z).
fn merge(hits: &[(usize, Direction, f64)]) -> Vec<(usize, usize, Direction, f64)> {
    let mut out: Vec<(usize, usize, Direction, f64)> = Vec::new();
    for &(t, d, z) in hits {
        if let Some(open) = out.iter_mut().rev().find(|o| o.2 == d) {
            if t <= open.1 + 2 {
                open.1 = t;
                continue;
            }
        }
        out.push((t, t, d, z));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn alert(
    series: &ConnectionSeries,
    entity: &EntitySeries,
    account: bool,
    metric: adpipe_domain::insights::Metric,
    first: usize,
    last: usize,
    direction: Direction,
    z: f64,
    values: &[Option<f64>],
) -> Alert {
    let level = if account {
        ACCOUNT_LEVEL
    } else {
        entity.level.as_str()
    };
    let date = series.day(first);
    let p = statrs::function::erf::erfc(z.abs() / std::f64::consts::SQRT_2);
    Alert {
        alert_id: alert_id(
            &series.connection_id,
            level,
            &entity.entity_id,
            AlertKind::Anomaly,
            metric,
            direction,
            date,
        ),
        connection_id: series.connection_id.clone(),
        platform: series.platform,
        level: level.to_owned(),
        entity_id: entity.entity_id.clone(),
        entity_name: entity.entity_name.clone(),
        date,
        last_date: series.day(last),
        kind: AlertKind::Anomaly,
        metric,
        direction,
        observed: values[first].unwrap_or(0.0),
        expected: 0.0,
        lower: 0.0,
        upper: 0.0,
        p_value: p,
        q_value: p,
        severity: Severity::Info,
        currency: series.currency.clone(),
        children: Vec::new(),
    }
}
