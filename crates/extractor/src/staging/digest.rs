//! The day digests of the staging table (docs/architecture.md, "Re-reads: one read per
//! day"). One item per (tenant, connection, level, day) holds a fingerprint of every row
//! staged for that day and of its content, so a re-read compares each fetched row with its
//! day's item, read once, instead of reading the row's own item, and writes only what
//! changed. The digest items outlive the rows (the longest lookback and a week), so a row
//! whose item expired after `STAGING_TTL_DAYS` is still known as staged and not written
//! again.
//!
//! Layout: `pk = #DIGEST#<tenant>#<connection>` (`#` starts no tenant id, so no row's
//! partition looks like it), `sk = <level>#<date>`; `hashes` holds 16 bytes a row, sorted
//! (8 of a SHA-256 of the `row_key`, 8 of its `content_hash`), `rows` their count (for a
//! person reading the table), `digest_version` the count of its writes (writes are
//! conditional on it). A day of
//! more than [`ROWS_PER_ITEM`] rows keeps its hashes in part items
//! `<level>#<date>#<part set>#<i>` the head names, under DynamoDB's 400 KB item limit.
//! The items carry no `row_key`, so stream-to-s3 passes over their stream records.

use std::collections::HashMap;

use adpipe_domain::AdMetricRow;
use adpipe_domain::keys::{EXPIRES_AT, PK, SK};
use adpipe_domain::report::ReportSpec;
use adpipe_dynamodb::{Failure, Item, key};
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::AttributeValue;
use chrono::{DateTime, NaiveDate, Utc};
use sha2::{Digest as _, Sha256};

pub const VERSION: &str = "digest_version";
const ROWS: &str = "rows";
const HASHES: &str = "hashes";
const PART_SET: &str = "part_set";
const PARTS: &str = "parts";

/// Bytes a row takes in `hashes`.
const ENTRY: usize = 16;
/// Rows whose hashes one item holds: 20,000 × 16 bytes is 320 KB, under DynamoDB's 400 KB
/// item limit with room for the keys and the other attributes.
pub const ROWS_PER_ITEM: usize = 20_000;
/// How long a digest lives after its last write: the longest lookback a schedule can have
/// and a week. A day is re-read only while it is inside its schedule's lookback, so its
/// digest outlives every re-read.
pub const TTL_DAYS: i64 = ReportSpec::MAX_LOOKBACK_DAYS + 7;

/// The day a staged row belongs to.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct DayKey {
    pub tenant: String,
    pub connection: String,
    pub level: &'static str,
    pub date: NaiveDate,
}

impl DayKey {
    pub fn of(row: &AdMetricRow) -> Self {
        Self {
            tenant: row.tenant_id.clone(),
            connection: row.connection_id.clone(),
            level: row.level.as_str(),
            date: row.date,
        }
    }

    pub fn pk(&self) -> String {
        format!("#DIGEST#{}#{}", self.tenant, self.connection)
    }

    pub fn sk(&self) -> String {
        format!("{}#{}", self.level, self.date)
    }

    pub fn key(&self) -> Item {
        key(self.pk(), self.sk())
    }

    fn part_key(&self, set: &str, part: usize) -> Item {
        key(self.pk(), format!("{}#{set}#{part}", self.sk()))
    }
}

/// A row's entry in its day's digest: 8 bytes of a SHA-256 of its `row_key` and the first
/// 8 bytes of its `content_hash` (hexadecimal SHA-256). 64 bits each: two rows of one day
/// share a fingerprint, or a change keeps a content's, with odds of about 2^-64 per pair.
pub fn entry(row_key: &str, content_hash: &str) -> (u64, u64) {
    let fingerprint = Sha256::digest(row_key.as_bytes());
    let fingerprint = u64::from_be_bytes(fingerprint[..8].try_into().expect("8 bytes"));
    let content = content_hash
        .get(..16)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        // Not hexadecimal (never, from `content_hash`): hash the text instead.
        .unwrap_or_else(|| {
            let h = Sha256::digest(content_hash.as_bytes());
            u64::from_be_bytes(h[..8].try_into().expect("8 bytes"))
        });
    (fingerprint, content)
}

/// Where a day's stored digest item is: its version (0: none stored) and the part items
/// that hold its hashes, if it has them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Stored {
    pub version: u64,
    pub parts: Option<(String, usize)>,
}

/// One day's row hashes: as stored, plus what this chunk wrote.
#[derive(Debug, Default)]
pub struct DayHashes {
    pub stored: Stored,
    rows: HashMap<u64, u64>,
    written: HashMap<u64, u64>,
}

impl DayHashes {
    /// Whether this row, with this content, is staged already.
    pub fn is_staged(&self, (fingerprint, content): (u64, u64)) -> bool {
        self.rows.get(&fingerprint) == Some(&content)
    }

    /// Notes a row as written.
    pub fn record(&mut self, (fingerprint, content): (u64, u64)) {
        self.rows.insert(fingerprint, content);
        self.written.insert(fingerprint, content);
    }

    /// Whether this chunk wrote rows of the day that its stored digest does not know.
    pub fn changed(&self) -> bool {
        !self.written.is_empty()
    }

    pub fn len(&self) -> usize {
        self.rows.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Another writer stored the day first: its hashes, with this chunk's writes over them.
    pub fn rebase(&mut self, stored: DayHashes) {
        self.stored = stored.stored;
        self.rows = stored.rows;
        self.rows.extend(
            self.written
                .iter()
                .map(|(&fingerprint, &content)| (fingerprint, content)),
        );
    }

    /// The stored digest now holds this chunk's writes.
    pub fn saved(&mut self, stored: Stored) {
        self.stored = stored;
        self.written.clear();
    }

    /// The entries, sorted, as `hashes` stores them.
    fn encode(&self) -> Vec<u8> {
        let mut entries: Vec<(u64, u64)> = self.rows.iter().map(|(&f, &c)| (f, c)).collect();
        entries.sort_unstable();
        let mut bytes = Vec::with_capacity(entries.len() * ENTRY);
        for (fingerprint, content) in entries {
            bytes.extend_from_slice(&fingerprint.to_be_bytes());
            bytes.extend_from_slice(&content.to_be_bytes());
        }
        bytes
    }

    fn extend_from(&mut self, bytes: &[u8]) -> Result<(), Failure> {
        if bytes.len() % ENTRY != 0 {
            return Err(Failure::Corrupt(format!(
                "digest `{HASHES}` of {} bytes is not whole {ENTRY}-byte entries",
                bytes.len()
            )));
        }
        self.rows.extend(bytes.chunks_exact(ENTRY).map(|e| {
            let fingerprint = u64::from_be_bytes(e[..8].try_into().expect("8 bytes"));
            let content = u64::from_be_bytes(e[8..].try_into().expect("8 bytes"));
            (fingerprint, content)
        }));
        Ok(())
    }
}

/// The items that store `day` as version `version`: its head, and its part items when the
/// day has more than [`ROWS_PER_ITEM`] rows (their set named `set`).
pub fn items(
    key: &DayKey,
    day: &DayHashes,
    version: u64,
    set: &str,
    now: DateTime<Utc>,
) -> (Item, Vec<Item>, Stored) {
    let hashes = day.encode();
    let expires_at = (now + chrono::Duration::days(TTL_DAYS)).timestamp();
    let number = |n: i64| AttributeValue::N(n.to_string());
    let mut head = key.key();
    head.insert(VERSION.into(), number(version as i64));
    head.insert(ROWS.into(), number(day.len() as i64));
    head.insert(EXPIRES_AT.into(), number(expires_at));
    if day.len() <= ROWS_PER_ITEM {
        head.insert(HASHES.into(), AttributeValue::B(Blob::new(hashes)));
        let stored = Stored {
            version,
            parts: None,
        };
        return (head, Vec::new(), stored);
    }
    let parts: Vec<Item> = hashes
        .chunks(ROWS_PER_ITEM * ENTRY)
        .enumerate()
        .map(|(i, bytes)| {
            let mut part = key.part_key(set, i);
            part.insert(HASHES.into(), AttributeValue::B(Blob::new(bytes.to_vec())));
            part.insert(EXPIRES_AT.into(), number(expires_at));
            part
        })
        .collect();
    head.insert(PART_SET.into(), AttributeValue::S(set.to_owned()));
    head.insert(PARTS.into(), number(parts.len() as i64));
    let stored = Stored {
        version,
        parts: Some((set.to_owned(), parts.len())),
    };
    (head, parts, stored)
}

/// The keys of the part items `stored` names.
pub fn part_keys(key: &DayKey, stored: &Stored) -> Vec<Item> {
    stored
        .parts
        .iter()
        .flat_map(|(set, n)| (0..*n).map(move |i| key.part_key(set, i)))
        .collect()
}

/// A head item read back: the day's hashes, or (when they are in part items) what is
/// stored and still to be read.
pub fn from_head(item: &Item) -> Result<DayHashes, Failure> {
    let corrupt = |what: &str| Failure::Corrupt(format!("digest item: {what}"));
    let number = |name: &str| -> Result<u64, Failure> {
        item.get(name)
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| corrupt(&format!("`{name}` is not a number")))
    };
    let mut day = DayHashes {
        stored: Stored {
            version: number(VERSION)?,
            parts: None,
        },
        ..DayHashes::default()
    };
    match (item.get(HASHES), item.get(PART_SET)) {
        (Some(AttributeValue::B(bytes)), None) => day.extend_from(bytes.as_ref())?,
        (None, Some(AttributeValue::S(set))) => {
            day.stored.parts = Some((set.clone(), number(PARTS)? as usize));
        }
        _ => return Err(corrupt("neither `hashes` nor a `part_set`")),
    }
    Ok(day)
}

/// Adds a part item's hashes to its day.
pub fn add_part(day: &mut DayHashes, item: &Item) -> Result<(), Failure> {
    match item.get(HASHES) {
        Some(AttributeValue::B(bytes)) => day.extend_from(bytes.as_ref()),
        _ => Err(Failure::Corrupt("digest part item without `hashes`".into())),
    }
}

/// The day a head or part item is of, from its keys.
pub fn sk_of(item: &Item) -> Option<(&str, &str)> {
    let text = |name| item.get(name).and_then(|v: &AttributeValue| v.as_s().ok());
    Some((text(PK)?.as_str(), text(SK)?.as_str()))
}

#[cfg(test)]
mod tests {
    use adpipe_domain::Level;
    use adpipe_domain::fixtures::campaign_row;

    use super::*;

    fn day_of(n: u64) -> DayHashes {
        let mut day = DayHashes::default();
        for i in 0..n {
            day.record((i * 7919, i));
        }
        day
    }

    /// The ad-level day 2026-03-01 of tenant `t`'s connection `con_1`.
    fn ad_day() -> DayKey {
        DayKey::of(&campaign_row(
            "t",
            "con_1",
            "act_1",
            Level::Ad,
            "c1",
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        ))
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_780_000_000, 0).unwrap()
    }

    #[test]
    fn a_row_is_staged_only_with_the_content_recorded() {
        let row = campaign_row(
            "t",
            "con_1",
            "act_1",
            Level::Campaign,
            "c1",
            NaiveDate::from_ymd_opt(2026, 3, 1).unwrap(),
        );
        let mut day = DayHashes::default();
        let e = entry(&row.row_key, &row.content_hash());
        assert!(!day.is_staged(e));
        day.record(e);
        assert!(day.is_staged(e));
        let changed = AdMetricRow {
            clicks: Some(12_345),
            ..row.clone()
        };
        assert!(!day.is_staged(entry(&changed.row_key, &changed.content_hash())));
    }

    #[test]
    fn a_small_day_is_one_item_that_reads_back_as_written() {
        let key = ad_day();
        let day = day_of(500);
        let (head, parts, stored) = items(&key, &day, 3, "unused", now());
        assert!(parts.is_empty());
        assert_eq!(stored.version, 3);
        assert_eq!(head[SK].as_s().unwrap(), "ad#2026-03-01");
        assert_eq!(head[PK].as_s().unwrap(), "#DIGEST#t#con_1");
        let back = from_head(&head).unwrap();
        assert_eq!(back.stored, stored);
        assert_eq!(back.rows, day.rows);
        assert_eq!(
            head[EXPIRES_AT].as_n().unwrap(),
            &(now().timestamp() + 97 * 86_400).to_string()
        );
    }

    #[test]
    fn a_day_past_the_item_limit_splits_into_parts_each_under_400_kb() {
        let key = ad_day();
        let day = day_of(45_000);
        let (head, parts, stored) = items(&key, &day, 1, "1-abc", now());
        assert_eq!(parts.len(), 3);
        assert_eq!(stored.parts, Some(("1-abc".into(), 3)));
        for part in &parts {
            let bytes = part[HASHES].as_b().unwrap().as_ref().len();
            assert!(bytes <= 320_000, "{bytes} bytes");
        }
        assert!(!head.contains_key(HASHES));
        let mut back = from_head(&head).unwrap();
        assert!(back.is_empty(), "the hashes are in the parts");
        assert_eq!(part_keys(&key, &back.stored).len(), 3);
        for part in &parts {
            add_part(&mut back, part).unwrap();
        }
        assert_eq!(back.rows, day.rows);
    }

    #[test]
    fn a_rebase_keeps_the_other_writers_rows_and_this_chunks_writes() {
        let mut theirs = day_of(3);
        theirs.record((1_000_000, 1));
        theirs.stored.version = 2;
        let mut ours = day_of(3);
        ours.saved(Stored::default());
        ours.record((2_000_000, 2));
        ours.rebase(theirs);
        assert_eq!(ours.stored.version, 2);
        assert!(ours.is_staged((1_000_000, 1)) && ours.is_staged((2_000_000, 2)));
        assert_eq!(ours.len(), 5);
        assert!(ours.changed());
    }

    #[test]
    fn a_malformed_digest_item_is_refused_by_name() {
        let key = ad_day();
        let (mut head, _, _) = items(&key, &day_of(2), 1, "x", now());
        head.insert(HASHES.into(), AttributeValue::B(Blob::new(vec![0; 17])));
        let err = from_head(&head).unwrap_err().to_string();
        assert!(err.contains("17 bytes"), "{err}");
        head.remove(HASHES);
        let err = from_head(&head).unwrap_err().to_string();
        assert!(err.contains("part_set"), "{err}");
    }
}
