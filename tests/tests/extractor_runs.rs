//! The extractor's run framework against moto: runs recorded from start to end, windows
//! from cursor, lookback and backfill, redeliveries and deleted schedules acknowledged.

use std::sync::Mutex;

use adpipe_domain::{AdMetricRow, ExtractorEvent, Platform, RunStatus, Window};
use adpipe_testkit::fake_google_ads::FakeGoogleAds;
use adpipe_testkit::fake_youtube::FakeYouTube;
use adpipe_testkit::{aws, sdk_config};
use async_trait::async_trait;
use chrono::{DateTime, Duration, NaiveDate, Utc};
use chrono_tz::Tz;
use extractor::ports::{Connector, ConnectorError, Job, Pages, RunStore, StartRefused};
use extractor::{Config, Extractor, Invocation, Outcome, aws_extractor};
use serde_json::{Value, json};

use crate::common::{SharedConnector, Tenant, campaign_row, event};

fn config() -> Config {
    config_staging_to(&aws().staging_table)
}

/// The extractor's configuration with `staging_table` as its staging table.
fn config_staging_to(staging_table: &str) -> Config {
    let aws = aws();
    Config::from_lookup(|name| match name {
        "CONTROL_TABLE" => Some(aws.control_table.clone()),
        "STAGING_TABLE" => Some(staging_table.to_owned()),
        "APP_CREDENTIALS_SECRET" => Some(aws.app_credentials_secret.clone()),
        _ => None,
    })
    .expect("a valid config")
}

/// The production extractor over moto, with `platform`'s connector replaced.
async fn extractor_with(platform: Platform, connector: Box<dyn Connector>) -> Extractor {
    let mut extractor = aws_extractor(config(), &sdk_config(&aws().endpoint).await);
    replace_connector(&mut extractor, platform, connector);
    extractor
}

fn replace_connector(extractor: &mut Extractor, platform: Platform, connector: Box<dyn Connector>) {
    let connectors = &mut extractor.connectors;
    match platform {
        Platform::Facebook => connectors.facebook = connector,
        Platform::GoogleAds => connectors.google_ads = connector,
        Platform::Youtube => connectors.youtube = connector,
    }
}

/// An extractor whose Facebook connector is `connector`, which the test keeps a handle on.
async fn facebook_extractor(connector: &std::sync::Arc<ScriptedConnector>) -> Extractor {
    extractor_with(
        Platform::Facebook,
        Box::new(SharedConnector(connector.clone())),
    )
    .await
}

/// A connector that answers one row per day and remembers the windows it was asked for
/// and the token it was given.
#[derive(Default)]
struct ScriptedConnector {
    asked: Mutex<Vec<Window>>,
    tokens: Mutex<Vec<String>>,
    fail_with: Option<ConnectorError>,
    time_zone: Option<Tz>,
    /// Every n-th fetch runs into the invocation's deadline.
    deadline_every: Option<usize>,
    /// Rows a day answers (campaign `cmp-0`, `cmp-1`, …); 0 means 1.
    rows_per_day: usize,
    /// A row whose impressions the platform restated: its day and its index.
    restated: Mutex<Option<(NaiveDate, usize)>>,
}

#[async_trait]
impl Connector for ScriptedConnector {
    async fn time_zone(&self, job: &Job) -> Result<Tz, ConnectorError> {
        self.tokens
            .lock()
            .unwrap()
            .push(job.credentials.token.clone());
        Ok(self.time_zone.unwrap_or(Tz::UTC))
    }

    async fn fetch_pages(
        &self,
        job: &Job,
        days: Window,
        pages: &Pages,
    ) -> Result<(), ConnectorError> {
        let calls = {
            let mut asked = self.asked.lock().unwrap();
            asked.push(days);
            asked.len()
        };
        if self.deadline_every.is_some_and(|n| calls % n == 0) {
            return Err(ConnectorError::Deadline);
        }
        if let Some(e) = &self.fail_with {
            return Err(e.clone());
        }
        let restated = *self.restated.lock().unwrap();
        let rows: Vec<AdMetricRow> = days
            .days()
            .flat_map(|day| (0..self.rows_per_day.max(1)).map(move |i| (day, i)))
            .map(|(day, i)| {
                let mut row = row(job, day, i);
                if restated == Some((day, i)) {
                    row.impressions = row.impressions.map(|n| n + 1);
                }
                row
            })
            .collect();
        // Pages of at most 200 rows, as a platform pages them: a day may span pages.
        for page in rows.chunks(200) {
            pages.send(page.to_vec()).await?;
        }
        Ok(())
    }
}

fn row(job: &Job, date: NaiveDate, i: usize) -> AdMetricRow {
    let c = &job.connection;
    let (tenant, connection) = (c.tenant_id.to_string(), c.id.to_string());
    let entity = if i == 0 {
        "cmp-1".to_owned()
    } else {
        format!("cmp-1-{i}")
    };
    AdMetricRow {
        run_id: job.run_id.to_string(),
        schedule_id: job.schedule.id.to_string(),
        ..campaign_row(
            &tenant,
            &connection,
            &c.account_id,
            job.schedule.report.level,
            &entity,
            date,
        )
    }
}

/// The rendered scheduled event of `events/`, for this tenant's schedule at `time`.
fn scheduled(tenant: &str, schedule_id: &str, time: &str, event_id: &str) -> ExtractorEvent {
    let mut e: Value = event("extractor/scheduled.json");
    e["tenant_id"] = json!(tenant);
    e["schedule_id"] = json!(schedule_id);
    e["scheduled_time"] = json!(time);
    e["event_id"] = json!(event_id);
    serde_json::from_value(e).expect("a scheduled event")
}

/// A fresh invocation (its own request id) with 15 minutes to run.
fn later() -> Invocation {
    invocation_until(Utc::now() + Duration::minutes(15))
}

/// A fresh invocation (its own request id) that Lambda stops at `deadline`.
fn invocation_until(deadline: DateTime<Utc>) -> Invocation {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(1);
    Invocation {
        request_id: format!(
            "req-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ),
        deadline,
    }
}

fn finished(outcome: Outcome) -> adpipe_domain::Run {
    match outcome {
        Outcome::Finished { run } => run,
        other => panic!("expected a finished run, got {other:?}"),
    }
}

async fn setup(platform: &str, body: Value) -> (Tenant, String) {
    let t = Tenant::new().await;
    let conn = t.create_connection(platform).await;
    let mut body = body;
    body["connection_id"] = json!(conn);
    let reply = t.call("POST", "/v1/schedules", Some(body)).await;
    assert_eq!(reply.status, 201, "{}", reply.body);
    let id = reply.body["id"].as_str().unwrap().to_owned();
    (t, id)
}

#[tokio::test]
async fn a_failed_run_is_recorded_and_the_api_lists_it() {
    let (t, sid) = setup("youtube", json!({"schedule_expression": "rate(1 day)"})).await;
    let connector = ScriptedConnector {
        fail_with: Some(ConnectorError::Permanent(
            "youtube: the channel is gone".into(),
        )),
        ..Default::default()
    };
    let extractor = extractor_with(Platform::Youtube, Box::new(connector)).await;
    let event = scheduled(&t.id, &sid, "2026-11-27T06:00:00Z", "ev-1");
    let run = finished(extractor.handle(&event, &later()).await.unwrap());
    assert_eq!(run.status, RunStatus::Failed);
    assert_eq!(run.error.as_deref(), Some("youtube: the channel is gone"));

    let runs = t
        .call("GET", &format!("/v1/schedules/{sid}/runs"), None)
        .await;
    assert_eq!(runs.status, 200);
    let listed = &runs.body["items"][0];
    assert_eq!(listed["run_id"], json!(run.run_id.to_string()));
    assert_eq!(listed["kind"], "scheduled");
    assert_eq!(listed["status"], "failed");
    assert_eq!(listed["error"], "youtube: the channel is gone");
    assert_eq!(
        listed["window"],
        json!({"since": "2026-10-28", "until": "2026-11-26"})
    );
    assert!(listed["finished_at"].is_string());
}

#[tokio::test]
async fn the_first_run_reads_the_backfill_and_later_runs_the_lookback_from_the_cursor() {
    let (t, sid) = setup("facebook", json!({"schedule_expression": "rate(1 day)", "report": {"lookback_days": 2, "backfill_days": 10}})).await;
    let connector = std::sync::Arc::new(ScriptedConnector::default());
    let extractor = facebook_extractor(&connector).await;

    let first = finished(
        extractor
            .handle(
                &scheduled(&t.id, &sid, "2026-03-11T06:00:00Z", "ev-a"),
                &later(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(first.status, RunStatus::Succeeded, "{:?}", first.error);
    assert_eq!(
        first.window,
        Some(Window {
            since: d("2026-03-01"),
            until: d("2026-03-10")
        })
    );
    assert_eq!((first.rows_fetched, first.rows_written), (10, 10));

    let second = finished(
        extractor
            .handle(
                &scheduled(&t.id, &sid, "2026-03-12T06:00:00Z", "ev-b"),
                &later(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(
        second.window,
        Some(Window {
            since: d("2026-03-09"),
            until: d("2026-03-11")
        })
    );
    let asked: Vec<_> = connector.asked.lock().unwrap().clone();
    assert_eq!(asked.first().map(|w| w.since), Some(d("2026-03-01")));
    assert_eq!(asked.last().map(|w| w.until), Some(d("2026-03-11")));
    assert!(
        asked
            .iter()
            .all(|w| w.len_days() <= extractor::run::CHUNK_DAYS)
    );

    assert_eq!(
        staged_days(&t.id).await.len(),
        11,
        "one item per day, re-read days overwritten"
    );
}

#[tokio::test]
async fn a_redelivered_event_of_a_succeeded_run_is_acknowledged_without_a_second_run() {
    let (t, sid) = setup(
        "facebook",
        json!({"schedule_expression": "rate(1 day)", "report": {"backfill_days": 1}}),
    )
    .await;
    let connector = std::sync::Arc::new(ScriptedConnector::default());
    let extractor = facebook_extractor(&connector).await;
    let event = scheduled(&t.id, &sid, "2026-05-02T06:00:00Z", "ev-same");
    assert_eq!(
        finished(extractor.handle(&event, &later()).await.unwrap()).status,
        RunStatus::Succeeded
    );
    let again = extractor.handle(&event, &later()).await.unwrap();
    assert!(matches!(again, Outcome::Acknowledged { .. }), "{again:?}");
    assert_eq!(connector.asked.lock().unwrap().len(), 1);
    let runs = t
        .call("GET", &format!("/v1/schedules/{sid}/runs"), None)
        .await;
    assert_eq!(runs.body["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn an_event_for_a_deleted_schedule_is_acknowledged() {
    let (t, sid) = setup("facebook", json!({"schedule_expression": "rate(1 day)"})).await;
    assert_eq!(
        t.call("DELETE", &format!("/v1/schedules/{sid}"), None)
            .await
            .status,
        204
    );
    let extractor =
        extractor_with(Platform::Facebook, Box::new(ScriptedConnector::default())).await;
    let outcome = extractor
        .handle(
            &scheduled(&t.id, &sid, "2026-05-02T06:00:00Z", "ev-x"),
            &later(),
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Acknowledged {
            reason: format!("schedule {sid} not found")
        }
    );
}

#[tokio::test]
async fn a_run_out_of_time_fails_with_deadline_and_keeps_the_cursor() {
    let (t, sid) = setup(
        "facebook",
        json!({"schedule_expression": "rate(1 day)", "report": {"backfill_days": 30}}),
    )
    .await;
    let connector = std::sync::Arc::new(ScriptedConnector::default());
    let extractor = facebook_extractor(&connector).await;
    let event = scheduled(&t.id, &sid, "2026-05-02T06:00:00Z", "ev-late");
    let run = finished(
        extractor
            .handle(&event, &invocation_until(Utc::now()))
            .await
            .unwrap(),
    );
    assert_eq!(
        (run.status, run.error.as_deref(), run.rows_written),
        (RunStatus::Failed, Some("deadline"), 0)
    );
    assert!(connector.asked.lock().unwrap().is_empty());

    // The same event, retried with time to spare, resumes the failed run and completes it.
    let run = finished(extractor.handle(&event, &later()).await.unwrap());
    assert_eq!(run.status, RunStatus::Succeeded);
    assert_eq!(run.rows_written, 30);
}

#[tokio::test]
async fn an_auth_failure_marks_the_connection_for_reauthorisation() {
    let (t, sid) = setup("facebook", json!({"schedule_expression": "rate(1 day)"})).await;
    let connector = ScriptedConnector {
        fail_with: Some(ConnectorError::Auth("token expired (code 190)".into())),
        ..Default::default()
    };
    let extractor = extractor_with(Platform::Facebook, Box::new(connector)).await;
    let run = finished(
        extractor
            .handle(
                &scheduled(&t.id, &sid, "2026-05-02T06:00:00Z", "ev-auth"),
                &later(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(run.error.as_deref(), Some("token expired (code 190)"));
    let schedule = t
        .call("GET", &format!("/v1/schedules/{sid}"), None)
        .await
        .body;
    let conn = t
        .call(
            "GET",
            &format!(
                "/v1/connections/{}",
                schedule["connection_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(conn.body["status"], "reauth_required");
}

#[tokio::test]
async fn the_manual_event_of_run_now_parses_and_runs() {
    let (t, sid) = setup("google_ads", json!({"schedule_expression": "rate(1 day)"})).await;
    let mut e = event("extractor/manual.json");
    e["tenant_id"] = json!(t.id);
    e["schedule_id"] = json!(sid);
    let event: ExtractorEvent = serde_json::from_value(e).unwrap();
    let run = finished(
        extractor_with(Platform::GoogleAds, Box::new(ScriptedConnector::default()))
            .await
            .handle(&event, &later())
            .await
            .unwrap(),
    );
    assert_eq!(run.run_id.as_str(), "run_0192f0e0a1b27c3d8e9f0a1b2c3d4e61");
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
}

fn d(s: &str) -> NaiveDate {
    s.parse().unwrap()
}

#[tokio::test]
async fn a_run_left_running_by_a_dead_process_is_started_again_by_its_redelivery() {
    let (t, sid) = setup(
        "facebook",
        json!({"schedule_expression": "rate(1 day)", "report": {"backfill_days": 2}}),
    )
    .await;
    let event = scheduled(&t.id, &sid, "2026-05-02T06:00:00Z", "ev-crash");
    // A process that died mid-run 20 minutes ago left this record behind.
    let dead = adpipe_domain::Run {
        run_id: event.run_id(),
        tenant_id: t.id.parse().unwrap(),
        schedule_id: sid.parse().unwrap(),
        kind: adpipe_domain::RunKind::Scheduled,
        status: RunStatus::Running,
        window: None,
        rows_fetched: 0,
        rows_written: 0,
        started_at: Utc::now() - Duration::minutes(20),
        finished_at: None,
        error: None,
        request_id: None,
        deadline: None,
    };
    let store =
        extractor::store::DynamoRunStore::new(aws().dynamodb().await, aws().control_table.clone());
    assert_eq!(store.start_run(&dead).await.unwrap(), Ok(()));

    let connector = std::sync::Arc::new(ScriptedConnector::default());
    let extractor = facebook_extractor(&connector).await;
    let run = finished(extractor.handle(&event, &later()).await.unwrap());
    assert_eq!(run.status, RunStatus::Succeeded);

    // Even long after, a succeeded run is never started again.
    let done_long_ago = adpipe_domain::Run {
        started_at: Utc::now() - Duration::hours(2),
        ..run.clone()
    };
    store.finish_run(&done_long_ago).await.unwrap();
    let again = adpipe_domain::Run {
        started_at: Utc::now(),
        status: RunStatus::Running,
        ..run
    };
    assert_eq!(
        store.start_run(&again).await.unwrap(),
        Err(StartRefused::AlreadyRecorded)
    );
}

#[tokio::test]
async fn the_accounts_time_zone_is_learned_once_and_ends_the_window_there() {
    let (t, sid) = setup(
        "facebook",
        json!({"schedule_expression": "rate(1 day)", "report": {"backfill_days": 3}}),
    )
    .await;
    let connector = std::sync::Arc::new(ScriptedConnector {
        time_zone: Some(Tz::America__Los_Angeles),
        ..Default::default()
    });
    let extractor = facebook_extractor(&connector).await;
    // 03:00 UTC on March 11 is still March 10 in Los Angeles: yesterday there is March 9.
    let run = finished(
        extractor
            .handle(
                &scheduled(&t.id, &sid, "2026-03-11T03:00:00Z", "ev-tz"),
                &later(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(
        run.window,
        Some(Window {
            since: d("2026-03-07"),
            until: d("2026-03-09")
        })
    );
    assert_eq!(
        connector.tokens.lock().unwrap().as_slice(),
        ["EAAB-test-token"],
        "the connection's own token, read from its secret"
    );

    let schedule = t
        .call("GET", &format!("/v1/schedules/{sid}"), None)
        .await
        .body;
    let connection_id = schedule["connection_id"].as_str().unwrap();
    let item = t
        .control_item(&format!("CONNECTION#{connection_id}"))
        .await
        .unwrap();
    assert_eq!(item["time_zone"].as_s().unwrap(), "America/Los_Angeles");

    finished(
        extractor
            .handle(
                &scheduled(&t.id, &sid, "2026-03-12T03:00:00Z", "ev-tz-2"),
                &later(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(
        connector.tokens.lock().unwrap().len(),
        1,
        "asked once, then read from the connection"
    );
}

#[tokio::test]
async fn a_connection_whose_secret_is_gone_fails_its_run_with_a_generic_error_naming_no_resource() {
    let (t, sid) = setup("facebook", json!({"schedule_expression": "rate(1 day)"})).await;
    let schedule = t
        .call("GET", &format!("/v1/schedules/{sid}"), None)
        .await
        .body;
    let secret = format!(
        "adpipe/{}/{}",
        t.id,
        schedule["connection_id"].as_str().unwrap()
    );
    aws()
        .secretsmanager()
        .await
        .delete_secret()
        .secret_id(&secret)
        .force_delete_without_recovery(true)
        .send()
        .await
        .unwrap();
    let extractor =
        extractor_with(Platform::Facebook, Box::new(ScriptedConnector::default())).await;
    let run = finished(
        extractor
            .handle(
                &scheduled(&t.id, &sid, "2026-03-11T06:00:00Z", "ev-nosecret"),
                &later(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(run.status, RunStatus::Failed);
    // The tenant reads run records: a generic message naming the run, whose log has the
    // SDK's detail; never the secret's name, an ARN, the account or a token.
    let error = run.error.unwrap();
    assert_eq!(
        error,
        format!(
            "internal error: the extractor could not read the connection's credentials (see the function's log, run {})",
            run.run_id
        )
    );
    for leak in [
        secret.as_str(),
        "arn:",
        "123456789012",
        "EAAB-test-token",
        &aws().control_table,
    ] {
        assert!(!error.contains(leak), "{leak} in {error}");
    }
}

#[tokio::test]
async fn rerunning_an_unchanged_window_writes_nothing_and_emits_no_stream_records() {
    let (t, sid) = setup("facebook", json!({"schedule_expression": "rate(1 day)", "report": {"backfill_days": 5, "lookback_days": 5}})).await;
    let connector = std::sync::Arc::new(ScriptedConnector::default());
    let extractor = facebook_extractor(&connector).await;
    let prefix = format!("{}#", t.id);
    let first = finished(
        extractor
            .handle(
                &scheduled(&t.id, &sid, "2026-04-06T06:00:00Z", "ev-1"),
                &later(),
            )
            .await
            .unwrap(),
    );
    assert_eq!((first.rows_fetched, first.rows_written), (5, 5));
    let records_after_first = aws().staging_stream_records(&prefix).await.unwrap().len();
    assert_eq!(records_after_first, 5, "one INSERT per new row");

    // The next day re-reads the same five days (lookback 5), unchanged, plus one new day.
    let second = finished(
        extractor
            .handle(
                &scheduled(&t.id, &sid, "2026-04-07T06:00:00Z", "ev-2"),
                &later(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(
        second.window,
        Some(Window {
            since: d("2026-04-01"),
            until: d("2026-04-06")
        })
    );
    assert_eq!(
        (second.rows_fetched, second.rows_written),
        (6, 1),
        "only the new day is written"
    );
    let records = aws().staging_stream_records(&prefix).await.unwrap();
    assert_eq!(
        records.len(),
        records_after_first + 1,
        "unchanged rows emit no stream records"
    );
}

async fn staged_days(tenant: &str) -> Vec<String> {
    aws()
        .staging_items(&format!("{tenant}#facebook#act_1234567890"))
        .await
        .into_iter()
        .filter_map(|i| i.get("date")?.as_s().ok().cloned())
        .collect()
}

#[tokio::test]
async fn a_three_year_backfill_completes_over_several_runs_without_duplicates_or_holes() {
    let (t, sid) = setup("facebook", json!({"schedule_expression": "rate(1 day)", "report": {"backfill_days": 1095, "lookback_days": 0}})).await;
    // Each invocation manages 40 chunks (280 days) before its deadline.
    let connector = std::sync::Arc::new(ScriptedConnector {
        deadline_every: Some(41),
        ..Default::default()
    });
    let extractor = facebook_extractor(&connector).await;
    let mut outcomes = Vec::new();
    for attempt in 0..10 {
        let run = finished(
            extractor
                .handle(
                    &scheduled(
                        &t.id,
                        &sid,
                        "2026-06-01T06:00:00Z",
                        &format!("ev-{attempt}"),
                    ),
                    &later(),
                )
                .await
                .unwrap(),
        );
        outcomes.push((run.status, run.error.clone(), run.rows_written));
        if run.status == RunStatus::Succeeded {
            break;
        }
        assert_eq!(run.error.as_deref(), Some("deadline"));
    }
    assert_eq!(
        outcomes.len(),
        4,
        "280 + 280 + 280 + 255 days: {outcomes:?}"
    );
    assert_eq!(
        outcomes.iter().map(|o| o.2).sum::<u64>(),
        1095,
        "each day written once"
    );
    let mut days = staged_days(&t.id).await;
    days.sort();
    days.dedup();
    assert_eq!(days.len(), 1095, "no hole");
    assert_eq!(days.first().map(String::as_str), Some("2023-06-02"));
    assert_eq!(days.last().map(String::as_str), Some("2026-05-31"));
}

/// A 28-day-lookback schedule at `level` whose connector answers `rows_per_day` rows a day,
/// its extractor staging into `staging_table` through a fault proxy that counts the items.
async fn counted_schedule(
    level: &str,
    rows_per_day: usize,
    staging_table: &str,
) -> (
    adpipe_testkit::FaultProxy,
    Extractor,
    std::sync::Arc<ScriptedConnector>,
    Tenant,
    String,
) {
    let proxy = adpipe_testkit::FaultProxy::start(&aws().endpoint).await;
    let (t, sid) = setup("facebook", json!({"schedule_expression": "rate(1 day)", "report": {"level": level, "backfill_days": 28, "lookback_days": 28}})).await;
    let connector = std::sync::Arc::new(ScriptedConnector {
        rows_per_day,
        ..Default::default()
    });
    let mut extractor = aws_extractor(
        config_staging_to(staging_table),
        &sdk_config(&proxy.endpoint()).await,
    );
    replace_connector(
        &mut extractor,
        Platform::Facebook,
        Box::new(SharedConnector(connector.clone())),
    );
    (proxy, extractor, connector, t, sid)
}

/// A scheduled run at `time`, as its own EventBridge event (a fresh event id).
async fn run_at(extractor: &Extractor, t: &Tenant, sid: &str, time: &str) -> adpipe_domain::Run {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let event_id = format!("ev-{time}-{n}");
    let run = finished(
        extractor
            .handle(&scheduled(&t.id, sid, time, &event_id), &later())
            .await
            .unwrap(),
    );
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    run
}

/// Deletes the tenant's staged row items, as their `STAGING_TTL_DAYS` (7) would have done
/// a week after they were written; the day digests, which live past the lookback, stay.
async fn expire_staged_rows(tenant: &str) {
    use aws_sdk_dynamodb::types::{DeleteRequest, WriteRequest};
    let items = aws()
        .staging_items(&format!("{tenant}#facebook#act_1234567890"))
        .await;
    let db = aws().dynamodb().await;
    for batch in items.chunks(25) {
        let deletes = batch
            .iter()
            .map(|item| {
                let key = ["pk", "sk"].map(|k| (k.to_owned(), item[k].clone()));
                let delete = DeleteRequest::builder().set_key(Some(key.into())).build();
                WriteRequest::builder()
                    .delete_request(delete.unwrap())
                    .build()
            })
            .collect();
        db.batch_write_item()
            .request_items(&aws().staging_table, deletes)
            .send()
            .await
            .unwrap();
    }
}

/// The items of `table` read and written since the proxy last forgot its requests.
fn items_counted(proxy: &adpipe_testkit::FaultProxy, table: &str) -> (usize, usize) {
    (proxy.item_reads(table), proxy.item_writes(table))
}

#[tokio::test]
async fn a_rerun_of_an_unchanged_window_reads_one_item_a_day_and_writes_none() {
    // 14,000 ad rows: staged into the stream-less copy of the table.
    let table = aws().bulk_staging_table().await;
    for (level, rows_per_day) in [("campaign", 3), ("ad", 500)] {
        let (proxy, extractor, _, t, sid) = counted_schedule(level, rows_per_day, table).await;
        let first = run_at(&extractor, &t, &sid, "2026-04-29T06:00:00Z").await;
        let rows = 28 * rows_per_day as u64;
        assert_eq!((first.rows_fetched, first.rows_written), (rows, rows));
        assert_eq!(
            items_counted(&proxy, table),
            (28, rows as usize + 28),
            "{level}: a day digest read each (none yet), each row and each day's digest written"
        );

        proxy.forget_requests();
        let rerun = run_at(&extractor, &t, &sid, "2026-04-29T06:00:00Z").await;
        // `make bench` reports this line.
        let (reads, writes) = items_counted(&proxy, table);
        println!(
            "re-run of an unchanged 28-day window, {rows_per_day} {level} rows a day: \
             {reads} item reads, {writes} item writes"
        );
        assert_eq!((rerun.rows_fetched, rerun.rows_written), (rows, 0));
        assert_eq!(
            (reads, writes),
            (28, 0),
            "{level}: one read a day, no write"
        );
    }
}

#[tokio::test]
async fn a_window_with_one_restated_row_writes_that_row_and_its_days_digest() {
    let table = &aws().staging_table;
    let (proxy, extractor, connector, t, sid) = counted_schedule("ad", 50, table).await;
    run_at(&extractor, &t, &sid, "2026-04-29T06:00:00Z").await;
    *connector.restated.lock().unwrap() = Some((d("2026-04-17"), 31));
    proxy.forget_requests();

    let rerun = run_at(&extractor, &t, &sid, "2026-04-29T06:00:00Z").await;
    assert_eq!(rerun.rows_written, 1);
    assert_eq!(
        items_counted(&proxy, table),
        (28, 2),
        "the row and its day's digest"
    );
    let prefix = format!("{}#", t.id);
    let records = aws().staging_stream_records(&prefix).await.unwrap();
    assert_eq!(
        records.len(),
        28 * 50 + 1,
        "one MODIFY, for the restated row"
    );
}

#[tokio::test]
async fn a_day_re_read_8_and_20_days_after_it_was_staged_writes_nothing() {
    let table = &aws().staging_table;
    let (proxy, extractor, _, t, sid) = counted_schedule("campaign", 3, table).await;
    run_at(&extractor, &t, &sid, "2026-04-29T06:00:00Z").await;
    let prefix = format!("{}#", t.id);
    let staged = aws().staging_stream_records(&prefix).await.unwrap().len();
    assert_eq!(staged, 28 * 3);

    // 8 days on, the rows' TTL has run out; the window reaches back to 04-01 (the
    // cursor 04-29 less the 28-day lookback) and on to 05-06: 28 old days, 8 new.
    expire_staged_rows(&t.id).await;
    proxy.forget_requests();
    let later_8 = run_at(&extractor, &t, &sid, "2026-05-07T06:00:00Z").await;
    assert_eq!(later_8.window.map(|w| w.since), Some(d("2026-04-01")));
    assert_eq!(
        (later_8.rows_fetched, later_8.rows_written),
        (36 * 3, 8 * 3)
    );
    assert_eq!(
        items_counted(&proxy, table),
        (36, 8 * 3 + 8),
        "the new days' rows and digests only"
    );

    // 20 days on: 04-09 .. 05-18, 28 days staged before, 12 new.
    expire_staged_rows(&t.id).await;
    proxy.forget_requests();
    let later_20 = run_at(&extractor, &t, &sid, "2026-05-19T06:00:00Z").await;
    assert_eq!(later_20.window.map(|w| w.since), Some(d("2026-04-09")));
    assert_eq!(
        (later_20.rows_fetched, later_20.rows_written),
        (40 * 3, 12 * 3)
    );
    assert_eq!(items_counted(&proxy, table), (40, 12 * 3 + 12));
    let records = aws().staging_stream_records(&prefix).await.unwrap();
    let writes = records
        .iter()
        .filter(|r| r.event_name != Some(aws_sdk_dynamodbstreams::types::OperationType::Remove))
        .count();
    assert_eq!(
        writes - staged,
        (8 + 12) * 3,
        "an INSERT per new row and no copy of an unchanged row"
    );
}

#[tokio::test]
async fn a_pending_report_run_is_kept_in_the_control_table_until_forgotten() {
    use extractor::ports::{ReportRunKey, ReportRuns};
    use extractor::store::DynamoReportRuns;

    let aws = aws();
    let runs = DynamoReportRuns::new(aws.dynamodb().await, aws.control_table.clone());
    let key = ReportRunKey {
        tenant: adpipe_testkit::unique_tenant()
            .parse()
            .expect("a tenant id"),
        connection: adpipe_domain::ConnectionId::generate(),
        level: "ad",
        window: Window {
            since: d("2026-03-01"),
            until: d("2026-03-07"),
        },
    };
    let other_days = ReportRunKey {
        window: Window {
            since: d("2026-03-08"),
            until: d("2026-03-14"),
        },
        ..key.clone()
    };

    assert_eq!(runs.recall(&key).await.expect("readable"), None);
    runs.remember(&key, "6023920149050").await.expect("stored");
    assert_eq!(
        runs.recall(&key).await.expect("readable").as_deref(),
        Some("6023920149050")
    );
    assert_eq!(runs.recall(&other_days).await.expect("readable"), None);
    runs.forget(&key).await.expect("deleted");
    assert_eq!(runs.recall(&key).await.expect("readable"), None);
}

// ---- the real connectors against the platform fakes, end to end through moto ----------

/// The production extractor, its platform URLs pointed at the local fakes.
fn config_with_platforms(google: &FakeGoogleAds, youtube: &FakeYouTube) -> Config {
    let aws = aws();
    let (ads, token, yt) = (google.ads_url(), google.token_url(), youtube.url());
    Config::from_lookup(|name| match name {
        "CONTROL_TABLE" => Some(aws.control_table.clone()),
        "STAGING_TABLE" => Some(aws.staging_table.clone()),
        "APP_CREDENTIALS_SECRET" => Some(aws.app_credentials_secret.clone()),
        "GOOGLE_ADS_API_URL" => Some(ads.clone()),
        "GOOGLE_OAUTH_TOKEN_URL" => Some(token.clone()),
        "YOUTUBE_ANALYTICS_URL" => Some(yt.clone()),
        _ => None,
    })
    .expect("a valid config")
}

/// The production extractor against moto and the platform fakes.
async fn platform_extractor(google: &FakeGoogleAds, youtube: &FakeYouTube) -> Extractor {
    aws_extractor(
        config_with_platforms(google, youtube),
        &sdk_config(&aws().endpoint).await,
    )
}

/// A connection of `platform` for `account_id` from a refresh token, and a daily schedule
/// at `level` reading the last `days` (backfill and lookback alike, so a rerun reads the
/// same window).
async fn platform_setup(
    platform: &str,
    account_id: &str,
    refresh_token: &str,
    level: &str,
    days: u32,
) -> (Tenant, String) {
    let t = Tenant::new().await;
    let conn = t
        .call(
            "POST",
            "/v1/connections",
            Some(json!({"platform": platform, "account_id": account_id, "credentials": {"refresh_token": refresh_token}})),
        )
        .await;
    assert_eq!(conn.status, 201, "{}", conn.body);
    let schedule = t
        .call(
            "POST",
            "/v1/schedules",
            Some(json!({
                "connection_id": conn.body["id"],
                "schedule_expression": "rate(1 day)",
                "report": {"level": level, "backfill_days": days, "lookback_days": days},
            })),
        )
        .await;
    assert_eq!(schedule.status, 201, "{}", schedule.body);
    let id = schedule.body["id"].as_str().expect("an id").to_owned();
    (t, id)
}

/// The tenant's staged items of `platform`, as JSON.
async fn staged_items(tenant: &str, platform: &str) -> Vec<Value> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let client = aws().dynamodb().await;
    let mut items = Vec::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(&aws().staging_table)
            .filter_expression("begins_with(pk, :p)")
            .expression_attribute_values(":p", AttributeValue::S(format!("{tenant}#{platform}#")))
            .set_exclusive_start_key(start)
            .send()
            .await
            .expect("a scan");
        for item in out.items.unwrap_or_default() {
            items.push(serde_dynamo::from_item(item).expect("an item as JSON"));
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            return items;
        }
    }
}

#[tokio::test]
async fn a_google_ads_schedule_runs_end_to_end_against_the_platform_fake() {
    let (google, youtube) = (FakeGoogleAds::start().await, FakeYouTube::start().await);
    let (t, sid) = platform_setup("google_ads", "123-456-7890", "1//demo", "ad_group", 5).await;
    let extractor = platform_extractor(&google, &youtube).await;
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();

    let run = finished(
        extractor
            .handle(&scheduled(&t.id, &sid, &now, "ev-gads-1"), &later())
            .await
            .unwrap(),
    );

    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert!(run.rows_fetched > 0);
    assert_eq!(run.rows_written, run.rows_fetched);
    let items = staged_items(&t.id, "google_ads").await;
    assert_eq!(items.len() as u64, run.rows_written);
    for item in &items {
        assert_eq!(item["level"], "ad_group");
        assert_eq!(item["account_id"], "1234567890");
        assert_eq!(item["currency"], "USD");
        assert!(item["ad_group_id"].is_string() && item["campaign_id"].is_string());
        assert!(item["cost_micros"].is_i64(), "{item}");
    }
    // The window ends yesterday in the customer's time zone (America/New_York).
    let yesterday = Utc::now()
        .with_timezone(&chrono_tz::America::New_York)
        .date_naive()
        .pred_opt()
        .expect("a day");
    assert_eq!(run.window.map(|w| w.until), Some(yesterday));
    // Tokens are reused within the run: one refresh for the time zone and every chunk.
    assert_eq!(google.tokens_issued(), 1);

    // The same window again: nothing changed, nothing written.
    let rerun = finished(
        extractor
            .handle(&scheduled(&t.id, &sid, &now, "ev-gads-2"), &later())
            .await
            .unwrap(),
    );
    assert_eq!(rerun.status, RunStatus::Succeeded, "{:?}", rerun.error);
    assert_eq!(rerun.rows_written, 0);
}

#[tokio::test]
async fn a_revoked_google_refresh_token_marks_the_connection_for_reauthorisation() {
    let (google, youtube) = (FakeGoogleAds::start().await, FakeYouTube::start().await);
    let (t, sid) = platform_setup(
        "google_ads",
        "123-456-7890",
        adpipe_testkit::fake_google_ads::REVOKED_REFRESH_TOKEN,
        "campaign",
        3,
    )
    .await;
    let extractor = platform_extractor(&google, &youtube).await;
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();

    let run = finished(
        extractor
            .handle(&scheduled(&t.id, &sid, &now, "ev-revoked"), &later())
            .await
            .unwrap(),
    );

    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.unwrap_or_default();
    assert!(error.contains("invalid_grant"), "{error}");
    assert!(!error.contains(adpipe_testkit::fake_google_ads::REVOKED_REFRESH_TOKEN));
    let connections = t.call("GET", "/v1/connections", None).await;
    assert_eq!(connections.body["items"][0]["status"], "reauth_required");
    assert_eq!(staged_items(&t.id, "google_ads").await.len(), 0);
}

#[tokio::test]
async fn a_youtube_schedule_runs_end_to_end_against_the_platform_fake() {
    use adpipe_testkit::fake_youtube::{DEMO_CHANNEL, last_reported_day};
    let (google, youtube) = (FakeGoogleAds::start().await, FakeYouTube::start().await);
    let (t, sid) = platform_setup("youtube", DEMO_CHANNEL, "1//demo", "video", 6).await;
    let extractor = platform_extractor(&google, &youtube).await;
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();

    let run = finished(
        extractor
            .handle(&scheduled(&t.id, &sid, &now, "ev-yt-1"), &later())
            .await
            .unwrap(),
    );

    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    let items = staged_items(&t.id, "youtube").await;
    assert!(!items.is_empty());
    assert_eq!(items.len() as u64, run.rows_written);
    for item in &items {
        assert_eq!(item["level"], "video");
        assert_eq!(item["account_id"], DEMO_CHANNEL);
        assert!(item["ad_id"].is_string(), "the video id: {item}");
        assert!(item["video_views"].is_i64(), "{item}");
        assert!(item["cost_micros"].is_null() && item["impressions"].is_null());
        let extra: Value =
            serde_json::from_str(item["extra"].as_str().expect("extra")).expect("a JSON object");
        assert!(extra["estimatedMinutesWatched"].is_number(), "{extra}");
        // The days YouTube has not reported yet are not there.
        let date: NaiveDate = item["date"]
            .as_str()
            .expect("a date")
            .parse()
            .expect("a date");
        assert!(date <= last_reported_day(), "{date}");
    }
}

fn manual(tenant: &str, schedule_id: &str) -> ExtractorEvent {
    let mut e = event("extractor/manual.json");
    e["tenant_id"] = json!(tenant);
    e["schedule_id"] = json!(schedule_id);
    serde_json::from_value(e).expect("a manual event")
}

async fn run_store() -> extractor::store::DynamoRunStore {
    extractor::store::DynamoRunStore::new(aws().dynamodb().await, aws().control_table.clone())
}

#[tokio::test]
async fn a_scheduled_event_of_a_disabled_schedule_is_acknowledged_and_run_now_still_runs() {
    let (t, sid) = setup(
        "facebook",
        json!({"schedule_expression": "rate(1 day)", "report": {"backfill_days": 2}}),
    )
    .await;
    let off = t
        .call(
            "PATCH",
            &format!("/v1/schedules/{sid}"),
            Some(json!({"enabled": false})),
        )
        .await;
    assert_eq!(off.status, 200, "{}", off.body);
    let connector = std::sync::Arc::new(ScriptedConnector::default());
    let extractor = facebook_extractor(&connector).await;

    let outcome = extractor
        .handle(
            &scheduled(&t.id, &sid, "2026-05-02T06:00:00Z", "ev-in-flight"),
            &later(),
        )
        .await
        .unwrap();
    assert_eq!(
        outcome,
        Outcome::Acknowledged {
            reason: format!("schedule {sid} is disabled")
        }
    );
    assert!(connector.asked.lock().unwrap().is_empty(), "nothing read");
    let runs = t
        .call("GET", &format!("/v1/schedules/{sid}/runs"), None)
        .await;
    assert_eq!(runs.body["items"], json!([]), "no run recorded");

    let run = finished(
        extractor
            .handle(&manual(&t.id, &sid), &later())
            .await
            .unwrap(),
    );
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(connector.asked.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_firing_while_another_invocation_runs_the_schedule_is_acknowledged() {
    use extractor::ports::{ActiveRun, LeaseOutcome};
    let (t, sid) = setup(
        "facebook",
        json!({"schedule_expression": "rate(1 day)", "report": {"backfill_days": 2}}),
    )
    .await;
    // A 15-minute run of this schedule, still inside its invocation.
    let (tenant, schedule) = (t.id.parse().unwrap(), sid.parse().unwrap());
    let running = scheduled(&t.id, &sid, "2026-05-02T06:00:00Z", "ev-long").run_id();
    let lease = ActiveRun {
        run_id: running.clone(),
        request_id: Some("req-the-long-run".into()),
        deadline: Utc::now() + Duration::minutes(10),
    };
    let store = run_store().await;
    assert_eq!(
        store
            .acquire_lease(&tenant, &schedule, &lease)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { previous: None }
    );
    let connector = std::sync::Arc::new(ScriptedConnector::default());
    let extractor = facebook_extractor(&connector).await;

    // The next firing, five minutes later, and a run-now: neither starts a second run.
    for event in [
        scheduled(&t.id, &sid, "2026-05-02T06:05:00Z", "ev-next"),
        manual(&t.id, &sid),
    ] {
        let outcome = extractor.handle(&event, &later()).await.unwrap();
        assert_eq!(
            outcome,
            Outcome::Acknowledged {
                reason: format!("run {running} of this schedule is active")
            }
        );
    }
    assert!(connector.asked.lock().unwrap().is_empty());

    // Once the holder gives the lease up, the next firing runs and gives it up in turn.
    store
        .release_lease(&tenant, &schedule, "req-the-long-run")
        .await
        .unwrap();
    let run = finished(
        extractor
            .handle(
                &scheduled(&t.id, &sid, "2026-05-02T06:10:00Z", "ev-after"),
                &later(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(
        store
            .acquire_lease(&tenant, &schedule, &lease)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { previous: None },
        "the finished run released the lease"
    );
}

#[tokio::test]
async fn a_retry_of_a_crashed_invocation_takes_its_run_over_and_an_expired_one_is_abandoned() {
    use extractor::ports::{ActiveRun, LeaseOutcome};
    let (t, sid) = setup(
        "facebook",
        json!({"schedule_expression": "rate(1 day)", "report": {"backfill_days": 2}}),
    )
    .await;
    let (tenant, schedule) = (t.id.parse().unwrap(), sid.parse().unwrap());
    let store = run_store().await;
    // What an invocation that died mid-run leaves: its lease and its run, `running`.
    let crashed = |event: &ExtractorEvent, request_id: &str, deadline| {
        let lease = ActiveRun {
            run_id: event.run_id(),
            request_id: Some(request_id.to_owned()),
            deadline,
        };
        let run = adpipe_domain::Run {
            run_id: event.run_id(),
            tenant_id: t.id.parse().unwrap(),
            schedule_id: sid.parse().unwrap(),
            kind: adpipe_domain::RunKind::Scheduled,
            status: RunStatus::Running,
            window: None,
            rows_fetched: 0,
            rows_written: 0,
            started_at: Utc::now() - Duration::minutes(2),
            finished_at: None,
            error: None,
            request_id: Some(request_id.to_owned()),
            deadline: Some(deadline),
        };
        (lease, run)
    };
    let first = scheduled(&t.id, &sid, "2026-05-02T06:00:00Z", "ev-crashed");
    let in_time = Utc::now() + Duration::minutes(10);
    let (lease, run) = crashed(&first, "req-crashed", in_time);
    assert!(matches!(
        store
            .acquire_lease(&tenant, &schedule, &lease)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { .. }
    ));
    assert_eq!(store.start_run(&run).await.unwrap(), Ok(()));
    let connector = std::sync::Arc::new(ScriptedConnector::default());
    let extractor = facebook_extractor(&connector).await;

    // A different delivery of the same event while the crashed holder's time runs: acknowledged.
    let other = extractor.handle(&first, &later()).await.unwrap();
    assert!(matches!(other, Outcome::Acknowledged { .. }), "{other:?}");
    assert!(connector.asked.lock().unwrap().is_empty());

    // Lambda's retry carries the same request id: it takes the run over and finishes it.
    let retry = Invocation {
        request_id: "req-crashed".into(),
        deadline: Utc::now() + Duration::minutes(15),
    };
    let run = finished(extractor.handle(&first, &retry).await.unwrap());
    assert_eq!(run.status, RunStatus::Succeeded, "{:?}", run.error);
    assert_eq!(run.request_id.as_deref(), Some("req-crashed"));

    // A run whose invocation's deadline passed is closed by the next event of the schedule.
    let second = scheduled(&t.id, &sid, "2026-05-03T06:00:00Z", "ev-timed-out");
    let (lease, run) = crashed(&second, "req-timed-out", Utc::now() - Duration::seconds(1));
    assert!(matches!(
        store
            .acquire_lease(&tenant, &schedule, &lease)
            .await
            .unwrap(),
        LeaseOutcome::Acquired { .. }
    ));
    assert_eq!(store.start_run(&run).await.unwrap(), Ok(()));
    let third = scheduled(&t.id, &sid, "2026-05-04T06:00:00Z", "ev-next-day");
    let next = finished(extractor.handle(&third, &later()).await.unwrap());
    assert_eq!(next.status, RunStatus::Succeeded, "{:?}", next.error);
    let runs = t
        .call("GET", &format!("/v1/schedules/{sid}/runs"), None)
        .await;
    let abandoned = runs.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["run_id"] == json!(second.run_id().to_string()))
        .unwrap_or_else(|| panic!("the abandoned run is listed: {}", runs.body));
    assert_eq!(abandoned["status"], "failed");
    assert_eq!(abandoned["error"], adpipe_domain::keys::ABANDONED_RUN_ERROR);
    assert!(abandoned["finished_at"].is_string(), "{abandoned}");
}

#[tokio::test]
async fn a_malformed_app_secret_reaches_no_run_record_and_its_error_names_only_the_field() {
    use extractor::ports::SecretSource;
    const CANARY: &str = "CANARY-7d41e0-pasted-client-secret";
    let (t, sid) = setup(
        "facebook",
        json!({"schedule_expression": "rate(1 day)", "report": {"backfill_days": 1}}),
    )
    .await;
    // An operator pasted a string where the Google app's object belongs.
    let name = format!("adpipe-test-app-{}", t.id);
    let secrets = aws().secretsmanager().await;
    secrets
        .create_secret()
        .name(&name)
        .secret_string(json!({"google": CANARY, "facebook": {"app_id": "1"}}).to_string())
        .send()
        .await
        .unwrap();
    let aws = aws();
    let config = Config::from_lookup(|var| match var {
        "CONTROL_TABLE" => Some(aws.control_table.clone()),
        "STAGING_TABLE" => Some(aws.staging_table.clone()),
        "APP_CREDENTIALS_SECRET" => Some(name.clone()),
        _ => None,
    })
    .unwrap();
    let mut extractor = aws_extractor(config, &sdk_config(&aws.endpoint).await);
    replace_connector(
        &mut extractor,
        Platform::Facebook,
        Box::new(ScriptedConnector::default()),
    );

    let run = finished(
        extractor
            .handle(
                &scheduled(&t.id, &sid, "2026-05-02T06:00:00Z", "ev-bad-app"),
                &later(),
            )
            .await
            .unwrap(),
    );
    assert_eq!(run.status, RunStatus::Failed);
    let error = run.error.clone().unwrap();
    assert!(error.starts_with("internal error:"), "{error}");
    let listed = t
        .call("GET", &format!("/v1/schedules/{sid}/runs"), None)
        .await;
    for text in [error.clone(), listed.body.to_string()] {
        assert!(!text.contains(CANARY) && !text.contains(&name), "{text}");
    }

    // What the log gets instead: the secret and the field, never the value.
    let source = extractor::secrets::secretsmanager::SecretsManagerSource::new(secrets, &name);
    let logged = source.app_credentials().await.unwrap_err().to_string();
    assert!(logged.contains("`google`"), "{logged}");
    assert!(!logged.contains(CANARY), "{logged}");
}
