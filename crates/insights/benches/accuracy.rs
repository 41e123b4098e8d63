//! Accuracy of the anomaly-alert model against a naive baseline on seeded synthetic data
//! (docs/insights-alerts.md). `cargo bench -p insights --bench accuracy` prints the
//! markdown tables the doc quotes, from the held-out seeds; `ACCURACY_SEEDS=dev` runs the
//! development seeds instead.

use std::collections::BTreeMap;
use std::time::Instant;

use adpipe_domain::insights::{ACCOUNT_LEVEL, Alert, AlertKind, Direction, Metric};
use insights::alerts::{self, AlertConfig, baseline};
use insights::synth::{self, Incident, IncidentKind, Synth, SynthConfig};

/// Seeds tuned on (development) and reported (held out). Incident series use seed + 1000.
const DEV_SEEDS: [u64; 4] = [1, 2, 3, 4];
const HELD_OUT_SEEDS: [u64; 6] = [101, 102, 103, 104, 105, 106];
const CAMPAIGNS: usize = 200;
const DAYS: usize = 126;
/// Days evaluated (the detector's default window); campaign-weeks count these.
const EVALUATE: usize = 35;
/// A detection may come this many days after the injected day.
const MAX_DELAY: i64 = 2;

#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Model {
    Detector,
    Baseline,
}

const MODELS: [Model; 2] = [Model::Detector, Model::Baseline];

fn run(model: Model, s: &Synth) -> Vec<Alert> {
    match model {
        Model::Detector => alerts::detect(&s.series, &AlertConfig::default()),
        Model::Baseline => baseline::detect(&s.series, EVALUATE),
    }
}

fn main() {
    let dev = std::env::var("ACCURACY_SEEDS").is_ok_and(|v| v == "dev");
    let seeds: &[u64] = if dev { &DEV_SEEDS } else { &HELD_OUT_SEEDS };
    let started = Instant::now();
    let mut tally = Tally::default();
    for &seed in seeds {
        let clean = synth::generate(&SynthConfig::clean(seed, CAMPAIGNS, DAYS));
        let dirty = synth::generate(&SynthConfig::with_incidents(seed + 1000, CAMPAIGNS, DAYS));
        for model in MODELS {
            tally.clean(model, &clean, &run(model, &clean));
            tally.incidents(model, &dirty, &run(model, &dirty));
        }
    }
    let set = if dev { "development" } else { "held-out" };
    println!(
        "## Accuracy ({set} seeds {seeds:?}: {CAMPAIGNS} campaigns × {DAYS} days each, last {EVALUATE} evaluated)\n"
    );
    tally.print();
    print_timing();
    println!(
        "\nbench wall time: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

/// Impressions a day (the campaign's base volume).
fn band(impressions: f64) -> usize {
    match impressions {
        x if x < 1_000.0 => 0,
        x if x < 10_000.0 => 1,
        _ => 2,
    }
}

const BANDS: [&str; 3] = ["< 1k impr/day", "1k–10k", "≥ 10k"];

fn large(i: &Incident) -> bool {
    i.kind == IncidentKind::TrackingOutage || i.factor >= 2.0 || i.factor <= 0.4
}

/// The (metric, direction relative to the incident's) an incident shows in; a matching
/// alert on any of them is a detection.
fn accepted(i: &Incident) -> Vec<(Metric, bool)> {
    use Metric::*;
    match i.kind {
        IncidentKind::Spend | IncidentKind::LevelShift => vec![
            (Spend, true),
            (Impressions, true),
            (Clicks, true),
            (Conversions, true),
            (ConversionValue, true),
        ],
        IncidentKind::Cpa => vec![
            (Cpa, true),
            (Conversions, false),
            (ConversionValue, false),
            (Roas, false),
        ],
        IncidentKind::Conversions => {
            vec![
                (Conversions, true),
                (Cpa, false),
                (ConversionValue, true),
                (Roas, true),
            ]
        }
        IncidentKind::Ctr => vec![
            (Ctr, true),
            (Clicks, true),
            (Cpc, false),
            (Conversions, true),
            (ConversionValue, true),
            (Cpa, false),
            (Roas, true),
        ],
        IncidentKind::TrackingOutage => {
            vec![
                (Conversions, true),
                (ConversionValue, true),
                (Cpa, false),
                (Roas, true),
            ]
        }
    }
}

fn flip(d: Direction) -> Direction {
    match d {
        Direction::Up => Direction::Down,
        Direction::Down => Direction::Up,
    }
}

/// The alert says what the incident did (metric family and direction, or tracking_broken).
fn says(a: &Alert, i: &Incident) -> bool {
    let conversions_down = matches!(
        (i.kind, i.direction),
        (IncidentKind::TrackingOutage, _)
            | (IncidentKind::Cpa, Direction::Up)
            | (IncidentKind::Conversions, Direction::Down)
    );
    if a.kind == AlertKind::TrackingBroken {
        return conversions_down;
    }
    accepted(i).iter().any(|&(m, same)| {
        m == a.metric && a.direction == if same { i.direction } else { flip(i.direction) }
    })
}

fn on_entity(a: &Alert, i: &Incident) -> bool {
    a.entity_id == i.entity_id || a.children.iter().any(|c| c.entity_id == i.entity_id)
}

fn day_of(s: &Synth, a: &Alert) -> i64 {
    (a.date - s.series.first_day).num_days()
}

/// A detection of `i`: on its entity (or the account alert listing it), saying what it
/// did, dated 0–2 days after it began. Returns the delay.
fn detects(s: &Synth, a: &Alert, i: &Incident) -> Option<i64> {
    let delay = day_of(s, a) - i.day as i64;
    ((0..=MAX_DELAY).contains(&delay) && on_entity(a, i) && says(a, i)).then_some(delay)
}

/// A true alert: it detects an incident within the incident's first week (+2 days), or it
/// is an account alert saying what some incident did in that window (the total moved).
fn is_true(s: &Synth, a: &Alert) -> bool {
    let d = day_of(s, a);
    s.incidents.iter().any(|i| {
        let window = i.day as i64..=(i.last_day.min(i.day + 6)) as i64 + MAX_DELAY;
        window.contains(&d) && says(a, i) && (on_entity(a, i) || a.level == ACCOUNT_LEVEL)
    })
}

#[derive(Default)]
struct Cell {
    n: usize,
    hit: usize,
    delay: i64,
}

impl Cell {
    fn add(&mut self, delay: Option<i64>) {
        self.n += 1;
        if let Some(d) = delay {
            self.hit += 1;
            self.delay += d;
        }
    }

    fn recall(&self) -> String {
        if self.n == 0 {
            "–".into()
        } else {
            format!("{:.2}", self.hit as f64 / self.n as f64)
        }
    }

    fn delay(&self) -> String {
        if self.hit == 0 {
            "–".into()
        } else {
            format!("{:.2}", self.delay as f64 / self.hit as f64)
        }
    }

    fn merge(&mut self, o: &Cell) {
        self.n += o.n;
        self.hit += o.hit;
        self.delay += o.delay;
    }
}

#[derive(Default)]
struct Tally {
    /// (model, kind, large, band) → recall cell.
    recall: BTreeMap<(Model, IncidentKind, bool, usize), Cell>,
    /// (model, band) → (true, all) alerts on entities of that band (account alerts: band 3).
    precision: BTreeMap<(Model, usize), (usize, usize)>,
    /// model → alerts on clean series, campaign-weeks.
    clean: BTreeMap<Model, (usize, f64)>,
    /// model → tracking outages found on their first day (all; reliable converters).
    tracking: BTreeMap<(Model, bool), Cell>,
    /// model → alerts matching a detected incident, detected incidents.
    per_incident: BTreeMap<Model, (usize, usize)>,
}

impl Tally {
    fn clean(&mut self, model: Model, s: &Synth, alerts: &[Alert]) {
        let e = self.clean.entry(model).or_default();
        e.0 += alerts.len();
        e.1 += s.series.entities.len() as f64 * EVALUATE as f64 / 7.0;
    }

    fn incidents(&mut self, model: Model, s: &Synth, alerts: &[Alert]) {
        for i in &s.incidents {
            let truth = &s.campaigns[i.entity];
            let delays: Vec<i64> = alerts.iter().filter_map(|a| detects(s, a, i)).collect();
            let first = delays.iter().min().copied();
            let b = band(truth.impressions_per_day);
            self.recall
                .entry((model, i.kind, large(i), b))
                .or_default()
                .add(first);
            if i.kind == IncidentKind::TrackingOutage {
                let same_day = first.filter(|&d| d == 0);
                self.tracking
                    .entry((model, false))
                    .or_default()
                    .add(same_day);
                if truth.conversions_per_day >= 10.0 {
                    self.tracking
                        .entry((model, true))
                        .or_default()
                        .add(same_day);
                }
            }
            if first.is_some() {
                let e = self.per_incident.entry(model).or_default();
                e.0 += delays.len();
                e.1 += 1;
            }
        }
        let index: BTreeMap<&str, usize> = s
            .series
            .entities
            .iter()
            .enumerate()
            .map(|(k, e)| (e.entity_id.as_str(), k))
            .collect();
        for a in alerts {
            let b = index
                .get(a.entity_id.as_str())
                .map_or(3, |&k| band(s.campaigns[k].impressions_per_day));
            let e = self.precision.entry((model, b)).or_default();
            e.0 += usize::from(is_true(s, a));
            e.1 += 1;
        }
    }

    fn cell(&self, model: Model, kind: IncidentKind, large: bool, bands: &[usize]) -> Cell {
        let mut c = Cell::default();
        for &b in bands {
            if let Some(x) = self.recall.get(&(model, kind, large, b)) {
                c.merge(x);
            }
        }
        c
    }

    fn print(&self) {
        for large in [true, false] {
            let what = if large {
                "large incidents (≥ 2× or ≤ 0.4×; tracking outages)"
            } else {
                "small incidents (1.5× or 0.67×)"
            };
            println!("### Recall and mean detection delay (days), {what}: detector / baseline\n");
            println!(
                "| incident | {} | {} | {} | ≥ 1k impr/day |",
                BANDS[0], BANDS[1], BANDS[2]
            );
            println!("|---|---|---|---|---|");
            for kind in IncidentKind::ALL {
                if !large && kind == IncidentKind::TrackingOutage {
                    continue;
                }
                let mut row = format!("| {} |", kind.name());
                for bands in [&[0][..], &[1], &[2], &[1, 2]] {
                    let [d, b] = MODELS.map(|m| self.cell(m, kind, large, bands));
                    row += &format!(
                        " {} / {} (delay {} / {}, n={}) |",
                        d.recall(),
                        b.recall(),
                        d.delay(),
                        b.delay(),
                        d.n
                    );
                }
                println!("{row}");
            }
            let mut all = MODELS.map(|_| Cell::default());
            for (m, model) in MODELS.iter().enumerate() {
                for kind in IncidentKind::ALL {
                    all[m].merge(&self.cell(*model, kind, large, &[1, 2]));
                }
            }
            println!(
                "| **all, ≥ 1k impr/day** | | | | **{} / {}** (n={}) |\n",
                all[0].recall(),
                all[1].recall(),
                all[0].n
            );
        }
        self.print_summary();
    }

    fn print_summary(&self) {
        println!("### Summary: detector / baseline\n");
        println!("| measure | detector | baseline |");
        println!("|---|---|---|");
        let both = |f: &dyn Fn(Model) -> String| MODELS.map(f);
        let [d, b] = both(&|m| {
            let (x, weeks) = self.clean.get(&m).copied().unwrap_or_default();
            format!(
                "{:.2} ({x} alerts / {weeks:.0} campaign-weeks)",
                100.0 * x as f64 / weeks.max(1.0)
            )
        });
        println!("| false alerts per 100 campaign-weeks, clean series | {d} | {b} |");
        for (k, name) in [(0, BANDS[0]), (1, BANDS[1]), (2, BANDS[2]), (3, "account")] {
            let [d, b] = both(&|m| ratio(self.precision.get(&(m, k)).copied().unwrap_or_default()));
            println!("| precision, alerts on {name} | {d} | {b} |");
        }
        let [d, b] = both(&|m| {
            let total = (0..4).fold((0, 0), |acc, k| {
                let x = self.precision.get(&(m, k)).copied().unwrap_or_default();
                (acc.0 + x.0, acc.1 + x.1)
            });
            ratio(total)
        });
        println!("| **precision, all alerts** (incident series) | {d} | {b} |");
        for (reliable, name) in [(false, "all"), (true, "≥ 10 conversions/day")] {
            let [d, b] = both(&|m| {
                let c = self.tracking.get(&(m, reliable));
                c.map_or("–".into(), |c| format!("{} (n={})", c.recall(), c.n))
            });
            println!("| tracking outages found on their first day, {name} | {d} | {b} |");
        }
        let [d, b] = both(&|m| {
            let (a, n) = self.per_incident.get(&m).copied().unwrap_or_default();
            format!("{:.2}", a as f64 / n.max(1) as f64)
        });
        println!("| alerts per detected incident | {d} | {b} |");
    }
}

fn ratio((hits, all): (usize, usize)) -> String {
    if all == 0 {
        "–".into()
    } else {
        format!("{:.3} ({hits}/{all})", hits as f64 / all as f64)
    }
}

/// The speed target: one connection of 200 campaigns × 180 days, one core.
fn print_timing() {
    let s = synth::generate(&SynthConfig::with_incidents(7, 200, 180));
    let config = AlertConfig::default();
    let mut times: Vec<f64> = (0..21)
        .map(|_| {
            let t = Instant::now();
            std::hint::black_box(alerts::detect(std::hint::black_box(&s.series), &config));
            t.elapsed().as_secs_f64() * 1e3
        })
        .collect();
    times.sort_by(f64::total_cmp);
    println!(
        "\n| speed (200 campaigns × 180 days, release, one core) | median {:.1} ms | max {:.1} ms |",
        times[times.len() / 2],
        times[times.len() - 1]
    );
}
