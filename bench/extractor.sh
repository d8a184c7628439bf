#!/usr/bin/env bash
# Extractor benchmark (make bench, extractor part).
#
# 1. Rate budget: 1, 2 and 4 extractor replicas share ONE simulator token of LIMIT requests per
#    WINDOW seconds (a compressed window), each replica with its own query and LIMIT/n requests
#    per window. Reports posts collected against the theoretical maximum (LIMIT x 100 posts per
#    window), the 429s received, and each replica's resident memory.
# 2. Avro encode throughput, and encode + transactional produce throughput to Kafka.
#
# Needs the local platform's Kafka (make platform-up). Env knobs: LIMIT (60), WINDOW (10),
# WINDOWS (6), REPLICAS ("1 2 4"), PRODUCE_POSTS (200000), KAFKA_TRANSPORTS ("plaintext sasl_ssl":
# the produce figure over the platform's plaintext listener, then over its SASL_SSL one).
# Output: target/bench/extractor-*.txt
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

LIMIT=${LIMIT:-60}
WINDOW=${WINDOW:-10}
WINDOWS=${WINDOWS:-6}
REPLICAS=${REPLICAS:-"1 2 4"}
PRODUCE_POSTS=${PRODUCE_POSTS:-200000}
KAFKA_TRANSPORTS=${KAFKA_TRANSPORTS:-plaintext sasl_ssl}
SIM_PORT=${SIM_PORT:-18080}

ENV_FILE=${TWEETPIPE_PLATFORM_ENV:-$ROOT/.platform/env}
[[ -f $ENV_FILE ]] || { echo "no $ENV_FILE: run 'make platform-up' first" >&2; exit 1; }
BOOTSTRAP=$(sed -n 's/^TWEETPIPE_KAFKA_BOOTSTRAP=//p' "$ENV_FILE")
(exec 3<>"/dev/tcp/${BOOTSTRAP%:*}/${BOOTSTRAP#*:}") 2>/dev/null || { echo "Kafka is not reachable at $BOOTSTRAP: run 'make platform-up'" >&2; exit 1; }

echo "building release binaries (first time takes a while)..." >&2
cargo build --release -q -p xapi-simulator -p tweetpipe-extractor --bins --example bench_tool
BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release
WORK=$(mktemp -d /tmp/tweetpipe-bench-extractor.XXXXXX)
mkdir -p "$ROOT/target/bench"
OUT=$ROOT/target/bench/extractor-$(date -u +%Y%m%dT%H%M%SZ).txt
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT

report() { echo "$*" | tee -a "$OUT"; }
report "# extractor benchmark $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(uname -sr)"
report "# token: $LIMIT requests per ${WINDOW}s window; measured over $WINDOWS windows; theoretical max = $LIMIT x 100 posts per window"

sim_stats() { curl -fsS "http://127.0.0.1:$SIM_PORT/_sim/stats"; }
json_num() { python3 -c "import json,sys; d=json.load(sys.stdin); print(d['tokens']['bench']['$1'])"; }
QUERIES=("covid" "covid lang:en" "covid lang:pt OR covid lang:es" "covid -is:retweet")

for n in $REPLICAS; do
  share=$((LIMIT / n))
  topic="bench-extractor-$n-$(date +%s)"
  "$BIN/examples/bench_tool" create-topics "$BOOTSTRAP" "$topic" 3
  # Posts already waiting (backfill) keep every page full: the budget, not the corpus, binds.
  XAPI_SIM_LISTEN=127.0.0.1:$SIM_PORT XAPI_SIM_SEED=7 XAPI_SIM_POSTS_PER_SECOND=200 \
    XAPI_SIM_BACKFILL_POSTS=$((LIMIT * 100 * (WINDOWS + 3))) \
    XAPI_SIM_TOKENS="bench:bench-token:$LIMIT/$WINDOW:1000000000" RUST_LOG=warn \
    "$BIN/xapi-simulator" >"$WORK/sim-$n.log" 2>&1 &
  SIM_PID=$!; PIDS+=("$SIM_PID")
  for _ in $(seq 1 50); do sim_stats >/dev/null 2>&1 && break; sleep 0.2; done
  echo -n "bench-token" >"$WORK/token"
  # One query per replica, each with an equal share of the token; the replicas divide the
  # queries among themselves through their slot group.
  queries=""
  for ((i = 0; i < n; i++)); do
    q=${QUERIES[$i]}
    queries+="{\"name\":\"q$i\",\"query\":\"$q\",\"token_file\":\"$WORK/token\",\"requests_per_window\":$share,\"window_seconds\":$WINDOW}"
    ((i < n - 1)) && queries+=","
  done
  EXTRACTOR_PIDS=()
  for ((i = 0; i < n; i++)); do
    cat >"$WORK/extractor-$n-$i.json" <<JSON
{"pipeline":"bench/extractor-$n","api_base_url":"http://127.0.0.1:$SIM_PORT",
 "kafka":{"bootstrap_servers":"$BOOTSTRAP","topic":"$topic"},
 "queries":[$queries],"max_results":100,
 "tuning":{"ops_listen":"127.0.0.1:$((19100 + i))"}}
JSON
    EXTRACTOR_CONFIG=$WORK/extractor-$n-$i.json REPLICA_INDEX=$i RUST_LOG=warn \
      "$BIN/tweetpipe-extractor" >"$WORK/extractor-$n-$i.log" 2>&1 &
    EXTRACTOR_PIDS+=($!); PIDS+=($!)
  done
  # Wait until every replica is ready (connected to Kafka, checkpoints read).
  for ((i = 0; i < n; i++)); do
    for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$((19100 + i))/readyz" >/dev/null 2>&1 && break; sleep 0.2; done
  done
  sleep "$WINDOW"   # let the first window settle
  t0=$(date +%s.%N); s0=$(sim_stats)
  sleep $((WINDOW * WINDOWS))
  t1=$(date +%s.%N); s1=$(sim_stats)
  rss=""
  for p in "${EXTRACTOR_PIDS[@]}"; do rss+="$(awk '/VmRSS/ {printf "%.1f", $2/1024}' /proc/"$p"/status)MiB "; done
  posts=$(($(json_num posts_served <<<"$s1") - $(json_num posts_served <<<"$s0")))
  requests=$(($(json_num requests <<<"$s1") - $(json_num requests <<<"$s0")))
  limited=$(json_num rate_limited <<<"$s1")
  elapsed=$(python3 -c "print($t1 - $t0)")
  max=$(python3 -c "print(round($LIMIT * 100 * $elapsed / $WINDOW))")
  pct=$(python3 -c "print(f'{100 * $posts / $max:.1f}')")
  report "replicas=$n share_per_query=$share posts=$posts theoretical_max=$max budget_used=${pct}% requests=$requests rate_limited_429=$limited rss_per_replica=$rss"
  for p in "${EXTRACTOR_PIDS[@]}"; do kill -TERM "$p"; done
  for p in "${EXTRACTOR_PIDS[@]}"; do wait "$p" || report "  replica pid $p exited non-zero (see $WORK)"; done
  kill "$SIM_PID"; wait "$SIM_PID" 2>/dev/null || true
done

report "$("$BIN/examples/bench_tool" encode 200000)"
for transport in $KAFKA_TRANSPORTS; do
  report "kafka_transport=$transport $(BENCH_KAFKA=$transport "$BIN/examples/bench_tool" produce "$BOOTSTRAP" "bench-produce-$transport-$(date +%s)" "$PRODUCE_POSTS")"
done
report "# raw logs: $WORK; results: $OUT"
