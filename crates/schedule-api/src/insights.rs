//! Budgets, pacing and alerts (`docs/insights-api.md`): a connection's monthly
//! budget as the client sets it, judged against the month-end projection the insights
//! function stores, and the tenant's alerts.
//!
//! Money is integer micros inside (`adpipe_domain::money`) and a decimal string with
//! exactly two decimals outside: budgets are taken with at most two, and every amount the
//! API shows is rounded to the cent, halves away from zero ([`cents`]).

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

use adpipe_domain::insights::{
    Alert, Budget, CampaignProjection, Metric, MonthProjection, PacingStatus, Projection, Severity,
    judge,
};
use adpipe_domain::money::{MICROS_PER_UNIT, MoneyError, decimal_to_micros};
use adpipe_domain::{ConnectionId, FieldError, TenantId, is_invisible_format, keys};
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use lambda_http::Request;
use serde::{Deserialize, Serialize, Serializer};

use crate::error::{ApiError, ErrorCode, StoreError};
use crate::ports::{AlertFilter, PageRequest};
use crate::request::{self, encode_token};
use crate::service::Api;
use crate::views::ListView;

/// The largest budget, monthly or per campaign: 1,000,000,000.00 in the account's currency.
pub const MAX_BUDGET_MICROS: i64 = 1_000_000_000 * MICROS_PER_UNIT;
/// Campaign budgets per connection.
pub const MAX_CAMPAIGNS: usize = 1_000;
pub const MAX_CAMPAIGN_ID_CHARS: usize = 128;
const MICROS_PER_CENT: i64 = MICROS_PER_UNIT / 100;

/// The query parameters of `GET /v1/insights/alerts`.
pub const ALERT_QUERY: &[&str] = &[
    "since",
    "until",
    "connection_id",
    "metric",
    "severity",
    "limit",
    "next_token",
];

/// `PUT /v1/connections/{id}/budget`. Amounts are strings: a JSON number would already
/// have been rounded by the client's JSON library.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PutBudget {
    pub monthly: String,
    pub campaigns: Option<BTreeMap<String, String>>,
}

/// A budget as the client asked for it, validated: every amount positive, at most two
/// decimals and [`MAX_BUDGET_MICROS`], the campaigns' sum within the monthly budget.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetSpec {
    pub monthly_micros: i64,
    pub campaigns: BTreeMap<String, i64>,
}

impl BudgetSpec {
    pub fn parse(body: PutBudget) -> Result<Self, FieldError> {
        let monthly_micros = amount(&body.monthly, "monthly")?;
        let given = body.campaigns.unwrap_or_default();
        if given.len() > MAX_CAMPAIGNS {
            return Err(FieldError::new(
                "campaigns",
                format!(
                    "at most {MAX_CAMPAIGNS} campaign budgets, got {}",
                    given.len()
                ),
            ));
        }
        let mut campaigns = BTreeMap::new();
        for (id, raw) in given {
            campaign_id(&id)?;
            let micros = amount(&raw, &format!("campaigns.{id}"))?;
            campaigns.insert(id, micros);
        }
        // At most 1,000 amounts of at most 10^15 micros: the sum cannot overflow an i64.
        let sum: i64 = campaigns.values().sum();
        if sum > monthly_micros {
            return Err(FieldError::new(
                "campaigns",
                format!(
                    "the campaign budgets add up to {}, more than the monthly budget {}",
                    cents(sum),
                    cents(monthly_micros)
                ),
            ));
        }
        Ok(Self {
            monthly_micros,
            campaigns,
        })
    }
}

/// A budget amount: a decimal string, greater than 0, at most two decimals and
/// [`MAX_BUDGET_MICROS`].
fn amount(raw: &str, field: &str) -> Result<i64, FieldError> {
    let invalid = |why: &str| FieldError::new(field, format!("{why}, e.g. \"15000.00\""));
    let too_large = || {
        FieldError::new(
            field,
            format!("at most {} a month", cents(MAX_BUDGET_MICROS)),
        )
    };
    let micros = decimal_to_micros(raw).map_err(|e| match e {
        MoneyError::NotDecimal => invalid("must be a decimal number as a string"),
        MoneyError::TooPrecise => invalid("at most 2 decimals"),
        MoneyError::OutOfRange => too_large(),
    })?;
    let decimals = raw.split_once('.').map_or(0, |(_, frac)| frac.len());
    if decimals > 2 {
        return Err(invalid("at most 2 decimals"));
    }
    if micros <= 0 {
        return Err(invalid("must be greater than 0"));
    }
    if micros > MAX_BUDGET_MICROS {
        return Err(too_large());
    }
    Ok(micros)
}

/// A campaign id as the platform shows it: 1-128 characters, none of them control or
/// invisible format characters (it is matched exactly against the projection's ids).
fn campaign_id(id: &str) -> Result<(), FieldError> {
    let invalid = |why: &str| FieldError::new("campaigns", format!("campaign id {id:?}: {why}"));
    if id.is_empty() {
        return Err(invalid("must not be empty"));
    }
    if id.chars().count() > MAX_CAMPAIGN_ID_CHARS {
        return Err(invalid(&format!(
            "at most {MAX_CAMPAIGN_ID_CHARS} characters"
        )));
    }
    if id.chars().any(|c| c.is_control() || is_invisible_format(c)) {
        return Err(invalid(
            "control and invisible format characters are not allowed",
        ));
    }
    Ok(())
}

/// Micros as the API shows money: rounded to the cent, halves away from zero, always two
/// decimals (`12_345_000` → `"12.35"`, `-5_000` → `"-0.01"`).
pub fn cents(micros: i64) -> String {
    let per_cent = MICROS_PER_CENT.unsigned_abs();
    let total = (micros.unsigned_abs() + per_cent / 2) / per_cent;
    let sign = if micros < 0 && total > 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", total / 100, total % 100)
}

/// An amount of micros that serializes as [`cents`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Money(pub i64);

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&cents(self.0))
    }
}

/// A calendar month, `YYYY-MM`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Month {
    first: NaiveDate,
}

impl Month {
    pub fn of(date: NaiveDate) -> Self {
        Self {
            first: date.with_day(1).unwrap_or(date),
        }
    }

    /// The month `now` falls in, in the IANA time zone `zone` (UTC when it is unknown or
    /// not one chrono-tz knows).
    pub fn current(zone: Option<&str>, now: DateTime<Utc>) -> Self {
        match zone.and_then(|z| z.parse::<chrono_tz::Tz>().ok()) {
            Some(tz) => Self::of(now.with_timezone(&tz).date_naive()),
            None => Self::of(now.date_naive()),
        }
    }

    pub fn days(self) -> u32 {
        let next = self
            .first
            .checked_add_months(chrono::Months::new(1))
            .unwrap_or(self.first);
        u32::try_from((next - self.first).num_days()).unwrap_or(0)
    }
}

impl FromStr for Month {
    type Err = FieldError;

    /// Exactly `YYYY-MM`: four digits, a dash, a month 01-12.
    fn from_str(s: &str) -> Result<Self, FieldError> {
        let invalid = || FieldError::new("month", "must be a month as YYYY-MM, e.g. 2026-03");
        let b = s.as_bytes();
        let digits = |r: std::ops::Range<usize>| b[r].iter().all(u8::is_ascii_digit);
        if b.len() != 7 || b[4] != b'-' || !digits(0..4) || !digits(5..7) {
            return Err(invalid());
        }
        let year = s[..4].parse().map_err(|_| invalid())?;
        let month = s[5..].parse().map_err(|_| invalid())?;
        let first = NaiveDate::from_ymd_opt(year, month, 1).ok_or_else(invalid)?;
        Ok(Self { first })
    }
}

impl fmt::Display for Month {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:02}", self.first.year(), self.first.month())
    }
}

impl Serialize for Month {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// A day, exactly `YYYY-MM-DD` (chrono alone would take `2026-1-5`).
fn date(raw: &str, field: &str) -> Result<NaiveDate, FieldError> {
    let b = raw.as_bytes();
    let shaped = b.len() == 10
        && b.iter().enumerate().all(|(i, c)| {
            if i == 4 || i == 7 {
                *c == b'-'
            } else {
                c.is_ascii_digit()
            }
        });
    shaped
        .then(|| NaiveDate::parse_from_str(raw, "%Y-%m-%d").ok())
        .flatten()
        .ok_or_else(|| FieldError::new(field, "must be a day as YYYY-MM-DD, e.g. 2026-03-01"))
}

/// The day of an alert's sort key (`<date>#<connection id>#<alert id>`,
/// [`keys::alert_sk`]), if it is one.
pub fn alert_key_date(sort_key: &str) -> Option<NaiveDate> {
    let mut parts = sort_key.splitn(3, '#');
    let day = date(parts.next()?, "next_token").ok()?;
    parts.next()?.parse::<ConnectionId>().ok()?;
    let alert_id = parts.next()?;
    (!alert_id.is_empty()).then_some(day)
}

/// `GET /v1/insights/alerts`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertQuery {
    pub filter: AlertFilter,
    pub page: PageRequest,
}

impl AlertQuery {
    pub fn from_request(req: &Request) -> Result<Self, ApiError> {
        request::only_query(req, ALERT_QUERY)?;
        let param = |name| request::query_param(req, name);
        let since = param("since")?.map(|d| date(d, "since")).transpose()?;
        let until = param("until")?.map(|d| date(d, "until")).transpose()?;
        if let (Some(since), Some(until)) = (since, until) {
            if since > until {
                return Err(ApiError::invalid(
                    "since",
                    format!("since ({since}) is after until ({until})"),
                ));
            }
        }
        let connection = param("connection_id")?
            .map(|id| {
                id.parse::<ConnectionId>()
                    .map_err(|e| FieldError::new("connection_id", e.message))
            })
            .transpose()?;
        let metric = param("metric")?
            .map(|m| named::<Metric>(m, "metric"))
            .transpose()?;
        let severity = param("severity")?
            .map(|s| named::<Severity>(s, "severity"))
            .transpose()?;
        let filter = AlertFilter {
            since,
            until,
            connection,
            metric,
            min_severity: severity,
        };
        // A token is a sort key, which must lie within the days asked for: DynamoDB refuses
        // a start key outside the key condition.
        let page = request::page_params(req, |k| {
            alert_key_date(k).is_some_and(|day| filter.admits(day))
        })?;
        Ok(Self { filter, page })
    }
}

fn named<T: FromStr<Err = adpipe_domain::insights::UnknownName>>(
    raw: &str,
    field: &str,
) -> Result<T, FieldError> {
    raw.parse()
        .map_err(|e: adpipe_domain::insights::UnknownName| FieldError::new(field, e.to_string()))
}

/// `month` of `GET /v1/connections/{id}/insights/pacing`, if given.
pub fn month_param(req: &Request) -> Result<Option<Month>, ApiError> {
    request::only_query(req, &["month"])?;
    Ok(request::query_param(req, "month")?
        .map(str::parse)
        .transpose()?)
}

#[derive(Debug, Serialize)]
pub struct BudgetView {
    pub connection_id: String,
    pub monthly: Money,
    pub campaigns: BTreeMap<String, Money>,
    pub currency: Option<String>,
    pub updated_at: DateTime<Utc>,
}

impl BudgetView {
    fn new(budget: Budget, currency: Option<String>) -> Self {
        Self {
            connection_id: budget.connection_id.to_string(),
            monthly: Money(budget.monthly_micros),
            campaigns: budget
                .campaigns
                .into_iter()
                .map(|(id, micros)| (id, Money(micros)))
                .collect(),
            currency,
            updated_at: budget.updated_at,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct PacingView {
    pub month: Month,
    pub currency: Option<String>,
    pub budget: Money,
    pub spent: Money,
    pub days_elapsed: u32,
    pub days_in_month: u32,
    pub projected: Money,
    pub projected_low: Money,
    pub projected_high: Money,
    pub status: PacingStatus,
    pub recommended_daily: Money,
    pub as_of: Option<NaiveDate>,
    pub campaigns: Vec<CampaignPacingView>,
}

#[derive(Debug, Serialize)]
pub struct CampaignPacingView {
    pub campaign_id: String,
    pub campaign_name: Option<String>,
    pub budget: Money,
    pub spent: Money,
    pub projected: Money,
    pub projected_low: Money,
    pub projected_high: Money,
    pub status: PacingStatus,
    pub recommended_daily: Money,
}

/// What was spent and is projected, with nothing spent yet: a month (or campaign) without
/// data paces from zero.
const NOTHING: Projection = Projection {
    spent_micros: 0,
    projected_micros: 0,
    low_micros: 0,
    high_micros: 0,
};

/// A budget judged against the month's projection (`None`: none stored yet, so nothing
/// spent and no day elapsed). The month's days are the projection's when it has them.
pub fn pacing_view(
    budget: &Budget,
    month: Month,
    projection: Option<&MonthProjection>,
) -> PacingView {
    let (days_in_month, days_elapsed) =
        projection.map_or((month.days(), 0), |p| (p.days_in_month, p.days_elapsed));
    let days_remaining = days_in_month.saturating_sub(days_elapsed);
    let total = projection.map_or(NOTHING, |p| p.total);
    let (status, daily) = judge(budget.monthly_micros, &total, days_remaining);
    let campaigns = budget
        .campaigns
        .iter()
        .map(|(id, &micros)| {
            let known: Option<&CampaignProjection> = projection.and_then(|p| p.campaigns.get(id));
            let spend = known.map_or(NOTHING, |c| c.projection);
            let (status, daily) = judge(micros, &spend, days_remaining);
            CampaignPacingView {
                campaign_id: id.clone(),
                campaign_name: known.and_then(|c| c.campaign_name.clone()),
                budget: Money(micros),
                spent: Money(spend.spent_micros),
                projected: Money(spend.projected_micros),
                projected_low: Money(spend.low_micros),
                projected_high: Money(spend.high_micros),
                status,
                recommended_daily: Money(daily),
            }
        })
        .collect();
    PacingView {
        month,
        currency: projection
            .and_then(|p| p.currency.clone())
            .or_else(|| budget.currency.clone()),
        budget: Money(budget.monthly_micros),
        spent: Money(total.spent_micros),
        days_elapsed,
        days_in_month,
        projected: Money(total.projected_micros),
        projected_low: Money(total.low_micros),
        projected_high: Money(total.high_micros),
        status,
        recommended_daily: Money(daily),
        as_of: projection.and_then(|p| p.as_of),
        campaigns,
    }
}

fn no_budget() -> ApiError {
    ApiError::new(
        http::StatusCode::NOT_FOUND,
        ErrorCode::NotFound,
        "this connection has no budget; set one with PUT /v1/connections/{id}/budget",
    )
}

impl Api {
    /// Sets (replaces) the connection's budget.
    pub async fn put_budget(
        &self,
        tenant: &TenantId,
        id: &str,
        body: PutBudget,
    ) -> Result<BudgetView, ApiError> {
        let spec = BudgetSpec::parse(body)?;
        let connection = self.find_connection(tenant, id).await?;
        let currency = self.seen_currency(tenant, &connection.id).await?;
        let budget = Budget {
            connection_id: connection.id,
            monthly_micros: spec.monthly_micros,
            campaigns: spec.campaigns,
            currency: currency.clone(),
            updated_at: Utc::now(),
        };
        // The store writes it only while the connection exists: a budget set while the
        // connection is deleted is not left behind.
        self.store
            .put_budget(tenant, &budget)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => ApiError::not_found("connection"),
                other => other.into(),
            })?;
        tracing::info!(connection_id = %budget.connection_id, campaigns = budget.campaigns.len(), "budget set");
        Ok(BudgetView::new(budget, currency))
    }

    pub async fn budget(&self, tenant: &TenantId, id: &str) -> Result<BudgetView, ApiError> {
        let connection = self.find_connection(tenant, id).await?;
        let budget = self
            .store
            .budget(tenant, &connection.id)
            .await?
            .ok_or_else(no_budget)?;
        // The currency adpipe knows now, else the one it knew when the budget was set.
        let currency = self
            .seen_currency(tenant, &connection.id)
            .await?
            .or_else(|| budget.currency.clone());
        Ok(BudgetView::new(budget, currency))
    }

    pub async fn delete_budget(&self, tenant: &TenantId, id: &str) -> Result<(), ApiError> {
        let connection = self.find_connection(tenant, id).await?;
        self.store
            .delete_budget(tenant, &connection.id)
            .await
            .map_err(|e| match e {
                StoreError::NotFound => no_budget(),
                other => other.into(),
            })?;
        tracing::info!(connection_id = %connection.id, "budget deleted");
        Ok(())
    }

    /// The budget against the month's projection; `month` defaults to the current month
    /// in the connection's time zone.
    pub async fn pacing(
        &self,
        tenant: &TenantId,
        id: &str,
        month: Option<Month>,
    ) -> Result<PacingView, ApiError> {
        let connection = self.find_connection(tenant, id).await?;
        let mut budget = self
            .store
            .budget(tenant, &connection.id)
            .await?
            .ok_or_else(no_budget)?;
        let month =
            month.unwrap_or_else(|| Month::current(connection.time_zone.as_deref(), Utc::now()));
        let projection = self.store.projection(tenant, &connection.id, month).await?;
        if projection
            .as_ref()
            .and_then(|p| p.currency.as_ref())
            .is_none()
        {
            if let Some(seen) = self.seen_currency(tenant, &connection.id).await? {
                budget.currency = Some(seen);
            }
        }
        Ok(pacing_view(&budget, month, projection.as_ref()))
    }

    pub async fn alerts(
        &self,
        tenant: &TenantId,
        query: &AlertQuery,
    ) -> Result<ListView<Alert>, ApiError> {
        let page = self
            .store
            .alerts(tenant, &query.filter, &query.page)
            .await?;
        Ok(ListView {
            items: page.items,
            next_token: page.last_key.as_deref().map(encode_token),
        })
    }

    /// The account's currency, as the newest projection of the connection has it.
    async fn seen_currency(
        &self,
        tenant: &TenantId,
        connection: &ConnectionId,
    ) -> Result<Option<String>, ApiError> {
        Ok(self
            .store
            .newest_projection(tenant, connection)
            .await?
            .and_then(|p| p.currency))
    }
}

/// The sort-key prefix of a connection's projections (`PACING#<id>#`).
pub fn projection_prefix(connection: &ConnectionId) -> String {
    keys::projection_sk(connection, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(json: serde_json::Value) -> Result<BudgetSpec, FieldError> {
        let body: PutBudget = serde_json::from_value(json).expect("a PutBudget");
        BudgetSpec::parse(body)
    }

    fn field_of(json: serde_json::Value) -> String {
        spec(json.clone())
            .map(|s| panic!("{json} was accepted as {s:?}"))
            .unwrap_err()
            .field
    }

    #[test]
    fn budgets_take_positive_amounts_of_at_most_two_decimals_up_to_the_maximum() {
        let ok = spec(
            serde_json::json!({"monthly": "15000.5", "campaigns": {"1": "5000.00", "2": "0.01"}}),
        )
        .unwrap();
        assert_eq!(ok.monthly_micros, 15_000_500_000);
        assert_eq!(ok.campaigns["1"], 5_000_000_000);
        assert_eq!(ok.campaigns["2"], 10_000);
        assert_eq!(
            spec(serde_json::json!({"monthly": "1000000000.00"}))
                .unwrap()
                .monthly_micros,
            MAX_BUDGET_MICROS
        );
        for bad in [
            "-5",
            "0",
            "0.00",
            "1.005",
            "1.000",
            "abc",
            "",
            "1e3",
            " 1",
            "1,5",
            "1000000000.01",
            "99999999999999999999",
        ] {
            assert_eq!(
                field_of(serde_json::json!({"monthly": bad})),
                "monthly",
                "{bad:?}"
            );
        }
    }

    #[test]
    fn campaign_budgets_are_checked_one_by_one_and_in_sum() {
        let long = "9".repeat(MAX_CAMPAIGN_ID_CHARS + 1);
        for (campaigns, field) in [
            (serde_json::json!({"": "1.00"}), "campaigns"),
            (serde_json::json!({long.clone(): "1.00"}), "campaigns"),
            (serde_json::json!({"a\u{0}b": "1.00"}), "campaigns"),
            (serde_json::json!({"a\u{202e}b": "1.00"}), "campaigns"),
            (serde_json::json!({"7": "0"}), "campaigns.7"),
            (serde_json::json!({"7": "1.001"}), "campaigns.7"),
            (serde_json::json!({"7": "60.00", "8": "50.00"}), "campaigns"),
        ] {
            let body = serde_json::json!({"monthly": "100.00", "campaigns": campaigns});
            assert_eq!(field_of(body.clone()), field, "{body}");
        }
        let many: serde_json::Map<_, _> = (0..=MAX_CAMPAIGNS)
            .map(|i| (i.to_string(), serde_json::json!("0.01")))
            .collect();
        assert_eq!(
            field_of(serde_json::json!({"monthly": "100.00", "campaigns": many})),
            "campaigns"
        );
        let exactly = spec(
            serde_json::json!({"monthly": "100.00", "campaigns": {"7": "60.00", "8": "40.00"}}),
        );
        assert!(
            exactly.is_ok(),
            "campaigns may add up to the monthly budget"
        );
    }

    #[test]
    fn money_shows_two_decimals_rounded_half_away_from_zero() {
        for (micros, shown) in [
            (0, "0.00"),
            (15_000_000_000, "15000.00"),
            (12_345_000, "12.35"),
            (12_344_999, "12.34"),
            (5_000, "0.01"),
            (4_999, "0.00"),
            (-5_000, "-0.01"),
            (-4_999, "0.00"),
            (i64::MAX, "9223372036854.78"),
            (i64::MIN, "-9223372036854.78"),
        ] {
            assert_eq!(cents(micros), shown, "{micros}");
        }
    }

    #[test]
    fn months_are_exactly_yyyy_mm() {
        let m: Month = "2026-02".parse().unwrap();
        assert_eq!((m.to_string(), m.days()), ("2026-02".to_owned(), 28));
        assert_eq!("2028-02".parse::<Month>().unwrap().days(), 29);
        assert_eq!("2026-12".parse::<Month>().unwrap().days(), 31);
        for bad in [
            "2026-13",
            "2026-00",
            "2026-1",
            "26-01",
            "",
            "2026-01-01",
            "2026/01",
            "２026-01",
            "+026-01",
        ] {
            assert!(bad.parse::<Month>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn the_current_month_is_the_connections_time_zones() {
        let now = DateTime::parse_from_rfc3339("2026-03-31T23:30:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(Month::current(None, now).to_string(), "2026-03");
        assert_eq!(
            Month::current(Some("Europe/Berlin"), now).to_string(),
            "2026-04"
        );
        assert_eq!(
            Month::current(Some("America/Los_Angeles"), now).to_string(),
            "2026-03"
        );
        assert_eq!(
            Month::current(Some("Mars/Olympus"), now).to_string(),
            "2026-03"
        );
    }

    #[test]
    fn alert_sort_keys_are_told_from_other_strings() {
        let conn = "con_0123456789abcdef0123456789abcdef";
        let day = NaiveDate::from_ymd_opt(2026, 3, 5).unwrap();
        assert_eq!(
            alert_key_date(&format!("2026-03-05#{conn}#alr_1")),
            Some(day)
        );
        for bad in [
            format!("2026-3-05#{conn}#alr_1"),
            format!("2026-03-05#{conn}#"),
            format!("2026-03-05#{conn}"),
            "2026-03-05#con_x#alr_1".to_owned(),
            format!("CONNECTION#{conn}"),
        ] {
            assert_eq!(alert_key_date(&bad), None, "{bad}");
        }
    }

    fn budget(monthly: i64, campaigns: &[(&str, i64)]) -> Budget {
        Budget {
            connection_id: "con_0123456789abcdef0123456789abcdef".parse().unwrap(),
            monthly_micros: monthly,
            campaigns: campaigns
                .iter()
                .map(|(k, v)| ((*k).to_owned(), *v))
                .collect(),
            currency: None,
            updated_at: Utc::now(),
        }
    }

    #[test]
    fn without_a_projection_nothing_is_spent_and_the_budget_spreads_over_the_month() {
        let month: Month = "2026-04".parse().unwrap();
        let view = pacing_view(&budget(3_000_000_000, &[("1", 300_000_000)]), month, None);
        let json = serde_json::to_value(&view).unwrap();
        assert_eq!(json["month"], "2026-04");
        assert_eq!(json["days_in_month"], 30);
        assert_eq!(json["days_elapsed"], 0);
        assert_eq!(json["spent"], "0.00");
        assert_eq!(json["projected_high"], "0.00");
        assert_eq!(json["status"], "under");
        assert_eq!(json["recommended_daily"], "100.00");
        assert_eq!(json["as_of"], serde_json::Value::Null);
        assert_eq!(json["currency"], serde_json::Value::Null);
        assert_eq!(json["campaigns"][0]["campaign_id"], "1");
        assert_eq!(json["campaigns"][0]["recommended_daily"], "10.00");
        assert_eq!(
            json["campaigns"][0]["campaign_name"],
            serde_json::Value::Null
        );
    }

    #[test]
    fn a_projection_is_judged_with_the_days_it_has_left() {
        let month: Month = "2026-04".parse().unwrap();
        let projection = MonthProjection {
            connection_id: "con_0123456789abcdef0123456789abcdef".parse().unwrap(),
            month: "2026-04".into(),
            currency: Some("EUR".into()),
            days_in_month: 30,
            days_elapsed: 10,
            as_of: NaiveDate::from_ymd_opt(2026, 4, 10),
            total: Projection {
                spent_micros: 1_200_000_000,
                projected_micros: 3_600_000_000,
                low_micros: 3_300_000_000,
                high_micros: 3_900_000_000,
            },
            campaigns: BTreeMap::from([(
                "1".to_owned(),
                CampaignProjection {
                    campaign_name: Some("Spring".into()),
                    projection: Projection {
                        spent_micros: 100_000_000,
                        projected_micros: 300_000_000,
                        low_micros: 250_000_000,
                        high_micros: 350_000_000,
                    },
                },
            )]),
            partial: false,
            computed_at: Utc::now(),
        };
        let b = budget(3_000_000_000, &[("1", 300_000_000), ("2", 100_000_000)]);
        let json = serde_json::to_value(pacing_view(&b, month, Some(&projection))).unwrap();
        assert_eq!(json["currency"], "EUR");
        assert_eq!(json["status"], "over");
        // (3000 - 1200) / 20 days left
        assert_eq!(json["recommended_daily"], "90.00");
        assert_eq!(json["projected_low"], "3300.00");
        assert_eq!(json["as_of"], "2026-04-10");
        assert_eq!(json["campaigns"][0]["campaign_name"], "Spring");
        assert_eq!(json["campaigns"][0]["status"], "on_track");
        assert_eq!(json["campaigns"][0]["recommended_daily"], "10.00");
        assert_eq!(json["campaigns"][1]["campaign_id"], "2");
        assert_eq!(json["campaigns"][1]["spent"], "0.00");
        assert_eq!(json["campaigns"][1]["recommended_daily"], "5.00");
    }

    /// The service over memory ports (the adapter local mode runs), the store seeded with
    /// `projections` first.
    async fn memory_api(tenant: &TenantId, projections: &[(&str, &str)]) -> (Api, String) {
        use crate::memory::{MemoryStore, memory_api};
        use crate::ports::ControlStore;
        let config = crate::Config::from_lookup(|k| match k {
            "CONTROL_TABLE" => Some("c".into()),
            "EXTRACTOR_FUNCTION_ARN" => Some("arn:aws:lambda:us-east-1:1:function:x".into()),
            _ => None,
        })
        .unwrap();
        let mut api = memory_api(config);
        let body = serde_json::json!({"platform": "facebook", "account_id": "act_1", "credentials": {"access_token": "t"}});
        let conn = api
            .create_connection(tenant, serde_json::from_value(body).unwrap())
            .await
            .unwrap()
            .id;
        let store = MemoryStore::default();
        let id: ConnectionId = conn.parse().unwrap();
        let record = api.store.connection(tenant, &id).await.unwrap().unwrap();
        store.create_connection(&record).await.unwrap();
        for (month, currency) in projections {
            let mut p = projection_of(&id, month);
            p.currency = Some((*currency).into());
            store
                .insert(keys::tenant_pk(tenant), keys::projection_sk(&id, month), &p)
                .unwrap();
        }
        api.store = Box::new(store);
        (api, conn)
    }

    fn projection_of(id: &ConnectionId, month: &str) -> MonthProjection {
        MonthProjection {
            connection_id: id.clone(),
            month: month.into(),
            currency: None,
            days_in_month: 30,
            days_elapsed: 3,
            as_of: None,
            total: NOTHING,
            campaigns: BTreeMap::new(),
            partial: false,
            computed_at: Utc::now(),
        }
    }

    #[tokio::test]
    async fn the_memory_store_keeps_budgets_like_the_table_and_drops_them_with_the_connection() {
        let tenant: TenantId = "t1".parse().unwrap();
        let (api, conn) = memory_api(&tenant, &[("2026-01", "USD"), ("2026-02", "EUR")]).await;
        let body = |monthly: &str| PutBudget {
            monthly: monthly.into(),
            campaigns: None,
        };
        assert_eq!(api.budget(&tenant, &conn).await.unwrap_err().status, 404);
        let set = api.put_budget(&tenant, &conn, body("10")).await.unwrap();
        assert_eq!(set.currency.as_deref(), Some("EUR"), "the newest month's");
        let paced = api
            .pacing(&tenant, &conn, Some("2026-01".parse().unwrap()))
            .await
            .unwrap();
        assert_eq!(
            (paced.days_elapsed, paced.currency.as_deref()),
            (3, Some("USD"))
        );
        let other: TenantId = "t2".parse().unwrap();
        assert_eq!(api.budget(&other, &conn).await.unwrap_err().status, 404);

        api.delete_connection(&tenant, &conn).await.unwrap();
        let id: ConnectionId = conn.parse().unwrap();
        assert!(api.store.budget(&tenant, &id).await.unwrap().is_none());
        assert!(
            api.store
                .newest_projection(&tenant, &id)
                .await
                .unwrap()
                .is_none()
        );
        let missing = api
            .put_budget(&tenant, &conn, body("10"))
            .await
            .unwrap_err();
        assert_eq!(missing.status, 404);
    }

    #[test]
    fn a_month_projection_survives_the_control_table_item_the_insights_function_writes() {
        let projection = MonthProjection {
            connection_id: "con_0123456789abcdef0123456789abcdef".parse().unwrap(),
            month: "2026-04".into(),
            currency: None,
            days_in_month: 30,
            days_elapsed: 3,
            as_of: None,
            total: NOTHING,
            campaigns: BTreeMap::from([(
                "9".to_owned(),
                CampaignProjection {
                    campaign_name: None,
                    projection: NOTHING,
                },
            )]),
            partial: true,
            computed_at: Utc::now(),
        };
        let mut item = adpipe_dynamodb::to_item(&projection, "pk".into(), "sk".into()).unwrap();
        item.insert(
            keys::EXPIRES_AT.into(),
            aws_sdk_dynamodb::types::AttributeValue::N("1900000000".into()),
        );
        let back: MonthProjection = adpipe_dynamodb::from_item(item).unwrap();
        assert_eq!(back, projection);
    }
}
