//! One insights row → one [`AdMetricRow`] (docs/architecture.md, "The data lake"): ids
//! and names, `spend` as exact micros, conversions from the schedule's action types, video
//! plays, the other numbers in `extra`. Every error starts with the path of the field at fault.
//!
//! Public for the benchmark; the connector is the only other caller.

use adpipe_domain::money::{decimal_to_micros, is_plain_decimal};
use adpipe_domain::{AdMetricRow, Level, Platform, Window};
use chrono::NaiveDate;

use super::wire::{self, ActionStat, InsightRow, Text};
use crate::connectors::Origin;

/// The action type `video_play_actions` reports plays under.
const VIDEO_VIEW: &str = "video_view";

/// Numeric insights that have no column of their own; they go to `extra`, in this order,
/// as JSON numbers written exactly as Meta sent them.
pub const EXTRA_FIELDS: [&str; 10] = [
    "reach",
    "frequency",
    "cpm",
    "cpc",
    "ctr",
    "cpp",
    "unique_clicks",
    "unique_ctr",
    "inline_link_clicks",
    "inline_link_click_ctr",
];

/// Channel prefixes under which Meta reports one event several times (`omni_purchase`,
/// `offsite_conversion.fb_pixel_purchase`, `onsite_web_purchase`, … are all purchases):
/// stripping them names the event, so that one event is never counted twice.
const CHANNEL_PREFIXES: [&str; 10] = [
    "omni_",
    "offsite_conversion.fb_pixel_",
    "onsite_web_app_",
    "onsite_web_",
    "onsite_app_",
    "web_app_in_store_",
    "web_in_store_",
    "onsite_conversion.",
    "app_custom_event.fb_mobile_",
    "offline_conversion.",
];

/// What every row of one fetch shares: the job's identity, the level and the window asked
/// for, the action types counted as conversions.
#[derive(Debug, Clone)]
pub struct RowContext<'a> {
    pub origin: Origin<'a>,
    pub window: Window,
    pub conversion_action_types: &'a [&'a str],
}

/// A page read into rows, and where the next page is.
#[derive(Debug)]
pub struct ParsedPage {
    pub rows: Vec<AdMetricRow>,
    pub next: Option<String>,
}
/// One page of insights as rows: every row or an error naming the field at fault.
pub fn parse_page(body: &[u8], ctx: &RowContext<'_>) -> Result<ParsedPage, String> {
    let mut rows = Vec::new();
    let next = wire::read_page(body, |i, row| {
        rows.push(normalize(row, ctx).map_err(|e| format!("data[{i}].{e}"))?);
        Ok(())
    })?;
    Ok(ParsedPage { rows, next })
}

/// One insights row as the data lake's row; the error starts with the field's name.
pub fn normalize(row: InsightRow<'_>, ctx: &RowContext<'_>) -> Result<AdMetricRow, String> {
    let date = day(&row, ctx.window)?;
    let (id_field, entity) = match ctx.origin.level {
        Level::Campaign => ("campaign_id", &row.campaign_id),
        Level::AdGroup => ("adset_id", &row.adset_id),
        _ => ("ad_id", &row.ad_id),
    };
    let entity_id = entity
        .as_ref()
        .map(Text::as_str)
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("{id_field}: missing"))?;
    Ok(AdMetricRow {
        row_key: AdMetricRow::key(
            Platform::Facebook,
            ctx.origin.account_id,
            ctx.origin.level,
            entity_id,
            date,
        ),
        tenant_id: ctx.origin.tenant_id.to_owned(),
        platform: Platform::Facebook,
        connection_id: ctx.origin.connection_id.to_owned(),
        account_id: ctx.origin.account_id.to_owned(),
        level: ctx.origin.level,
        date,
        currency: currency(&row.account_currency)?,
        impressions: integer("impressions", &row.impressions)?,
        clicks: integer("clicks", &row.clicks)?,
        cost_micros: row
            .spend
            .as_ref()
            .map(|s| {
                decimal_to_micros(s.as_str())
                    .map_err(|e| format!("spend: invalid decimal {:?}: {e}", s.as_str()))
            })
            .transpose()?,
        conversions: conversions("actions", &row.actions, ctx.conversion_action_types)?,
        conversion_value: conversions(
            "action_values",
            &row.action_values,
            ctx.conversion_action_types,
        )?,
        video_views: video_views(&row.video_play_actions)?,
        extra: extra(&row)?,
        campaign_id: owned(row.campaign_id),
        campaign_name: owned(row.campaign_name),
        ad_group_id: owned(row.adset_id),
        ad_group_name: owned(row.adset_name),
        ad_id: owned(row.ad_id),
        ad_name: owned(row.ad_name),
        extracted_at: ctx.origin.extracted_at,
        run_id: ctx.origin.run_id.to_owned(),
        schedule_id: ctx.origin.schedule_id.to_owned(),
    })
}

/// `date_start`, one day (`time_increment=1`) inside the window asked for.
fn day(row: &InsightRow<'_>, window: Window) -> Result<NaiveDate, String> {
    let raw = row
        .date_start
        .as_ref()
        .ok_or_else(|| "date_start: missing".to_owned())?
        .as_str();
    let date: NaiveDate = raw
        .parse()
        .map_err(|_| format!("date_start: not a YYYY-MM-DD date: {raw:?}"))?;
    if date < window.since || date > window.until {
        return Err(format!(
            "date_start: {date} is outside the window {}..{} asked for",
            window.since, window.until
        ));
    }
    match row.date_stop.as_ref().map(Text::as_str) {
        Some(stop) if stop != raw => Err(format!(
            "date_stop: {stop:?} differs from date_start {raw:?}; rows must be single days"
        )),
        _ => Ok(date),
    }
}

/// The text as the row's own; an unescaped copy made by the parser is kept, not copied.
fn owned(text: Option<Text<'_>>) -> Option<String> {
    text.map(|t| t.0.into_owned())
}

fn currency(text: &Option<Text<'_>>) -> Result<Option<String>, String> {
    match text.as_ref().map(Text::as_str) {
        None => Ok(None),
        Some(c) if c.len() == 3 && c.bytes().all(|b| b.is_ascii_uppercase()) => {
            Ok(Some(c.to_owned()))
        }
        Some(c) => Err(format!("account_currency: not an ISO 4217 code: {c:?}")),
    }
}

fn integer(field: &str, text: &Option<Text<'_>>) -> Result<Option<i64>, String> {
    text.as_ref()
        .map(|t| {
            whole_number(t.as_str())
                .ok_or_else(|| format!("{field}: not a whole number: {:?}", t.as_str()))
        })
        .transpose()
}

fn whole_number(raw: &str) -> Option<i64> {
    raw.parse::<i64>()
        .ok()
        .filter(|_| raw.bytes().all(|b| b.is_ascii_digit()))
}

/// The event an action type reports: `omni_purchase` and
/// `offsite_conversion.fb_pixel_purchase` are both `purchase`.
pub fn event_of(action_type: &str) -> &str {
    CHANNEL_PREFIXES
        .iter()
        .find_map(|p| action_type.strip_prefix(p))
        .unwrap_or(action_type)
}

/// The sum of the listed action types' values, one type per event: of the listed types
/// reporting the same event, only the first one the row has counts. `None` when the row
/// has none of them.
fn conversions(
    field: &str,
    stats: &Option<Vec<ActionStat<'_>>>,
    types: &[&str],
) -> Result<Option<f64>, String> {
    let Some(stats) = stats else { return Ok(None) };
    let find = |wanted: &str| {
        stats
            .iter()
            .enumerate()
            .find(|(_, s)| s.action_type.as_str() == wanted)
    };
    let mut total = None;
    for (k, wanted) in types.iter().enumerate() {
        let Some((j, stat)) = find(wanted) else {
            continue;
        };
        let event = event_of(wanted);
        let counted = types[..k]
            .iter()
            .any(|earlier| event_of(earlier) == event && find(earlier).is_some());
        if counted {
            continue;
        }
        let raw = stat.value.as_str();
        let value = Some(raw)
            .filter(|r| is_plain_decimal(r))
            .and_then(|r| r.parse::<f64>().ok())
            .ok_or_else(|| format!("{field}[{j}].value: not a decimal number: {raw:?}"))?;
        total = Some(total.unwrap_or(0.0) + value);
    }
    Ok(total)
}

/// Plays from `video_play_actions` ("the number of times your video starts to play",
/// counted once per impression, replays excluded), reported under `video_view`.
fn video_views(stats: &Option<Vec<ActionStat<'_>>>) -> Result<Option<i64>, String> {
    let Some(stats) = stats else { return Ok(None) };
    let mut total: Option<i64> = None;
    for (j, stat) in stats.iter().enumerate() {
        if stat.action_type.as_str() != VIDEO_VIEW {
            continue;
        }
        let raw = stat.value.as_str();
        let plays = whole_number(raw)
            .ok_or_else(|| format!("video_play_actions[{j}].value: not a whole number: {raw:?}"))?;
        total = Some(total.unwrap_or(0).saturating_add(plays));
    }
    Ok(total)
}

/// `{"reach":1234,"frequency":1.2,…}` of the [`EXTRA_FIELDS`] the row has, numbers as
/// Meta wrote them; `None` when it has none.
fn extra(row: &InsightRow<'_>) -> Result<Option<String>, String> {
    let values = [
        &row.reach,
        &row.frequency,
        &row.cpm,
        &row.cpc,
        &row.ctr,
        &row.cpp,
        &row.unique_clicks,
        &row.unique_ctr,
        &row.inline_link_clicks,
        &row.inline_link_click_ctr,
    ];
    let present = || {
        EXTRA_FIELDS
            .iter()
            .zip(values)
            .filter_map(|(name, value)| Some((*name, value.as_ref()?.as_str())))
    };
    // Sized up front: `{`, `"name":value` and `,` or `}` for each.
    let size = present()
        .map(|(name, raw)| name.len() + raw.len() + 4)
        .sum();
    let mut json = String::with_capacity(size);
    for (name, raw) in present() {
        if !is_json_number(raw) {
            return Err(format!("{name}: not a decimal number: {raw:?}"));
        }
        json.push(if json.is_empty() { '{' } else { ',' });
        for part in ["\"", name, "\":", raw] {
            json.push_str(part);
        }
    }
    if json.is_empty() {
        return Ok(None);
    }
    json.push('}');
    Ok(Some(json))
}

/// A plain decimal that is also a JSON number literal: no leading zeros (`"007"`).
fn is_json_number(raw: &str) -> bool {
    let unsigned = raw.strip_prefix('-').unwrap_or(raw);
    is_plain_decimal(raw)
        && !(unsigned.len() > 1 && unsigned.starts_with('0') && !unsigned.starts_with("0."))
}
#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;
    use chrono::Utc;

    #[test]
    fn channel_variants_of_one_event_name_the_same_event() {
        assert_eq!(event_of("omni_purchase"), "purchase");
        assert_eq!(event_of("offsite_conversion.fb_pixel_purchase"), "purchase");
        assert_eq!(event_of("purchase"), "purchase");
        assert_eq!(event_of("onsite_conversion.lead_grouped"), "lead_grouped");
        assert_eq!(
            event_of("offsite_conversion.custom.123"),
            "offsite_conversion.custom.123"
        );
    }

    fn stats(pairs: &[(&'static str, &'static str)]) -> Option<Vec<ActionStat<'static>>> {
        Some(
            pairs
                .iter()
                .map(|(t, v)| ActionStat {
                    action_type: Text(Cow::Borrowed(t)),
                    value: Text(Cow::Borrowed(v)),
                })
                .collect(),
        )
    }

    #[test]
    fn one_purchase_reported_on_several_channels_counts_once() {
        let s = stats(&[
            ("omni_purchase", "3"),
            ("purchase", "3"),
            ("offsite_conversion.fb_pixel_purchase", "3"),
            ("lead", "2"),
        ]);
        let both = [
            "offsite_conversion.fb_pixel_purchase",
            "omni_purchase",
            "lead",
        ];
        assert_eq!(conversions("actions", &s, &both), Ok(Some(5.0)));
        assert_eq!(
            conversions("actions", &s, &["omni_purchase"]),
            Ok(Some(3.0))
        );
        assert_eq!(conversions("actions", &s, &["add_to_cart"]), Ok(None));
        assert_eq!(conversions("actions", &None, &["omni_purchase"]), Ok(None));
    }

    #[test]
    fn json_numbers_are_checked_before_they_are_written_as_is() {
        assert!(is_json_number("0.5"));
        assert!(is_json_number("1234"));
        assert!(is_json_number("-0.25"));
        assert!(!is_json_number("007"));
        assert!(!is_json_number("1e5"));
        assert!(!is_json_number(""));
    }

    #[test]
    fn an_ad_set_row_is_keyed_by_its_ad_set_and_escaped_names_are_decoded() {
        let body = br#"{"data":[{"campaign_id":"1","campaign_name":"Spring \"Sale\" \u00e9","adset_id":"22","adset_name":"A","spend":"0.01","date_start":"2026-03-01","date_stop":"2026-03-01"}]}"#;
        let since = "2026-03-01".parse().unwrap();
        let ctx = RowContext {
            origin: Origin {
                tenant_id: "t",
                connection_id: "con_1",
                account_id: "act_1",
                run_id: "run_1",
                schedule_id: "sch_1",
                level: Level::AdGroup,
                extracted_at: Utc::now(),
            },
            window: Window {
                since,
                until: since,
            },
            conversion_action_types: &["omni_purchase"],
        };
        let page = parse_page(body, &ctx).unwrap();
        let row = &page.rows[0];
        assert_eq!(row.row_key, "facebook|act_1|ad_group|22|2026-03-01");
        assert_eq!(row.campaign_name.as_deref(), Some("Spring \"Sale\" é"));
        assert_eq!(row.cost_micros, Some(10_000));
        assert_eq!(
            (row.conversions, row.video_views, row.extra.as_deref()),
            (None, None, None)
        );
        assert!(page.next.is_none());
    }
}
