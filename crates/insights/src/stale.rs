//! `stale_data`: a connection whose newest day in the lake is older than its schedules and
//! the platform's reporting delay explain.
//!
//! A day's numbers can only be in the lake once the platform reports them and a run has
//! read them: expected newest day = today − 1 (days are whole only once over) − the
//! platform's reporting delay − the longest gap between two runs of the connection's
//! enabled schedules (rounded up to days) − one day of grace. Data older than that raises
//! one alert, dated on the first day the data was overdue, so it keeps its id while the
//! outage lasts. Connections without an enabled schedule expect nothing; a connection
//! with no data at all in the lake is not stale but new (its runs say why).

use adpipe_domain::insights::{
    ACCOUNT_LEVEL, Alert, AlertKind, Direction, Metric, Severity, alert_id,
};
use adpipe_domain::{Connection, Platform, Schedule};
use chrono::{DateTime, Days, NaiveDate, Utc};

/// Days after a day ends before the platform's numbers for it are complete enough to read.
pub fn reporting_delay_days(platform: Platform) -> u64 {
    match platform {
        Platform::Facebook | Platform::GoogleAds => 1,
        // YouTube Analytics publishes a day two to three days later.
        Platform::Youtube => 3,
    }
}

/// The longest gap between two runs of `schedule` from `now`, in whole days (at least 1).
fn cadence_days(schedule: &Schedule, now: DateTime<Utc>) -> u64 {
    let expression = &schedule.schedule_expression;
    let gap = expression.next_fire_after(now).and_then(|first| {
        expression
            .next_fire_after(first)
            .map(|second| (second - first).max(first - now))
    });
    gap.map_or(1, |g| {
        let secs = u64::try_from(g.num_seconds()).unwrap_or(0);
        secs.div_ceil(86_400).max(1)
    })
}

/// Days of lag a connection may have: `None` when nothing is expected (no enabled schedule).
pub fn allowed_lag_days(
    platform: Platform,
    schedules: &[Schedule],
    now: DateTime<Utc>,
) -> Option<u64> {
    let cadence = schedules
        .iter()
        .filter(|s| s.enabled)
        .map(|s| cadence_days(s, now))
        .min()?;
    Some(1 + reporting_delay_days(platform) + cadence + 1)
}

/// The stale-data alert of `connection`, if its newest day is overdue on `today`.
pub fn stale_alert(
    connection: &Connection,
    currency: Option<&str>,
    newest_day: Option<NaiveDate>,
    today: NaiveDate,
    allowed_lag_days: Option<u64>,
) -> Option<Alert> {
    let (newest, allowed) = (newest_day?, allowed_lag_days?);
    let lag = u64::try_from((today - newest).num_days()).ok()?;
    if lag <= allowed {
        return None;
    }
    let overdue_since = newest.checked_add_days(Days::new(allowed + 1))?;
    let severity = if lag > 2 * allowed {
        Severity::Critical
    } else {
        Severity::Warning
    };
    let (level, entity) = (ACCOUNT_LEVEL, connection.account_id.as_str());
    let (kind, metric, direction) = (AlertKind::StaleData, Metric::Spend, Direction::Down);
    Some(Alert {
        alert_id: alert_id(
            &connection.id,
            level,
            entity,
            kind,
            metric,
            direction,
            overdue_since,
        ),
        connection_id: connection.id.clone(),
        platform: connection.platform,
        level: level.to_owned(),
        entity_id: entity.to_owned(),
        entity_name: connection.name.clone(),
        date: overdue_since,
        last_date: today,
        kind,
        metric,
        direction,
        // Days of lag: observed, and the most that is expected.
        observed: lag as f64,
        expected: allowed as f64,
        lower: 0.0,
        upper: allowed as f64,
        p_value: 0.0,
        q_value: 0.0,
        severity,
        currency: currency.map(str::to_owned),
        children: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use adpipe_domain::{ConnectionStatus, ReportSpec, ScheduleExpression};

    use super::*;

    fn connection(platform: Platform) -> Connection {
        Connection {
            id: "con_0123456789abcdef0123456789abcdef".parse().unwrap(),
            tenant_id: "t-1".parse().unwrap(),
            platform,
            account_id: "act_1".into(),
            name: None,
            login_customer_id: None,
            status: ConnectionStatus::Active,
            time_zone: None,
            secret_id: "s".into(),
            created_at: Utc::now(),
            updated_at: Utc::now(),
        }
    }

    fn schedule(expression: &str, enabled: bool) -> Schedule {
        let c = connection(Platform::Facebook);
        let json = serde_json::json!({
            "id": "sch_0123456789abcdef0123456789abcdef",
            "tenant_id": "t-1",
            "connection_id": c.id,
            "platform": "facebook",
            "schedule_expression": expression,
            "report": serde_json::to_value(ReportSpec::default_for(Platform::Facebook)).unwrap(),
            "enabled": enabled,
            "rule_name": "r",
            "rule_arn": "arn:aws:events:us-east-1:1:rule/r",
            "created_at": Utc::now(),
            "updated_at": Utc::now(),
        });
        let _: ScheduleExpression = expression.parse().unwrap();
        serde_json::from_value(json).unwrap()
    }

    fn day(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn now() -> DateTime<Utc> {
        "2026-11-20T12:00:00Z".parse().unwrap()
    }

    #[test]
    fn a_daily_facebook_schedule_allows_four_days_and_youtube_six() {
        let daily = [schedule("rate(1 day)", true)];
        assert_eq!(allowed_lag_days(Platform::Facebook, &daily, now()), Some(4));
        assert_eq!(allowed_lag_days(Platform::Youtube, &daily, now()), Some(6));
        let weekly = [schedule("rate(7 days)", true)];
        assert_eq!(
            allowed_lag_days(Platform::Facebook, &weekly, now()),
            Some(10)
        );
    }

    #[test]
    fn without_an_enabled_schedule_nothing_is_expected() {
        assert_eq!(allowed_lag_days(Platform::Facebook, &[], now()), None);
        let off = [schedule("rate(1 day)", false)];
        assert_eq!(allowed_lag_days(Platform::Facebook, &off, now()), None);
    }

    #[test]
    fn data_within_the_allowed_lag_is_not_stale_and_past_it_is_dated_on_the_first_late_day() {
        let c = connection(Platform::Facebook);
        let today = day("2026-11-20");
        assert!(stale_alert(&c, None, Some(day("2026-11-16")), today, Some(4)).is_none());
        let alert = stale_alert(&c, Some("USD"), Some(day("2026-11-15")), today, Some(4)).unwrap();
        assert_eq!(alert.date, day("2026-11-20"));
        assert_eq!(alert.observed, 5.0);
        assert_eq!(alert.severity, Severity::Warning);
        let later = stale_alert(
            &c,
            Some("USD"),
            Some(day("2026-11-15")),
            day("2026-11-30"),
            Some(4),
        )
        .unwrap();
        assert_eq!(later.alert_id, alert.alert_id, "one outage, one id");
        assert_eq!(later.severity, Severity::Critical);
        assert!(
            stale_alert(&c, None, None, today, Some(4)).is_none(),
            "no data: new, not stale"
        );
    }
}
