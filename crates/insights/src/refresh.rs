//! One connection's insights, recomputed: read its last [`HISTORY_DAYS`] days from the
//! current table, build the series, run the models, and store what they say — alerts in
//! the control table and the `insights_alerts` table, month projections for pacing, and a
//! summary. Every computation evaluates the same days whether it runs daily or once, so a
//! recomputation of the same data stores the same alerts under the same ids.

use std::collections::{BTreeMap, BTreeSet};

use adpipe_domain::insights::{Alert, CampaignProjection, MonthProjection, Refresh};
use adpipe_domain::{Connection, TenantId};
use chrono::{DateTime, Datelike, Days, Months, NaiveDate, Utc};

use crate::aggregate::{Aggregated, aggregate};
use crate::alerts::{self, AlertConfig};
use crate::lake::alerts_table::{self, alerts_key};
use crate::lake::read_days;
use crate::pacing;
use crate::ports::{Lake, Store, Unavailable};
use crate::series::ConnectionSeries;
use crate::stale;
use crate::summary::Summary;

/// Days of the current table a computation reads, today included.
pub const HISTORY_DAYS: u64 = 180;

#[derive(Debug, thiserror::Error)]
pub enum RefreshError {
    /// No such connection for this tenant (never was, deleted since, or the ids are not
    /// ids): nothing to compute, and retrying will not change that.
    #[error("connection {connection_id} of tenant {tenant_id} not found")]
    NotFound {
        tenant_id: String,
        connection_id: String,
    },
    #[error(transparent)]
    Unavailable(#[from] Unavailable),
}

pub struct Insights {
    pub store: Box<dyn Store>,
    pub lake: Box<dyn Lake>,
    pub alerts: AlertConfig,
    /// The time "now" is (a test's fixed day).
    pub clock: fn() -> DateTime<Utc>,
}

impl Insights {
    pub fn new(store: Box<dyn Store>, lake: Box<dyn Lake>) -> Self {
        Self {
            store,
            lake,
            alerts: AlertConfig::default(),
            clock: Utc::now,
        }
    }

    pub async fn refresh(&self, request: &Refresh) -> Result<Summary, RefreshError> {
        let not_found = || RefreshError::NotFound {
            tenant_id: request.tenant_id.clone(),
            connection_id: request.connection_id.clone(),
        };
        let tenant: TenantId = request.tenant_id.parse().map_err(|_| not_found())?;
        let connection = self
            .store
            .connection(&tenant, &request.connection_id)
            .await?
            .ok_or_else(not_found)?;
        let now = (self.clock)();
        let today = today_of(&connection, now);
        let first = today
            .checked_sub_days(Days::new(HISTORY_DAYS - 1))
            .unwrap_or(today);
        let days = read_days(self.lake.as_ref(), &connection, first, HISTORY_DAYS).await;
        let schedules = self.store.schedules(&tenant, &connection).await?;
        let partial = !days.unreadable.is_empty();
        let computed = compute(&Inputs {
            connection: &connection,
            rows: &days.rows,
            first,
            today,
            schedules: &schedules,
            alerts: &self.alerts,
            partial,
            now,
        });
        let Computed {
            aggregated,
            series,
            alerts: found,
            projections,
            evaluated_since,
        } = computed;
        let newest_day = series.last_day();

        if let Some(since) = evaluated_since {
            self.store_alerts(&connection, &found, since, now).await?;
        }
        self.store
            .put_projections(&connection, &projections)
            .await?;
        let summary = Summary {
            tenant_id: tenant.to_string(),
            connection_id: connection.id.clone(),
            platform: connection.platform,
            currency: series.currency.clone(),
            level: aggregated.level.map(|l| l.as_str().to_owned()),
            days_asked: HISTORY_DAYS as u32,
            days_with_data: days.days_with_data,
            newest_day,
            days_unreadable: days.unreadable,
            partial,
            rows_other_currency: aggregated.rows_other_currency,
            entities: series.entities.len() as u32,
            alerts: count_by_kind(&found),
            evaluated_since,
            months: projections.iter().map(|p| p.month.clone()).collect(),
            computed_at: now,
        };
        self.store.put_summary(&connection, &summary).await?;
        tracing::info!(
            tenant_id = %tenant,
            connection_id = %connection.id,
            days_with_data = summary.days_with_data,
            unreadable = summary.days_unreadable.len(),
            alerts = found.len(),
            months = summary.months.len(),
            "insights computed"
        );
        Ok(summary)
    }

    /// Replaces the connection's alerts from `since` on with `found`, in the control table
    /// and in the lake's `insights_alerts` objects of those days.
    async fn store_alerts(
        &self,
        connection: &Connection,
        found: &[Alert],
        since: NaiveDate,
        now: DateTime<Utc>,
    ) -> Result<(), Unavailable> {
        let before = self.store.alerts_since(connection, since).await?;
        let kept: BTreeSet<&str> = found.iter().map(|a| a.alert_id.as_str()).collect();
        let gone: Vec<Alert> = before
            .iter()
            .filter(|a| !kept.contains(a.alert_id.as_str()))
            .cloned()
            .collect();
        let mut by_day: BTreeMap<NaiveDate, Vec<&Alert>> = BTreeMap::new();
        for alert in found {
            by_day.entry(alert.date).or_default().push(alert);
        }
        let tenant = &connection.tenant_id;
        for (day, alerts) in &by_day {
            let body = alerts_table::encode(alerts, now).map_err(Unavailable::s3)?;
            self.lake
                .put(&alerts_key(tenant, *day, &connection.id), body)
                .await?;
        }
        let emptied: BTreeSet<NaiveDate> = before
            .iter()
            .map(|a| a.date)
            .filter(|d| !by_day.contains_key(d))
            .collect();
        for day in emptied {
            self.lake
                .delete(&alerts_key(tenant, day, &connection.id))
                .await?;
        }
        self.store.replace_alerts(connection, found, &gone).await
    }
}

/// What one computation reads.
pub struct Inputs<'a> {
    pub connection: &'a Connection,
    /// The lake's rows of `first ..= today`, in day order.
    pub rows: &'a [adpipe_domain::AdMetricRow],
    pub first: NaiveDate,
    pub today: NaiveDate,
    pub schedules: &'a [adpipe_domain::Schedule],
    pub alerts: &'a AlertConfig,
    /// Some days could not be read.
    pub partial: bool,
    pub now: DateTime<Utc>,
}

/// What it found.
pub struct Computed {
    pub aggregated: Aggregated,
    /// The series through its newest day with data.
    pub series: ConnectionSeries,
    pub alerts: Vec<Alert>,
    pub projections: Vec<MonthProjection>,
    /// The first day whose alerts were evaluated (`None` without data).
    pub evaluated_since: Option<NaiveDate>,
}

/// The models over one connection's rows: no I/O (the speed benchmark's subject).
pub fn compute(inputs: &Inputs<'_>) -> Computed {
    let connection = inputs.connection;
    let n_days = usize::try_from((inputs.today - inputs.first).num_days() + 1).unwrap_or(0);
    let aggregated = aggregate(connection, inputs.first, n_days, inputs.rows);
    let series = through_newest_day(&aggregated.series);
    let newest_day = series.last_day();
    let allowed = stale::allowed_lag_days(connection.platform, inputs.schedules, inputs.now);
    let mut found = if series.n_days == 0 {
        Vec::new()
    } else {
        alerts::detect(&series, inputs.alerts)
    };
    let currency = series.currency.as_deref();
    found.extend(stale::stale_alert(
        connection,
        currency,
        newest_day,
        inputs.today,
        allowed,
    ));
    found.iter_mut().for_each(storable);
    let evaluated_since = newest_day.map(|d| {
        let window = Days::new(inputs.alerts.evaluate_days.saturating_sub(1) as u64);
        let since = d.checked_sub_days(window).unwrap_or(d);
        found.iter().map(|a| a.date).fold(since, NaiveDate::min)
    });
    let projections = newest_day.map_or_else(Vec::new, |as_of| {
        projections(
            connection,
            &aggregated,
            &series,
            as_of,
            inputs.partial,
            inputs.now,
        )
    });
    Computed {
        aggregated,
        series,
        alerts: found,
        projections,
        evaluated_since,
    }
}

/// The smallest p-value stored: DynamoDB numbers stop at 1e-130, and nothing below this
/// reads differently to anyone.
pub const MIN_P_VALUE: f64 = 1e-100;

/// `alert` as DynamoDB and the API can hold it: non-zero p- and q-values of at least
/// [`MIN_P_VALUE`] (a stale-data alert's are 0: no test), every number finite.
fn storable(alert: &mut Alert) {
    let finite = |v: f64| if v.is_finite() { v } else { 0.0 };
    for p in [&mut alert.p_value, &mut alert.q_value] {
        *p = finite(*p).clamp(0.0, 1.0);
        if *p > 0.0 {
            *p = p.max(MIN_P_VALUE);
        }
    }
    for v in [
        &mut alert.observed,
        &mut alert.expected,
        &mut alert.lower,
        &mut alert.upper,
    ] {
        *v = finite(*v);
        if v.abs() < MIN_P_VALUE {
            *v = 0.0;
        }
    }
}

/// Today in the account's time zone (UTC until the extractor has learned it).
fn today_of(connection: &Connection, now: DateTime<Utc>) -> NaiveDate {
    connection
        .time_zone
        .as_deref()
        .and_then(|tz| tz.parse::<chrono_tz::Tz>().ok())
        .map_or_else(
            || now.date_naive(),
            |tz| now.with_timezone(&tz).date_naive(),
        )
}

/// The series cut after its newest day with data: the models evaluate up to the data, not
/// up to today.
fn through_newest_day(series: &ConnectionSeries) -> ConnectionSeries {
    let n = series
        .account
        .days
        .iter()
        .rposition(Option::is_some)
        .map_or(0, |i| i + 1);
    let mut cut = series.clone();
    cut.n_days = n;
    cut.account.days.truncate(n);
    for entity in &mut cut.entities {
        entity.days.truncate(n);
    }
    cut
}

/// The first days of the months from `first`'s to `as_of`'s.
fn months(first: NaiveDate, as_of: NaiveDate) -> Vec<NaiveDate> {
    let mut month = first.with_day(1).unwrap_or(first);
    let mut out = Vec::new();
    while month <= as_of {
        out.push(month);
        month = month
            .checked_add_months(Months::new(1))
            .unwrap_or(NaiveDate::MAX);
    }
    out
}

fn days_in_month(month: NaiveDate) -> u32 {
    month
        .checked_add_months(Months::new(1))
        .and_then(|next| next.pred_opt())
        .map_or(31, |last| last.day())
}

/// Each month's projection, for the connection and every campaign that spent in it.
fn projections(
    connection: &Connection,
    aggregated: &Aggregated,
    series: &ConnectionSeries,
    as_of: NaiveDate,
    partial: bool,
    now: DateTime<Utc>,
) -> Vec<MonthProjection> {
    let spend: Vec<Option<i64>> = series
        .account
        .days
        .iter()
        .map(|d| d.map(|t| t.cost_micros))
        .collect();
    let first_with_data = series
        .account
        .days
        .iter()
        .position(Option::is_some)
        .map_or(as_of, |i| series.day(i));
    months(first_with_data, as_of)
        .into_iter()
        .map(|month| {
            let total = pacing::project(series.first_day, &spend, month, as_of);
            let campaigns = aggregated
                .campaigns
                .iter()
                .filter_map(|(id, campaign)| {
                    let days = &campaign.days[..series.n_days.min(campaign.days.len())];
                    let projection = pacing::project(series.first_day, days, month, as_of);
                    (projection.spent_micros > 0 || projection.projected_micros > 0).then(|| {
                        let campaign = CampaignProjection {
                            campaign_name: campaign.campaign_name.clone(),
                            projection,
                        };
                        (id.clone(), campaign)
                    })
                })
                .collect();
            let in_month = as_of.year() == month.year() && as_of.month() == month.month();
            let days_in_month = days_in_month(month);
            MonthProjection {
                connection_id: connection.id.clone(),
                month: month.format("%Y-%m").to_string(),
                currency: series.currency.clone(),
                days_in_month,
                days_elapsed: if in_month { as_of.day() } else { days_in_month },
                as_of: Some(if in_month {
                    as_of
                } else {
                    month + Days::new(u64::from(days_in_month) - 1)
                }),
                total,
                campaigns,
                partial,
                computed_at: now,
            }
        })
        .collect()
}

fn count_by_kind(alerts: &[Alert]) -> BTreeMap<String, u32> {
    let mut counts = BTreeMap::new();
    for alert in alerts {
        *counts.entry(alert.kind.as_str().to_owned()).or_insert(0) += 1;
    }
    counts
}
