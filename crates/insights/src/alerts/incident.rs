//! From significant days to incidents: consecutive days of one entity, metric and direction
//! merge into one alert; an entity's incident that overlaps the account's on the same kind,
//! metric and direction is listed in the account alert's `children` instead of alerting on
//! its own. Severity, and the expectation stated in the metric's unit.

use adpipe_domain::insights::{
    ACCOUNT_LEVEL, Alert, AlertKind, Direction, EntityRef, Metric, Severity, alert_id,
};

use super::evaluate::{Finding, Model};
use super::lanes::{Lane, MONEY_OFFSET};
use super::stats::{Z95, nb_interval};
use super::{AlertConfig, SeverityRule, Significant};
use crate::series::{ConnectionSeries, EntitySeries};

/// Consecutive significant days of one (entity, kind, lane, direction).
#[derive(Debug, Clone)]
struct Incident {
    first: Significant,
    last_day: u32,
    severity: Severity,
    children: Vec<(f64, u32)>,
}

impl Incident {
    fn key(&self) -> (u32, AlertKind, Metric, Direction) {
        let f = &self.first.finding;
        (f.entity, f.kind, f.lane.metric(), f.direction)
    }
}

pub(super) fn build(
    series: &ConnectionSeries,
    entities: &[&EntitySeries],
    mut days: Vec<Significant>,
    eval_start: usize,
    config: &AlertConfig,
) -> Vec<Alert> {
    days.sort_by(|a, b| {
        let (x, y) = (&a.finding, &b.finding);
        (x.entity, x.kind, x.lane.metric(), x.direction, x.day).cmp(&(
            y.entity,
            y.kind,
            y.lane.metric(),
            y.direction,
            y.day,
        ))
    });
    let share = |f: &Finding| spend_share(series, f);
    let severity = |s: &Significant| severity_of(&s.finding, share(&s.finding), &config.severity);
    let mut incidents = merge(days, config.merge_gap_days as u32, severity);
    incidents.retain(|i| i.last_day as usize >= eval_start);
    group(&mut incidents);
    let mut alerts: Vec<Alert> = incidents
        .iter()
        .map(|i| to_alert(series, entities, i))
        .collect();
    alerts.sort_by(|a, b| {
        b.date
            .cmp(&a.date)
            .then(b.severity.cmp(&a.severity))
            .then(a.alert_id.cmp(&b.alert_id))
    });
    alerts
}

/// Days sorted by key then day → incidents; a quiet gap of up to `gap` days is bridged.
fn merge(
    days: Vec<Significant>,
    gap: u32,
    severity: impl Fn(&Significant) -> Severity,
) -> Vec<Incident> {
    let mut out: Vec<Incident> = Vec::new();
    for s in days {
        let sev = severity(&s);
        if let Some(open) = out.last_mut() {
            let f = &s.finding;
            let same = open.key() == (f.entity, f.kind, f.lane.metric(), f.direction);
            if same && f.day <= open.last_day + 1 + gap {
                open.last_day = f.day;
                open.severity = open.severity.max(sev);
                continue;
            }
        }
        out.push(Incident {
            first: s,
            last_day: s.finding.day,
            severity: sev,
            children: Vec::new(),
        });
    }
    out
}

/// Folds every entity incident overlapping an account incident of the same kind, metric
/// and direction into that account incident's children (largest spend first).
fn group(incidents: &mut Vec<Incident>) {
    let accounts: Vec<usize> = (0..incidents.len())
        .filter(|&i| incidents[i].first.finding.entity == 0)
        .collect();
    let mut folded = vec![false; incidents.len()];
    for &a in &accounts {
        let (key, first, last) = {
            let acc = &incidents[a];
            let (_, kind, metric, dir) = acc.key();
            ((kind, metric, dir), acc.first.finding.day, acc.last_day)
        };
        let mut children = Vec::new();
        for (c, child) in incidents.iter().enumerate() {
            let (entity, kind, metric, dir) = child.key();
            let overlaps = child.first.finding.day <= last && child.last_day >= first;
            if entity != 0 && !folded[c] && (kind, metric, dir) == key && overlaps {
                folded[c] = true;
                children.push((child.first.finding.spend, entity));
            }
        }
        children.sort_by(|x, y| y.0.total_cmp(&x.0).then(x.1.cmp(&y.1)));
        incidents[a].children = children;
    }
    let mut i = 0;
    incidents.retain(|_| {
        i += 1;
        !folded[i - 1]
    });
}

fn spend_share(series: &ConnectionSeries, f: &Finding) -> f64 {
    if f.entity == 0 {
        return 1.0;
    }
    let account = series
        .account
        .days
        .get(f.day as usize)
        .copied()
        .flatten()
        .map_or(0.0, |t| super::lanes::spend(&t));
    if account > 0.0 {
        (f.spend / account).min(1.0)
    } else if f.spend > 0.0 {
        1.0
    } else {
        0.0
    }
}

/// Critical when the effect is at least ×2 / ÷2 on ≥ 10 % of the account's spend that day,
/// warning at ×1.5 / ÷1.5 on ≥ 2 %, info otherwise; a favourable move (more conversions,
/// value, ROAS or CTR; cheaper CPC, CPM, CPA) is info at most. `tracking_broken` counts as
/// an infinite effect.
pub(super) fn severity_of(f: &Finding, share: f64, rule: &SeverityRule) -> Severity {
    if f.kind == AlertKind::Anomaly && favourable(f.lane.metric(), f.direction) {
        return Severity::Info;
    }
    let effect = f.effect.abs();
    if effect >= rule.critical_effect && share >= rule.critical_share {
        Severity::Critical
    } else if effect >= rule.warning_effect && share >= rule.warning_share {
        Severity::Warning
    } else {
        Severity::Info
    }
}

fn favourable(metric: Metric, direction: Direction) -> bool {
    use Metric::*;
    match direction {
        Direction::Up => matches!(metric, Conversions | ConversionValue | Ctr | Roas),
        Direction::Down => matches!(metric, Cpc | Cpm | Cpa),
    }
}

fn to_alert(series: &ConnectionSeries, entities: &[&EntitySeries], i: &Incident) -> Alert {
    let f = &i.first.finding;
    let entity = entities[f.entity as usize];
    let level = if f.entity == 0 {
        ACCOUNT_LEVEL
    } else {
        entity.level.as_str()
    };
    let metric = f.lane.metric();
    let date = series.day(f.day as usize);
    let (expected, lower, upper) = expectation(f);
    Alert {
        alert_id: alert_id(
            &series.connection_id,
            level,
            &entity.entity_id,
            f.kind,
            metric,
            f.direction,
            date,
        ),
        connection_id: series.connection_id.clone(),
        platform: series.platform,
        level: level.to_owned(),
        entity_id: entity.entity_id.clone(),
        entity_name: entity.entity_name.clone(),
        date,
        last_date: series.day(i.last_day as usize),
        kind: f.kind,
        metric,
        direction: f.direction,
        observed: finite(f.observed),
        expected: finite(expected),
        lower: finite(lower),
        upper: finite(upper),
        p_value: f.p,
        q_value: i.first.q,
        severity: i.severity,
        currency: series.currency.clone(),
        children: i
            .children
            .iter()
            .map(|&(_, c)| EntityRef {
                entity_id: entities[c as usize].entity_id.clone(),
                entity_name: entities[c as usize].entity_name.clone(),
            })
            .collect(),
    }
}

/// (expected, lower, upper) in the metric's unit: money in currency units, ratios as
/// ratios. An inverse ratio's upper bound assumes at least one count (it is unbounded at 0).
fn expectation(f: &Finding) -> (f64, f64, f64) {
    match f.model {
        Model::Money { f: m, sigma } => {
            let offset = if f.lane == Lane::Roas {
                0.0
            } else {
                MONEY_OFFSET
            };
            let at = |z: f64| ((m + z * sigma).exp() - offset).max(0.0);
            (at(0.0), at(-Z95), at(Z95))
        }
        Model::Count {
            mu,
            alpha,
            exposure,
            ..
        } => {
            let (lo, hi) = nb_interval(mu, alpha);
            let per = match f.lane {
                Lane::Cpm => 1000.0,
                _ => 1.0,
            };
            match f.lane {
                Lane::Cpc | Lane::Cpm | Lane::Cpa => {
                    let cost = per * exposure;
                    (cost / mu.max(0.5), cost / hi.max(1.0), cost / lo.max(1.0))
                }
                _ => {
                    let e = exposure.max(f64::MIN_POSITIVE);
                    (mu / e, lo / e, hi / e)
                }
            }
        }
    }
}

/// JSON has no infinities: a value that overflowed is stated as 0.
fn finite(x: f64) -> f64 {
    if x.is_finite() { x } else { 0.0 }
}
