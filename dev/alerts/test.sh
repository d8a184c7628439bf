#!/usr/bin/env bash
# Checks tweetpipe's rule file and runs its unit tests with promtool (built, cached, by
# dev/platform/observe.sh): every alert has a firing and a non-firing case in dev/alerts/tests/.
set -o errexit -o nounset -o pipefail
# shellcheck source=../platform/lib.sh
source "$(dirname "$0")/../platform/lib.sh"

main() {
  bash "$PLATFORM_DIR/observe.sh" build
  local promtool=$CACHE_DIR/prometheus-$PROMETHEUS_MODULE_VERSION/bin/promtool
  "$promtool" check rules "$REPO_ROOT/helm/tweetpipe-operator/files/alerts.yaml"
  "$promtool" test rules "$REPO_ROOT"/dev/alerts/tests/*.yaml
}

main "$@"
