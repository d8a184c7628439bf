#!/usr/bin/env bash
# Operator benchmark: PIPELINES (default 100) TweetPipelines applied at once to the local
# platform; prints time to convergence, reconcile p50/p99 and operator resident memory.
#   bash bench/operator.sh            (needs `make platform-up`)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p tweetpipe-operator --bin tweetpipe-operator
cargo run --release -p tweetpipe-operator --example bench_operator
