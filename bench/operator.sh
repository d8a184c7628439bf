#!/usr/bin/env bash
# Operator benchmark (issue 8): ACTIVE (100) active pipelines whose pods never start and
# SUSPENDED (1000) suspended ones on the local platform; reports the time until both converge,
# then REST_SECONDS (120) at rest: reconciles per pipeline per minute, reconcile p50/p99, errors,
# RSS, MySQL connections, and the time to delete the active pipelines. Appends a markdown table
# to target/bench/operator.md. See operator/examples/bench_operator/main.rs.
#   bash bench/operator.sh                              (needs `make platform-up`)
#   ACTIVE=5 SUSPENDED=20 REST_SECONDS=30 bash bench/operator.sh
# OPERATOR_BIN runs another operator binary (then nothing is built in release).
# The operator runs on the host, as a child of the bench (not in the cluster).
set -o errexit -o nounset -o pipefail

main() {
  cd "$(dirname "$0")/.."
  if [[ -z "${OPERATOR_BIN:-}" ]]; then
    cargo build --release -p tweetpipe-operator --bin tweetpipe-operator
    # A copy of this tree's build: the cargo target directory may be shared with other
    # checkouts, whose builds overwrite its release/tweetpipe-operator.
    mkdir -p target/bench
    cp "${CARGO_TARGET_DIR:-target}/release/tweetpipe-operator" target/bench/tweetpipe-operator
    export OPERATOR_BIN="${PWD}/target/bench/tweetpipe-operator"
  fi
  cargo run --release -p tweetpipe-operator --example bench_operator
}

main "$@"
