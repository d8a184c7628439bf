#!/usr/bin/env bash
# Checks tweetpipe's rule file and runs its unit tests with promtool (built, cached, by
# dev/platform/observe.sh): every alert has a firing and a non-firing case in dev/alerts/tests/.
# Also: the operations dashboard's JSON is what dashboards/generate_operations.py makes, and each
# of its panels' PromQL parses (checked as a recording rule).
set -o errexit -o nounset -o pipefail
# shellcheck source=../platform/lib.sh
source "$(dirname "$0")/../platform/lib.sh"

check_dashboard() {
  local promtool=$1 scratch
  scratch=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: the directory is this call's
  trap "rm -rf '$scratch'" RETURN
  python3 "$REPO_ROOT/dashboards/generate_operations.py" --exprs | python3 -c '
import json, sys
rules = [{"record": f"dashboard:panel_{i}", "expr": line} for i, line in enumerate(sys.stdin.read().splitlines())]
print(json.dumps({"groups": [{"name": "dashboard", "rules": rules}]}))
' > "$scratch/dashboard-rules.json"
  "$promtool" check rules "$scratch/dashboard-rules.json"
  cp "$REPO_ROOT/dashboards/grafana/tweetpipe-operations.json" "$scratch/committed.json"
  python3 "$REPO_ROOT/dashboards/generate_operations.py"
  if ! cmp -s "$scratch/committed.json" "$REPO_ROOT/dashboards/grafana/tweetpipe-operations.json"; then
    cp "$scratch/committed.json" "$REPO_ROOT/dashboards/grafana/tweetpipe-operations.json"
    die "dashboards/grafana/tweetpipe-operations.json is stale: run python3 dashboards/generate_operations.py"
  fi
}

main() {
  bash "$PLATFORM_DIR/observe.sh" build
  local promtool=$CACHE_DIR/prometheus-$PROMETHEUS_MODULE_VERSION/bin/promtool
  "$promtool" check rules "$REPO_ROOT/helm/tweetpipe-operator/files/alerts.yaml"
  "$promtool" test rules "$REPO_ROOT"/dev/alerts/tests/*.yaml
  check_dashboard "$promtool"
}

main "$@"
