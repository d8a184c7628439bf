#!/usr/bin/env bash
# Measures freshness (API → queryable in MySQL) on the demo pipeline: installs the operator chart
# and the X API simulator in namespace <prefix>-system, runs examples/covid19.yaml renamed into
# namespace <prefix> (its own topic, database and reporting user; deletionPolicy Delete), lets it
# run, prints p50/p99 of tweetpipe_transformer_freshness_seconds from Prometheus over the run, and
# removes everything it created. Needs the platform, `make observe-up` and the images.
# Usage: bash dev/freshness.sh [minutes, default 10]
#   FRESHNESS_PREFIX   namespace/release/database prefix (default: freshness)
#   IMAGE_TAG          tag of docker.io/tweetpipe/* images (default: dev)
set -o errexit -o nounset -o pipefail
# shellcheck source=platform/lib.sh
source "$(dirname "$0")/platform/lib.sh"

PREFIX=${FRESHNESS_PREFIX:-freshness}
IMAGE_TAG=${IMAGE_TAG:-dev}
SYSTEM=$PREFIX-system
IDENT=${PREFIX//-/_}

prometheus_value() {
  curl -sf "$TWEETPIPE_PROMETHEUS_URL/api/v1/query" --data-urlencode "query=$1" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin)["data"]["result"]; print(r[0]["value"][1] if r else "none")'
}

install() {
  helm --kubeconfig "$KUBECONFIG" upgrade --install "$PREFIX" "$REPO_ROOT/helm/tweetpipe-operator" \
    --namespace "$SYSTEM" --create-namespace --wait --timeout 180s \
    --set image.repository=docker.io/tweetpipe/operator --set "image.tag=$IMAGE_TAG" --set image.pullPolicy=Never \
    --set "workers.extractor.image=docker.io/tweetpipe/extractor:$IMAGE_TAG" \
    --set "workers.transformer.image=docker.io/tweetpipe/transformer:$IMAGE_TAG" \
    --set workers.pullPolicy=Never --set webhook.enabled=false \
    --set "instance=$PREFIX" --set "watchNamespace=$PREFIX" \
    --set "otlpEndpoint=$TWEETPIPE_OTLP_ENDPOINT_POD" --set "workers.otlpEndpoint=$TWEETPIPE_OTLP_ENDPOINT_POD" \
    --set "allowedApiServices[0].namespace=$SYSTEM" --set 'allowedApiServices[0].name=x-api-simulator' \
    --set 'allowedApiServices[0].port=8080' >/dev/null
  # The demo's simulator, in this run's system namespace.
  sed -n '/^kubectl_admin apply -f - >\/dev\/null <<YAML$/,/^YAML$/p' "$REPO_ROOT/examples/demo.sh" \
    | sed -e '1d' -e '$d' -e "s/\$system/$SYSTEM/g" -e "s/:dev$/:$IMAGE_TAG/" \
    | kubectl_admin apply -f - >/dev/null
  kubectl_admin -n "$SYSTEM" rollout status deploy/x-api-simulator --timeout=120s >/dev/null
  sed -e "s#mysql://root:tweetpipe-dev-root@10.244.0.1:3306#$TWEETPIPE_MYSQL_URL_POD#" \
    -e "s#bootstrapServers: 10.244.0.1:9094#bootstrapServers: $TWEETPIPE_KAFKA_BOOTSTRAP_POD#" \
    -e "s#x-api-simulator.tweetpipe-system.svc#x-api-simulator.$SYSTEM.svc#" \
    -e "s#namespace: tweets\$#namespace: $PREFIX#" -e "s#name: tweets\$#name: $PREFIX#" \
    -e "s#topic: tweets.covid19#topic: $PREFIX.covid19#" -e "s#database: tweets_covid19#database: ${IDENT}_covid19#" \
    -e "s#name: dashboards\$#name: ${IDENT}_dash#" -e "s#deletionPolicy: Retain#deletionPolicy: Delete#" \
    -e "s#^  name: covid19\$#  name: covid19\n  labels: {tweetpipe.io/operator-instance: $PREFIX}#" \
    "$REPO_ROOT/examples/covid19.yaml" | kubectl_admin apply -f - >/dev/null
  kubectl_admin -n "$PREFIX" wait tp/covid19 --for=condition=Ready --timeout=300s >/dev/null
}

cleanup() {
  kubectl_admin -n "$PREFIX" delete tp covid19 --wait --timeout=180s >/dev/null 2>&1 || true
  kubectl_admin delete namespace "$PREFIX" --wait=false >/dev/null 2>&1 || true
  helm --kubeconfig "$KUBECONFIG" uninstall "$PREFIX" --namespace "$SYSTEM" --wait >/dev/null 2>&1 || true
  kubectl_admin delete namespace "$SYSTEM" --wait=false >/dev/null 2>&1 || true
}

main() {
  local minutes=${1:-10}
  # shellcheck source=/dev/null
  source "$ENV_FILE"
  [[ -n ${TWEETPIPE_PROMETHEUS_URL:-} ]] || die "no Prometheus in $ENV_FILE: run make observe-up"
  trap cleanup EXIT
  log "demo pipeline in $PREFIX (operator in $SYSTEM, images :$IMAGE_TAG)"
  install
  log "Ready; running ${minutes} min"
  sleep "$((minutes * 60))"
  local selector="namespace=\"$PREFIX\", pipeline=\"covid19\""
  local window="${minutes}m"
  local p50 p99 count
  p50=$(prometheus_value "histogram_quantile(0.5, sum by (le) (rate(tweetpipe_transformer_freshness_seconds_bucket{$selector}[$window])))")
  p99=$(prometheus_value "histogram_quantile(0.99, sum by (le) (rate(tweetpipe_transformer_freshness_seconds_bucket{$selector}[$window])))")
  count=$(prometheus_value "sum(increase(tweetpipe_transformer_freshness_seconds_count{$selector}[$window]))")
  echo "freshness over ${minutes} min: p50 ${p50}s, p99 ${p99}s (${count} posts)"
}

main "$@"
