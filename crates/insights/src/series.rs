//! What the models read: one connection's daily totals, per entity and for the account,
//! over a contiguous range of days. The handler builds it from the current lake table
//! (`lake`); the benchmarks build it from synthetic data (`synth`).

use adpipe_domain::{ConnectionId, Platform};
use chrono::{Days, NaiveDate};

/// One entity's numbers on one day (all its rows of that day summed).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Totals {
    pub impressions: u64,
    pub clicks: u64,
    /// Spend in micros of the account's currency.
    pub cost_micros: i64,
    pub conversions: f64,
    pub conversion_value: f64,
}

impl Totals {
    pub fn add(&mut self, other: &Totals) {
        self.impressions += other.impressions;
        self.clicks += other.clicks;
        self.cost_micros += other.cost_micros;
        self.conversions += other.conversions;
        self.conversion_value += other.conversion_value;
    }

    /// Spend in currency units.
    pub fn spend(&self) -> f64 {
        self.cost_micros as f64 / adpipe_domain::money::MICROS_PER_UNIT as f64
    }
}

/// One entity's days: `days[i]` is the day `first_day + i` of its [`ConnectionSeries`];
/// `None` where the lake has no row for it that day (not running, or the day is missing).
#[derive(Debug, Clone, PartialEq)]
pub struct EntitySeries {
    /// `campaign`, `ad_group`, `ad`, `channel`, `video`, or
    /// [`adpipe_domain::insights::ACCOUNT_LEVEL`] for the total.
    pub level: String,
    pub entity_id: String,
    pub entity_name: Option<String>,
    /// The campaign an ad group or ad belongs to, when the rows say.
    pub campaign_id: Option<String>,
    pub days: Vec<Option<Totals>>,
}

/// One connection's series, in one currency.
#[derive(Debug, Clone, PartialEq)]
pub struct ConnectionSeries {
    pub connection_id: ConnectionId,
    pub platform: Platform,
    pub currency: Option<String>,
    /// The day of index 0 of every series.
    pub first_day: NaiveDate,
    /// Number of days in every series (the last is `first_day + n_days - 1`).
    pub n_days: usize,
    /// The connection's total: the entities summed, `None` on a day with no row at all.
    pub account: EntitySeries,
    /// Every entity at the level the connection's schedule reports.
    pub entities: Vec<EntitySeries>,
}

impl ConnectionSeries {
    /// The day of index `i`.
    pub fn day(&self, i: usize) -> NaiveDate {
        self.first_day + Days::new(i as u64)
    }

    /// The last day of the series, `None` when it is empty.
    pub fn last_day(&self) -> Option<NaiveDate> {
        self.n_days.checked_sub(1).map(|i| self.day(i))
    }
}
