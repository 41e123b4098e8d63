//! `adpipe-local-aws`: the local AWS of `make demo`, made with the test harness's code.
//!
//! - `setup`: creates in the moto at `ADPIPE_TEST_AWS_ENDPOINT` the tables template.yaml
//!   declares, the app-credentials secret, an extractor function, the data bucket and the
//!   stream's failure queue and the insights queue; prints the functions' environment as
//!   `NAME=value` lines.
//! - `show-rule NAME`: prints the rule and its targets as moto holds them, as JSON.
//! - `fire-rule NAME`: prints the input the rule's target gets when EventBridge fires it
//!   now (moto fires nothing: this renders the stored input transformer).
//! - `staged TENANT`: the staging table's rows of a tenant, counted per platform,
//!   campaign and day, with their impressions, clicks and spend.
//! - `stream-event FILE [POSITION_FILE]`: writes the records of the staging table's stream
//!   as the DynamoDB Streams event Lambda would deliver (moto's stream mappings never
//!   fire): every record so far, or with POSITION_FILE only those after the sequence number
//!   it holds, and then the newest one into it — as a shard iterator moves on.
//! - `lake TENANT DIR`: copies the tenant's Parquet objects from the data bucket into DIR
//!   (same keys) and prints what they hold per platform, campaign and day.
//! - `queue-event QUEUE_URL FILE`: receives the queue's waiting messages (up to 100) and
//!   writes them as the SQS event Lambda's event source would deliver, deleting them
//!   from the queue (moto's SQS mappings never fire); prints how many.
//! - `invoke BINARY EVENT_FILE`: runs a built Lambda binary once against a local runtime
//!   API with the event, prints its answer, stops it (the function's environment is this
//!   process's).

use adpipe_testkit::aws;
use serde_json::json;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["setup"] => {
            let aws = aws();
            println!("CONTROL_TABLE={}", aws.control_table);
            println!("STAGING_TABLE={}", aws.staging_table);
            println!("EXTRACTOR_FUNCTION_ARN={}", aws.extractor_function_arn);
            println!("APP_CREDENTIALS_SECRET={}", aws.app_credentials_secret);
            println!("DATA_BUCKET={}", aws.data_bucket);
            println!("FAILURE_QUEUE_URL={}", aws.stream_failure_queue_url);
            println!("INSIGHTS_QUEUE_URL={}", aws.insights_queue_url);
            Ok(())
        }
        ["show-rule", name] => {
            let eb = adpipe_testkit::eventbridge_at(&endpoint()?).await;
            let rule = eb.describe_rule().name(*name).send().await?;
            let targets = eb.list_targets_by_rule().rule(*name).send().await?.targets.unwrap_or_default();
            let targets: Vec<_> = targets
                .iter()
                .map(|t| {
                    let transformer = t.input_transformer();
                    json!({
                        "Id": t.id(),
                        "Arn": t.arn(),
                        "InputTransformer": transformer.map(|x| json!({
                            "InputPathsMap": x.input_paths_map(),
                            "InputTemplate": x.input_template(),
                        })),
                    })
                })
                .collect();
            let shown = json!({
                "Rule": {
                    "Name": rule.name(),
                    "Arn": rule.arn(),
                    "ScheduleExpression": rule.schedule_expression(),
                    "State": rule.state().map(|s| s.as_str()),
                    "Description": rule.description(),
                },
                "Targets": targets,
            });
            println!("{}", serde_json::to_string_pretty(&shown)?);
            Ok(())
        }
        ["staged", tenant] => staged(tenant, None).await,
        ["staged", tenant, platform] => staged(tenant, Some(platform)).await,
        ["stream-event", file] => stream_event(file, None).await,
        ["stream-event", file, position] => stream_event(file, Some(position)).await,
        ["lake", tenant, dir] => lake(tenant, dir).await,
        ["queue-event", queue_url, file] => queue_event(queue_url, file).await,
        ["fire-rule", name] => {
            let eb = adpipe_testkit::eventbridge_at(&endpoint()?).await;
            let rule = eb.describe_rule().name(*name).send().await?;
            let targets = eb.list_targets_by_rule().rule(*name).send().await?.targets.unwrap_or_default();
            let transformer = targets.first().and_then(|t| t.input_transformer()).ok_or("the rule has no target with an input transformer")?;
            let now = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
            let event = adpipe_testkit::scheduled_event(rule.arn().unwrap_or_default(), &now, &uuid::Uuid::new_v4().to_string());
            let paths = transformer.input_paths_map().cloned().unwrap_or_default();
            let input = adpipe_testkit::render_input(transformer.input_template(), &paths, &event)?;
            println!("{}", serde_json::to_string_pretty(&input)?);
            Ok(())
        }
        ["invoke", binary, event_file] => {
            let event: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(event_file)?)?;
            let runtime = adpipe_testkit::FakeRuntimeApi::start(vec![event]).await;
// The function's logs go to stderr, so stdout carries only its answer.
            let logs = std::process::Stdio::from(std::os::fd::AsFd::as_fd(&std::io::stderr()).try_clone_to_owned()?);
            let mut child = tokio::process::Command::new(binary)
                .envs(runtime.lambda_env())
                .stdout(logs)
                .kill_on_drop(true)
                .spawn()?;
            let outcome = runtime.wait_outcome(std::time::Duration::from_secs(120)).await;
            let _ = child.kill().await;
            match outcome {
                Some(adpipe_testkit::Outcome::Response { body, .. }) => println!("{}", serde_json::to_string_pretty(&body)?),
                other => return Err(format!("the function did not answer: {other:?}").into()),
            }
            Ok(())
        }
        _ => Err("usage: adpipe-local-aws setup | show-rule NAME | fire-rule NAME | staged TENANT [PLATFORM] | stream-event FILE [POSITION_FILE] | lake TENANT DIR | queue-event QUEUE_URL FILE | invoke BINARY EVENT_FILE".into()),
    }
}

/// The queue's waiting messages as one SQS event in `file`, taken off the queue.
async fn queue_event(queue_url: &str, file: &str) -> Result<(), Box<dyn std::error::Error>> {
    let sqs = aws_sdk_sqs::Client::new(&adpipe_testkit::sdk_config(&endpoint()?).await);
    let mut records = Vec::new();
    while records.len() < 100 {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .message_attribute_names("All")
            .send()
            .await?;
        let messages = out.messages.unwrap_or_default();
        if messages.is_empty() {
            break;
        }
        for m in messages {
            let attributes: serde_json::Map<String, serde_json::Value> = m
                .message_attributes()
                .map(|a| {
                    a.iter()
                        .map(|(k, v)| {
                            (
                                k.clone(),
                                json!({"stringValue": v.string_value(), "dataType": v.data_type()}),
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            records.push(json!({
                "messageId": m.message_id(),
                "receiptHandle": m.receipt_handle(),
                "body": m.body(),
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": attributes,
                "md5OfBody": m.md5_of_body(),
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{}", queue_url.rsplit('/').next().unwrap_or_default()),
                "awsRegion": "us-east-1",
            }));
            if let Some(handle) = m.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(handle)
                    .send()
                    .await?;
            }
        }
    }
    std::fs::write(
        file,
        serde_json::to_string_pretty(&json!({"Records": records}))?,
    )?;
    println!("{} messages", records.len());
    Ok(())
}

fn endpoint() -> Result<String, Box<dyn std::error::Error>> {
    std::env::var("ADPIPE_TEST_AWS_ENDPOINT")
        .map_err(|_| "set ADPIPE_TEST_AWS_ENDPOINT to moto's URL".into())
}

/// Prints the tenant's staged rows (of one platform, if named) per platform, campaign (or
/// video, or channel) and day (a Scan: demo-sized data).
async fn staged(tenant: &str, platform: Option<&str>) -> Result<(), Box<dyn std::error::Error>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let client = adpipe_testkit::dynamodb_at(&endpoint()?).await;
    let table = std::env::var("STAGING_TABLE").map_err(|_| "set STAGING_TABLE")?;
    let mut summary = Summary::new();
    let mut start = None;
    loop {
        let out = client
            .scan()
            .table_name(&table)
            .filter_expression("begins_with(pk, :tenant)")
            .expression_attribute_values(":tenant", AttributeValue::S(format!("{tenant}#")))
            .set_exclusive_start_key(start)
            .send()
            .await?;
        for item in out.items.unwrap_or_default() {
            let text = |k: &str| item.get(k).and_then(|v| v.as_s().ok()).cloned();
            let number = |k: &str| {
                item.get(k)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|n| n.parse::<i64>().ok())
            };
            let row_platform = text("platform").unwrap_or_default();
            if platform.is_some_and(|p| p != row_platform) {
                continue;
            }
            let entity = entity_label(text("campaign_name").or(text("campaign_id")), text("ad_id"));
            summary
                .entry((row_platform, entity, text("date").unwrap_or_default()))
                .or_default()
                .add(
                    number("impressions"),
                    number("clicks"),
                    number("cost_micros"),
                    number("video_views"),
                );
        }
        start = out.last_evaluated_key;
        if start.is_none() {
            break;
        }
    }
    // One platform's rows: the recent days are enough to see their shape.
    print_summary(&summary, platform.map(|_| 3));
    Ok(())
}

/// What a row is about, for a person: its campaign, else (YouTube) its video, else the
/// channel.
fn entity_label(campaign: Option<String>, ad_id: Option<String>) -> String {
    match (campaign, ad_id) {
        (Some(campaign), _) => campaign,
        (None, Some(video)) => format!("video {video}"),
        (None, None) => "(channel)".to_owned(),
    }
}

async fn stream_event(
    file: &str,
    position: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    let aws = local_aws()?;
    let arn = adpipe_testkit::dynamodb_at(&aws.endpoint)
        .await
        .describe_table()
        .table_name(&aws.staging_table)
        .send()
        .await?
        .table
        .and_then(|t| t.latest_stream_arn)
        .ok_or("the staging table has no stream")?;
    // With a position file: the records after the sequence number it holds, as a shard
    // iterator moves on; then the last one read goes into it.
    let after = position
        .map(|p| {
            std::fs::read_to_string(p)
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .filter(|a| !a.is_empty());
    let records = aws
        .stream_records_after(&aws.staging_table, "", after.as_deref())
        .await
        .map_err(|e| e.to_string())?;
    let last = records
        .last()
        .and_then(|r| r.dynamodb.as_ref()?.sequence_number.as_deref());
    if let (Some(position), Some(last)) = (position, last) {
        std::fs::write(position, last)?;
    }
    let event = serde_json::json!({
        "Records": records.iter().map(|r| adpipe_testkit::lambda_record(r, adpipe_testkit::Shape::Lambda, &arn)).collect::<Vec<_>>()
    });
    std::fs::write(file, serde_json::to_vec_pretty(&event)?)?;
    println!("{} stream records -> {file}", records.len());
    Ok(())
}

async fn lake(tenant: &str, dir: &str) -> Result<(), Box<dyn std::error::Error>> {
    use arrow_array::{Array, Date32Array, Int64Array, StringArray};
    use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
    let aws = local_aws()?;
    let s3 = adpipe_testkit::s3_at(&aws.endpoint).await;
    let bucket = std::env::var("DATA_BUCKET").map_err(|_| "set DATA_BUCKET")?;
    let mut keys = Vec::new();
    for table in ["ad_metrics_history", "ad_metrics"] {
        let listed = s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(format!("{table}/tenant_id={tenant}/"))
            .send()
            .await?;
        let found: Vec<String> = listed
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_owned))
            .collect();
        println!("{table}: {} objects", found.len());
        keys.extend(found);
    }
    let mut summary = Summary::new();
    for key in &keys {
        let body = s3
            .get_object()
            .bucket(&bucket)
            .key(key)
            .send()
            .await?
            .body
            .collect()
            .await?
            .into_bytes();
        let path = std::path::Path::new(dir).join(key);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(&path, &body)?;
        println!("s3://{bucket}/{key}  ({} bytes)", body.len());
        // The summary is the current table's: one version of each row.
        if !key.starts_with("ad_metrics/") {
            continue;
        }
        let platform = key
            .split("platform=")
            .nth(1)
            .and_then(|r| r.split('/').next())
            .unwrap_or_default()
            .to_owned();
        for batch in ParquetRecordBatchReaderBuilder::try_new(body)?.build()? {
            let batch = batch?;
            let column = |name: &str| {
                batch
                    .column_by_name(name)
                    .cloned()
                    .ok_or_else(|| format!("no column {name}"))
            };
            let text = |name: &str| -> Result<StringArray, Box<dyn std::error::Error>> {
                Ok(column(name)?
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .cloned()
                    .ok_or_else(|| format!("{name} is not a string column"))?)
            };
            let int = |name: &str| -> Result<Int64Array, Box<dyn std::error::Error>> {
                Ok(column(name)?
                    .as_any()
                    .downcast_ref::<Int64Array>()
                    .cloned()
                    .ok_or_else(|| format!("{name} is not an int64 column"))?)
            };
            let dates = column("date")?
                .as_any()
                .downcast_ref::<Date32Array>()
                .cloned()
                .ok_or("date is not a date column")?;
            let (names, ads) = (text("campaign_name")?, text("ad_id")?);
            let (impressions, clicks, cost, views) = (
                int("impressions")?,
                int("clicks")?,
                int("cost_micros")?,
                int("video_views")?,
            );
            let opt_text =
                |a: &StringArray, i: usize| (!a.is_null(i)).then(|| a.value(i).to_owned());
            let opt_int = |a: &Int64Array, i: usize| (!a.is_null(i)).then(|| a.value(i));
            for i in 0..batch.num_rows() {
                let day = dates
                    .value_as_date(i)
                    .map(|d| d.to_string())
                    .unwrap_or_default();
                let entity = entity_label(opt_text(&names, i), opt_text(&ads, i));
                summary
                    .entry((platform.clone(), entity, day))
                    .or_default()
                    .add(
                        opt_int(&impressions, i),
                        opt_int(&clicks, i),
                        opt_int(&cost, i),
                        opt_int(&views, i),
                    );
            }
        }
    }
    println!();
    print_summary(&summary, Some(3));
    Ok(())
}

/// The local AWS named by the environment `setup` printed.
fn local_aws() -> Result<adpipe_testkit::TestAws, Box<dyn std::error::Error>> {
    let var = |name: &str| std::env::var(name).map_err(|_| format!("set {name} (from `setup`)"));
    Ok(adpipe_testkit::TestAws {
        endpoint: endpoint()?,
        control_table: var("CONTROL_TABLE")?,
        staging_table: var("STAGING_TABLE")?,
        app_credentials_secret: var("APP_CREDENTIALS_SECRET")?,
        extractor_function_arn: var("EXTRACTOR_FUNCTION_ARN")?,
        data_bucket: var("DATA_BUCKET")?,
        stream_failure_queue_url: var("FAILURE_QUEUE_URL")?,
        insights_queue_url: var("INSIGHTS_QUEUE_URL")?,
    })
}

/// (platform, campaign or video, day) -> totals
type Summary = std::collections::BTreeMap<(String, String, String), Totals>;

#[derive(Default, Clone, Copy)]
struct Totals {
    rows: u64,
    impressions: i64,
    clicks: i64,
    cost_micros: i64,
    video_views: i64,
}

impl Totals {
    fn add(
        &mut self,
        impressions: Option<i64>,
        clicks: Option<i64>,
        cost_micros: Option<i64>,
        video_views: Option<i64>,
    ) {
        self.rows += 1;
        self.impressions += impressions.unwrap_or(0);
        self.clicks += clicks.unwrap_or(0);
        self.cost_micros += cost_micros.unwrap_or(0);
        self.video_views += video_views.unwrap_or(0);
    }

    fn merge(&mut self, other: &Totals) {
        self.rows += other.rows;
        self.impressions += other.impressions;
        self.clicks += other.clicks;
        self.cost_micros += other.cost_micros;
        self.video_views += other.video_views;
    }
}

/// Per platform, campaign (or video) and day — only the last `recent_days` days of data
/// when given — then one line per platform over every day.
fn print_summary(summary: &Summary, recent_days: Option<usize>) {
    let mut days: Vec<&String> = summary.keys().map(|(_, _, d)| d).collect();
    days.sort_unstable();
    days.dedup();
    let from = recent_days
        .and_then(|n| days.len().checked_sub(n).map(|i| days[i].clone()))
        .unwrap_or_default();
    let header = |first: &str| {
        println!(
            "{:<11} {:<30} {:<10} {:>5} {:>11} {:>7} {:>12} {:>11}",
            "platform", first, "date", "rows", "impressions", "clicks", "spend", "video views"
        )
    };
    let line = |platform: &str, what: &str, date: &str, t: &Totals| {
        let spend = format!(
            "{}.{:02}",
            t.cost_micros / 1_000_000,
            (t.cost_micros % 1_000_000) / 10_000
        );
        println!(
            "{platform:<11} {what:<30} {date:<10} {:>5} {:>11} {:>7} {spend:>12} {:>11}",
            t.rows, t.impressions, t.clicks, t.video_views
        );
    };
    if !from.is_empty() {
        println!("the last {} days:", recent_days.unwrap_or_default());
    }
    header("campaign / video");
    let mut per_platform: std::collections::BTreeMap<&str, (Totals, usize)> = Default::default();
    for ((platform, what, date), totals) in summary {
        if *date >= from {
            line(platform, what, date, totals);
        }
        let entry = per_platform.entry(platform).or_default();
        entry.0.merge(totals);
    }
    for (platform, entry) in per_platform.iter_mut() {
        let platform_days: std::collections::BTreeSet<&String> = summary
            .keys()
            .filter(|(p, _, _)| p == platform)
            .map(|(_, _, d)| d)
            .collect();
        entry.1 = platform_days.len();
    }
    println!();
    println!("rows per platform, every day:");
    header("");
    for (platform, (totals, day_count)) in &per_platform {
        line(platform, &format!("{day_count} days"), "", totals);
    }
    println!(
        "{} rows",
        per_platform.values().map(|(t, _)| t.rows).sum::<u64>()
    );
}
