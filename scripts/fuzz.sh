#!/usr/bin/env bash
# `make fuzz`: schemathesis against the schedule API in local mode, from openapi.yaml.
# Not part of `make test`: it takes minutes. See docs/fuzzing.md.
#
# Ensures .venv (scripts/venv.sh installs schemathesis into its own venv), builds the
# local API and the local AWS helper, starts moto on a free loopback port, creates the
# tables and the app-credentials secret there (as `make demo` does), starts the local API
# on another free port, then runs schemathesis with a fixed seed and a bounded number of
# examples per operation. Exits non-zero on any server error (5xx), response that breaks
# its schema, undocumented status code, content type or header. Everything it starts, it
# stops. Logs and reports: target/fuzz/.
#
# Knobs (environment): FUZZ_SEED (default 20251204), FUZZ_MAX_EXAMPLES per operation and
# phase (default 500), FUZZ_WORKERS (default 1), FUZZ_TIMEOUT in seconds for the whole
# schemathesis run (default 900), FUZZ_SPEC (default openapi.yaml), FUZZ_ARGS extra
# schemathesis arguments.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"
work="$root/target/fuzz"
rm -rf "$work"
mkdir -p "$work"

seed="${FUZZ_SEED:-20251204}"
max_examples="${FUZZ_MAX_EXAMPLES:-500}"
workers="${FUZZ_WORKERS:-1}"
budget="${FUZZ_TIMEOUT:-900}"

name=fuzz
# shellcheck source=scripts/local.sh
source scripts/local.sh
trap 'exit 130' INT TERM

scripts/venv.sh
export PATH="$root/.venv/bin:$PATH"

say "building (debug) the local API and the local AWS helper"
# The local API is behind schedule-api's `local` feature (docs/architecture.md, "Local mode").
cargo build -q -p schedule-api --features local --bin adpipe-local-api
cargo build -q -p adpipe-testkit --bin adpipe-local-aws
bin="${CARGO_TARGET_DIR:-$root/target}/debug"
# A private copy: a concurrent build in a shared target dir cannot swap the binary under us.
cp "$bin/adpipe-local-api" "$bin/adpipe-local-aws" "$work/"

start_moto

say "creating the tables, the app-credentials secret and an extractor function in moto"
"$work/adpipe-local-aws" setup >"$work/env"
# The platforms' OAuth token endpoints, refusing every code as Google (`invalid_grant`)
# and Facebook (Graph error 100) do an expired one: a token call that gets this far (the
# examples phase starts a sign-in with authorize-url, then sends its `state`) answers 400
# `invalid_code`, as it would against the real platforms with a made-up code.
oauth_port="$(free_port)"
cat >"$work/oauth.py" <<'PY'
import json, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Refuse(BaseHTTPRequestHandler):
    def answer(self):
        length = int(self.headers.get("content-length") or 0)
        self.rfile.read(length)
        if self.path.startswith("/google/"):
            body = {"error": "invalid_grant", "error_description": "Bad Request"}
        else:
            body = {"error": {"message": "This authorization code has expired.", "type": "OAuthException",
                              "code": 100, "error_subcode": 36007, "fbtrace_id": "fuzz"}}
        data = json.dumps(body).encode()
        self.send_response(400)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
    do_GET = do_POST = answer
    def log_message(self, *args):
        pass

ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Refuse).serve_forever()
PY
python3 "$work/oauth.py" "$oauth_port" >"$work/oauth.log" 2>&1 &
started $!
wait_http "http://127.0.0.1:$oauth_port/"
set -a
# shellcheck disable=SC1091
source "$work/env"
OAUTH_REDIRECT_URIS=https://app.example.com/oauth/callback
# Room for every connection and schedule the run creates, so the stateful phase (create a
# connection, a schedule of it, run it) is not stopped by the per-tenant quotas early on;
# the per-connection quota and the run-now rate stay at their defaults and are met.
MAX_CONNECTIONS_PER_TENANT=1000000
MAX_SCHEDULES_PER_TENANT=1000000
GOOGLE_OAUTH_TOKEN_URL="http://127.0.0.1:$oauth_port/google/token"
FACEBOOK_GRAPH_URL="http://127.0.0.1:$oauth_port/v21.0"
RUST_LOG="${RUST_LOG:-warn}"
set +a
export_local_aws fuzz

api="http://127.0.0.1:$ADPIPE_LOCAL_PORT"
say "starting the schedule API in local mode on $api (tenant: fuzz)"
"$work/adpipe-local-api" >"$work/api.log" 2>&1 &
started $!
wait_http "$api/v1/connections"

say "schemathesis: seed $seed, at most $max_examples examples per operation and phase, $workers workers"
started="$(date +%s)"
status=0
# From target/fuzz: schemathesis keeps its crash cache (for `st replay`) in ./.schemathesis.
spec="$(realpath "${FUZZ_SPEC:-openapi.yaml}")"
(cd "$work" && timeout --foreground "$budget" schemathesis --no-color run "$spec" \
  --url "$api" \
  --checks not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance,response_headers_conformance \
  --phases examples,coverage,fuzzing,stateful \
  --seed "$seed" \
  --max-examples "$max_examples" \
  --generation-database none \
  --workers "$workers" \
  --request-timeout 30 \
  --report junit,har --report-dir "$work/report" \
  ${FUZZ_ARGS:-}) \
  2>&1 | tee "$work/schemathesis.log" || status=$?
elapsed=$(($(date +%s) - started))

say "fuzz: schemathesis exited $status after ${elapsed}s; logs in ${work#"$root"/}"
# The HTTP requests sent, by answer status (the HAR report has one entry per request).
python3 - "$work"/report/har-*.json <<'PY' || true
import collections, json, sys
entries = [e for path in sys.argv[1:] for e in json.load(open(path))["log"]["entries"]]
by_status = collections.Counter(e["response"]["status"] for e in entries)
print(f"fuzz: {len(entries)} requests; by status:", ", ".join(f"{k}: {v}" for k, v in sorted(by_status.items())))
PY
if ((status == 124)); then
  echo "fuzz: the run took longer than FUZZ_TIMEOUT=${budget}s" >&2
fi
if grep -q -i 'panicked' "$work/api.log"; then
  echo "fuzz: the local API panicked (see ${work#"$root"/}/api.log)" >&2
  status=1
fi
exit "$status"
