#!/usr/bin/env bash
# `make chaos`: builds and runs dev/chaos (crate tweetpipe-chaos) against the local platform.
# Needs `make platform-up` and the images tweetpipe/*:dev (`make images IMAGE_PROFILE=debug`).
# Settings (environment): CHAOS_MINUTES (10), CHAOS_SEED (drawn and printed), CHAOS_KEEP (0),
# CHAOS_RESTART_SERVICES (1), CHAOS_DRAIN_SECONDS (600), CHAOS_NAMESPACE (tweetpipe-chaos).
# See docs/reliability.md.
set -o errexit -o nounset -o pipefail

main() {
  cd "$(dirname "$0")/.."
  # helm and kubectl of the platform on PATH; KUBECONFIG and addresses from its env file.
  # shellcheck source=platform/lib.sh
  source dev/platform/lib.sh
  cargo build --locked --quiet -p tweetpipe-chaos
  "${CARGO_TARGET_DIR:-target}/debug/tweetpipe-chaos"
}

main "$@"
