#!/usr/bin/env bash
# The cluster scenarios of docs/benchmarks.md ("Cluster"), in one sitting
# (compare ratios measured together: this machine is noisy). Usage:
#
#   go build -o /tmp/fh ./cmd/firehook && scripts/bench-cluster.sh /tmp/fh
#
# 1. one node (firehook serve) under `firehook bench` at RATE page views/s
#    (with RAMP=1: the highest sustained rate, from RATE up);
# 2. three nodes (firehook cluster up --nodes 3) under the same load, the
#    page views sent to the three in turn; then each member's
#    firehook_cluster_request_duration_seconds by message (Handoff,
#    LookupRequest, DispatchRequest ...), as p50/p99 read off the
#    histogram's buckets.
# Everything shares this machine's 2 cores: the point is the overhead of
# the cluster, not a speed-up. Temporary data dirs are removed.
set -euo pipefail
bin=${1:?usage: scripts/bench-cluster.sh FIREHOOK_BINARY}
rate=${RATE:-400}
duration=${DURATION:-20s}
people=${PEOPLE:-20000}
token=bench-cluster-token
bench_flags=(--endpoints 1 --rate "$rate" --duration "$duration" --people "$people" --warmup 3s --raw=false)
if [ -n "${RAMP:-}" ]; then
  # RAMP=1: the highest sustained rate instead (steps x1.25 from RATE,
  # each DURATION long, until the 202 p99 passes 100 ms).
  bench_flags=(--endpoints 1 --ramp --rate "$rate" --ramp-factor 1.25 --duration "$duration" --people "$people" --raw=false)
fi
quiet() { grep -vE '^bench: (setting|warm|step)'; }
# cpu PIDS... prints the user+system CPU seconds the processes used so far.
cpu() {
  local ticks=0
  for p in "$@"; do ticks=$((ticks + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done
  echo "scale=2; $ticks / $(getconf CLK_TCK)" | bc
}

echo "--- one node at $rate/s"
data=$(mktemp -d)
FIREHOOK_ADMIN_TOKEN=$token "$bin" serve --data "$data" --listen 127.0.0.1:28080 --admin-listen 127.0.0.1:28081 \
  --allow-private-endpoints --log-level warn >/dev/null 2>&1 &
pid=$!
for _ in $(seq 100); do curl -sf 127.0.0.1:28081/readyz >/dev/null && break; sleep 0.1; done
before=$(cpu "$pid")
"$bin" bench --target http://127.0.0.1:28080 --admin http://127.0.0.1:28081 --token "$token" --pid "$pid" \
  "${bench_flags[@]}" 2>&1 | quiet
after=$(cpu "$pid")
echo "the node process: CPU $(echo "$after - $before" | bc) s during set-up, warm-up and load"
kill -TERM "$pid"; wait "$pid" || true; rm -rf "$data"

echo "--- three nodes at $rate/s, page views to each in turn"
data=$(mktemp -d)
out=$(mktemp)
FIREHOOK_ADMIN_TOKEN=$token "$bin" cluster up --nodes 3 --data "$data" >"$out" 2>&1 &
cpid=$!
for _ in $(seq 300); do grep -q '^node-3 ' "$out" 2>/dev/null && break; sleep 0.1; done
ingest=$(awk '/^node-[0-9]+ /{printf "%shttp://%s", sep, $2; sep=","}' "$out")
admins=$(awk '/^node-[0-9]+ /{print $3}' "$out")
admin1=$(echo "$admins" | head -1)
pids=$(pgrep -P "$cpid" | tr '\n' ' ')
before=$(cpu $pids)
"$bin" bench --target "$ingest" --admin "http://$admin1" --token "$token" "${bench_flags[@]}" 2>&1 | quiet
after=$(cpu $pids)
echo "the three node processes: CPU $(echo "$after - $before" | bc) s during set-up, warm-up and load"
echo "--- requests between members (from each member's /metrics)"
for a in $admins; do
  echo "member at $a:"
  curl -sf "http://$a/metrics" | awk '
    /^firehook_cluster_request_duration_seconds_bucket/ {
      match($0, /message="[^"]+"/); m = substr($0, RSTART+9, RLENGTH-10)
      match($0, /le="[^"]+"/); le = substr($0, RSTART+4, RLENGTH-5)
      n[m]++; les[m, n[m]] = le; cnt[m, n[m]] = $2
    }
    END {
      for (m in n) {
        total = cnt[m, n[m]]; if (total == 0) continue
        p50 = ""; p99 = ""
        for (i = 1; i <= n[m]; i++) {
          if (p50 == "" && cnt[m, i] >= total * 0.50) p50 = les[m, i]
          if (p99 == "" && cnt[m, i] >= total * 0.99) p99 = les[m, i]
        }
        printf "  %-16s %8d requests  p50 <= %ss  p99 <= %ss\n", m, total, p50, p99
      }
    }'
done
kill -INT "$cpid"; wait "$cpid" || true; rm -rf "$data" "$out"
