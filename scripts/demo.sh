#!/usr/bin/env bash
# `make demo`: adpipe's main job on loopback, with moto as local AWS and local fakes of the
# three ad platforms (a Facebook ad account, a Google Ads customer with Google's OAuth token
# endpoint, a YouTube channel), each in its documented wire format.
# Starts moto, the fake Graph API and the schedule API in local mode (a fixed demo tenant
# stands in for API Gateway's JWT check); connects the ad account; schedules a daily
# extraction; shows the EventBridge rule and target moto now holds; fires the rule the way
# EventBridge would (moto fires nothing) into the real extractor binary through a local
# Lambda runtime API; prints the run and the staged rows per campaign and day; fires it
# again to show an unchanged window writes nothing; relays the staging table's stream into
# the real stream-to-s3 binary (moto's stream mappings fire nothing); has the fake Graph API
# restate a day (late purchases), fires the rule again (one row written) and relays the new
# stream records; does the same for a Google Ads customer and a YouTube channel
# (connections from refresh tokens); ends with the Parquet objects of both tables, copied to
# .demo/lake, and the README's DuckDB queries (docs/queries/) over them: the current numbers,
# the restated row's two versions in ad_metrics_history and one in ad_metrics, what changed.
# Before the other platforms, the pixel stops firing yesterday (the fake Graph API reports
# no purchases), the rule fires again and the stream relays the three rows: the "what
# changed" query shows them too. At the end, insights: the insights queue's requests (one
# per connection stream-to-s3 touched) go to the real insights binary; a monthly budget is
# set through the API, and the month's pacing and the tenant's alerts are read back.
# Everything it starts, it stops.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
work="$root/.demo"
mkdir -p "$work"

name=demo
# shellcheck source=scripts/local.sh
source scripts/local.sh
pretty() { python3 -m json.tool; }

say "building (debug) the local API and the local AWS helper"
# The local API is behind schedule-api's `local` feature (docs/architecture.md, "Local mode").
cargo build -q -p schedule-api --features local --bin adpipe-local-api
cargo build -q -p adpipe-testkit --bin adpipe-local-aws --bin adpipe-fake-platforms \
  -p extractor --bin extractor -p stream-to-s3 --bin stream-to-s3 -p insights --bin insights
bin="${CARGO_TARGET_DIR:-$root/target}/debug"

start_moto

say "starting the fake ad platforms (Facebook act_1234567890, Google Ads 123-456-7890, YouTube UCdemo0adpipe0channel000)"
"$bin/adpipe-fake-platforms" >"$work/platforms.env" 2>"$work/platforms.log" &
started $!
for _ in $(seq 1 100); do [[ -s "$work/platforms.env" ]] && break; sleep 0.1; done
cat "$work/platforms.env"

say "creating the tables template.yaml declares, the app-credentials secret, an extractor function"
"$bin/adpipe-local-aws" setup | tee "$work/env"
set -a
# shellcheck disable=SC1091
source "$work/env"
# shellcheck disable=SC1091
source "$work/platforms.env"
set +a
export_local_aws demo

api="http://127.0.0.1:$ADPIPE_LOCAL_PORT"
say "starting the schedule API in local mode on $api (tenant: demo)"
"$bin/adpipe-local-api" >"$work/api.log" 2>&1 &
started $!
wait_http "$api/v1/connections"

say "POST /v1/connections"
connection="$(curl -sS -X POST "$api/v1/connections" -H 'content-type: application/json' \
  -d '{"platform": "facebook", "account_id": "act_1234567890", "name": "Demo ad account", "credentials": {"access_token": "EAAB-demo-token"}}')"
echo "$connection" | pretty
connection_id="$(echo "$connection" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"

say "POST /v1/schedules (daily at 06:00 UTC, campaigns, 28-day lookback)"
schedule="$(curl -sS -X POST "$api/v1/schedules" -H 'content-type: application/json' -H 'idempotency-key: demo-1' \
  -d "{\"connection_id\": \"$connection_id\", \"schedule_expression\": \"cron(0 6 * * ? *)\", \"report\": {\"level\": \"campaign\"}, \"description\": \"Daily Facebook campaigns\"}")"
echo "$schedule" | pretty
schedule_id="$(echo "$schedule" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
rule_name="$(echo "$schedule" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rule_name"])')"

say "POST /v1/schedules with a too-frequent expression (refused by adpipe; moto would accept it)"
curl -sS -X POST "$api/v1/schedules" -H 'content-type: application/json' \
  -d "{\"connection_id\": \"$connection_id\", \"schedule_expression\": \"cron(0/2 * * * ? *)\"}" | pretty

say "the EventBridge rule and target moto now holds"
"$bin/adpipe-local-aws" show-rule "$rule_name"

say "firing the rule now: the input its target gets"
"$bin/adpipe-local-aws" fire-rule "$rule_name" | tee "$work/scheduled-event.json"

say "the extractor binary runs that event (local Lambda runtime API)"
"$bin/adpipe-local-aws" invoke "$bin/extractor" "$work/scheduled-event.json" 2>"$work/extractor.log"

say "the staged rows, per campaign and day"
"$bin/adpipe-local-aws" staged demo

say "firing the rule again: the same window, unchanged, writes nothing"
"$bin/adpipe-local-aws" fire-rule "$rule_name" >"$work/scheduled-event-2.json"
"$bin/adpipe-local-aws" invoke "$bin/extractor" "$work/scheduled-event-2.json" 2>>"$work/extractor.log" \
  | python3 -c 'import json,sys; r=json.load(sys.stdin)["run"]; print("status", r["status"], "| window", r.get("window"), "| rows fetched", r["rows_fetched"], "| rows written", r["rows_written"])'

say "relaying the staging table's stream into stream-to-s3 (as Lambda's event source mapping would)"
rm -f "$work/stream.position"
"$bin/adpipe-local-aws" stream-event "$work/stream-event.json" "$work/stream.position"
"$bin/adpipe-local-aws" invoke "$bin/stream-to-s3" "$work/stream-event.json" 2>"$work/stream-to-s3.log"

# Meta attributes purchases to the day of the click for up to 28 days: a re-read of the
# lookback window finds the day's numbers changed. The fake Graph API takes that as a post.
restated_day="$(date -u -d '3 days ago' +%F)"
say "Meta restates $restated_day: 3 late purchases attributed to Spring Sale"
curl -sS -X POST "$FACEBOOK_GRAPH_URL/_fake/restate" \
  -d campaign_id=120210000000000001 -d date="$restated_day" -d purchases=3 | pretty

say "firing the Facebook rule again: of the 28 days re-read, only the restated row is written"
"$bin/adpipe-local-aws" fire-rule "$rule_name" >"$work/scheduled-event-3.json"
"$bin/adpipe-local-aws" invoke "$bin/extractor" "$work/scheduled-event-3.json" 2>>"$work/extractor.log" \
  | python3 -c 'import json,sys; r=json.load(sys.stdin)["run"]; print("status", r["status"], "| window", r.get("window"), "| rows fetched", r["rows_fetched"], "| rows written", r["rows_written"])'

say "relaying the stream's new records into stream-to-s3"
"$bin/adpipe-local-aws" stream-event "$work/stream-event-2.json" "$work/stream.position"
"$bin/adpipe-local-aws" invoke "$bin/stream-to-s3" "$work/stream-event-2.json" 2>>"$work/stream-to-s3.log"

yesterday="$(date -u -d '1 day ago' +%F)"
say "the pixel stops firing: Meta reports no purchases on $yesterday, on every campaign"
curl -sS -X POST "$FACEBOOK_GRAPH_URL/_fake/outage" -d date="$yesterday" | pretty
"$bin/adpipe-local-aws" fire-rule "$rule_name" >"$work/scheduled-event-4.json"
"$bin/adpipe-local-aws" invoke "$bin/extractor" "$work/scheduled-event-4.json" 2>>"$work/extractor.log" \
  | python3 -c 'import json,sys; r=json.load(sys.stdin)["run"]; print("status", r["status"], "| rows fetched", r["rows_fetched"], "| rows written", r["rows_written"])'
"$bin/adpipe-local-aws" stream-event "$work/stream-event-4.json" "$work/stream.position"
"$bin/adpipe-local-aws" invoke "$bin/stream-to-s3" "$work/stream-event-4.json" 2>>"$work/stream-to-s3.log" >/dev/null

# After the scheduled firings: a run-now holds the schedule's one-run lease until the
# extractor takes it, and a firing meanwhile would be acknowledged without a run.
say "POST /v1/schedules/$schedule_id/runs (run now: an asynchronous invoke of the extractor)"
curl -sS -X POST "$api/v1/schedules/$schedule_id/runs" | pretty
say "run now again while that run is queued: 409 run_in_progress, naming it"
curl -sS -X POST "$api/v1/schedules/$schedule_id/runs" | pretty

# One connection and schedule of another platform; fires its rule into the extractor and
# prints the run. Arguments: platform, connection body, schedule report JSON, description.
extract_platform() {
  local platform="$1" body="$2" report="$3" description="$4"
  local conn conn_id sched sched_id rule
  conn="$(curl -sS -X POST "$api/v1/connections" -H 'content-type: application/json' -d "$body")"
  echo "$conn" | pretty
  conn_id="$(echo "$conn" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
  sched="$(curl -sS -X POST "$api/v1/schedules" -H 'content-type: application/json' \
    -d "{\"connection_id\": \"$conn_id\", \"schedule_expression\": \"cron(0 6 * * ? *)\", \"report\": $report, \"description\": \"$description\"}")"
  sched_id="$(echo "$sched" | python3 -c 'import json,sys; print(json.load(sys.stdin)["id"])')"
  rule="$(echo "$sched" | python3 -c 'import json,sys; print(json.load(sys.stdin)["rule_name"])')"
  echo "schedule $sched_id, rule $rule: firing it into the extractor"
  "$bin/adpipe-local-aws" fire-rule "$rule" >"$work/scheduled-event-$platform.json"
  "$bin/adpipe-local-aws" invoke "$bin/extractor" "$work/scheduled-event-$platform.json" 2>>"$work/extractor.log" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["run"]; print("run", r["status"], "| window", r.get("window"), "| rows fetched", r["rows_fetched"], "| rows written", r["rows_written"], "| error", r.get("error"))'
  echo
  "$bin/adpipe-local-aws" staged demo "$platform"
}

say "Google Ads: a connection from a refresh token, an ad-group schedule, its rule fired"
extract_platform google_ads \
  '{"platform": "google_ads", "account_id": "123-456-7890", "name": "Demo Google Ads customer", "credentials": {"refresh_token": "1//demo-refresh-token"}}' \
  '{"level": "ad_group"}' "Daily Google Ads ad groups"

say "YouTube: a channel connection, a per-video schedule, its rule fired"
extract_platform youtube \
  '{"platform": "youtube", "account_id": "UCdemo0adpipe0channel000", "name": "Demo channel", "credentials": {"refresh_token": "1//demo-refresh-token"}}' \
  '{"level": "video"}' "Daily YouTube videos"

say "GET /v1/schedules/$schedule_id/runs"
curl -sS "$api/v1/schedules/$schedule_id/runs" | pretty

say "relaying the stream's new records (Google Ads, YouTube) into stream-to-s3"
"$bin/adpipe-local-aws" stream-event "$work/stream-event-3.json" "$work/stream.position"
"$bin/adpipe-local-aws" invoke "$bin/stream-to-s3" "$work/stream-event-3.json" 2>>"$work/stream-to-s3.log"

say "the data lake: Parquet objects and what they hold"
rm -rf "$work/lake"
"$bin/adpipe-local-aws" lake demo "$work/lake"

# The README's DuckDB queries (docs/queries/), run over the lake just copied to .demo/lake.
for query in current versions what-changed; do
  say "DuckDB: docs/queries/duckdb-$query.sql"
  python3 - "docs/queries/duckdb-$query.sql" <<'PY'
import sys

import duckdb

sql = open(sys.argv[1]).read()
print(sql.splitlines()[0])
duckdb.sql(sql).show(max_width=250, max_rows=40)
PY
done

say "insights: the insights queue's refresh requests (one per connection a stream batch touched)"
"$bin/adpipe-local-aws" queue-event "$INSIGHTS_QUEUE_URL" "$work/insights-batch.json"
say "the insights binary computes each connection once (its answer: no message to retry)"
"$bin/adpipe-local-aws" invoke "$bin/insights" "$work/insights-batch.json" 2>"$work/insights.log"
say "a direct invoke refreshes one connection and answers its summary"
printf '{"kind": "refresh", "tenant_id": "demo", "connection_id": "%s"}' "$connection_id" >"$work/insights-refresh.json"
"$bin/adpipe-local-aws" invoke "$bin/insights" "$work/insights-refresh.json" 2>>"$work/insights.log"

say "PUT /v1/connections/$connection_id/budget (15,000.00 a month, 6,000.00 of it for Spring Sale)"
curl -sS -X PUT "$api/v1/connections/$connection_id/budget" -H 'content-type: application/json' \
  -d '{"monthly": "15000.00", "campaigns": {"120210000000000001": "6000.00"}}' | pretty
say "PUT a budget with three decimals (refused, nothing stored changes)"
curl -sS -X PUT "$api/v1/connections/$connection_id/budget" -H 'content-type: application/json' \
  -d '{"monthly": "15000.005"}' | pretty
say "GET /v1/connections/$connection_id/insights/pacing (this month)"
curl -sS "$api/v1/connections/$connection_id/insights/pacing" | pretty
say "GET /v1/insights/alerts?severity=warning"
curl -sS "$api/v1/insights/alerts?severity=warning" | pretty

say "done: moto and the API stop now (logs in .demo/)"
