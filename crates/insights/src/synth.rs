//! Seeded synthetic series for the models' accuracy benchmarks (docs/insights-alerts.md).
//!
//! One connection of campaigns with log-uniform volume (10 to 100,000 impressions a day),
//! realistic CTR / CPM / CVR / order value, a weekly cycle, a trend and a slow random walk,
//! and overdispersed counts (gamma–Poisson at every stage). Optionally with incidents of
//! known day, kind and size, returned as the ground truth. The same seed gives the same
//! series.
//!
//! statrs samples only with its `rand` feature (not enabled here), so the three samplers
//! (normal, gamma, Poisson) are the textbook ones, on `fastrand`.

use adpipe_domain::insights::{Direction, Metric};
use adpipe_domain::{ConnectionId, Platform};
use chrono::NaiveDate;
use fastrand::Rng;

use crate::series::{ConnectionSeries, EntitySeries, Totals};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SynthConfig {
    pub seed: u64,
    pub campaigns: usize,
    pub days: usize,
    /// Share of campaigns given one incident in the last `incident_days` days (0: clean).
    pub incident_share: f64,
    pub incident_days: usize,
}

impl SynthConfig {
    /// A clean connection (no incidents).
    pub fn clean(seed: u64, campaigns: usize, days: usize) -> Self {
        Self {
            seed,
            campaigns,
            days,
            incident_share: 0.0,
            incident_days: 35,
        }
    }

    /// A connection where 40 % of the campaigns have one incident in the last 35 days.
    pub fn with_incidents(seed: u64, campaigns: usize, days: usize) -> Self {
        Self {
            incident_share: 0.4,
            ..Self::clean(seed, campaigns, days)
        }
    }
}

/// The kind of an injected incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IncidentKind {
    /// Volume × factor (impressions, clicks, spend, conversions together), 1–3 days.
    Spend,
    /// Conversions ÷ factor at the same spend (CPA × factor), 1–3 days.
    Cpa,
    /// Clicks × factor at the same impressions and spend (conversions follow clicks).
    Ctr,
    /// Conversions × factor at the same spend, 1–3 days.
    Conversions,
    /// Volume × factor from the day on, to the end of the series.
    LevelShift,
    /// Conversions and their value 0 while spend goes on, 3–7 days.
    TrackingOutage,
}

impl IncidentKind {
    pub const ALL: [IncidentKind; 6] = [
        IncidentKind::Spend,
        IncidentKind::Cpa,
        IncidentKind::Ctr,
        IncidentKind::Conversions,
        IncidentKind::LevelShift,
        IncidentKind::TrackingOutage,
    ];

    pub fn name(self) -> &'static str {
        match self {
            IncidentKind::Spend => "spend",
            IncidentKind::Cpa => "cpa",
            IncidentKind::Ctr => "ctr",
            IncidentKind::Conversions => "conversions",
            IncidentKind::LevelShift => "level shift (spend)",
            IncidentKind::TrackingOutage => "tracking outage",
        }
    }
}

/// One injected incident (the ground truth).
#[derive(Debug, Clone, PartialEq)]
pub struct Incident {
    /// Index into [`ConnectionSeries::entities`].
    pub entity: usize,
    pub entity_id: String,
    /// First and last affected day (indices).
    pub day: usize,
    pub last_day: usize,
    pub kind: IncidentKind,
    pub metric: Metric,
    pub direction: Direction,
    /// The multiplier applied (0 for a tracking outage).
    pub factor: f64,
}

/// A campaign's true parameters, for banding the results.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CampaignTruth {
    pub impressions_per_day: f64,
    pub conversions_per_day: f64,
}

#[derive(Debug, Clone)]
pub struct Synth {
    pub series: ConnectionSeries,
    pub incidents: Vec<Incident>,
    pub campaigns: Vec<CampaignTruth>,
}

/// A campaign's generating parameters.
#[derive(Debug, Clone)]
struct Campaign {
    impressions: f64,
    ctr: f64,
    cpm: f64,
    cvr: f64,
    order_value: f64,
    /// Weekly log effects of volume, CTR and CVR.
    week: [[f64; 7]; 3],
    slope: f64,
    /// Overdispersion (gamma shape⁻¹) of impressions, clicks and conversions.
    alpha: [f64; 3],
    start: usize,
}

/// The multipliers an incident applies on one day.
#[derive(Debug, Clone, Copy)]
struct Effect {
    volume: f64,
    ctr: f64,
    cvr: f64,
    tracking_off: bool,
}

const NO_EFFECT: Effect = Effect {
    volume: 1.0,
    ctr: 1.0,
    cvr: 1.0,
    tracking_off: false,
};

pub fn generate(config: &SynthConfig) -> Synth {
    let mut rng = Rng::with_seed(config.seed);
    let campaigns: Vec<Campaign> = (0..config.campaigns)
        .map(|_| campaign(&mut rng, config.days))
        .collect();
    let mut incidents = Vec::new();
    let mut entities = Vec::with_capacity(campaigns.len());
    for (i, c) in campaigns.iter().enumerate() {
        let id = format!("cmp_{i:04}");
        let incident = (rng.f64() < config.incident_share)
            .then(|| incident(&mut rng, i, &id, c, config))
            .flatten();
        let days = days(&mut rng, c, config.days, incident.as_ref());
        entities.push(EntitySeries {
            level: "campaign".into(),
            entity_id: id,
            entity_name: Some(format!("Campaign {i}")),
            campaign_id: None,
            days,
        });
        incidents.extend(incident);
    }
    let truth = campaigns
        .iter()
        .map(|c| CampaignTruth {
            impressions_per_day: c.impressions,
            conversions_per_day: c.impressions * c.ctr * c.cvr,
        })
        .collect();
    Synth {
        series: connection(config, entities),
        incidents,
        campaigns: truth,
    }
}

fn connection(config: &SynthConfig, entities: Vec<EntitySeries>) -> ConnectionSeries {
    let hex = format!(
        "{:016x}{:016x}",
        config.seed,
        config.seed.rotate_left(17) ^ 0x5eed
    );
    let connection_id: ConnectionId = format!("con_{hex}")
        .parse()
        .expect("con_ and 32 hex digits is a connection id");
    let account_days = (0..config.days)
        .map(|d| {
            let mut total: Option<Totals> = None;
            for t in entities.iter().filter_map(|e| e.days[d].as_ref()) {
                total.get_or_insert_with(Totals::default).add(t);
            }
            total
        })
        .collect();
    ConnectionSeries {
        connection_id,
        platform: Platform::GoogleAds,
        currency: Some("USD".into()),
        first_day: NaiveDate::from_ymd_opt(2026, 7, 1).unwrap_or_default(),
        n_days: config.days,
        account: EntitySeries {
            level: adpipe_domain::insights::ACCOUNT_LEVEL.into(),
            entity_id: "acct_1".into(),
            entity_name: Some("Account".into()),
            campaign_id: None,
            days: account_days,
        },
        entities,
    }
}

fn campaign(rng: &mut Rng, days: usize) -> Campaign {
    let lognormal = |rng: &mut Rng, median: f64, sd: f64| median * (sd * normal(rng)).exp();
    let mut week = [[0.0; 7]; 3];
    for (k, amplitude) in [0.3, 0.1, 0.15].into_iter().enumerate() {
        let (a, phase) = (amplitude * rng.f64(), 7.0 * rng.f64());
        for (j, w) in week[k].iter_mut().enumerate() {
            *w = a * (std::f64::consts::TAU * (j as f64 + phase) / 7.0).sin() + 0.03 * normal(rng);
        }
    }
    let late = rng.f64() < 0.15;
    Campaign {
        impressions: (10f64.ln() + rng.f64() * (100_000f64.ln() - 10f64.ln())).exp(),
        ctr: lognormal(rng, 0.015, 0.5).clamp(0.002, 0.08),
        cpm: lognormal(rng, 8.0, 0.5),
        cvr: lognormal(rng, 0.04, 0.5).clamp(0.005, 0.25),
        order_value: lognormal(rng, 60.0, 0.5),
        week,
        slope: (0.004 * normal(rng)).clamp(-0.01, 0.01),
        alpha: [
            0.005 + 0.025 * rng.f64(),
            0.005 + 0.025 * rng.f64(),
            0.01 + 0.04 * rng.f64(),
        ],
        start: if late {
            rng.usize(0..days.saturating_sub(20).max(1))
        } else {
            0
        },
    }
}

/// Picks an incident for campaign `i`, if it runs long enough before the incident day.
fn incident(
    rng: &mut Rng,
    i: usize,
    id: &str,
    c: &Campaign,
    config: &SynthConfig,
) -> Option<Incident> {
    let n = config.days;
    let lo = n.checked_sub(config.incident_days)?;
    let day = rng.usize(lo..n.saturating_sub(2).max(lo + 1));
    if day < c.start + 60 {
        return None;
    }
    let kind = IncidentKind::ALL[rng.usize(0..IncidentKind::ALL.len())];
    let up = rng.bool();
    let factor = if kind == IncidentKind::TrackingOutage {
        0.0
    } else if up {
        [1.5, 2.0, 3.0, 5.0][rng.usize(0..4)]
    } else {
        [0.67, 0.4, 0.25, 0.1][rng.usize(0..4)]
    };
    let duration = match kind {
        IncidentKind::LevelShift => n - day,
        IncidentKind::TrackingOutage => rng.usize(3..8),
        _ => rng.usize(1..4),
    };
    let (metric, direction) = match kind {
        IncidentKind::Spend | IncidentKind::LevelShift => (Metric::Spend, up),
        IncidentKind::Cpa => (Metric::Cpa, up),
        IncidentKind::Ctr => (Metric::Ctr, up),
        IncidentKind::Conversions => (Metric::Conversions, up),
        IncidentKind::TrackingOutage => (Metric::Conversions, false),
    };
    Some(Incident {
        entity: i,
        entity_id: id.to_owned(),
        day,
        last_day: (day + duration - 1).min(n - 1),
        kind,
        metric,
        direction: if direction {
            Direction::Up
        } else {
            Direction::Down
        },
        factor,
    })
}

fn effect_on(incident: Option<&Incident>, d: usize) -> Effect {
    let Some(i) = incident.filter(|i| (i.day..=i.last_day).contains(&d)) else {
        return NO_EFFECT;
    };
    let f = i.factor;
    match i.kind {
        IncidentKind::Spend | IncidentKind::LevelShift => Effect {
            volume: f,
            ..NO_EFFECT
        },
        IncidentKind::Ctr => Effect {
            ctr: f,
            ..NO_EFFECT
        },
        IncidentKind::Cpa => Effect {
            cvr: 1.0 / f,
            ..NO_EFFECT
        },
        IncidentKind::Conversions => Effect {
            cvr: f,
            ..NO_EFFECT
        },
        IncidentKind::TrackingOutage => Effect {
            tracking_off: true,
            ..NO_EFFECT
        },
    }
}

fn days(rng: &mut Rng, c: &Campaign, n: usize, incident: Option<&Incident>) -> Vec<Option<Totals>> {
    let mut walk = 0.0;
    (0..n)
        .map(|d| {
            walk += 0.01 * normal(rng);
            // About 1 % of days have no row (a late or missing report).
            if d < c.start || rng.f64() < 0.01 {
                return None;
            }
            let trend = c.slope * (d as f64 - n as f64 / 2.0) + walk;
            Some(day(rng, c, d % 7, trend, effect_on(incident, d)))
        })
        .collect()
}

fn day(rng: &mut Rng, c: &Campaign, weekday: usize, trend: f64, e: Effect) -> Totals {
    let mean_impressions = c.impressions * (c.week[0][weekday] + trend).exp() * e.volume;
    let impressions = gamma_poisson(rng, mean_impressions, c.alpha[0]);
    let ctr = (c.ctr * c.week[1][weekday].exp() * e.ctr).min(0.9);
    let clicks = gamma_poisson(rng, impressions as f64 * ctr, c.alpha[1]);
    let spend = impressions as f64 / 1000.0 * c.cpm * (0.05 * normal(rng)).exp();
    let cvr = (c.cvr * c.week[2][weekday].exp() * e.cvr).min(0.9);
    let mut conversions = gamma_poisson(rng, clicks as f64 * cvr, c.alpha[2]) as f64;
    let mut value = if conversions > 0.0 {
        conversions * c.order_value * (0.4 / conversions.sqrt() * normal(rng)).exp()
    } else {
        0.0
    };
    if e.tracking_off {
        (conversions, value) = (0.0, 0.0);
    }
    Totals {
        impressions,
        clicks,
        cost_micros: (spend * 1e6).round() as i64,
        conversions,
        conversion_value: (value * 100.0).round() / 100.0,
    }
}

/// Standard normal (Box–Muller).
pub fn normal(rng: &mut Rng) -> f64 {
    let u = 1.0 - rng.f64(); // (0, 1]
    let v = rng.f64();
    (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
}

/// Gamma(shape, 1) (Marsaglia–Tsang; boosted below shape 1).
pub fn gamma(rng: &mut Rng, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = 1.0 - rng.f64();
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = normal(rng);
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = 1.0 - rng.f64();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Poisson(λ): multiplication below 10, Hörmann's PTRS above.
pub fn poisson(rng: &mut Rng, lambda: f64) -> u64 {
    if lambda.is_nan() || lambda <= 0.0 {
        return 0;
    }
    if lambda < 10.0 {
        let limit = (-lambda).exp();
        let (mut k, mut p) = (0u64, rng.f64());
        while p > limit {
            k += 1;
            p *= rng.f64();
        }
        return k;
    }
    ptrs(rng, lambda)
}

fn ptrs(rng: &mut Rng, lambda: f64) -> u64 {
    let slam = lambda.sqrt();
    let loglam = lambda.ln();
    let b = 0.931 + 2.53 * slam;
    let a = -0.059 + 0.02483 * b;
    let inv_alpha = 1.1239 + 1.1328 / (b - 3.4);
    let vr = 0.9277 - 3.6224 / (b - 2.0);
    loop {
        let u = rng.f64() - 0.5;
        let v = rng.f64();
        let us = 0.5 - u.abs();
        let k = ((2.0 * a / us + b) * u + lambda + 0.43).floor();
        if us >= 0.07 && v <= vr {
            return k.max(0.0) as u64;
        }
        if k < 0.0 || (us < 0.013 && v > us) {
            continue;
        }
        let accept = v.ln() + inv_alpha.ln() - (a / (us * us) + b).ln();
        if accept <= -lambda + k * loglam - statrs::function::gamma::ln_gamma(k + 1.0) {
            return k as u64;
        }
    }
}

/// A gamma–Poisson count: mean `mean`, Var = mean + α·mean².
pub fn gamma_poisson(rng: &mut Rng, mean: f64, alpha: f64) -> u64 {
    if mean.is_nan() || mean <= 0.0 {
        return 0;
    }
    let shape = 1.0 / alpha;
    let g = gamma(rng, shape);
    poisson(rng, mean * g / shape)
}
