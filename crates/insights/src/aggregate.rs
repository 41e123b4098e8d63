//! A connection's lake rows → the series the models read ([`ConnectionSeries`]), and the
//! daily spend of each campaign for pacing.
//!
//! - One currency: the newest row's (latest day, then latest extraction). Rows in any other
//!   currency are left out and counted, never summed with it.
//! - One level: a connection's schedules may report several; the coarsest present
//!   (campaign before ad group before ad; channel before video) is the one whose entities
//!   are tested, so no day is counted twice.
//! - An entity's rows of one day are summed (breakdown rows included).

use std::collections::BTreeMap;

use adpipe_domain::insights::ACCOUNT_LEVEL;
use adpipe_domain::{AdMetricRow, Connection, Level};
use chrono::NaiveDate;

use crate::series::{ConnectionSeries, EntitySeries, Totals};

/// One campaign's daily spend (micros), aligned like the series.
#[derive(Debug, Clone, PartialEq)]
pub struct CampaignSpend {
    pub campaign_name: Option<String>,
    pub days: Vec<Option<i64>>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Aggregated {
    pub series: ConnectionSeries,
    pub level: Option<Level>,
    pub campaigns: BTreeMap<String, CampaignSpend>,
    pub rows_other_currency: u64,
}

/// The entity a row is about: the id its `row_key` names at its level.
fn entity_id(row: &AdMetricRow) -> &str {
    row.row_key.split('|').nth(3).unwrap_or_default()
}

fn entity_name(row: &AdMetricRow) -> Option<&str> {
    match row.level {
        Level::Campaign | Level::Channel => row.campaign_name.as_deref(),
        Level::AdGroup => row.ad_group_name.as_deref(),
        Level::Ad | Level::Video => row.ad_name.as_deref(),
    }
}

fn totals(row: &AdMetricRow) -> Totals {
    let count = |v: Option<i64>| v.and_then(|v| u64::try_from(v).ok()).unwrap_or(0);
    Totals {
        impressions: count(row.impressions),
        clicks: count(row.clicks),
        cost_micros: row.cost_micros.unwrap_or(0).max(0),
        conversions: row
            .conversions
            .filter(|v| v.is_finite())
            .unwrap_or(0.0)
            .max(0.0),
        conversion_value: row
            .conversion_value
            .filter(|v| v.is_finite())
            .unwrap_or(0.0)
            .max(0.0),
    }
}

/// The rows of `first_day .. first_day + n_days` as series; rows outside are ignored.
pub fn aggregate(
    connection: &Connection,
    first_day: NaiveDate,
    n_days: usize,
    rows: &[AdMetricRow],
) -> Aggregated {
    let index = |date: NaiveDate| {
        usize::try_from((date - first_day).num_days())
            .ok()
            .filter(|&i| i < n_days)
    };
    let in_range: Vec<(usize, &AdMetricRow)> = rows
        .iter()
        .filter_map(|r| index(r.date).map(|i| (i, r)))
        .collect();
    let currency = in_range
        .iter()
        .filter(|(_, r)| r.currency.is_some())
        .max_by_key(|(_, r)| (r.date, r.extracted_at))
        .and_then(|(_, r)| r.currency.clone());
    let level = in_range
        .iter()
        .map(|(_, r)| r.level)
        .min_by_key(|l| Level::ALL.iter().position(|x| x == l));
    let mut rows_other_currency = 0;
    let mut entities: BTreeMap<&str, EntitySeries> = BTreeMap::new();
    let mut campaigns: BTreeMap<String, CampaignSpend> = BTreeMap::new();
    let mut account = vec![None::<Totals>; n_days];
    for (i, row) in in_range {
        if Some(row.level) != level {
            continue;
        }
        if row.currency.is_some() && row.currency != currency {
            rows_other_currency += 1;
            continue;
        }
        let day = totals(row);
        let entity = entities
            .entry(entity_id(row))
            .or_insert_with(|| EntitySeries {
                level: row.level.as_str().to_owned(),
                entity_id: entity_id(row).to_owned(),
                entity_name: None,
                campaign_id: row.campaign_id.clone(),
                days: vec![None; n_days],
            });
        if let Some(name) = entity_name(row) {
            entity.entity_name = Some(name.to_owned());
        }
        entity.days[i].get_or_insert_with(Totals::default).add(&day);
        account[i].get_or_insert_with(Totals::default).add(&day);
        if let Some(campaign) = &row.campaign_id {
            let spend = campaigns
                .entry(campaign.clone())
                .or_insert_with(|| CampaignSpend {
                    campaign_name: None,
                    days: vec![None; n_days],
                });
            if row.campaign_name.is_some() {
                spend.campaign_name = row.campaign_name.clone();
            }
            *spend.days[i].get_or_insert(0) += day.cost_micros;
        }
    }
    let series = ConnectionSeries {
        connection_id: connection.id.clone(),
        platform: connection.platform,
        currency,
        first_day,
        n_days,
        account: EntitySeries {
            level: ACCOUNT_LEVEL.to_owned(),
            entity_id: connection.account_id.clone(),
            entity_name: connection.name.clone(),
            campaign_id: None,
            days: account,
        },
        entities: entities.into_values().collect(),
    };
    Aggregated {
        series,
        level,
        campaigns,
        rows_other_currency,
    }
}

#[cfg(test)]
mod tests {
    use adpipe_domain::fixtures::campaign_row;
    use adpipe_domain::{ConnectionStatus, Platform};
    use chrono::{Days, Utc};

    use super::*;

    fn connection() -> Connection {
        Connection {
            id: "con_0123456789abcdef0123456789abcdef".parse().unwrap(),
            tenant_id: "t-1".parse().unwrap(),
            platform: Platform::Facebook,
            account_id: "act_1".into(),
            name: Some("Main".into()),
            login_customer_id: None,
            status: ConnectionStatus::Active,
            time_zone: None,
            secret_id: "s".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn first() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 1).unwrap()
    }

    fn row(level: Level, entity: &str, day: u64, spend: i64) -> AdMetricRow {
        let c = connection();
        AdMetricRow {
            cost_micros: Some(spend),
            currency: Some("USD".into()),
            ..campaign_row(
                "t-1",
                c.id.as_str(),
                "act_1",
                level,
                entity,
                first() + Days::new(day),
            )
        }
    }

    #[test]
    fn an_entitys_rows_of_a_day_are_summed_and_the_account_is_their_total() {
        let rows = vec![
            row(Level::Campaign, "a", 0, 1_000_000),
            row(Level::Campaign, "a", 0, 2_000_000),
            row(Level::Campaign, "b", 0, 500_000),
            row(Level::Campaign, "b", 2, 700_000),
        ];
        let agg = aggregate(&connection(), first(), 3, &rows);
        let s = &agg.series;
        assert_eq!(s.entities.len(), 2);
        assert_eq!(s.entities[0].days[0].unwrap().cost_micros, 3_000_000);
        assert_eq!(s.entities[0].days[1], None, "no row is no data, not zero");
        assert_eq!(s.account.days[0].unwrap().cost_micros, 3_500_000);
        assert_eq!(s.account.days[1], None);
        assert_eq!(s.account.days[2].unwrap().cost_micros, 700_000);
        assert_eq!(s.account.entity_id, "act_1");
        assert_eq!(agg.campaigns["a"].days[0], Some(3_000_000));
        assert_eq!(s.entities[0].entity_name.as_deref(), Some("Campaign a"));
    }

    #[test]
    fn only_the_coarsest_level_counts_so_no_spend_is_counted_twice() {
        let rows = vec![
            row(Level::Ad, "ad-1", 0, 1_000_000),
            row(Level::Campaign, "a", 0, 1_000_000),
        ];
        let agg = aggregate(&connection(), first(), 1, &rows);
        assert_eq!(agg.level, Some(Level::Campaign));
        assert_eq!(agg.series.entities.len(), 1);
        assert_eq!(agg.series.account.days[0].unwrap().cost_micros, 1_000_000);
    }

    #[test]
    fn rows_in_another_currency_than_the_newest_are_left_out_and_counted() {
        let mut old = row(Level::Campaign, "a", 0, 9_000_000);
        old.currency = Some("EUR".into());
        let rows = vec![old, row(Level::Campaign, "a", 1, 1_000_000)];
        let agg = aggregate(&connection(), first(), 2, &rows);
        assert_eq!(agg.series.currency.as_deref(), Some("USD"));
        assert_eq!(agg.rows_other_currency, 1);
        assert_eq!(agg.series.account.days[0], None);
    }

    #[test]
    fn rows_outside_the_days_and_negative_or_missing_numbers_do_not_count() {
        let mut negative = row(Level::Campaign, "a", 0, -5);
        negative.impressions = Some(-3);
        negative.conversions = Some(f64::NAN);
        let rows = vec![negative, row(Level::Campaign, "a", 9, 1)];
        let agg = aggregate(&connection(), first(), 2, &rows);
        let day = agg.series.account.days[0].unwrap();
        assert_eq!(
            (day.cost_micros, day.impressions, day.conversions),
            (0, 0, 0.0)
        );
        assert_eq!(agg.series.account.days[1], None);
    }
}
