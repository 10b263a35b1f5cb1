#!/usr/bin/env bash
# The pipeline-speed scenarios of docs/benchmarks.md, for one or more
# firehook binaries in one sitting (compare ratios measured together:
# this machine is noisy). Usage:
#
#   go build -o /tmp/fh-new ./cmd/firehook
#   git stash; go build -o /tmp/fh-old ./cmd/firehook; git stash pop   # or any older commit
#   scripts/bench-pipeline.sh /tmp/fh-old /tmp/fh-new
#
# Each binary runs: 1 endpoint at 2,000/s in process with the raw
# baseline; the node alone (serve in its own process, --pid) at 1,000/s
# for its CPU per page view; the max sustained rate (ramp, pixel only);
# 100 endpoints at 200/s clean and with 10 % black holes + 10 % answering
# 500. Results go to stdout; nothing is kept but the temporary data dirs,
# which are removed.
set -euo pipefail
people=${PEOPLE:-100000}
for bin in "$@"; do
  echo "=================== $bin"
  echo "--- 1 endpoint, 2,000/s, in process, with the raw baseline"
  "$bin" bench --endpoints 1 --rate 2000 --duration 20s --people "$people" --warmup 3s 2>&1 | grep -vE '^bench: (setting|warm|step)'

  echo "--- the node alone at 1,000/s (firehook serve, its CPU from /proc)"
  data=$(mktemp -d)
  FIREHOOK_ADMIN_TOKEN=bench "$bin" serve --data "$data" --listen 127.0.0.1:28080 --admin-listen 127.0.0.1:28081 \
    --allow-private-endpoints --log-level warn >/dev/null 2>&1 &
  pid=$!
  for _ in $(seq 100); do curl -sf 127.0.0.1:28081/healthz >/dev/null && break; sleep 0.1; done
  "$bin" bench --target http://127.0.0.1:28080 --admin http://127.0.0.1:28081 --token bench --pid "$pid" \
    --endpoints 1 --rate 1000 --duration 20s --people "$people" --warmup 3s --raw=false 2>&1 | grep -vE '^bench: (setting|warm|step)'
  kill -TERM "$pid"; wait "$pid" || true; rm -rf "$data"

  echo "--- max sustained (202 p99 <= 100 ms), pixel only"
  "$bin" bench --endpoints 1 --ramp --rate 500 --ramp-factor 1.25 --duration 10s --people "$people" --raw=false 2>&1 | grep -vE '^bench: (setting|warm|step)'

  echo "--- isolation: 100 endpoints at 200/s, clean, then 10 % black holes + 10 % answering 500"
  for bad in 0 20; do
    "$bin" bench --endpoints 100 --bad-endpoints "$bad" --rate 200 --duration 20s --people "$people" --warmup 3s 2>&1 | grep -vE '^bench: (setting|warm|step)'
  done
done
