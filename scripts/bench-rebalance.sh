#!/usr/bin/env bash
# Rebalance throughput (docs/benchmarks.md, "Copying graph shards"): two
# members hold a synthetic graph of PEOPLE persons; a third joins and
# copies the shards it gains from them. Prints how long the copy took
# from the third member's start (its readiness waits for the first round
# of copies, at most 30 s; the rest goes on in the background), the
# shards and records copied, and records a second. Usage:
#
#   go build -o /tmp/fh ./cmd/firehook && scripts/bench-rebalance.sh /tmp/fh
#
# PEOPLE (default 200000) sizes the graph; RATE is the joining member's
# --shard-copy-rate (default 20000; -1: no limit). Temporary data dirs
# are removed.
set -euo pipefail
bin=${1:?usage: scripts/bench-rebalance.sh FIREHOOK_BINARY}
people=${PEOPLE:-200000}
rate=${RATE:-20000}
token=bench-rebalance-token-0123456789abcdef
export FIREHOOK_ADMIN_TOKEN=$token
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start() { # start NAME INGEST ADMIN GOSSIP [JOIN] [FLAGS...]
  local name=$1 ingest=$2 admin=$3 gossip=$4 join=${5:-}
  shift 5 || shift $#
  local args=(serve --data "$work/$name" --node "$name" --listen "127.0.0.1:$ingest" --admin-listen "127.0.0.1:$admin"
    --gossip-listen "127.0.0.1:$gossip" --log-level warn "$@")
  [ -n "$join" ] && args+=(--join "127.0.0.1:$join")
  "$bin" "${args[@]}" >"$work/$name.log" 2>&1 &
  pids+=($!)
  for _ in $(seq 1 300); do
    curl -fsS "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  echo "$name did not start; its log:" >&2
  cat "$work/$name.log" >&2
  exit 1
}
copy_state() { # copy_state ADMIN → "pending copied records caught_up"
  curl -fsS -H "Authorization: Bearer $token" "http://127.0.0.1:$1/v1/cluster/shards" |
    python3 -c 'import json,sys; c=json.load(sys.stdin)["copy"]; print(c["pending"], c["copied_total"], c["records_copied_total"], c["caught_up"])'
}

echo "--- generating and importing $people persons"
"$bin" graph generate --people "$people" --seed 1 --visits -1 --out "$work/graph.ndjson" 2>/dev/null
start n1 38180 38181 38182 ""
start n2 38280 38281 38282 38182
"$bin" graph import "$work/graph.ndjson" --admin http://127.0.0.1:38181 --token "$token" 2>/dev/null

echo "--- n3 joins (--shard-copy-rate $rate)"
t0=$(date +%s.%N)
start n3 38380 38381 38382 38182 --shard-copy-rate "$rate"
t_ready=$(date +%s.%N)
while :; do
  read -r pending copied records caught <<<"$(copy_state 38381)"
  [ "$caught" = True ] && [ "$pending" = 0 ] && break
  sleep 0.2
done
t_done=$(date +%s.%N)
python3 - "$t0" "$t_ready" "$t_done" "$copied" "$records" <<'EOF'
import sys
t0, ready, done, copied, records = map(float, sys.argv[1:])
took = done - t0
print(f"n3 ready after {ready - t0:.2f} s; {int(copied)} shards copied, {int(records)} records and links, "
      f"in {took:.2f} s: {records / took:,.0f} a second")
EOF
