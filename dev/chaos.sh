#!/usr/bin/env bash
# `make chaos`: builds and runs dev/chaos (crate tweetpipe-chaos) against the local platform.
# Needs `make platform-up` and the images tweetpipe/*:dev (`make images IMAGE_PROFILE=debug`), or
# tweetpipe/*:$CHAOS_IMAGE_TAG (`TWEETPIPE_IMAGE_TAG=$CHAOS_IMAGE_TAG make images ...`).
# Settings (environment): CHAOS_MINUTES (10), CHAOS_SEED (drawn and printed), CHAOS_KEEP (0),
# CHAOS_RESTART_SERVICES (1), CHAOS_DRAIN_SECONDS (600), CHAOS_NAMESPACE (tweetpipe-chaos),
# CHAOS_IMAGE_TAG (dev), CHAOS_SIMULATOR_IMAGE (docker.io/tweetpipe/xapi-simulator:$CHAOS_IMAGE_TAG),
# CHAOS_UPGRADE (1): start on the previous release (dev/upgrade/previous-release, built and imported
# by dev/upgrade/previous.sh) and upgrade to this tree halfway through the faults; 0 starts on this
# tree. See docs/reliability.md and docs/upgrading.md.
set -o errexit -o nounset -o pipefail

main() {
  cd "$(dirname "$0")/.."
  # helm and kubectl of the platform on PATH; KUBECONFIG and addresses from its env file.
  # shellcheck source=platform/lib.sh
  source dev/platform/lib.sh
  if [[ ${CHAOS_UPGRADE:-1} == 1 ]]; then
    bash dev/upgrade/previous.sh images
    CHAOS_UPGRADE_FROM=$(bash dev/upgrade/previous.sh dir)
    export CHAOS_UPGRADE_FROM
  fi
  cargo build --locked --quiet -p tweetpipe-chaos
  "${CARGO_TARGET_DIR:-target}/debug/tweetpipe-chaos"
}

main "$@"
