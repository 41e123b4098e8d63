//! What the insights function computes and the schedule API serves (`docs/insights.md`,
//! `docs/insights-api.md`): the metrics alerts are raised on, the alert record, a connection's
//! monthly budget, and the month-end spend projection pacing is judged from.
//!
//! The insights function writes these records to the control table (key layout in
//! [`crate::keys`]); the API reads them. Amounts are integer micros (`crate::money`);
//! statistics (observed, expected, p-values) are `f64`.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{ConnectionId, Platform};

/// Why a name is not one of an enumeration's values.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be one of: {allowed}")]
pub struct UnknownName {
    pub allowed: &'static str,
}

macro_rules! named_enum {
    ($(#[$meta:meta])* $name:ident, $allowed:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(rename_all = "snake_case")]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = UnknownName;
            fn from_str(s: &str) -> Result<Self, UnknownName> {
                match s {
                    $($text => Ok($name::$variant),)+
                    _ => Err(UnknownName { allowed: $allowed }),
                }
            }
        }
    };
}

named_enum!(
    /// A metric alerts are raised on. Counts and spend are per day; the ratios are
    /// `ctr` = clicks / impressions, `cpc` = spend / clicks, `cpm` = 1000 × spend /
    /// impressions, `cpa` = spend / conversions, `roas` = conversion value / spend.
    Metric,
    "spend, impressions, clicks, conversions, conversion_value, ctr, cpc, cpm, cpa, roas",
    {
        Spend => "spend",
        Impressions => "impressions",
        Clicks => "clicks",
        Conversions => "conversions",
        ConversionValue => "conversion_value",
        Ctr => "ctr",
        Cpc => "cpc",
        Cpm => "cpm",
        Cpa => "cpa",
        Roas => "roas",
    }
);

named_enum!(
    /// What an alert says: a number far from its expectation, conversions that stopped
    /// while spend went on, or a connection whose newest data is late.
    AlertKind,
    "anomaly, tracking_broken, stale_data",
    {
        Anomaly => "anomaly",
        TrackingBroken => "tracking_broken",
        StaleData => "stale_data",
    }
);

named_enum!(
    Direction,
    "up, down",
    {
        Up => "up",
        Down => "down",
    }
);

named_enum!(
    /// Ordered: `Info < Warning < Critical`.
    Severity,
    "info, warning, critical",
    {
        Info => "info",
        Warning => "warning",
        Critical => "critical",
    }
);

/// The `level` of an alert on a connection's total rather than on one entity.
pub const ACCOUNT_LEVEL: &str = "account";

/// An entity named in a grouped alert.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EntityRef {
    pub entity_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_name: Option<String>,
}

/// One incident: the API's alert view and the control-table record are the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Alert {
    pub alert_id: String,
    pub connection_id: ConnectionId,
    pub platform: Platform,
    /// The entity's level (`campaign`, `ad_group`, `ad`, `channel`, `video`), or
    /// [`ACCOUNT_LEVEL`] for the connection's total.
    pub level: String,
    pub entity_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_name: Option<String>,
    /// The incident's first day (account time zone).
    pub date: NaiveDate,
    /// The newest day the incident still held (a level shift is one alert, not one a day).
    pub last_date: NaiveDate,
    pub kind: AlertKind,
    pub metric: Metric,
    pub direction: Direction,
    /// On `date`, in the metric's unit (money in the account's currency units).
    pub observed: f64,
    pub expected: f64,
    /// The interval the observation was expected in (95 %).
    pub lower: f64,
    pub upper: f64,
    pub p_value: f64,
    /// Benjamini–Hochberg adjusted p-value over the connection-day's tests.
    pub q_value: f64,
    pub severity: Severity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// Entities whose own alerts on the same metric and direction this one groups.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub children: Vec<EntityRef>,
}

/// The stable id of an incident: the same connection, entity, kind, metric, direction and
/// first day give the same id on every recomputation.
pub fn alert_id(
    connection: &ConnectionId,
    level: &str,
    entity_id: &str,
    kind: AlertKind,
    metric: Metric,
    direction: Direction,
    date: NaiveDate,
) -> String {
    let mut hash = Sha256::new();
    for part in [
        connection.as_str(),
        level,
        entity_id,
        kind.as_str(),
        metric.as_str(),
        direction.as_str(),
        &date.to_string(),
    ] {
        hash.update(part.as_bytes());
        hash.update([0u8]);
    }
    format!("alr_{}", &crate::hex(&hash.finalize())[..24])
}

/// "Recompute this connection's insights": the body of each message stream-to-s3 sends to
/// the insights queue, and the direct-invoke payload of the insights function.
/// `{"kind": "refresh", "tenant_id": "…", "connection_id": "…"}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Refresh {
    kind: RefreshKind,
    pub tenant_id: String,
    pub connection_id: String,
}

/// The one `kind` a [`Refresh`] has (serde's internal tags refuse `deny_unknown_fields`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
enum RefreshKind {
    Refresh,
}

impl Refresh {
    pub fn new(tenant_id: impl Into<String>, connection_id: impl Into<String>) -> Self {
        Self {
            kind: RefreshKind::Refresh,
            tenant_id: tenant_id.into(),
            connection_id: connection_id.into(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// A connection's monthly budget, in the account's currency.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Budget {
    pub connection_id: ConnectionId,
    pub monthly_micros: i64,
    /// Per-campaign monthly budgets, by campaign id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub campaigns: BTreeMap<String, i64>,
    /// The account's currency when the budget was set, if adpipe had seen it yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    pub updated_at: DateTime<Utc>,
}

/// Month-end spend of one month, projected from the spend to date.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Projection {
    pub spent_micros: i64,
    pub projected_micros: i64,
    /// The 80 % interval of the month-end spend.
    pub low_micros: i64,
    pub high_micros: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CampaignProjection {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign_name: Option<String>,
    #[serde(flatten)]
    pub projection: Projection,
}

/// What the insights function leaves for pacing: one connection's projection of one month,
/// kept independent of the budget so a budget change needs no recomputation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MonthProjection {
    pub connection_id: ConnectionId,
    /// `YYYY-MM`.
    pub month: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    pub days_in_month: u32,
    /// Days of the month up to and including `as_of`.
    pub days_elapsed: u32,
    /// The newest day with data counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_of: Option<NaiveDate>,
    #[serde(flatten)]
    pub total: Projection,
    /// Every campaign with spend in the month, by campaign id.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub campaigns: BTreeMap<String, CampaignProjection>,
    /// Some lake objects could not be read: the numbers miss those days.
    #[serde(default)]
    pub partial: bool,
    pub computed_at: DateTime<Utc>,
}

named_enum!(
    PacingStatus,
    "under, on_track, over",
    {
        Under => "under",
        OnTrack => "on_track",
        Over => "over",
    }
);

/// How far (in parts of the budget) a projection may land from the budget and still be
/// on track.
pub const ON_TRACK_TOLERANCE: f64 = 0.05;

/// A budget judged against a projection: its status, and the even daily spend over the
/// month's remaining days that lands the budget exactly (zero once it is spent or the month
/// is over).
pub fn judge(
    budget_micros: i64,
    projection: &Projection,
    days_remaining: u32,
) -> (PacingStatus, i64) {
    let budget = budget_micros as f64;
    let projected = projection.projected_micros as f64;
    let status = if projected > budget * (1.0 + ON_TRACK_TOLERANCE) {
        PacingStatus::Over
    } else if projected < budget * (1.0 - ON_TRACK_TOLERANCE) {
        PacingStatus::Under
    } else {
        PacingStatus::OnTrack
    };
    let left = budget_micros.saturating_sub(projection.spent_micros).max(0);
    let daily = if days_remaining == 0 {
        0
    } else {
        left / i64::from(days_remaining)
    };
    (status, daily)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refresh_is_the_json_the_contract_names() {
        let r = Refresh::new("t-1", "con_1");
        assert_eq!(
            r.to_json(),
            r#"{"kind":"refresh","tenant_id":"t-1","connection_id":"con_1"}"#
        );
        assert_eq!(serde_json::from_str::<Refresh>(&r.to_json()).unwrap(), r);
        for bad in [
            r#"{"kind":"other","tenant_id":"t","connection_id":"c"}"#,
            r#"{"tenant_id":"t","connection_id":"c"}"#,
            r#"{"kind":"refresh","tenant_id":"t"}"#,
            r#"{"kind":"refresh","tenant_id":"t","connection_id":"c","x":1}"#,
        ] {
            assert!(serde_json::from_str::<Refresh>(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn every_name_parses_back_to_its_value() {
        for m in Metric::ALL {
            assert_eq!(m.as_str().parse::<Metric>(), Ok(*m));
        }
        for s in Severity::ALL {
            assert_eq!(s.as_str().parse::<Severity>(), Ok(*s));
        }
        let err = "CPA".parse::<Metric>().unwrap_err();
        assert!(err.to_string().contains("cpa, roas"), "{err}");
        assert!(Severity::Info < Severity::Warning && Severity::Warning < Severity::Critical);
    }

    #[test]
    fn the_alert_id_depends_on_every_part_of_the_incident_and_nothing_else() {
        let c: ConnectionId = "con_0123456789abcdef0123456789abcdef".parse().unwrap();
        let d = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        let id = |entity: &str, metric, date| {
            alert_id(
                &c,
                "campaign",
                entity,
                AlertKind::Anomaly,
                metric,
                Direction::Up,
                date,
            )
        };
        assert_eq!(id("1", Metric::Cpa, d), id("1", Metric::Cpa, d));
        assert_ne!(id("1", Metric::Cpa, d), id("2", Metric::Cpa, d));
        assert_ne!(id("1", Metric::Cpa, d), id("1", Metric::Cpc, d));
        assert_ne!(
            id("1", Metric::Cpa, d),
            id("1", Metric::Cpa, d.succ_opt().unwrap())
        );
        assert!(id("1", Metric::Cpa, d).starts_with("alr_"));
        assert_eq!(id("1", Metric::Cpa, d).len(), 28);
    }

    fn projection(spent: i64, projected: i64) -> Projection {
        Projection {
            spent_micros: spent,
            projected_micros: projected,
            low_micros: projected,
            high_micros: projected,
        }
    }

    #[test]
    fn a_projection_within_five_percent_of_the_budget_is_on_track() {
        let budget = 1_000_000_000;
        assert_eq!(
            judge(budget, &projection(0, 1_040_000_000), 10).0,
            PacingStatus::OnTrack
        );
        assert_eq!(
            judge(budget, &projection(0, 960_000_000), 10).0,
            PacingStatus::OnTrack
        );
        assert_eq!(
            judge(budget, &projection(0, 1_060_000_000), 10).0,
            PacingStatus::Over
        );
        assert_eq!(
            judge(budget, &projection(0, 940_000_000), 10).0,
            PacingStatus::Under
        );
    }

    #[test]
    fn the_recommended_daily_spend_spreads_what_is_left_and_never_goes_negative() {
        let budget = 1_000_000_000;
        assert_eq!(judge(budget, &projection(400_000_000, 0), 20).1, 30_000_000);
        assert_eq!(judge(budget, &projection(1_200_000_000, 0), 20).1, 0);
        assert_eq!(judge(budget, &projection(400_000_000, 0), 0).1, 0);
    }
}
