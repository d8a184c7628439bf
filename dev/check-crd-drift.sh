#!/usr/bin/env bash
# Fails when crds/ or the Helm chart's CRD differ from what the Rust types generate, when the
# API reference generated from the CRD (docs/reference/api.md, dev/apiref.py) is stale, or when
# docs/troubleshooting.md lacks a condition or event reason the operator sets
# (dev/check-troubleshooting.py).
#   dev/check-crd-drift.sh          check (CI)
#   dev/check-crd-drift.sh --write  regenerate both CRD copies and the API reference
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/.."
generated=$(mktemp)
trap 'rm -f "$generated"' EXIT
cargo run --quiet -p tweetpipe-operator --bin crdgen > "$generated"
targets=(crds/tweetpipe.io_tweetpipelines.yaml helm/tweetpipe-operator/crds/tweetpipe.io_tweetpipelines.yaml)
if [[ "${1:-}" == "--write" ]]; then
  for target in "${targets[@]}"; do
    mkdir -p "$(dirname "$target")"
    cp "$generated" "$target"
    echo "wrote $target"
  done
  python3 dev/apiref.py
  exit 0
fi
status=0
for target in "${targets[@]}"; do
  if ! diff -u "$target" "$generated" > /dev/null 2>&1; then
    echo "CRD drift: $target differs from the Rust types (operator/core/src/crd.rs)." >&2
    diff -u "$target" "$generated" | head -40 >&2 || true
    echo "Run: dev/check-crd-drift.sh --write" >&2
    status=1
  fi
done
[[ $status -eq 0 ]] && echo "CRDs match the Rust types."
# The reference is generated from the committed CRD: after a CRD drift, --write fixes both.
if ! python3 dev/apiref.py --check; then
  status=1
fi
if ! python3 dev/check-troubleshooting.py; then
  status=1
fi
exit $status
