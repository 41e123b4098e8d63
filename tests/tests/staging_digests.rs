//! The staging table's day digests against moto (`crates/extractor/src/staging/digest.rs`):
//! a day too large for one item, two chunks racing on one day's digest, and a digest item
//! that is not one, in the stream-less copy of the staging table (25,000 rows on the shared
//! stream would slow every test reading it). The run-level counts (one read a day, no
//! write for unchanged rows) are in `extractor_runs.rs`.

use adpipe_domain::{AdMetricRow, Level};
use adpipe_testkit::{FaultProxy, aws, unique_tenant};
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::NaiveDate;
use extractor::ports::Staging;
use extractor::staging::dynamodb::DynamoStaging;

use crate::common::campaign_row;

const CONNECTION: &str = "con_digest";

fn day() -> NaiveDate {
    NaiveDate::from_ymd_opt(2026, 5, 1).unwrap()
}

/// `n` ad-level rows of one day, ads `ad-0` … `ad-<n-1>` (keyed by the ad).
fn ads(tenant: &str, n: usize) -> Vec<AdMetricRow> {
    (0..n)
        .map(|i| {
            let ad = format!("ad-{i}");
            AdMetricRow {
                campaign_id: Some("c1".into()),
                ad_id: Some(ad.clone()),
                ..campaign_row(tenant, CONNECTION, "act_1", Level::Ad, &ad, day())
            }
        })
        .collect()
}

async fn staging_through(proxy: &FaultProxy) -> DynamoStaging {
    let client = adpipe_testkit::dynamodb_at(&proxy.endpoint()).await;
    let table = aws().bulk_staging_table().await;
    DynamoStaging::new(client, table, 7).with_backoff(std::time::Duration::ZERO)
}

/// The tenant's digest items: (sort key, size of its `hashes` in bytes).
async fn digest_items(tenant: &str) -> Vec<(String, usize)> {
    let table = aws().bulk_staging_table().await;
    aws()
        .items_under(table, &format!("#DIGEST#{tenant}#{CONNECTION}"))
        .await
        .into_iter()
        .map(|item| {
            let sk = item["sk"].as_s().unwrap().clone();
            let bytes = item
                .get("hashes")
                .and_then(|h| h.as_b().ok())
                .map_or(0, |b| b.as_ref().len());
            (sk, bytes)
        })
        .collect()
}

#[tokio::test]
async fn a_day_past_the_400_kb_item_limit_keeps_its_digest_in_parts_and_reads_back_whole() {
    let tenant = unique_tenant();
    let proxy = FaultProxy::start(&aws().endpoint).await;
    let staging = staging_through(&proxy).await;
    let table = aws().bulk_staging_table().await;
    let rows = ads(&tenant, 25_000);

    assert_eq!(staging.write_all(rows.clone()).await.unwrap(), 25_000);
    let items = digest_items(&tenant).await;
    assert_eq!(items.len(), 3, "a head and two parts: {items:?}");
    assert!(
        items.iter().all(|(_, bytes)| *bytes < 350_000),
        "each part well under 400 KB: {items:?}"
    );
    assert_eq!(
        items.iter().map(|(_, b)| b).sum::<usize>(),
        25_000 * 16,
        "16 bytes a row"
    );

    proxy.forget_requests();
    assert_eq!(staging.write_all(rows.clone()).await.unwrap(), 0);
    assert_eq!(
        (proxy.item_reads(table), proxy.item_writes(table)),
        (3, 0),
        "the head and its two parts read, nothing written"
    );

    // One ad restated: that row, the day's new parts and head, the old parts deleted.
    let mut restated = rows;
    restated[24_321].clicks = Some(999_999);
    proxy.forget_requests();
    assert_eq!(staging.write_all(restated.clone()).await.unwrap(), 1);
    assert_eq!(proxy.item_writes(table), 1 + 2 + 1 + 2);
    assert_eq!(
        digest_items(&tenant).await.len(),
        3,
        "the old parts are gone"
    );
    proxy.forget_requests();
    assert_eq!(staging.write_all(restated).await.unwrap(), 0);
    assert_eq!(proxy.item_writes(table), 0);
}

#[tokio::test]
async fn two_chunks_racing_on_one_days_digest_keep_both_rows() {
    let tenant = unique_tenant();
    let table = aws().bulk_staging_table().await;
    let staging = DynamoStaging::new(aws().dynamodb().await, table, 7);
    let rows = ads(&tenant, 2);

    // Both read the day's digest (none yet) before either stores it.
    let mut first = staging.chunk();
    let mut second = staging.chunk();
    assert_eq!(first.write(vec![rows[0].clone()]).await.unwrap(), 1);
    assert_eq!(second.write(vec![rows[1].clone()]).await.unwrap(), 1);
    first.finish().await.unwrap();
    // Its conditional write finds the first's version, reads it and writes both.
    second.finish().await.unwrap();

    assert_eq!(
        staging.write_all(rows).await.unwrap(),
        0,
        "both rows recorded"
    );
}

#[tokio::test]
async fn a_digest_item_that_is_not_one_fails_the_write_by_name_and_stages_nothing() {
    let tenant = unique_tenant();
    let table = aws().bulk_staging_table().await;
    let db = aws().dynamodb().await;
    db.put_item()
        .table_name(table)
        .item(
            "pk",
            AttributeValue::S(format!("#DIGEST#{tenant}#{CONNECTION}")),
        )
        .item("sk", AttributeValue::S(format!("ad#{}", day())))
        .item("digest_version", AttributeValue::N("1".into()))
        .item("hashes", AttributeValue::S("not bytes".into()))
        .send()
        .await
        .unwrap();
    let staging = DynamoStaging::new(db.clone(), table, 7);

    let error = staging.write_all(ads(&tenant, 3)).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "a stored item could not be read: digest item: neither `hashes` nor a `part_set`"
    );
    let rows = aws()
        .items_under(table, &format!("{tenant}#facebook#act_1"))
        .await;
    assert!(
        rows.is_empty(),
        "no row staged past a digest it cannot read"
    );
}
