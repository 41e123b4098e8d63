//! `adpipe-migrate-lake` (stream_to_s3::migrate) against moto, on a lake written the old
//! way: append-only objects under `ad_metrics/`, some versions restated, one delivered out
//! of order, and partitions the new stream-to-s3 already wrote after the deploy.

use std::collections::BTreeMap;
use std::sync::Arc;

use adpipe_domain::{AdMetricRow, Level};
use adpipe_testkit::{aws, unique_tenant};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use stream_to_s3::encode::encode;
use stream_to_s3::migrate::{Options, Report, migrate};
use stream_to_s3::records::Sequence;
use stream_to_s3::sink::s3::S3Sink;
use stream_to_s3::{Merged, Partition, current::decode, current_key, merge_into, object_key};

use crate::common::campaign_row;

const ACCOUNT: &str = "act_1234567890";

fn day(n: u64) -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 5, 1).unwrap() + chrono::Days::new(n)
}

fn at(hours: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_780_000_000, 0).unwrap() + Duration::hours(hours)
}

fn row(
    tenant: &str,
    connection: &str,
    campaign: &str,
    d: u64,
    clicks: i64,
    hours: i64,
) -> AdMetricRow {
    AdMetricRow {
        clicks: Some(clicks),
        extracted_at: at(hours),
        ..campaign_row(
            tenant,
            connection,
            ACCOUNT,
            Level::Campaign,
            campaign,
            day(d),
        )
    }
}

/// The tenant's Facebook partition of day `d`.
fn partition(tenant: &str, d: u64) -> Partition {
    Partition {
        tenant_id: tenant.to_owned(),
        platform: "facebook",
        date: day(d),
    }
}

fn seq(n: u64) -> Sequence {
    Sequence::parse(&(4_421_584_500_000_000_000_u64 + n).to_string()).unwrap()
}

/// The key an object of this batch had before: the history's name under `ad_metrics/`.
fn old_key(partition: &Partition, first: u64, last: u64) -> String {
    let key = object_key(partition, &seq(first), &seq(last));
    key.replacen("ad_metrics_history/", "ad_metrics/", 1)
}

/// Writes `rows` (one partition) as one object under `key`; answers its bytes.
async fn put_batch(key: &str, rows: &[AdMetricRow]) -> Vec<u8> {
    let refs: Vec<&AdMetricRow> = rows.iter().collect();
    let file = encode(&refs).unwrap();
    aws().put_lake_object(key, file.clone()).await;
    file
}

fn options(tenant: &str) -> Options {
    Options {
        bucket: aws().data_bucket.clone(),
        tenant: Some(tenant.to_owned()),
        dry_run: false,
    }
}

async fn run(options: &Options) -> Report {
    migrate(&aws().s3().await, options).await.unwrap()
}

/// Clicks per (object key, campaign) of the tenant's current objects.
async fn current_clicks(tenant: &str) -> BTreeMap<(String, String), i64> {
    let mut out = BTreeMap::new();
    for key in aws()
        .lake_keys(&format!("ad_metrics/tenant_id={tenant}/"))
        .await
    {
        if !key.ends_with(".parquet") {
            continue;
        }
        let d: NaiveDate = key.split("dt=").nth(1).unwrap()[..10].parse().unwrap();
        let partition = Partition {
            tenant_id: tenant.to_owned(),
            platform: "facebook",
            date: d,
        };
        let current = decode(aws().lake_object(&key).await, &partition).unwrap();
        let mut seen = std::collections::HashSet::new();
        for r in current.rows {
            assert!(
                seen.insert(r.row_key.clone()),
                "one version of a row: {key}"
            );
            let name = key.rsplit('/').next().unwrap().to_owned();
            out.insert(
                (format!("{}/{name}", r.date), r.campaign_id.unwrap()),
                r.clicks.unwrap(),
            );
        }
    }
    out
}

async fn etags(prefix: &str) -> Vec<(String, String)> {
    let s3 = aws().s3().await;
    let mut out = Vec::new();
    for key in aws().lake_keys(prefix).await {
        let head = s3
            .head_object()
            .bucket(&aws().data_bucket)
            .key(&key)
            .send()
            .await
            .unwrap();
        out.push((key, head.e_tag().unwrap().to_owned()));
    }
    out
}

#[tokio::test]
async fn an_old_lake_becomes_the_current_table_and_its_history_and_a_second_run_changes_nothing() {
    let tenant = unique_tenant();
    let t = tenant.as_str();
    let p = |d| partition(t, d);
    // (day, first and last sequence number, rows) of the batches the old stream-to-s3
    // wrote, one object per day of a batch.
    let batches = [
        (
            0,
            100,
            102,
            vec![
                row(t, "con_1", "c1", 0, 10, 0),
                row(t, "con_2", "c9", 0, 90, 0),
            ],
        ),
        (1, 101, 103, vec![row(t, "con_1", "c1", 1, 20, 0)]),
        // Day 0 of c1 restated, two versions in one object: the later in the file wins.
        (
            0,
            200,
            201,
            vec![
                row(t, "con_1", "c1", 0, 14, 24),
                row(t, "con_1", "c1", 0, 15, 24),
            ],
        ),
        // An older version of c1's day 1 delivered late: it must not win.
        (1, 300, 300, vec![row(t, "con_1", "c1", 1, 19, -5)]),
    ];
    let mut old = Vec::new();
    for (d, first, last, rows) in batches {
        let key = old_key(&p(d), first, last);
        let bytes = put_batch(&key, &rows).await;
        old.push((key, bytes));
    }
    // Something else under the prefix: left alone.
    let junk = format!("ad_metrics/tenant_id={t}/README.txt");
    aws().put_lake_object(&junk, b"notes".to_vec()).await;
    // After the deploy, the new stream-to-s3 wrote day 1 of con_2 to both tables.
    let newer = row(t, "con_2", "c9", 1, 77, 30);
    put_batch(
        &object_key(&p(1), &seq(400), &seq(400)),
        std::slice::from_ref(&newer),
    )
    .await;
    let sink = S3Sink::new(aws().s3().await, aws().data_bucket.clone());
    let written = merge_into(
        &sink,
        &p(1),
        &current_key(&p(1), "con_2"),
        &[(seq(400), Arc::new(newer))],
    )
    .await
    .unwrap();
    assert!(matches!(written, Merged::Written { .. }));

    let before = etags(&format!("ad_metrics/tenant_id={t}/")).await;
    let dry = run(&Options {
        dry_run: true,
        ..options(t)
    })
    .await;
    assert_eq!(
        (dry.old_objects, dry.copied_to_history, dry.old_deleted),
        (4, 4, 4)
    );
    assert_eq!(dry.partitions, 2);
    assert_eq!(
        etags(&format!("ad_metrics/tenant_id={t}/")).await,
        before,
        "a dry run writes nothing"
    );

    let report = run(&options(t)).await;
    assert_eq!(report.failures, Vec::<String>::new());
    assert_eq!(report.skipped, vec![junk.clone()]);
    assert_eq!(
        (
            report.old_objects,
            report.copied_to_history,
            report.old_deleted
        ),
        (4, 4, 4)
    );
    assert_eq!(report.partitions, 2);
    assert_eq!(
        (report.current_written, report.current_unchanged),
        (3, 1),
        "con_2's day 1 already held its newest version"
    );

    // The current table: one object per (day, connection), each row's newest version.
    let current = current_clicks(t).await;
    let expected: BTreeMap<(String, String), i64> = [
        ("2026-05-01/con_1.parquet", "c1", 15),
        ("2026-05-01/con_2.parquet", "c9", 90),
        ("2026-05-02/con_1.parquet", "c1", 20),
        ("2026-05-02/con_2.parquet", "c9", 77),
    ]
    .into_iter()
    .map(|(k, c, v)| ((k.to_owned(), c.to_owned()), v))
    .collect();
    assert_eq!(current, expected);
    let mut left = aws().lake_keys(&format!("ad_metrics/tenant_id={t}/")).await;
    left.retain(|k| !k.ends_with("/con_1.parquet") && !k.ends_with("/con_2.parquet"));
    assert_eq!(left, vec![junk.clone()], "the old objects are gone");

    // The history: every old object under its name, byte for byte, beside the new one.
    let history = aws()
        .lake_keys(&format!("ad_metrics_history/tenant_id={t}/"))
        .await;
    assert_eq!(history.len(), 5);
    for (key, bytes) in &old {
        let moved = key.replacen("ad_metrics/", "ad_metrics_history/", 1);
        assert_eq!(
            aws().lake_object(&moved).await.as_ref(),
            bytes.as_slice(),
            "{moved}"
        );
    }

    // Again: nothing old to move, nothing newer to merge, no object written.
    let after = etags(&format!("ad_metrics/tenant_id={t}/")).await;
    let again = run(&options(t)).await;
    assert_eq!(
        (
            again.old_objects,
            again.current_written,
            again.current_unchanged,
            again.old_deleted
        ),
        (0, 0, 4, 0)
    );
    assert_eq!(etags(&format!("ad_metrics/tenant_id={t}/")).await, after);
}

#[tokio::test]
async fn a_partition_that_cannot_be_read_keeps_its_old_objects_and_the_others_move() {
    let tenant = unique_tenant();
    let t = tenant.as_str();
    let p = |d| partition(t, d);
    let good = old_key(&p(0), 100, 100);
    put_batch(&good, &[row(t, "con_1", "c1", 0, 10, 0)]).await;
    let bad = old_key(&p(1), 101, 101);
    aws().put_lake_object(&bad, b"not parquet".to_vec()).await;
    let bad_sibling = old_key(&p(1), 102, 102);
    put_batch(&bad_sibling, &[row(t, "con_1", "c1", 1, 20, 0)]).await;

    let report = run(&options(t)).await;
    assert_eq!(report.failures.len(), 1, "{:?}", report.failures);
    let failure = &report.failures[0];
    assert!(failure.contains("dt=2026-05-02"), "{failure}");
    assert!(failure.contains("not the data lake's Parquet"), "{failure}");
    assert_eq!((report.old_objects, report.old_deleted), (3, 1));

    let keys = aws().lake_keys(&format!("ad_metrics/tenant_id={t}/")).await;
    assert!(
        keys.contains(&bad) && keys.contains(&bad_sibling),
        "kept: {keys:?}"
    );
    assert!(!keys.contains(&good), "moved: {keys:?}");
    assert!(
        keys.iter()
            .any(|k| k.ends_with("dt=2026-05-01/con_1.parquet"))
    );
    assert!(
        !keys.iter().any(|k| k.contains("dt=2026-05-02/con_")),
        "no current object from a partition only partly read: {keys:?}"
    );

    // Fixed, the next run moves the rest.
    aws()
        .put_lake_object(&bad, encode(&[&row(t, "con_1", "c2", 1, 5, 0)]).unwrap())
        .await;
    let report = run(&options(t)).await;
    assert_eq!(report.failures, Vec::<String>::new());
    assert_eq!(report.old_deleted, 2);
    let current = current_clicks(t).await;
    assert_eq!(current.len(), 3, "{current:?}");
}
