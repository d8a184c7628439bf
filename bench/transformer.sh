#!/usr/bin/env bash
# Transformer benchmark: posts/s from Kafka into MySQL with 1 and 2 transformer processes, each
# run beside a fair ceiling (the same rows written into the same MariaDB with the same
# guarantees by the transformer's own batch write, without Kafka, over 1-8 connections; the best
# counts), CPU time per post of the transformers and of MariaDB, and peak resident memory. Every
# configuration runs ROUNDS times and the report gives the medians.
#
# Needs the local platform (make platform-up). Writes a Markdown report to
# bench/transformer-results/<UTC date>.md and prints it.
#
# Knobs (environment): POSTS (100000), BATCH_SIZES ("500", the default batch), PARTITIONS (4),
# TRANSFORMERS ("1,2"), ROUNDS (3), CONNECTIONS ("2,4,8": the ceiling's connection counts),
# CEILING_ORDERS ("sample,partition,consumer": the ceiling's transactions take consecutive posts of
# the sample, of one Kafka partition as a consumer receives them, or of the partitions one of the
# run's consumers holds, merged in the sample's order), WRITE_CONCURRENCY (the transformers'
# default), KAFKA_TRANSPORTS ("plaintext"; "plaintext sasl_ssl" also consumes over the platform's
# SASL_SSL listener with SCRAM-SHA-512; the input is produced in plaintext).
set -euo pipefail
cd "$(dirname "$0")/.."

POSTS=${POSTS:-100000}
BATCH_SIZES=${BATCH_SIZES:-500}
PARTITIONS=${PARTITIONS:-4}
TRANSFORMERS=${TRANSFORMERS:-1,2}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-2,4,8}
CEILING_ORDERS=${CEILING_ORDERS:-sample,partition,consumer}
KAFKA_TRANSPORTS=${KAFKA_TRANSPORTS:-plaintext}
WRITE_CONCURRENCY=${WRITE_CONCURRENCY:-}
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
  echo "Command: POSTS=$POSTS BATCH_SIZES=$BATCH_SIZES PARTITIONS=$PARTITIONS TRANSFORMERS=$TRANSFORMERS ROUNDS=$ROUNDS CONNECTIONS=$CONNECTIONS CEILING_ORDERS=$CEILING_ORDERS WRITE_CONCURRENCY=$WRITE_CONCURRENCY KAFKA_TRANSPORTS=\"$KAFKA_TRANSPORTS\" bash bench/transformer.sh"
  for transport in $KAFKA_TRANSPORTS; do
    echo
    echo "## Kafka transport: $transport"
    echo
    BENCH_KAFKA=$transport "$TARGET_DIR/release/examples/transformer_bench" --posts "$POSTS" \
      --batch-sizes "$BATCH_SIZES" --partitions "$PARTITIONS" --transformers "$TRANSFORMERS" \
      --rounds "$ROUNDS" --connections "$CONNECTIONS" --ceiling-orders "$CEILING_ORDERS" ${WRITE_CONCURRENCY:+--write-concurrency "$WRITE_CONCURRENCY"}
  done
  echo
  echo "Load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)."
} | tee "$out"
echo "report: $out" >&2
