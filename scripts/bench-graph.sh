#!/usr/bin/env bash
# Identity graph at scale: generate → import into a real node → RSS →
# cold start → lookup latency. Usage: scripts/bench-graph.sh PEOPLE [WORKDIR]
# Prints one line per figure; docs/benchmarks.md records a run.
set -euo pipefail
people=${1:?usage: bench-graph.sh PEOPLE [WORKDIR]}
work=${2:-$(mktemp -d)}
cd "$(dirname "$0")/.."
mkdir -p "$work"
bin="$work/firehook"
go build -o "$bin" ./cmd/firehook
graph="$work/graph.ndjson"
data="$work/data"
rm -rf "$data"

if [ -s "$graph.truth.ndjson" ] && [ "$(head -c 0 "$graph"; wc -l <"$graph")" -ge "$people" ]; then
  echo "== reusing $graph"
else
  echo "== generate $people people"
  /usr/bin/time -f "generate: %e s, max RSS %M KiB" "$bin" graph generate --people "$people" --seed 1 --out "$graph"
fi
ls -l "$graph"
echo "GOMEMLIMIT=${GOMEMLIMIT:-unset}"

rss() { awk '/VmRSS|VmHWM|RssAnon|RssFile/ {printf "%s %.0f MiB  ", $1, $2/1024}' "/proc/$1/status"; echo; }
start_node() {
  FIREHOOK_ADMIN_TOKEN=bench "$bin" serve --data "$data" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:18981 \
    --log-format text 2>>"$work/node.log" &
  pid=$!
  for _ in $(seq 1 600); do
    curl -sf 127.0.0.1:18981/readyz >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  echo "node did not start"; exit 1
}

echo "== import"
start_node
echo -n "node before import: "; rss "$pid"
t0=$(date +%s.%N)
"$bin" graph import "$graph" --admin http://127.0.0.1:18981 --token bench >"$work/import.json" 2>"$work/import.progress"
t1=$(date +%s.%N)
tail -c 200 "$work/import.progress" | tr '\r' '\n' | tail -1
echo "import wall: $(echo "$t1 - $t0" | bc) s"
curl -s -H "Authorization: Bearer bench" 127.0.0.1:18981/v1/graph/stats; echo
echo -n "node after import: "; rss "$pid"
kill -TERM "$pid"; wait "$pid" || true

echo "== cold start"
start_node
grep "identity graph loaded" "$work/node.log" | tail -1
echo -n "node after cold start: "; rss "$pid"
kill -TERM "$pid"; wait "$pid" || true

echo "== lookups (in-memory hits)"
FIREHOOK_BENCH_DATA="$data" FIREHOOK_BENCH_TRUTH="$graph.truth.ndjson" \
  go test -run '^$' -bench Graph_Lookup -benchtime 1000000x ./identity/ | grep Benchmark
echo "workdir: $work"
