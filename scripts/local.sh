# Shared by scripts/demo.sh and scripts/fuzz.sh (sourced, not run): the helpers that start
# adpipe's local pieces on loopback and stop them on exit. The caller sets `work` (the
# directory for logs) and `name` (how errors introduce themselves) before sourcing.

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
# Waits up to 15 s for `$1` to answer HTTP.
wait_http() {
  for _ in $(seq 1 150); do curl -s -o /dev/null "$1" && return 0; sleep 0.1; done
  echo "$name: $1 did not come up (logs in $work)" >&2
  return 1
}

# Every process started with `started $!` is stopped on exit.
pids=()
started() { pids+=("$1"); }
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

# moto on a free loopback port; exports ADPIPE_TEST_AWS_ENDPOINT (what adpipe-local-aws
# and the tests take).
start_moto() {
  local port
  port="$(free_port)"
  export ADPIPE_TEST_AWS_ENDPOINT="http://127.0.0.1:$port"
  say "starting moto on $ADPIPE_TEST_AWS_ENDPOINT"
  moto_server -H 127.0.0.1 -p "$port" >"$work/moto.log" 2>&1 &
  started $!
  wait_http "$ADPIPE_TEST_AWS_ENDPOINT/moto-api/"
}

# The environment the local binaries read to reach that moto, as tenant `$1`: the SDK's
# endpoint, region and dummy credentials, the rule prefix, the local API's tenant and a
# free port for it.
export_local_aws() {
  export AWS_ENDPOINT_URL="$ADPIPE_TEST_AWS_ENDPOINT"
  export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1
  export AWS_ACCESS_KEY_ID="$1" AWS_SECRET_ACCESS_KEY="$1" AWS_EC2_METADATA_DISABLED=true
  export RULE_PREFIX=adpipe-
  export ADPIPE_LOCAL_TENANT="$1"
  ADPIPE_LOCAL_PORT="$(free_port)"
  export ADPIPE_LOCAL_PORT
}
