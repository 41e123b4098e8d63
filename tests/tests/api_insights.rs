//! Budgets, pacing and alerts over moto: projections and alerts are seeded into the control
//! table exactly as the insights function writes them (the record through
//! `adpipe_dynamodb::to_item` under its key, possibly with an `expires_at`).

use std::collections::BTreeMap;

use adpipe_domain::insights::{
    Alert, AlertKind, CampaignProjection, Direction, Metric, MonthProjection, Projection, Severity,
    alert_id,
};
use adpipe_domain::{ConnectionId, Platform, TenantId, keys};
use adpipe_testkit::aws;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{NaiveDate, Utc};
use serde_json::{Value, json};

use crate::common::{Reply, RequestBuilder, Tenant, error_of, event};

const M: i64 = 1_000_000;

fn tenant_id(t: &Tenant) -> TenantId {
    t.id.parse().expect("a tenant id")
}

fn day(raw: &str) -> NaiveDate {
    raw.parse().expect("a date")
}

/// Writes `record` under `pk`/`sk` as the insights function does.
async fn seed<T: serde::Serialize>(record: &T, pk: String, sk: String, expires_at: Option<i64>) {
    let mut item = adpipe_dynamodb::to_item(record, pk, sk).expect("an item");
    if let Some(at) = expires_at {
        item.insert(keys::EXPIRES_AT.into(), AttributeValue::N(at.to_string()));
    }
    aws()
        .dynamodb()
        .await
        .put_item()
        .table_name(&aws().control_table)
        .set_item(Some(item))
        .send()
        .await
        .expect("PutItem");
}

fn projection(conn: &str, month: &str, campaigns: &[(&str, i64, i64)]) -> MonthProjection {
    let spend = |spent: i64, projected: i64| Projection {
        spent_micros: spent,
        projected_micros: projected,
        low_micros: projected - 100 * M,
        high_micros: projected + 100 * M,
    };
    MonthProjection {
        connection_id: conn.parse().unwrap(),
        month: month.into(),
        currency: Some("EUR".into()),
        days_in_month: 30,
        days_elapsed: 10,
        as_of: Some(day(&format!("{month}-10"))),
        total: spend(1_200 * M, 3_600 * M),
        campaigns: campaigns
            .iter()
            .map(|(id, spent, projected)| {
                let c = CampaignProjection {
                    campaign_name: Some(format!("Campaign {id}")),
                    projection: spend(*spent, *projected),
                };
                ((*id).to_owned(), c)
            })
            .collect(),
        partial: false,
        computed_at: Utc::now(),
    }
}

async fn seed_projection(t: &Tenant, p: &MonthProjection) {
    let sk = keys::projection_sk(&p.connection_id, &p.month);
    seed(p, keys::tenant_pk(&tenant_id(t)), sk, Some(2_000_000_000)).await;
}

fn alert(conn: &str, date: &str, entity: &str, metric: Metric, severity: Severity) -> Alert {
    let connection_id: ConnectionId = conn.parse().unwrap();
    let date = day(date);
    let kind = AlertKind::Anomaly;
    Alert {
        alert_id: alert_id(
            &connection_id,
            "campaign",
            entity,
            kind,
            metric,
            Direction::Up,
            date,
        ),
        connection_id,
        platform: Platform::Facebook,
        level: "campaign".into(),
        entity_id: entity.into(),
        entity_name: Some(format!("Campaign {entity}")),
        date,
        last_date: date,
        kind,
        metric,
        direction: Direction::Up,
        observed: 250.5,
        expected: 100.0,
        lower: 80.0,
        upper: 120.0,
        p_value: 0.0001,
        q_value: 0.002,
        severity,
        currency: Some("EUR".into()),
        children: Vec::new(),
    }
}

async fn seed_alert(t: &Tenant, a: &Alert, expires_at: Option<i64>) {
    let sk = keys::alert_sk(a.date, &a.connection_id, &a.alert_id);
    seed(a, keys::alerts_pk(&tenant_id(t)), sk, expires_at).await;
}

fn budget_path(conn: &str) -> String {
    format!("/v1/connections/{conn}/budget")
}

fn pacing(t: &Tenant, conn: &str, month: Option<&str>) -> RequestBuilder {
    let request = t.request("GET", &format!("/v1/connections/{conn}/insights/pacing"));
    match month {
        Some(m) => request.query(&[("month", m)]),
        None => request,
    }
}

fn alerts(t: &Tenant, query: &[(&str, &str)]) -> RequestBuilder {
    let request = t.request("GET", "/v1/insights/alerts");
    if query.is_empty() {
        request
    } else {
        request.query(query)
    }
}

/// Every page of a list, following `next_token`; the alerts' ids in order.
async fn all_alert_ids(t: &Tenant, query: &[(&str, &str)]) -> Vec<String> {
    let mut ids = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut pairs = query.to_vec();
        if let Some(token) = &token {
            pairs.push(("next_token", token));
        }
        let reply = t.send(alerts(t, &pairs)).await;
        assert_eq!(reply.status, 200, "{}", reply.body);
        let items = reply.body["items"].as_array().expect("items");
        ids.extend(
            items
                .iter()
                .map(|a| a["alert_id"].as_str().unwrap().to_owned()),
        );
        match reply.body["next_token"].as_str() {
            Some(next) => token = Some(next.to_owned()),
            None => return ids,
        }
    }
}

/// The budget item as moto holds it (`None`: no budget).
async fn budget_item(t: &Tenant, conn: &str) -> Option<String> {
    let item = t.control_item(&format!("BUDGET#{conn}")).await?;
    Some(format!(
        "{:?}",
        item.into_iter().collect::<BTreeMap<_, _>>()
    ))
}

#[tokio::test]
async fn a_budget_is_set_read_replaced_and_deleted() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let path = budget_path(&conn);

    let none = t.call("GET", &path, None).await;
    assert_eq!(
        (none.status, error_of(&none).0.as_str()),
        (404, "not_found")
    );

    let body =
        json!({"monthly": "15000", "campaigns": {"120210000000000001": "5000.5", "2": "0.01"}});
    let set = t.call("PUT", &path, Some(body)).await;
    assert_eq!(set.status, 200, "{}", set.body);
    assert_eq!(set.body["connection_id"], conn);
    assert_eq!(set.body["monthly"], "15000.00");
    assert_eq!(
        set.body["campaigns"],
        json!({"120210000000000001": "5000.50", "2": "0.01"})
    );
    assert_eq!(set.body["currency"], Value::Null, "no data seen yet");
    assert!(set.body["updated_at"].is_string());
    // Sorted: serde_json keeps insertion order when a dependency enables preserve_order.
    let mut keys: Vec<&String> = set.body.as_object().unwrap().keys().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "campaigns",
            "connection_id",
            "currency",
            "monthly",
            "updated_at"
        ]
    );

    let item = t.control_item(&format!("BUDGET#{conn}")).await.unwrap();
    assert_eq!(item["monthly_micros"].as_n().unwrap(), "15000000000");

    let got = t.call("GET", &path, None).await;
    assert_eq!((got.status, &got.body), (200, &set.body));

    // Once adpipe has seen the account's data, the currency is the projection's.
    seed_projection(&t, &projection(&conn, "2026-03", &[])).await;
    let got = t.call("GET", &path, None).await;
    assert_eq!(got.body["currency"], "EUR");
    let replaced = t
        .call("PUT", &path, Some(json!({"monthly": "900.99"})))
        .await;
    assert_eq!(replaced.status, 200, "{}", replaced.body);
    assert_eq!(replaced.body["monthly"], "900.99");
    assert_eq!(replaced.body["campaigns"], json!({}));
    assert_eq!(replaced.body["currency"], "EUR");

    let deleted = t.call("DELETE", &path, None).await;
    assert_eq!((deleted.status, &deleted.body), (204, &Value::Null));
    assert!(budget_item(&t, &conn).await.is_none());
    let gone = t.call("GET", &path, None).await;
    assert_eq!(gone.status, 404);
    let again = t.call("DELETE", &path, None).await;
    assert_eq!(
        (again.status, error_of(&again).0.as_str()),
        (404, "not_found")
    );
}

#[tokio::test]
async fn pacing_judges_the_budget_against_the_stored_projection() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let no_budget = t.send(pacing(&t, &conn, Some("2026-04"))).await;
    assert_eq!(
        (no_budget.status, error_of(&no_budget).0.as_str()),
        (404, "not_found")
    );

    let body = json!({"monthly": "3000.00", "campaigns": {"1": "300.00", "2": "100.00"}});
    assert_eq!(
        t.call("PUT", &budget_path(&conn), Some(body)).await.status,
        200
    );
    seed_projection(
        &t,
        &projection(
            &conn,
            "2026-04",
            &[("1", 100 * M, 300 * M), ("9", 5 * M, 15 * M)],
        ),
    )
    .await;

    let reply = t.send(pacing(&t, &conn, Some("2026-04"))).await;
    assert_eq!(reply.status, 200, "{}", reply.body);
    let expected = json!({
        "month": "2026-04",
        "currency": "EUR",
        "budget": "3000.00",
        "spent": "1200.00",
        "days_elapsed": 10,
        "days_in_month": 30,
        "projected": "3600.00",
        "projected_low": "3500.00",
        "projected_high": "3700.00",
        "status": "over",
        // (3000 - 1200) over the 20 days left
        "recommended_daily": "90.00",
        "as_of": "2026-04-10",
        "campaigns": [
            {
                "campaign_id": "1",
                "campaign_name": "Campaign 1",
                "budget": "300.00",
                "spent": "100.00",
                "projected": "300.00",
                "projected_low": "200.00",
                "projected_high": "400.00",
                "status": "on_track",
                "recommended_daily": "10.00"
            },
            {
                // Budgeted, without spend in the projection: zeros.
                "campaign_id": "2",
                "campaign_name": null,
                "budget": "100.00",
                "spent": "0.00",
                "projected": "0.00",
                "projected_low": "0.00",
                "projected_high": "0.00",
                "status": "under",
                "recommended_daily": "5.00"
            }
        ]
    });
    assert_eq!(reply.body, expected);

    // A month without a projection is an empty result, not an error.
    let empty = t.send(pacing(&t, &conn, Some("2026-02"))).await;
    assert_eq!(empty.status, 200, "{}", empty.body);
    assert_eq!(empty.body["days_in_month"], 28);
    assert_eq!(empty.body["days_elapsed"], 0);
    assert_eq!(empty.body["spent"], "0.00");
    assert_eq!(empty.body["projected"], "0.00");
    assert_eq!(empty.body["as_of"], Value::Null);
    assert_eq!(empty.body["status"], "under");
    assert_eq!(
        empty.body["recommended_daily"], "107.14",
        "3000 / 28, to the cent"
    );
    assert_eq!(
        empty.body["currency"], "EUR",
        "the currency adpipe has seen"
    );
    assert_eq!(empty.body["campaigns"][1]["recommended_daily"], "3.57");
}

#[tokio::test]
async fn pacing_defaults_to_this_month_in_the_accounts_time_zone() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let body = json!({"monthly": "100.00"});
    assert_eq!(
        t.call("PUT", &budget_path(&conn), Some(body)).await.status,
        200
    );

    let utc = t.send(pacing(&t, &conn, None)).await;
    assert_eq!(utc.status, 200, "{}", utc.body);
    let before = Utc::now();
    assert_eq!(utc.body["month"], before.format("%Y-%m").to_string());

    // The extractor records the account's zone on the connection; UTC+14 is a day ahead
    // of UTC for part of every day.
    let zone = "Pacific/Kiritimati";
    aws()
        .dynamodb()
        .await
        .update_item()
        .table_name(&aws().control_table)
        .key("pk", AttributeValue::S(format!("TENANT#{}", t.id)))
        .key("sk", AttributeValue::S(format!("CONNECTION#{conn}")))
        .update_expression("SET time_zone = :tz")
        .expression_attribute_values(":tz", AttributeValue::S(zone.into()))
        .send()
        .await
        .expect("UpdateItem");
    let zoned = t.send(pacing(&t, &conn, None)).await;
    let tz: chrono_tz::Tz = zone.parse().unwrap();
    let expected = Utc::now().with_timezone(&tz).format("%Y-%m").to_string();
    assert_eq!(zoned.body["month"], expected);
}

#[tokio::test]
async fn alerts_list_newest_day_first_page_by_page_and_filtered() {
    let t = Tenant::new().await;
    let (a, b) = (
        t.create_connection("facebook").await,
        t.create_connection("facebook").await,
    );
    use Metric::*;
    use Severity::*;
    let seeded = [
        alert(&a, "2026-03-01", "1", Spend, Info),
        alert(&a, "2026-03-02", "1", Cpa, Warning),
        alert(&b, "2026-03-02", "7", Spend, Critical),
        alert(&a, "2026-03-03", "2", Spend, Warning),
        alert(&b, "2026-03-04", "7", Ctr, Info),
        alert(&a, "2026-03-05", "1", Spend, Critical),
        alert(&b, "2026-03-05", "8", Cpa, Warning),
        alert(&a, "2026-03-06", "3", Roas, Info),
        alert(&b, "2026-03-07", "7", Spend, Warning),
        alert(&a, "2026-03-08", "1", Cpc, Critical),
    ];
    for x in &seeded {
        seed_alert(&t, x, Some(Utc::now().timestamp() + 86_400)).await;
    }
    // Past its TTL but not yet swept by DynamoDB: not shown.
    seed_alert(
        &t,
        &alert(&a, "2026-03-09", "1", Spend, Critical),
        Some(Utc::now().timestamp() - 60),
    )
    .await;
    let newest_first = |keep: &dyn Fn(&Alert) -> bool| -> Vec<String> {
        let mut kept: Vec<&Alert> = seeded.iter().filter(|x| keep(x)).collect();
        kept.sort_by_key(|x| {
            std::cmp::Reverse(keys::alert_sk(x.date, &x.connection_id, &x.alert_id))
        });
        kept.iter().map(|x| x.alert_id.clone()).collect()
    };

    let first = t.send(alerts(&t, &[])).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["next_token"], Value::Null);
    let items = first.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 10);
    assert_eq!(items[0]["date"], "2026-03-08");
    assert_eq!(items[9]["date"], "2026-03-01");
    let shown: Alert = serde_json::from_value(items[0].clone()).expect("an Alert record");
    assert_eq!(shown, seeded[9]);
    for field in [
        "alert_id",
        "connection_id",
        "platform",
        "level",
        "entity_id",
        "entity_name",
        "date",
        "last_date",
        "kind",
        "metric",
        "direction",
        "observed",
        "expected",
        "lower",
        "upper",
        "p_value",
        "q_value",
        "severity",
        "currency",
    ] {
        assert!(items[0].get(field).is_some(), "{field} in {}", items[0]);
    }
    assert!(items[0].get("pk").is_none() && items[0].get("expires_at").is_none());

    assert_eq!(
        all_alert_ids(&t, &[("limit", "3")]).await,
        newest_first(&|_| true)
    );
    let page = t.send(alerts(&t, &[("limit", "3")])).await;
    assert_eq!(page.body["items"].as_array().unwrap().len(), 3);

    type Keep<'a> = Box<dyn Fn(&Alert) -> bool + 'a>;
    let cases: Vec<(Vec<(&str, &str)>, Keep)> = vec![
        (
            vec![("since", "2026-03-02"), ("until", "2026-03-05")],
            Box::new(|x| (day("2026-03-02")..=day("2026-03-05")).contains(&x.date)),
        ),
        (
            vec![("since", "2026-03-07")],
            Box::new(|x| x.date >= day("2026-03-07")),
        ),
        (
            vec![("until", "2026-03-01")],
            Box::new(|x| x.date <= day("2026-03-01")),
        ),
        (
            vec![("connection_id", b.as_str())],
            Box::new(|x| x.connection_id.as_str() == b),
        ),
        (vec![("metric", "spend")], Box::new(|x| x.metric == Spend)),
        (
            vec![("severity", "warning")],
            Box::new(|x| x.severity >= Warning),
        ),
        (
            vec![("severity", "critical")],
            Box::new(|x| x.severity == Critical),
        ),
        (vec![("severity", "info")], Box::new(|_| true)),
        (
            vec![
                ("connection_id", a.as_str()),
                ("metric", "spend"),
                ("since", "2026-03-02"),
            ],
            Box::new(|x| {
                x.connection_id.as_str() == a && x.metric == Spend && x.date >= day("2026-03-02")
            }),
        ),
        (vec![("metric", "conversions")], Box::new(|_| false)),
    ];
    for (query, keep) in &cases {
        let expected = newest_first(keep.as_ref());
        for limit in ["1", "2", "100"] {
            let mut q = query.clone();
            q.push(("limit", limit));
            assert_eq!(all_alert_ids(&t, &q).await, expected, "{q:?}");
        }
        // A filtered page fills up to its limit when that many match.
        let mut q = query.clone();
        q.push(("limit", "2"));
        let page = t.send(alerts(&t, &q)).await;
        let n = page.body["items"].as_array().unwrap().len();
        assert_eq!(n, expected.len().min(2), "{q:?}");
    }

    let other = Tenant::other().await;
    let foreign = other.send(alerts(&other, &[])).await;
    assert_eq!(foreign.status, 200);
    assert_eq!(foreign.body, json!({"items": [], "next_token": null}));
    let foreign = other
        .send(alerts(&other, &[("connection_id", a.as_str())]))
        .await;
    assert_eq!(foreign.body["items"], json!([]));
}

#[tokio::test]
async fn another_tenant_sees_no_budget_pacing_or_alerts_and_changes_nothing() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let path = budget_path(&conn);
    assert_eq!(
        t.call("PUT", &path, Some(json!({"monthly": "10.00"})))
            .await
            .status,
        200
    );
    seed_alert(
        &t,
        &alert(&conn, "2026-03-01", "1", Metric::Spend, Severity::Critical),
        None,
    )
    .await;
    let before = budget_item(&t, &conn).await;

    let other = Tenant::other().await;
    for reply in [
        other.call("GET", &path, None).await,
        other
            .call("PUT", &path, Some(json!({"monthly": "99.00"})))
            .await,
        other.call("DELETE", &path, None).await,
        other.send(pacing(&other, &conn, None)).await,
        other.send(pacing(&other, &conn, Some("2026-03"))).await,
    ] {
        assert_eq!(reply.status, 404, "{}", reply.body);
        assert_eq!(error_of(&reply).0, "not_found");
    }
    assert_eq!(budget_item(&t, &conn).await, before);
    assert!(
        other
            .control_item(&format!("BUDGET#{conn}"))
            .await
            .is_none()
    );
    let mine = t.send(alerts(&t, &[])).await;
    assert_eq!(mine.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn deleting_a_connection_removes_its_budget_projections_and_summary_but_not_its_alerts() {
    let t = Tenant::new().await;
    let (conn, kept) = (
        t.create_connection("facebook").await,
        t.create_connection("facebook").await,
    );
    for c in [&conn, &kept] {
        let body = json!({"monthly": "500.00"});
        assert_eq!(t.call("PUT", &budget_path(c), Some(body)).await.status, 200);
        for month in ["2026-01", "2026-02", "2026-03"] {
            seed_projection(&t, &projection(c, month, &[])).await;
        }
        let id: ConnectionId = c.parse().unwrap();
        let summary = json!({"connection_id": c, "computed_at": "2026-03-10T06:00:00Z"});
        seed(
            &summary,
            keys::tenant_pk(&tenant_id(&t)),
            keys::insights_sk(&id),
            None,
        )
        .await;
    }
    seed_alert(
        &t,
        &alert(&conn, "2026-03-01", "1", Metric::Spend, Severity::Critical),
        None,
    )
    .await;

    // Refused while a schedule uses it: nothing goes.
    let schedule = t.create_schedule(&conn, "rate(1 day)").await;
    let before = t.holdings().await;
    let refused = t
        .call("DELETE", &format!("/v1/connections/{conn}"), None)
        .await;
    assert_eq!(refused.status, 409, "{}", refused.body);
    assert_eq!(t.holdings().await, before);

    let sid = schedule["id"].as_str().unwrap();
    assert_eq!(
        t.call("DELETE", &format!("/v1/schedules/{sid}"), None)
            .await
            .status,
        204
    );
    let deleted = t
        .call("DELETE", &format!("/v1/connections/{conn}"), None)
        .await;
    assert_eq!(deleted.status, 204, "{}", deleted.body);

    let items = t.holdings().await.items;
    assert!(
        items.iter().all(|sk| !sk.contains(&conn)),
        "nothing of the deleted connection is left: {items:?}"
    );
    let mut left: Vec<&str> = items
        .iter()
        .filter(|sk| sk.contains(&kept))
        .map(String::as_str)
        .collect();
    left.sort();
    assert_eq!(
        left,
        [
            format!("BUDGET#{kept}"),
            format!("CONNECTION#{kept}"),
            format!("INSIGHTS#{kept}"),
            format!("PACING#{kept}#2026-01"),
            format!("PACING#{kept}#2026-02"),
            format!("PACING#{kept}#2026-03"),
        ]
    );
    // The alerts are the tenant's history.
    let history = t.send(alerts(&t, &[])).await;
    assert_eq!(history.body["items"][0]["connection_id"], conn);
    assert_eq!(t.call("GET", &budget_path(&conn), None).await.status, 404);
}

struct Bad {
    name: &'static str,
    request: RequestBuilder,
    status: u16,
    field: Option<&'static str>,
}

fn bad(name: &'static str, request: RequestBuilder, field: &'static str) -> Bad {
    Bad {
        name,
        request,
        status: 400,
        field: Some(field),
    }
}

#[tokio::test]
async fn bad_input_answers_400_naming_the_field_and_changes_nothing() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let path = budget_path(&conn);
    let set = json!({"monthly": "1000.00", "campaigns": {"1": "100.00"}});
    assert_eq!(t.call("PUT", &path, Some(set)).await.status, 200);
    seed_alert(
        &t,
        &alert(&conn, "2026-03-05", "1", Metric::Spend, Severity::Critical),
        None,
    )
    .await;
    let token_of_march_5 = {
        seed_alert(
            &t,
            &alert(&conn, "2026-03-04", "1", Metric::Spend, Severity::Critical),
            None,
        )
        .await;
        let page = t.send(alerts(&t, &[("limit", "1")])).await;
        page.body["next_token"]
            .as_str()
            .expect("a token")
            .to_owned()
    };
    let budget_before = budget_item(&t, &conn).await;
    let holdings_before = t.holdings().await;

    let put = |body: Value| t.request("PUT", &path).json(&body);
    let monthly = |m: Value| put(json!({"monthly": m}));
    let with_campaigns = |c: Value| put(json!({"monthly": "1000.00", "campaigns": c}));
    let too_many: serde_json::Map<String, Value> =
        (0..1001).map(|i| (i.to_string(), json!("0.01"))).collect();
    let long_id = "1".repeat(129);
    let alerts_with = |q: &[(&str, &str)]| alerts(&t, q);

    let mut cases = vec![
        bad("negative", monthly(json!("-5.00")), "monthly"),
        bad("zero", monthly(json!("0")), "monthly"),
        bad("zero with decimals", monthly(json!("0.00")), "monthly"),
        bad("not a decimal", monthly(json!("lots")), "monthly"),
        bad("exponent", monthly(json!("1e6")), "monthly"),
        bad("a JSON number", monthly(json!(15000)), "monthly"),
        bad("a JSON float", monthly(json!(15000.5)), "monthly"),
        bad("three decimals", monthly(json!("10.001")), "monthly"),
        bad("three zero decimals", monthly(json!("10.000")), "monthly"),
        bad(
            "over the maximum",
            monthly(json!("1000000000.01")),
            "monthly",
        ),
        bad(
            "beyond i64",
            monthly(json!("99999999999999999999")),
            "monthly",
        ),
        bad("null monthly", monthly(Value::Null), "monthly"),
        bad("missing monthly", put(json!({"campaigns": {}})), "monthly"),
        bad(
            "unknown field",
            put(json!({"monthly": "1.00", "currency": "USD"})),
            "currency",
        ),
        bad("body an array", put(json!([])), "body"),
        bad(
            "campaigns an array",
            with_campaigns(json!(["1"])),
            "campaigns",
        ),
        bad(
            "campaigns a string",
            with_campaigns(json!("1")),
            "campaigns",
        ),
        bad(
            "campaign amount a number",
            with_campaigns(json!({"1": 5})),
            "campaigns.1",
        ),
        bad(
            "campaign amount zero",
            with_campaigns(json!({"1": "0"})),
            "campaigns.1",
        ),
        bad(
            "campaign amount three decimals",
            with_campaigns(json!({"1": "1.234"})),
            "campaigns.1",
        ),
        bad(
            "empty campaign id",
            with_campaigns(json!({"": "1.00"})),
            "campaigns",
        ),
        bad(
            "too long campaign id",
            with_campaigns(json!({long_id: "1.00"})),
            "campaigns",
        ),
        bad(
            "control character in a campaign id",
            with_campaigns(json!({"1\n2": "1.00"})),
            "campaigns",
        ),
        bad(
            "too many campaigns",
            with_campaigns(Value::Object(too_many)),
            "campaigns",
        ),
        bad(
            "campaigns over the monthly budget",
            with_campaigns(json!({"1": "600.00", "2": "400.01"})),
            "campaigns",
        ),
        bad("month 13", pacing(&t, &conn, Some("2026-13")), "month"),
        bad(
            "month of one digit",
            pacing(&t, &conn, Some("2026-1")),
            "month",
        ),
        bad("two-digit year", pacing(&t, &conn, Some("26-01")), "month"),
        bad("empty month", pacing(&t, &conn, Some("")), "month"),
        bad(
            "a day for a month",
            pacing(&t, &conn, Some("2026-01-01")),
            "month",
        ),
        bad(
            "unknown pacing parameter",
            pacing(&t, &conn, None).query(&[("from", "2026-01")]),
            "from",
        ),
        bad(
            "since not a day",
            alerts_with(&[("since", "2026-3-01")]),
            "since",
        ),
        bad(
            "until not a day",
            alerts_with(&[("until", "2026-02-30")]),
            "until",
        ),
        bad("until empty", alerts_with(&[("until", "")]), "until"),
        bad(
            "since after until",
            alerts_with(&[("since", "2026-03-02"), ("until", "2026-03-01")]),
            "since",
        ),
        bad(
            "unknown metric",
            alerts_with(&[("metric", "CPA")]),
            "metric",
        ),
        bad(
            "unknown severity",
            alerts_with(&[("severity", "high")]),
            "severity",
        ),
        bad(
            "connection_id not an id",
            alerts_with(&[("connection_id", "con_123")]),
            "connection_id",
        ),
        bad("limit 0", alerts_with(&[("limit", "0")]), "limit"),
        bad("limit 101", alerts_with(&[("limit", "101")]), "limit"),
        bad(
            "limit not a number",
            alerts_with(&[("limit", "ten")]),
            "limit",
        ),
        bad(
            "garbage next_token",
            alerts_with(&[("next_token", "%%%")]),
            "next_token",
        ),
        bad(
            "a next_token of another list",
            alerts_with(&[("next_token", "Q09OTkVDVElPTiN4")]),
            "next_token",
        ),
        bad(
            "a next_token outside the days asked for",
            alerts_with(&[("until", "2026-03-01"), ("next_token", &token_of_march_5)]),
            "next_token",
        ),
        bad(
            "unknown alerts parameter",
            alerts_with(&[("tenant", "x")]),
            "tenant",
        ),
    ];
    let unknown = "con_00000000000000000000000000000000";
    for (name, request) in [
        (
            "PUT for an unknown connection",
            t.request("PUT", &budget_path(unknown))
                .json(&json!({"monthly": "1.00"})),
        ),
        (
            "PUT for a malformed connection id",
            t.request("PUT", &budget_path("nope"))
                .json(&json!({"monthly": "1.00"})),
        ),
        (
            "GET for an unknown connection",
            t.request("GET", &budget_path(unknown)),
        ),
        (
            "DELETE for an unknown connection",
            t.request("DELETE", &budget_path(unknown)),
        ),
        (
            "pacing of an unknown connection",
            pacing(&t, unknown, Some("2026-03")),
        ),
    ] {
        cases.push(Bad {
            name,
            request,
            status: 404,
            field: None,
        });
    }

    for case in cases {
        let reply: Reply = t.send(case.request).await;
        assert_eq!(reply.status, case.status, "{}: {}", case.name, reply.body);
        let (code, field) = error_of(&reply);
        let expected_code = if case.status == 404 {
            "not_found"
        } else {
            "invalid_request"
        };
        assert_eq!(code, expected_code, "{}: {}", case.name, reply.body);
        assert_eq!(
            field.as_deref(),
            case.field,
            "{}: {}",
            case.name,
            reply.body
        );
    }
    assert_eq!(budget_item(&t, &conn).await, budget_before);
    assert_eq!(t.holdings().await, holdings_before);
}

/// Sends a sample event of `events/api/` as this tenant, about `connection`.
async fn send_sample(t: &Tenant, name: &str, connection: &str) -> Reply {
    let text = event(name)
        .to_string()
        .replace("con_0192f0e0a1b27c3d8e9f0a1b2c3d4e5f", connection);
    let mut sample: Value = serde_json::from_str(&text).unwrap();
    sample["requestContext"]["authorizer"]["jwt"]["claims"]["tenant_id"] = json!(t.id);
    let req = lambda_http::request::from_str(&sample.to_string()).expect("an API Gateway event");
    let response = schedule_api::handle(&t.api, req).await;
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: serde_json::from_slice(response.body().as_ref()).expect("JSON"),
    }
}

#[tokio::test]
async fn the_sample_events_are_answered() {
    let t = Tenant::new().await;
    let conn = t.create_connection("facebook").await;
    let put = send_sample(&t, "api/put-budget.json", &conn).await;
    assert_eq!(put.status, 200, "{}", put.body);
    assert_eq!(put.body["monthly"], "15000.00");
    let get = send_sample(&t, "api/get-budget.json", &conn).await;
    assert_eq!((get.status, &get.body), (200, &put.body));
    let pacing = send_sample(&t, "api/get-pacing.json", &conn).await;
    assert_eq!(pacing.status, 200, "{}", pacing.body);
    assert_eq!(pacing.body["month"], "2026-11");
    assert_eq!(pacing.body["recommended_daily"], "500.00");
    seed_alert(
        &t,
        &alert(&conn, "2026-11-03", "1", Metric::Cpa, Severity::Warning),
        None,
    )
    .await;
    seed_alert(
        &t,
        &alert(&conn, "2026-11-04", "1", Metric::Cpa, Severity::Info),
        None,
    )
    .await;
    let listed = send_sample(&t, "api/list-alerts.json", &conn).await;
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(listed.body["items"][0]["severity"], "warning");
}

#[tokio::test]
async fn a_filter_that_keeps_few_alerts_pages_on_instead_of_ending_early() {
    let mut t = Tenant::new().await;
    // A page reads at most 2 x 5 alerts here (5 x 200 in production): moto copies the whole
    // table on every transaction, so the suite keeps it small.
    t.api.store = Box::new(
        schedule_api::store::DynamoControlStore::new(
            aws().dynamodb().await,
            aws().control_table.clone(),
        )
        .with_alert_reads(2, 5),
    );
    let (busy, rare) = (
        t.create_connection("facebook").await,
        t.create_connection("facebook").await,
    );
    // More alerts than one page reads, the two of `rare` the oldest.
    let start = day("2020-01-01");
    for i in 0..25u64 {
        let date = (start + chrono::Days::new(i + 10)).to_string();
        seed_alert(
            &t,
            &alert(&busy, &date, "1", Metric::Spend, Severity::Info),
            None,
        )
        .await;
    }
    let rare_alerts = [
        alert(&rare, "2020-01-02", "9", Metric::Cpa, Severity::Critical),
        alert(&rare, "2020-01-01", "9", Metric::Cpa, Severity::Critical),
    ];
    for a in &rare_alerts {
        seed_alert(&t, a, None).await;
    }

    let query = [("connection_id", rare.as_str()), ("limit", "10")];
    let first = t.send(alerts(&t, &query)).await;
    assert_eq!(first.status, 200, "{}", first.body);
    assert_eq!(first.body["items"], json!([]));
    assert!(
        first.body["next_token"].is_string(),
        "a page that read its fill without finding matches still goes on: {}",
        first.body
    );
    let expected: Vec<String> = rare_alerts.iter().map(|a| a.alert_id.clone()).collect();
    assert_eq!(all_alert_ids(&t, &query).await, expected);
    // Without a narrowing filter a page is read at its limit, whatever the bound.
    let unfiltered = t.send(alerts(&t, &[("limit", "20")])).await;
    assert_eq!(unfiltered.body["items"].as_array().unwrap().len(), 20);
    let all = all_alert_ids(&t, &[("limit", "100")]).await;
    assert_eq!(all.len(), 27);
}
