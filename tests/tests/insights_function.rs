//! The insights function against moto: real current-table objects in the data bucket, the
//! connection and schedules made through the API, the results read back from the control
//! table and the `insights_alerts` objects.

use adpipe_domain::fixtures::campaign_row;
use adpipe_domain::insights::{Alert, AlertKind, MonthProjection, Refresh};
use adpipe_domain::{AdMetricRow, Level};
use adpipe_testkit::{aws, sdk_config};
use aws_lambda_events::sqs::SqsEvent;
use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use insights::lake::alerts_table::alerts_key;
use insights::{Config, Insights, aws_insights};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use serde_json::{Value, json};
use stream_to_s3::Partition;

use crate::common::{Tenant, event};

/// The day the tests compute on: 2026-11-20, noon UTC (accounts in UTC: no time zone
/// learned yet).
fn now() -> DateTime<Utc> {
    "2026-11-20T12:00:00Z".parse().expect("a time")
}

fn day(s: &str) -> NaiveDate {
    s.parse().expect("a date")
}

async fn function_at(endpoint: &str) -> Insights {
    let config = Config {
        control_table: aws().control_table.clone(),
        data_bucket: aws().data_bucket.clone(),
    };
    let mut insights = aws_insights(&config, &sdk_config(endpoint).await);
    insights.clock = now;
    insights
}

async fn function() -> Insights {
    function_at(&aws().endpoint).await
}

/// A Facebook connection with a daily schedule, made through the API.
async fn connection(t: &Tenant) -> (String, String) {
    let id = t.create_connection("facebook").await;
    t.create_schedule(&id, "rate(1 day)").await;
    let got = t.call("GET", &format!("/v1/connections/{id}"), None).await;
    let account = got.body["account_id"]
        .as_str()
        .expect("an account")
        .to_owned();
    (id, account)
}

/// Campaign `c` on `date`: a steady weekday-shaped day at `scale` (impressions ≈ 10,000 ×
/// scale, 2 % CTR, 5 % of clicks convert at 40 each), the same numbers every run.
fn steady(
    t: &Tenant,
    conn: &str,
    account: &str,
    c: &str,
    date: NaiveDate,
    scale: f64,
) -> AdMetricRow {
    let weekday =
        [1.0, 1.05, 1.1, 1.05, 0.95, 0.8, 0.75][date.weekday().num_days_from_monday() as usize];
    let wobble = 1.0 + 0.03 * f64::from((date.ordinal() * 7 + c.len() as u32) % 5) - 0.06;
    let impressions = (10_000.0 * scale * weekday * wobble).round();
    let clicks = (impressions * 0.02).round();
    let conversions = (clicks * 0.05).round();
    AdMetricRow {
        currency: Some("USD".into()),
        impressions: Some(impressions as i64),
        clicks: Some(clicks as i64),
        cost_micros: Some((clicks * 0.8 * 1e6) as i64),
        conversions: Some(conversions),
        conversion_value: Some(conversions * 40.0),
        ..campaign_row(&t.id, conn, account, Level::Campaign, c, date)
    }
}

/// Writes each day's rows as that day's current-table object of the connection.
async fn put_days(rows: Vec<AdMetricRow>) {
    let mut by_day: std::collections::BTreeMap<NaiveDate, Vec<AdMetricRow>> = Default::default();
    for row in rows {
        by_day.entry(row.date).or_default().push(row);
    }
    for (date, rows) in by_day {
        let partition = Partition {
            tenant_id: rows[0].tenant_id.clone(),
            platform: "facebook",
            date,
        };
        let key = stream_to_s3::current_key(&partition, &rows[0].connection_id);
        let refs: Vec<&AdMetricRow> = rows.iter().collect();
        let body = stream_to_s3::encode::encode(&refs).expect("encodes");
        aws().put_lake_object(&key, body).await;
    }
}

/// 60 days to yesterday of three campaigns; on yesterday `c-big` stops converting.
fn history_with_a_tracking_outage(t: &Tenant, conn: &str, account: &str) -> Vec<AdMetricRow> {
    let last = day("2026-11-19");
    let mut rows = Vec::new();
    for back in 0..60 {
        let date = last - Days::new(back);
        for (c, scale) in [("c-big", 1.0), ("c-mid", 0.3), ("c-small", 0.01)] {
            let mut row = steady(t, conn, account, c, date, scale);
            if c == "c-big" && date == last {
                row.conversions = Some(0.0);
                row.conversion_value = Some(0.0);
            }
            rows.push(row);
        }
    }
    rows
}

async fn stored_alerts(t: &Tenant) -> Vec<Alert> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let out = aws()
        .dynamodb()
        .await
        .query()
        .table_name(&aws().control_table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(format!("ALERTS#{}", t.id)))
        .send()
        .await
        .expect("Query");
    out.items
        .unwrap_or_default()
        .into_iter()
        .map(|item| adpipe_dynamodb::from_item(item).expect("an alert"))
        .collect()
}

async fn stored<T: serde::de::DeserializeOwned>(t: &Tenant, sk: &str) -> Option<T> {
    let item = t.control_item(sk).await?;
    Some(adpipe_dynamodb::from_item(item).expect("a record"))
}

/// The `alert_id` column of an `insights_alerts` object.
async fn alert_ids_in_lake(key: &str) -> Vec<String> {
    let body = aws().lake_object(key).await;
    let reader = ParquetRecordBatchReaderBuilder::try_new(body)
        .expect("Parquet")
        .build()
        .expect("a reader");
    let mut ids = Vec::new();
    for batch in reader {
        let batch = batch.expect("a batch");
        let column = batch
            .column_by_name("alert_id")
            .expect("alert_id")
            .as_any()
            .downcast_ref::<arrow_array::StringArray>()
            .expect("strings")
            .clone();
        ids.extend(column.iter().flatten().map(str::to_owned));
    }
    ids
}

#[tokio::test]
async fn a_refresh_finds_a_tracking_outage_and_stores_it_in_the_table_and_the_lake() {
    let t = Tenant::new().await;
    let (conn, account) = connection(&t).await;
    put_days(history_with_a_tracking_outage(&t, &conn, &account)).await;
    let insights = function().await;

    let summary = insights
        .refresh(&Refresh::new(&t.id, &conn))
        .await
        .expect("computed");
    assert_eq!(summary.days_with_data, 60);
    assert_eq!(summary.newest_day, Some(day("2026-11-19")));
    assert_eq!(summary.entities, 3);
    assert_eq!(summary.currency.as_deref(), Some("USD"));
    assert!(!summary.partial);

    let alerts = stored_alerts(&t).await;
    let outage: Vec<&Alert> = alerts
        .iter()
        .filter(|a| a.kind == AlertKind::TrackingBroken && a.date == day("2026-11-19"))
        .collect();
    assert!(
        outage
            .iter()
            .any(|a| a.entity_id == "c-big" || a.children.iter().any(|c| c.entity_id == "c-big")),
        "{alerts:#?}"
    );
    let key = alerts_key(
        &t.id.parse().unwrap(),
        day("2026-11-19"),
        &conn.parse().unwrap(),
    );
    let in_lake = alert_ids_in_lake(&key).await;
    let mut on_day: Vec<String> = alerts
        .iter()
        .filter(|a| a.date == day("2026-11-19"))
        .map(|a| a.alert_id.clone())
        .collect();
    on_day.sort();
    let mut in_lake_sorted = in_lake.clone();
    in_lake_sorted.sort();
    assert_eq!(in_lake_sorted, on_day, "the lake says what the table says");

    // The same data again: the same alerts under the same ids, nothing more.
    insights
        .refresh(&Refresh::new(&t.id, &conn))
        .await
        .expect("computed");
    let mut again: Vec<String> = stored_alerts(&t)
        .await
        .into_iter()
        .map(|a| a.alert_id)
        .collect();
    let mut first: Vec<String> = alerts.into_iter().map(|a| a.alert_id).collect();
    again.sort();
    first.sort();
    assert_eq!(again, first);
}

#[tokio::test]
async fn a_refresh_stores_each_months_projection_and_the_summary() {
    let t = Tenant::new().await;
    let (conn, account) = connection(&t).await;
    put_days(history_with_a_tracking_outage(&t, &conn, &account)).await;
    function()
        .await
        .refresh(&Refresh::new(&t.id, &conn))
        .await
        .expect("computed");

    let november: MonthProjection = stored(&t, &format!("PACING#{conn}#2026-11"))
        .await
        .expect("November's projection");
    assert_eq!(november.days_in_month, 30);
    assert_eq!(november.days_elapsed, 19);
    assert_eq!(november.as_of, Some(day("2026-11-19")));
    assert_eq!(november.currency.as_deref(), Some("USD"));
    let spent: i64 = history_with_a_tracking_outage(&t, &conn, &account)
        .iter()
        .filter(|r| r.date >= day("2026-11-01"))
        .filter_map(|r| r.cost_micros)
        .sum();
    assert_eq!(november.total.spent_micros, spent, "spend to date, exact");
    assert!(november.total.low_micros <= november.total.projected_micros);
    assert!(november.total.projected_micros <= november.total.high_micros);
    assert!(november.total.projected_micros > spent);
    assert_eq!(november.campaigns.len(), 3);
    let october: MonthProjection = stored(&t, &format!("PACING#{conn}#2026-10"))
        .await
        .expect("October's");
    assert_eq!(
        october.total.projected_micros, october.total.spent_micros,
        "a month over"
    );

    let summary: Value = stored(&t, &format!("INSIGHTS#{conn}"))
        .await
        .expect("a summary");
    assert_eq!(summary["days_with_data"], 60);
    assert_eq!(summary["months"], json!(["2026-09", "2026-10", "2026-11"]));
}

#[tokio::test]
async fn a_day_that_cannot_be_read_is_left_out_and_the_result_says_partial() {
    let t = Tenant::new().await;
    let (conn, account) = connection(&t).await;
    put_days(history_with_a_tracking_outage(&t, &conn, &account)).await;
    let broken = Partition {
        tenant_id: t.id.clone(),
        platform: "facebook",
        date: day("2026-11-10"),
    };
    aws()
        .put_lake_object(
            &stream_to_s3::current_key(&broken, &conn),
            b"not parquet".to_vec(),
        )
        .await;
    let summary = function()
        .await
        .refresh(&Refresh::new(&t.id, &conn))
        .await
        .expect("computed");
    assert!(summary.partial);
    assert_eq!(summary.days_unreadable, vec![day("2026-11-10")]);
    assert_eq!(summary.days_with_data, 59);
    let november: MonthProjection = stored(&t, &format!("PACING#{conn}#2026-11"))
        .await
        .expect("a projection");
    assert!(november.partial);
}

#[tokio::test]
async fn a_connection_without_data_gets_empty_results_not_errors() {
    let t = Tenant::new().await;
    let (conn, _) = connection(&t).await;
    let summary = function()
        .await
        .refresh(&Refresh::new(&t.id, &conn))
        .await
        .expect("computed");
    assert_eq!(summary.days_with_data, 0);
    assert_eq!(summary.newest_day, None);
    assert!(summary.alerts.is_empty());
    assert!(summary.months.is_empty());
    assert!(stored_alerts(&t).await.is_empty());
}

#[tokio::test]
async fn rows_in_another_currency_are_left_out_never_summed() {
    let t = Tenant::new().await;
    let (conn, account) = connection(&t).await;
    let mut rows = history_with_a_tracking_outage(&t, &conn, &account);
    let euros = AdMetricRow {
        currency: Some("EUR".into()),
        cost_micros: Some(999_000_000_000),
        ..campaign_row(
            &t.id,
            &conn,
            &account,
            Level::Campaign,
            "c-eur",
            day("2026-11-05"),
        )
    };
    rows.push(euros);
    put_days(rows).await;
    let summary = function()
        .await
        .refresh(&Refresh::new(&t.id, &conn))
        .await
        .expect("computed");
    assert_eq!(summary.currency.as_deref(), Some("USD"));
    assert_eq!(summary.rows_other_currency, 1);
    let november: MonthProjection = stored(&t, &format!("PACING#{conn}#2026-11"))
        .await
        .expect("a projection");
    assert!(november.total.spent_micros < 999_000_000_000);
    assert!(!november.campaigns.contains_key("c-eur"));
}

#[tokio::test]
async fn data_older_than_the_schedule_and_the_platform_explain_is_stale_once() {
    let t = Tenant::new().await;
    let (conn, account) = connection(&t).await;
    // Ten days late: a daily schedule and Facebook's one-day delay allow four.
    let rows: Vec<AdMetricRow> = (0..40)
        .map(|back| {
            steady(
                &t,
                &conn,
                &account,
                "c-big",
                day("2026-11-10") - Days::new(back),
                1.0,
            )
        })
        .collect();
    put_days(rows).await;
    let insights = function().await;
    insights
        .refresh(&Refresh::new(&t.id, &conn))
        .await
        .expect("computed");
    insights
        .refresh(&Refresh::new(&t.id, &conn))
        .await
        .expect("computed");
    let stale: Vec<Alert> = stored_alerts(&t)
        .await
        .into_iter()
        .filter(|a| a.kind == AlertKind::StaleData)
        .collect();
    assert_eq!(stale.len(), 1, "{stale:#?}");
    assert_eq!(
        stale[0].date,
        day("2026-11-15"),
        "the first day the data was overdue"
    );
    assert_eq!(stale[0].last_date, day("2026-11-20"));
    assert_eq!(stale[0].observed, 10.0);
}

/// An SQS event of the insights queue with these bodies (message ids m0, m1, …).
fn queue_event(bodies: &[String]) -> SqsEvent {
    let mut e = event("insights/queue-batch.json");
    let template = e["Records"][0].clone();
    e["Records"] = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| {
            let mut r = template.clone();
            r["messageId"] = json!(format!("m{i}"));
            r["body"] = json!(body);
            r
        })
        .collect();
    serde_json::from_value(e).expect("an SQS event")
}

#[tokio::test]
async fn queue_messages_that_cannot_be_computed_are_acknowledged_and_one_connection_is_computed_once()
 {
    let t = Tenant::new().await;
    let other = Tenant::other().await;
    let (conn, account) = connection(&t).await;
    let (foreign, _) = connection(&other).await;
    let deleted = t.create_connection("facebook").await;
    assert_eq!(
        t.call("DELETE", &format!("/v1/connections/{deleted}"), None)
            .await
            .status,
        204
    );
    put_days(history_with_a_tracking_outage(&t, &conn, &account)).await;
    let bodies = vec![
        "not json".to_owned(),
        json!({"kind": "refresh", "tenant_id": t.id}).to_string(),
        Refresh::new(&t.id, &foreign).to_json(),
        Refresh::new(&t.id, &deleted).to_json(),
        Refresh::new("not a tenant!", &conn).to_json(),
        Refresh::new(&t.id, &conn).to_json(),
        Refresh::new(&t.id, &conn).to_json(),
    ];
    let response = function().await.handle_batch(queue_event(&bodies)).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let summary: Value = stored(&t, &format!("INSIGHTS#{conn}"))
        .await
        .expect("computed");
    assert_eq!(summary["days_with_data"], 60);
}

#[tokio::test]
async fn with_dynamodb_down_the_messages_fail_and_come_back() {
    let t = Tenant::new().await;
    let (conn, _) = connection(&t).await;
    // Nothing listens on port 9: every call fails to connect.
    let down = function_at("http://127.0.0.1:9").await;
    let bodies = vec![
        Refresh::new(&t.id, &conn).to_json(),
        "not json".to_owned(),
        Refresh::new(&t.id, &conn).to_json(),
    ];
    let response = down.handle_batch(queue_event(&bodies)).await;
    let mut failed: Vec<String> = response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect();
    failed.sort();
    assert_eq!(
        failed,
        vec!["m0", "m2"],
        "both messages of the connection, not the bad one"
    );
}

#[tokio::test]
async fn the_direct_invoke_of_events_answers_a_summary_and_a_malformed_one_an_error() {
    let t = Tenant::new().await;
    let (conn, account) = connection(&t).await;
    put_days(history_with_a_tracking_outage(&t, &conn, &account)).await;
    let mut payload = event("insights/refresh.json");
    payload["tenant_id"] = json!(t.id);
    payload["connection_id"] = json!(conn);
    let insights = function().await;
    let summary = insights.invoke(payload).await.expect("a summary");
    assert_eq!(summary["connection_id"], json!(conn));
    assert_eq!(summary["days_with_data"], 60);
    let err = insights
        .invoke(json!({"kind": "recompute", "tenant_id": t.id}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("refresh"), "{err}");
    let err = insights
        .invoke(json!({"kind": "refresh", "tenant_id": t.id, "connection_id": "con_00000000000000000000000000000000"}))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not found"), "{err}");
}

/// A DynamoDB Streams record of the staged `row` at `sequence`, as Lambda delivers it.
fn stream_record(sequence: usize, row: &AdMetricRow) -> Value {
    let image: serde_dynamo::Item = serde_dynamo::to_item(row).expect("an item");
    json!({
        "eventID": format!("ev-{sequence}"),
        "eventName": "INSERT",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": {
            "Keys": {"pk": {"S": format!("pk-{sequence}")}},
            "NewImage": image,
            "SequenceNumber": format!("{}", 1000 + sequence),
            "SizeBytes": 1
        },
    })
}

#[tokio::test]
async fn a_stream_batch_asks_once_for_each_touched_connection_and_the_queue_batch_computes_it() {
    use stream_to_s3::StreamToS3;
    use stream_to_s3::queue::sqs::SqsQueue;
    use stream_to_s3::sink::s3::S3Sink;

    let t = Tenant::new().await;
    let (conn, account) = connection(&t).await;
    let sqs = aws().sqs().await;
    let queue = sqs
        .create_queue()
        .queue_name(format!("insights-{}", t.id))
        .send()
        .await
        .expect("CreateQueue")
        .queue_url
        .expect("a URL");
    let stream = StreamToS3::new(
        Box::new(S3Sink::new(aws().s3().await, aws().data_bucket.clone())),
        Box::new(SqsQueue::failures(
            sqs.clone(),
            &aws().stream_failure_queue_url,
        )),
    )
    .with_refreshes(Box::new(SqsQueue::refreshes(sqs.clone(), &queue)));
    let rows = history_with_a_tracking_outage(&t, &conn, &account);
    let records: Vec<Value> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| stream_record(i, r))
        .collect();
    let event: stream_to_s3::StreamEvent =
        serde_json::from_value(json!({ "Records": records })).expect("a stream event");
    let response = stream.handle(event).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");

    let received = sqs
        .receive_message()
        .queue_url(&queue)
        .max_number_of_messages(10)
        .message_attribute_names("All")
        .wait_time_seconds(1)
        .send()
        .await
        .expect("ReceiveMessage")
        .messages
        .unwrap_or_default();
    assert_eq!(received.len(), 1, "60 days of one connection: one request");
    let message = &received[0];
    assert_eq!(
        message.body(),
        Some(Refresh::new(&t.id, &conn).to_json().as_str())
    );
    let kind = message.message_attributes().and_then(|a| a.get("kind"));
    assert_eq!(kind.and_then(|k| k.string_value()), Some("refresh"));

    let batch = queue_event(&[message.body().unwrap_or_default().to_owned()]);
    let response = function().await.handle_batch(batch).await;
    assert!(response.batch_item_failures.is_empty());
    let summary: Value = stored(&t, &format!("INSIGHTS#{conn}"))
        .await
        .expect("computed");
    assert_eq!(summary["days_with_data"], 60);
}
