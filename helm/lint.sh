#!/usr/bin/env bash
# Lints the chart strictly, renders it with and without the ServiceMonitor, checks that the
# values schema rejects bad values, and that the chart's CRD is the generated one.
set -euo pipefail
cd "$(dirname "$0")/.."
HELM=${HELM:-$(ls -d "$HOME"/.cache/tweetpipe/helm-*/bin/helm 2>/dev/null | tail -1)}
HELM=${HELM:-helm}
chart=helm/tweetpipe-operator
"$HELM" lint "$chart" --strict
"$HELM" lint "$chart" --strict --set metrics.serviceMonitor.enabled=true --set replicaCount=2
"$HELM" template lint "$chart" --namespace tweetpipe-system --kube-version 1.33.0 > /dev/null
for bad in replicaCount=0 image.pullPolicy=Sometimes unknownKey=1 leaderElection.leaseSeconds=1; do
  if "$HELM" lint "$chart" --set "$bad" > /dev/null 2>&1; then
    echo "values.schema.json accepted the invalid value $bad" >&2
    exit 1
  fi
done
diff -q crds/tweetpipe.io_tweetpipelines.yaml "$chart/crds/tweetpipe.io_tweetpipelines.yaml"
echo "chart OK"
