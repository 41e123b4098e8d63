#!/usr/bin/env bash
# `make bench`: the figures README "Measured figures" reports.
#  1. release bootstrap sizes, as `cargo lambda build --release` makes them (x86_64 here)
#  2. schedule-api and extractor init time: spawn -> first /next against a local runtime API,
#     median of 20
#  3. handler time of POST /v1/schedules with in-memory ports (criterion)
#  4. Facebook insights: parse -> normalize (-> DynamoDB item), rows per second (criterion);
#     staging items of a re-run of an unchanged window (integration test against moto)
#  5. Google Ads searchStream: a 10,000-row response parsed to rows, rows per second (criterion)
#  6. stream-to-s3: a 6 MB batch — serde_json floor, whole handler, peak RSS
#  7. extractor memory: peak RSS of a 100,000-row ad-level chunk, page by page vs whole chunk
#  8. running cost per 1 M distinct rows: a month of daily 28-day re-reads, requests counted
#     against moto (integration test), times the list prices of tests/support/src/prices.rs
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== bootstrap sizes (cargo lambda build --release, x86_64)"
cargo lambda build --release --bin schedule-api --bin extractor --bin stream-to-s3 >/dev/null
for bin in schedule-api extractor stream-to-s3; do
  f="target/lambda/$bin/bootstrap"
  size=$(stat -c %s "$f"); awk -v b="$bin" -v s="$size" 'BEGIN { printf "%-14s %10d bytes  %5.1f MB\n", b, s, s / 1e6 }'
done

echo "== init time (spawn -> first /next)"
cargo bench -q -p schedule-api --bench init 2>/dev/null | grep -v '^$'
cargo bench -q -p extractor --bench init 2>/dev/null | grep -v '^$'

echo "== handler time (criterion; HTML report in target/criterion)"
cargo bench -q -p schedule-api --bench create_schedule -- --noplot 2>/dev/null | grep -E 'time:|POST' || true

echo "== Facebook insights, 10,000 rows (criterion)"
cargo bench -q -p extractor --bench facebook -- --noplot 2>/dev/null | grep -E 'thrpt:|^facebook' || true

echo "== Facebook: the same 28-day window extracted twice, against moto (staging items read and written by the re-run; target ≤ 28 reads, 0 writes)"
cargo test -q -p adpipe-tests --test integration a_rerun_of_an_unchanged_window_reads_one_item_a_day_and_writes_none -- --nocapture 2>/dev/null | grep -E '^re-run' || true

echo "== Google Ads searchStream, 10,000 rows (criterion)"
cargo bench -q -p extractor --bench google_ads -- --noplot 2>/dev/null | grep -E 'thrpt:|^google' || true

echo "== stream-to-s3: a 6 MB batch of stream records"
cargo bench -q -p stream-to-s3 --bench batch 2>/dev/null | grep -v '^$'

echo "== extractor: peak RSS of one 100,000-row ad-level chunk, staged into moto"
cargo bench -q -p extractor --bench memory 2>/dev/null | grep -v '^$'

echo "== running cost: 30 daily runs of 500 ad rows a day, 28-day lookback, counted against moto (tests/tests/running_cost.rs; prices: tests/support/src/prices.rs)"
ADPIPE_COST_ROWS=500 ADPIPE_COST_DAYS=30 cargo test -q -p adpipe-tests --test integration running_cost -- --nocapture 2>/dev/null | grep -E '^cost' || true

echo "== insights: alerts accuracy against the naive z-score (seeded synthetic benchmark; docs/insights-alerts.md)"
cargo bench -q -p insights --bench accuracy 2>/dev/null | grep -v '^$'

echo "== insights: pacing backtest (projections on days 10, 15, 20; docs/insights-pacing.md)"
cargo bench -q -p insights --bench pacing_backtest -- --noplot 2>/dev/null | grep -E '^\||time:|backtest' || true

echo "== insights: one connection of 200 campaigns x 180 days (compute time, criterion; peak RSS of a whole refresh)"
cargo bench -q -p insights --bench speed -- --noplot 2>/dev/null | grep -E 'time:|^refresh|^compute' || true
