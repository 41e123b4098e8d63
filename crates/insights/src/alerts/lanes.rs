//! The ten metrics as "lanes": each a daily series on a log scale that the forecast reads.
//!
//! Counts are `ln(count + ½)`. A ratio whose numerator or denominator is a count is kept
//! as that count per unit of exposure, `ln(count + ½) − ln(exposure)` (clicks per
//! impression for CTR, clicks / impressions / conversions per unit of spend for CPC / CPM /
//! CPA), so its test can be a count test: "given today's exposure, is today's count
//! plausible?" Money (spend, conversion value, ROAS) is `ln(amount + 1 cent)`.

use adpipe_domain::insights::Metric;

use crate::series::Totals;

/// A lane's own offset on the log scale: ½ for counts (Anscombe-like, keeps zero days
/// finite), one cent for money.
pub const COUNT_OFFSET: f64 = 0.5;
pub const MONEY_OFFSET: f64 = 0.01;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    Spend,
    Impressions,
    Clicks,
    Conversions,
    ConversionValue,
    Ctr,
    Cpc,
    Cpm,
    Cpa,
    Roas,
}

/// The count a count lane is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    Impressions,
    Clicks,
    Conversions,
}

/// What a count lane's count is per.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exposure {
    /// A plain daily count.
    Day,
    Impressions,
    Spend,
}

/// How a lane is tested.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Test {
    /// Negative binomial on `count` given `exposure`. `inverse`: the metric is exposure per
    /// count (CPC, CPM, CPA), so a low count is the metric going up.
    Count {
        count: Count,
        exposure: Exposure,
        inverse: bool,
    },
    /// Normal on the log scale with a robust (MAD) dispersion.
    Money,
}

pub const LANES: [Lane; 10] = [
    Lane::Spend,
    Lane::Impressions,
    Lane::Clicks,
    Lane::Conversions,
    Lane::ConversionValue,
    Lane::Ctr,
    Lane::Cpc,
    Lane::Cpm,
    Lane::Cpa,
    Lane::Roas,
];

impl Lane {
    pub fn index(self) -> usize {
        self as usize
    }

    pub fn metric(self) -> Metric {
        match self {
            Lane::Spend => Metric::Spend,
            Lane::Impressions => Metric::Impressions,
            Lane::Clicks => Metric::Clicks,
            Lane::Conversions => Metric::Conversions,
            Lane::ConversionValue => Metric::ConversionValue,
            Lane::Ctr => Metric::Ctr,
            Lane::Cpc => Metric::Cpc,
            Lane::Cpm => Metric::Cpm,
            Lane::Cpa => Metric::Cpa,
            Lane::Roas => Metric::Roas,
        }
    }

    pub fn test(self) -> Test {
        let count = |count, exposure, inverse| Test::Count {
            count,
            exposure,
            inverse,
        };
        match self {
            Lane::Spend | Lane::ConversionValue | Lane::Roas => Test::Money,
            Lane::Impressions => count(Count::Impressions, Exposure::Day, false),
            Lane::Clicks => count(Count::Clicks, Exposure::Day, false),
            Lane::Conversions => count(Count::Conversions, Exposure::Day, false),
            Lane::Ctr => count(Count::Clicks, Exposure::Impressions, false),
            Lane::Cpc => count(Count::Clicks, Exposure::Spend, true),
            Lane::Cpm => count(Count::Impressions, Exposure::Spend, true),
            Lane::Cpa => count(Count::Conversions, Exposure::Spend, true),
        }
    }

    /// Lanes that only mean something for an entity that converts.
    pub fn needs_conversions(self) -> bool {
        matches!(
            self,
            Lane::Conversions | Lane::ConversionValue | Lane::Cpa | Lane::Roas
        )
    }

    /// The lane's value on a day, `None` where it is undefined (no exposure).
    pub fn value(self, t: &Totals) -> Option<f64> {
        let spend = spend(t);
        let per_spend = |x: f64| (spend > 0.0).then(|| x.ln() - spend.ln());
        match self {
            Lane::Spend => Some((spend + MONEY_OFFSET).ln()),
            Lane::ConversionValue => Some((value(t) + MONEY_OFFSET).ln()),
            Lane::Roas => per_spend(value(t) + MONEY_OFFSET),
            Lane::Impressions => Some((t.impressions as f64 + COUNT_OFFSET).ln()),
            Lane::Clicks => Some((t.clicks as f64 + COUNT_OFFSET).ln()),
            Lane::Conversions => Some((conversions(t) + COUNT_OFFSET).ln()),
            Lane::Ctr => (t.impressions > 0)
                .then(|| (t.clicks as f64 + COUNT_OFFSET).ln() - (t.impressions as f64).ln()),
            Lane::Cpc => per_spend(t.clicks as f64 + COUNT_OFFSET),
            Lane::Cpm => per_spend(t.impressions as f64 + COUNT_OFFSET),
            Lane::Cpa => per_spend(conversions(t) + COUNT_OFFSET),
        }
    }

    /// Every lane's value on a day (NaN where undefined), in [`LANES`] order, from seven
    /// logarithms rather than one or two per lane.
    pub fn all_values(t: &Totals) -> [f64; 10] {
        let undefined = f64::NAN;
        let (s, i) = (spend(t), t.impressions as f64);
        let ln_spend = if s > 0.0 { s.ln() } else { undefined };
        let ln_impressions = if i > 0.0 { i.ln() } else { undefined };
        let impressions = (i + COUNT_OFFSET).ln();
        let clicks = (t.clicks as f64 + COUNT_OFFSET).ln();
        let conversions = (conversions(t) + COUNT_OFFSET).ln();
        let value = (value(t) + MONEY_OFFSET).ln();
        [
            (s + MONEY_OFFSET).ln(),
            impressions,
            clicks,
            conversions,
            value,
            clicks - ln_impressions,
            clicks - ln_spend,
            impressions - ln_spend,
            conversions - ln_spend,
            value - ln_spend,
        ]
    }

    /// The metric in its own unit (money in currency units), `None` where undefined.
    pub fn observed(self, t: &Totals) -> Option<f64> {
        let (s, i, c, v) = (spend(t), t.impressions as f64, t.clicks as f64, value(t));
        let n = conversions(t);
        let ratio = |a: f64, b: f64| (b > 0.0).then(|| a / b);
        match self {
            Lane::Spend => Some(s),
            Lane::Impressions => Some(i),
            Lane::Clicks => Some(c),
            Lane::Conversions => Some(n),
            Lane::ConversionValue => Some(v),
            Lane::Ctr => ratio(c, i),
            Lane::Cpc => ratio(s, c),
            Lane::Cpm => ratio(1000.0 * s, i),
            Lane::Cpa => ratio(s, n),
            Lane::Roas => ratio(v, s),
        }
    }
}

impl Count {
    pub fn of(self, t: &Totals) -> u64 {
        match self {
            Count::Impressions => t.impressions,
            Count::Clicks => t.clicks,
            // Platforms report fractional (modelled) conversions; the test counts whole ones.
            Count::Conversions => conversions(t).round() as u64,
        }
    }

    /// The plain-count lane of the same count (its forecast is the typical volume).
    pub fn lane(self) -> Lane {
        match self {
            Count::Impressions => Lane::Impressions,
            Count::Clicks => Lane::Clicks,
            Count::Conversions => Lane::Conversions,
        }
    }
}

impl Exposure {
    pub fn of(self, t: &Totals) -> f64 {
        match self {
            Exposure::Day => 1.0,
            Exposure::Impressions => t.impressions as f64,
            Exposure::Spend => spend(t),
        }
    }
}

/// Spend in currency units, never negative (refunds are not spend).
pub fn spend(t: &Totals) -> f64 {
    t.spend().max(0.0)
}

pub fn conversions(t: &Totals) -> f64 {
    if t.conversions.is_finite() {
        t.conversions.max(0.0)
    } else {
        0.0
    }
}

pub fn value(t: &Totals) -> f64 {
    if t.conversion_value.is_finite() {
        t.conversion_value.max(0.0)
    } else {
        0.0
    }
}
