#!/usr/bin/env bash
# Admission benchmark (issue 20): the webhook's judgement of a 200-query pipeline (AdmissionReview
# parsing, every admission rule including the X query grammar, the response). Pure CPU: needs no
# platform. Prints mean/p50/p99/max; the figure goes to docs/operator.md.
#   bash bench/admission.sh
#   ROUNDS=500 bash bench/admission.sh
set -o errexit -o nounset -o pipefail

main() {
  cd "$(dirname "$0")/.."
  cargo run --release -p tweetpipe-operator --example bench_admission
}

main "$@"
