#!/usr/bin/env bash
# Transformer benchmark: posts/s from Kafka into MySQL with 1 and 2 transformer processes,
# next to the ceiling (the same rows loaded straight into the same MariaDB by multi-row
# INSERTs and by LOAD DATA), plus each transformer's peak resident memory.
#
# Needs the local platform (make platform-up). Writes a Markdown report to
# bench/transformer-results/<UTC date>.md and prints it.
#
# Knobs (environment): POSTS (100000), BATCH_SIZES ("500,2000"), PARTITIONS (4), TRANSFORMERS ("1,2"),
# KAFKA_TRANSPORTS ("plaintext sasl_ssl": the transformers consume over the platform's plaintext
# listener, then over its SASL_SSL one with SCRAM-SHA-512; the input is produced in plaintext).
set -euo pipefail
cd "$(dirname "$0")/.."

POSTS=${POSTS:-100000}
BATCH_SIZES=${BATCH_SIZES:-500,2000}
PARTITIONS=${PARTITIONS:-4}
TRANSFORMERS=${TRANSFORMERS:-1,2}
KAFKA_TRANSPORTS=${KAFKA_TRANSPORTS:-plaintext sasl_ssl}
TARGET_DIR=${CARGO_TARGET_DIR:-target}

cargo build --release -p tweetpipe-transformer --bin tweetpipe-transformer --example transformer_bench

mkdir -p bench/transformer-results
out="bench/transformer-results/$(date -u +%Y%m%dT%H%M%SZ).md"
{
  echo "# Transformer benchmark, $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Machine: $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), $(free -g | awk '/Mem:/ {print $2}') GiB;" \
       "MariaDB $(mariadb --version | grep -o '[0-9]*\.[0-9]*\.[0-9]*-MariaDB' | head -1), Kafka and the transformers on the same machine."
  echo "Load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
  echo "Command: POSTS=$POSTS BATCH_SIZES=$BATCH_SIZES PARTITIONS=$PARTITIONS TRANSFORMERS=$TRANSFORMERS KAFKA_TRANSPORTS=\"$KAFKA_TRANSPORTS\" bash bench/transformer.sh"
  for transport in $KAFKA_TRANSPORTS; do
    echo
    echo "## Kafka transport: $transport"
    echo
    BENCH_KAFKA=$transport "$TARGET_DIR/release/examples/transformer_bench" --posts "$POSTS" \
      --batch-sizes "$BATCH_SIZES" --partitions "$PARTITIONS" --transformers "$TRANSFORMERS"
  done
} | tee "$out"
echo "report: $out" >&2
