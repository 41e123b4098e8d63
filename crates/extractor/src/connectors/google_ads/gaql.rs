//! The Google Ads Query Language queries the connector sends: one per report level, day by
//! day over a window (`segments.date BETWEEN`), and one for the account's time zone.

use adpipe_domain::{Level, Window};

/// The account's time zone and currency (`FROM customer`: one row).
pub const TIME_ZONE_QUERY: &str = "SELECT customer.time_zone, customer.currency_code FROM customer";

/// Metrics every level selects, with how the row uses them.
///
/// Video views are `metrics.video_trueview_views`: v22 replaced `metrics.video_views` with
/// it (and `average_cpv` with `trueview_average_cpv`), and v26 documents only the TrueView
/// name; the old one is refused as an unrecognized field.
pub const METRICS: [&str; 12] = [
    "metrics.impressions",
    "metrics.clicks",
    "metrics.cost_micros",
    "metrics.conversions",
    "metrics.conversions_value",
    "metrics.video_trueview_views",
    "metrics.interactions",
    "metrics.engagements",
    "metrics.all_conversions",
    "metrics.all_conversions_value",
    "metrics.view_through_conversions",
    "metrics.video_quartile_p100_rate",
];

/// The resource a level reads (`FROM`) and the ids and names it selects.
pub fn resource(level: Level) -> Option<(&'static str, &'static [&'static str])> {
    Some(match level {
        Level::Campaign => ("campaign", &["campaign.id", "campaign.name"]),
        Level::AdGroup => (
            "ad_group",
            &[
                "campaign.id",
                "campaign.name",
                "ad_group.id",
                "ad_group.name",
            ],
        ),
        Level::Ad => (
            "ad_group_ad",
            &[
                "campaign.id",
                "campaign.name",
                "ad_group.id",
                "ad_group.name",
                "ad_group_ad.ad.id",
                "ad_group_ad.ad.name",
            ],
        ),
        Level::Channel | Level::Video => return None,
    })
}

/// `SELECT <ids, names>, customer.currency_code, customer.time_zone, <metrics>,
/// segments.date FROM <resource> WHERE segments.date BETWEEN '<since>' AND '<until>'`;
/// `None` for a level Google Ads has not.
pub fn metrics_query(level: Level, days: Window) -> Option<String> {
    let (from, ids) = resource(level)?;
    let mut fields: Vec<&str> = ids.to_vec();
    fields.extend(["customer.currency_code", "customer.time_zone"]);
    fields.extend(METRICS);
    fields.push("segments.date");
    Some(format!(
        "SELECT {} FROM {from} WHERE segments.date BETWEEN '{}' AND '{}'",
        fields.join(", "),
        days.since.format("%Y-%m-%d"),
        days.until.format("%Y-%m-%d"),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_ad_level_query_reads_ad_group_ad_day_by_day_over_the_window() {
        let days = Window {
            since: "2026-11-01".parse().unwrap(),
            until: "2026-11-07".parse().unwrap(),
        };
        let q = metrics_query(Level::Ad, days).unwrap();
        assert!(q.starts_with("SELECT campaign.id, campaign.name, ad_group.id, ad_group.name, ad_group_ad.ad.id, ad_group_ad.ad.name, customer.currency_code, customer.time_zone, metrics.impressions,"));
        assert!(q.ends_with(
            ", segments.date FROM ad_group_ad WHERE segments.date BETWEEN '2026-11-01' AND '2026-11-07'"
        ));
        assert!(!q.contains("metrics.video_views"));
        assert_eq!(metrics_query(Level::Channel, days), None);
    }
}
