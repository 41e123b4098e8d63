//! One result table → [`AdMetricRow`]s (docs/architecture.md, "The data lake"), read by
//! `columnHeaders` and never by position: `views` becomes `video_views`, every other metric
//! goes to `extra` (in [`METRICS`] order, so a table whose columns come in another order
//! yields the same row and the same content hash). Every error starts with the path of the
//! field at fault (`columnHeaders: no "day"`, `rows[4].views: not a number: "12a"`).

use std::collections::HashSet;
use std::fmt::Write as _;

use adpipe_domain::{AdMetricRow, Platform, Window};
use chrono::NaiveDate;
use serde_json::Value;

use super::wire::{ColumnHeader, ResultTable};
use crate::connectors::Origin;

/// A metric the connector asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    /// Needs the `yt-analytics-monetary.readonly` scope (and a monetized channel).
    pub monetary: bool,
}

const fn user(name: &'static str) -> Metric {
    Metric {
        name,
        monetary: false,
    }
}

const fn money(name: &'static str) -> Metric {
    Metric {
        name,
        monetary: true,
    }
}

/// The metric that becomes `video_views`.
pub const VIEWS: &str = "views";

/// Every metric asked for, in this order; all of them are allowed both by the channel's
/// time-based report (`dimensions=day`) and by its top-videos report
/// (`dimensions=video`). The monetary ones only when the token may read them.
pub const METRICS: [Metric; 16] = [
    user(VIEWS),
    user("estimatedMinutesWatched"),
    user("averageViewDuration"),
    user("averageViewPercentage"),
    user("likes"),
    user("comments"),
    user("shares"),
    user("subscribersGained"),
    user("subscribersLost"),
    money("estimatedRevenue"),
    money("estimatedAdRevenue"),
    money("grossRevenue"),
    money("cpm"),
    money("playbackBasedCpm"),
    money("adImpressions"),
    money("monetizedPlaybacks"),
];

/// The currency of the monetary metrics: the API's `currency` parameter, sent as `USD`
/// (also the API's default).
pub const CURRENCY: &str = "USD";

/// The metrics of a request, in [`METRICS`] order.
pub fn requested(monetary: bool) -> impl Iterator<Item = &'static Metric> {
    METRICS.iter().filter(move |m| monetary || !m.monetary)
}

/// The `metrics` parameter.
pub fn metrics_param(monetary: bool) -> String {
    requested(monetary)
        .map(|m| m.name)
        .collect::<Vec<_>>()
        .join(",")
}

/// What tells a table's rows apart.
#[derive(Debug, Clone, Copy)]
pub enum Key {
    /// Level `channel`: one row per `day` of the window asked for.
    Day(Window),
    /// Level `video`: one row per `video`, all of one day (the request's start and end).
    Video(NaiveDate),
}

impl Key {
    fn column(self) -> &'static str {
        match self {
            Key::Day(_) => "day",
            Key::Video(_) => "video",
        }
    }
}

/// Every row of a result table, or an error naming the field at fault. `monetary` says
/// whether the request asked for the monetary metrics (they must then be in the table).
pub fn parse_table(
    body: &[u8],
    ctx: &Origin<'_>,
    key: Key,
    monetary: bool,
) -> Result<Vec<AdMetricRow>, String> {
    let table: ResultTable = serde_json::from_slice(body)
        .map_err(|e| format!("the answer is not a result table: {e}"))?;
    let rows = table.rows.unwrap_or_default();
    let layout = match table.column_headers {
        Some(headers) => Layout::of(&headers, key, monetary)?,
        // No headers is only fine when there is nothing to read with them.
        None if rows.is_empty() => return Ok(Vec::new()),
        None => return Err("columnHeaders: missing".into()),
    };
    let mut days = HashSet::new();
    rows.iter()
        .enumerate()
        .map(|(i, cells)| {
            let row = layout
                .row(cells, ctx, key, monetary)
                .map_err(|e| format!("rows[{i}]{e}"))?;
            if matches!(key, Key::Day(_)) && !days.insert(row.date) {
                return Err(format!("rows[{i}].day: {} appears twice", row.date));
            }
            Ok(row)
        })
        .collect()
}

/// Where each column the connector reads sits in the rows.
struct Layout {
    width: usize,
    key: usize,
    /// Column, metric, and whether the column holds whole numbers.
    metrics: Vec<(usize, &'static Metric, bool)>,
}

impl Layout {
    fn of(headers: &[ColumnHeader], key: Key, monetary: bool) -> Result<Self, String> {
        let find = |name: &str, kind: &str| -> Result<(usize, &ColumnHeader), String> {
            let (i, header) = headers
                .iter()
                .enumerate()
                .find(|(_, h)| h.name == name)
                .ok_or_else(|| format!("columnHeaders: no {name:?}"))?;
            if header.column_type != kind {
                return Err(format!(
                    "columnHeaders[{i}]: {name:?} is a {:?} column, not a {kind}",
                    header.column_type
                ));
            }
            Ok((i, header))
        };
        let (key_column, _) = find(key.column(), "DIMENSION")?;
        let metrics = requested(monetary)
            .map(|m| {
                let (i, h) = find(m.name, "METRIC")?;
                Ok((i, m, h.data_type == "INTEGER" || m.name == VIEWS))
            })
            .collect::<Result<_, String>>()?;
        Ok(Self {
            width: headers.len(),
            key: key_column,
            metrics,
        })
    }

    /// One row; the error starts with `.field` or `:` (the caller prefixes `rows[i]`).
    fn row(
        &self,
        cells: &[Value],
        ctx: &Origin<'_>,
        key: Key,
        monetary: bool,
    ) -> Result<AdMetricRow, String> {
        if cells.len() != self.width {
            return Err(format!(
                ": {} cells where columnHeaders has {}",
                cells.len(),
                self.width
            ));
        }
        let cell = &cells[self.key];
        let (date, video) = match key {
            Key::Day(window) => (day(cell, window)?, None),
            Key::Video(date) => (date, Some(video_id(cell)?)),
        };
        let mut views = None;
        let mut extra = String::new();
        for &(column, metric, integer) in &self.metrics {
            let value =
                number(&cells[column], integer).map_err(|e| format!(".{}: {e}", metric.name))?;
            if metric.name == VIEWS {
                views = value.as_i64();
                continue;
            }
            extra.push(if extra.is_empty() { '{' } else { ',' });
            // Writing to a String cannot fail.
            let _ = write!(extra, "\"{}\":{value}", metric.name);
        }
        if !extra.is_empty() {
            extra.push('}');
        }
        let entity = video.unwrap_or(ctx.account_id);
        Ok(AdMetricRow {
            row_key: AdMetricRow::key(Platform::Youtube, ctx.account_id, ctx.level, entity, date),
            tenant_id: ctx.tenant_id.to_owned(),
            platform: Platform::Youtube,
            connection_id: ctx.connection_id.to_owned(),
            account_id: ctx.account_id.to_owned(),
            level: ctx.level,
            date,
            campaign_id: None,
            campaign_name: None,
            ad_group_id: None,
            ad_group_name: None,
            // The contract has no video column: at level video, ad_id is the video id.
            ad_id: video.map(str::to_owned),
            ad_name: None,
            currency: monetary.then(|| CURRENCY.to_owned()),
            impressions: None,
            clicks: None,
            cost_micros: None,
            conversions: None,
            conversion_value: None,
            video_views: views,
            extra: (!extra.is_empty()).then_some(extra),
            extracted_at: ctx.extracted_at,
            run_id: ctx.run_id.to_owned(),
            schedule_id: ctx.schedule_id.to_owned(),
        })
    }
}

/// A `day` cell: `YYYY-MM-DD` inside the window asked for.
fn day(cell: &Value, window: Window) -> Result<NaiveDate, String> {
    let date = cell
        .as_str()
        .and_then(|raw| raw.parse::<NaiveDate>().ok())
        .ok_or_else(|| format!(".day: not a YYYY-MM-DD date: {cell}"))?;
    if date < window.since || date > window.until {
        return Err(format!(
            ".day: {date} is outside the window {}..{} asked for",
            window.since, window.until
        ));
    }
    Ok(date)
}

/// A `video` cell: the video id, a non-empty string.
fn video_id(cell: &Value) -> Result<&str, String> {
    cell.as_str()
        .filter(|id| !id.trim().is_empty())
        .ok_or_else(|| format!(".video: not a video id: {cell}"))
}

/// A metric's value, written back as the JSON number it was.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Number {
    Whole(i64),
    Decimal(f64),
}

impl Number {
    fn as_i64(self) -> Option<i64> {
        match self {
            Number::Whole(n) => Some(n),
            Number::Decimal(_) => None,
        }
    }
}

impl std::fmt::Display for Number {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Number::Whole(n) => write!(f, "{n}"),
            // serde_json writes the shortest representation that reads back the same.
            Number::Decimal(x) => match serde_json::Number::from_f64(*x) {
                Some(n) => write!(f, "{n}"),
                None => f.write_str("null"),
            },
        }
    }
}

/// A cell of a metric column: a JSON number, whole where the column is `INTEGER`.
fn number(cell: &Value, integer: bool) -> Result<Number, String> {
    let Value::Number(n) = cell else {
        return Err(format!("not a number: {cell}"));
    };
    if let Some(whole) = n.as_i64() {
        return Ok(Number::Whole(whole));
    }
    let x = n.as_f64().filter(|x| x.is_finite());
    match x {
        // 12.0 in an INTEGER column is still twelve.
        Some(x) if integer && x.fract() == 0.0 && x.abs() < 9.0e15 => Ok(Number::Whole(x as i64)),
        Some(_) if integer => Err(format!("not a whole number: {cell}")),
        Some(x) => Ok(Number::Decimal(x)),
        None => Err(format!("not a number: {cell}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adpipe_domain::Level;
    use chrono::Utc;

    fn ctx(level: Level) -> Origin<'static> {
        Origin {
            tenant_id: "t",
            connection_id: "con_1",
            account_id: "UC_x5XG1OV2P6uZZ5FSM9Ttw",
            run_id: "run_1",
            schedule_id: "sch_1",
            level,
            extracted_at: Utc::now(),
        }
    }

    fn window() -> Window {
        Window {
            since: "2026-03-01".parse().unwrap(),
            until: "2026-03-07".parse().unwrap(),
        }
    }

    #[test]
    fn the_metrics_parameter_lists_the_monetary_ones_only_when_asked() {
        assert_eq!(
            metrics_param(false),
            "views,estimatedMinutesWatched,averageViewDuration,averageViewPercentage,likes,comments,shares,subscribersGained,subscribersLost"
        );
        assert!(metrics_param(true).ends_with(",adImpressions,monetizedPlaybacks"));
    }

    #[test]
    fn whole_numbers_stay_whole_and_decimals_are_written_as_sent() {
        assert_eq!(number(&serde_json::json!(12), true), Ok(Number::Whole(12)));
        assert_eq!(
            number(&serde_json::json!(12.0), true),
            Ok(Number::Whole(12))
        );
        assert!(number(&serde_json::json!(1.5), true).is_err());
        assert_eq!(Number::Decimal(45.67).to_string(), "45.67");
        assert!(number(&serde_json::json!("12"), false).is_err());
        assert!(number(&Value::Null, false).is_err());
    }

    #[test]
    fn a_channel_row_is_keyed_by_the_channel_and_has_no_video() {
        let body = br#"{"kind":"youtubeAnalytics#resultTable","columnHeaders":[
            {"name":"day","columnType":"DIMENSION","dataType":"STRING"},
            {"name":"views","columnType":"METRIC","dataType":"INTEGER"},
            {"name":"estimatedMinutesWatched","columnType":"METRIC","dataType":"INTEGER"},
            {"name":"averageViewDuration","columnType":"METRIC","dataType":"INTEGER"},
            {"name":"averageViewPercentage","columnType":"METRIC","dataType":"FLOAT"},
            {"name":"likes","columnType":"METRIC","dataType":"INTEGER"},
            {"name":"comments","columnType":"METRIC","dataType":"INTEGER"},
            {"name":"shares","columnType":"METRIC","dataType":"INTEGER"},
            {"name":"subscribersGained","columnType":"METRIC","dataType":"INTEGER"},
            {"name":"subscribersLost","columnType":"METRIC","dataType":"INTEGER"}],
            "rows":[["2026-03-02",100,250,150,41.5,7,1,2,3,0]]}"#;
        let rows = parse_table(body, &ctx(Level::Channel), Key::Day(window()), false).unwrap();
        let row = &rows[0];
        assert_eq!(
            row.row_key,
            "youtube|UC_x5XG1OV2P6uZZ5FSM9Ttw|channel|UC_x5XG1OV2P6uZZ5FSM9Ttw|2026-03-02"
        );
        assert_eq!(
            (
                row.video_views,
                row.ad_id.as_deref(),
                row.currency.as_deref()
            ),
            (Some(100), None, None)
        );
        assert_eq!(
            row.extra.as_deref(),
            Some(
                r#"{"estimatedMinutesWatched":250,"averageViewDuration":150,"averageViewPercentage":41.5,"likes":7,"comments":1,"shares":2,"subscribersGained":3,"subscribersLost":0}"#
            )
        );
    }

    #[test]
    fn a_table_without_rows_or_headers_is_empty() {
        let rows = parse_table(
            br#"{"kind":"youtubeAnalytics#resultTable"}"#,
            &ctx(Level::Channel),
            Key::Day(window()),
            false,
        );
        assert_eq!(rows, Ok(Vec::new()));
    }
}
