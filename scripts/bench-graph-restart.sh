#!/usr/bin/env bash
# Restart a node twice on an existing graph data dir (from bench-graph.sh):
# the first start scans the records and writes the snapshot at SIGTERM,
# the second loads it. Usage: scripts/bench-graph-restart.sh WORKDIR
set -u
work=${1:?usage: bench-graph-restart.sh WORKDIR}
bin=$work/firehook; data=$work/data; log=$work/restart.log
: > $log
for round in 1 2; do
  FIREHOOK_ADMIN_TOKEN=bench GOMEMLIMIT=2750MiB $bin serve --data $data --listen 127.0.0.1:0 --admin-listen 127.0.0.1:18982 --log-format text 2>>$log &
  pid=$!
  for _ in $(seq 1 600); do curl -sf 127.0.0.1:18982/readyz >/dev/null 2>&1 && break; sleep 0.5; done
  echo "round $round: $(grep 'identity graph loaded' $log | tail -1)"
  awk '/VmRSS|RssAnon|RssFile/ {printf "%s %.0f MiB  ", $1, $2/1024}' /proc/$pid/status; echo
  t0=$(date +%s.%N); kill -TERM $pid; wait $pid; t1=$(date +%s.%N)
  echo "shutdown (with snapshot write): $(echo "$t1 - $t0" | bc) s"
done
ls -l $data/graph-index.snap
