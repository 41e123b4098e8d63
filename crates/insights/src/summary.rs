//! What one computation of a connection's insights did: the direct invoke's answer, and
//! the `INSIGHTS#<connection>` item of the control table.

use std::collections::BTreeMap;

use adpipe_domain::{ConnectionId, Platform};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub tenant_id: String,
    pub connection_id: ConnectionId,
    pub platform: Platform,
    /// The currency the numbers are in (rows in any other are left out).
    pub currency: Option<String>,
    /// The level the entities are at (`campaign`, …), `None` without data.
    pub level: Option<String>,
    /// Days asked of the lake, and how many had an object.
    pub days_asked: u32,
    pub days_with_data: u32,
    /// The newest day with data.
    pub newest_day: Option<NaiveDate>,
    /// Days whose object could not be read: left out, so the results are partial.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub days_unreadable: Vec<NaiveDate>,
    pub partial: bool,
    /// Rows left out because they are in another currency than `currency`.
    pub rows_other_currency: u64,
    pub entities: u32,
    /// Alerts of the evaluated days, by kind.
    pub alerts: BTreeMap<String, u32>,
    /// The first day whose alerts were evaluated.
    pub evaluated_since: Option<NaiveDate>,
    /// Months projected (`YYYY-MM`).
    pub months: Vec<String>,
    pub computed_at: DateTime<Utc>,
}
