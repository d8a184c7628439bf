#!/usr/bin/env bash
# Freshness benchmark (make bench, issue 24): publish in the X API simulator → row in MySQL, p50,
# p90, p99 and max, for the filtered stream and for recent search on the same query at the same
# time. Runs the real workers as processes on this host (simulator, extractors, transformers)
# against the platform's Kafka and MariaDB, with the configs the operator's code renders from
# bench/freshness-pipeline.yaml; ROUNDS rounds, the report gives each and their median. How the
# two instants are taken: workers/transformer/examples/freshness_bench.rs.
#
# Needs the local platform's Kafka and MariaDB (make platform-up). Writes a Markdown report to
# bench/freshness-results/<UTC date>.md and prints it.
#
# Knobs (environment): MINUTES (5, measured per round), ROUNDS (3), POSTS_PER_SECOND (20, all
# languages; the query matches about a fifth), POLL_MS (50, how often MySQL is read), PIPELINE
# (bench/freshness-pipeline.yaml), BIN_DIR (binaries built already: the workers' and
# examples/freshness_bench under it; skips the build, so other builds into a shared target dir
# cannot swap them mid-run).
set -o errexit -o nounset -o pipefail

MINUTES=${MINUTES:-5}
ROUNDS=${ROUNDS:-3}
POSTS_PER_SECOND=${POSTS_PER_SECOND:-20}
POLL_MS=${POLL_MS:-50}
PIPELINE=${PIPELINE:-bench/freshness-pipeline.yaml}
BIN_DIR=${BIN_DIR:-}

main() {
  cd "$(dirname "$0")/.."
  local bin_dir=$BIN_DIR
  if [[ -z $bin_dir ]]; then
    bin_dir=${CARGO_TARGET_DIR:-target}/release
    cargo build --release -p xapi-simulator -p tweetpipe-extractor -p tweetpipe-transformer --bins
    cargo build --release -p tweetpipe-transformer --example freshness_bench
  fi

  mkdir -p bench/freshness-results
  local out
  out="bench/freshness-results/$(date -u +%Y%m%dT%H%M%SZ).md"
  {
    echo "# Freshness benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo
    echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB;" \
      "the simulator, the workers, Kafka and MariaDB on the same machine, shared with other work."
    echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
    echo "Command: MINUTES=$MINUTES ROUNDS=$ROUNDS POSTS_PER_SECOND=$POSTS_PER_SECOND POLL_MS=$POLL_MS PIPELINE=$PIPELINE bash bench/freshness.sh"
    echo
    "$bin_dir/examples/freshness_bench" --minutes "$MINUTES" --rounds "$ROUNDS" \
      --posts-per-second "$POSTS_PER_SECOND" --poll-ms "$POLL_MS" --pipeline "$PIPELINE"
    echo
    echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
  } | tee "$out.partial"
  # Only a finished run becomes a results file.
  mv "$out.partial" "$out"
  echo "report: $out" >&2
}

main "$@"
