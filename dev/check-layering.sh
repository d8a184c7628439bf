#!/usr/bin/env bash
# The layering the compiler enforces (make test, stage layering): the operator's pure core
# (operator/core, tweetpipe-operator-core) builds on its own with no Kubernetes client, no Kafka
# and no MySQL. Resolved for the core alone, so features other crates turn on do not hide a
# dependency; then compiled alone, so a use of `kube::Client` (absent without kube's client
# feature) fails here even though the workspace build has it.
set -o errexit -o nounset -o pipefail

FORBIDDEN='^(rdkafka|rdkafka-sys|sqlx|sqlx-core|sqlx-mysql|kube-client|kube-runtime|reqwest) '

main() {
  cd "$(dirname "$0")/.."
  local found
  found=$(cargo tree --locked -p tweetpipe-operator-core -e normal --prefix none | sort -u | grep -E "$FORBIDDEN" || true)
  if [[ -n $found ]]; then
    echo "tweetpipe-operator-core must not depend on a client or driver; it does on:" >&2
    echo "$found" >&2
    echo "(cargo tree -p tweetpipe-operator-core -e normal -i <crate> shows the path)" >&2
    return 1
  fi
  cargo check --locked --quiet -p tweetpipe-operator-core
  echo "layering: the operator's pure core has no Kubernetes client, Kafka or MySQL dependency and builds alone"
}

main "$@"
