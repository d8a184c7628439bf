#!/usr/bin/env bash
# `make dashboards-test`: the Superset dashboard shows what a real pipeline stored.
#  1. the generated dashboards match dashboards/sql (generate.py --check);
#  2. a pipeline of its own (operator chart watching one namespace, webhook off; the X API simulator;
#     a TweetPipeline with a reporting user) stores posts in its own database;
#  3. a Superset instance of its own (.platform/superset-e2e, port 8089) imports the bundle, connected
#     as the pipeline's reporting user;
#  4. dashboards/tests/superset_e2e.py: every chart's chart-data API answers rows; headless Chromium
#     renders every chart; the screenshot (target/dashboards/superset-dashboard.png) is not blank.
#     DASHBOARDS_E2E_SCREENSHOT=${DASHBOARDS_E2E_SCREENSHOT:-target/dashboards/superset-dashboard.png} refreshes the one in the docs.
# Everything it created is removed at the end (DASHBOARDS_E2E_KEEP=1 keeps it for a look).
# Settings: DASHBOARDS_E2E_PREFIX (dashboards-e2e): namespace, Helm release and operator instance;
# its database is the prefix with '_' for '-'. DASHBOARDS_E2E_POSTS (300): posts to wait for.
# Needs `make platform-up` and the images tweetpipe/{operator,extractor,transformer,xapi-simulator}:dev.
set -o errexit -o nounset -o pipefail

PREFIX=${DASHBOARDS_E2E_PREFIX:-dashboards-e2e}
NAMESPACE=$PREFIX
DATABASE=${PREFIX//-/_}
REPORTING_USER=${DATABASE:0:29}_ro
WANTED_POSTS=${DASHBOARDS_E2E_POSTS:-300}
export SUPERSET_INSTANCE=superset-e2e SUPERSET_PORT=${DASHBOARDS_E2E_SUPERSET_PORT:-8089}
SCREENSHOT=${DASHBOARDS_E2E_SCREENSHOT:-target/dashboards/superset-dashboard.png}

step() { printf '%s [dashboards-e2e] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

mysql_root() {
  local url=${TWEETPIPE_MYSQL_URL#mysql://}
  local user=${url%%:*} rest=${url#*:}
  local password=${rest%%@*} hostport=${rest#*@}
  MYSQL_PWD=$password mariadb --protocol=tcp -h "${hostport%%:*}" -P "${hostport##*:}" -u "$user" -N -B -e "$1"
}

install_operator() {
  helm --kubeconfig "$KUBECONFIG" upgrade --install "$PREFIX" helm/tweetpipe-operator \
    --namespace "$NAMESPACE" --create-namespace --wait --timeout 180s \
    --set "instance=$PREFIX" --set "watchNamespace=$NAMESPACE" --set webhook.enabled=false \
    --set image.repository=docker.io/tweetpipe/operator --set image.tag=dev --set image.pullPolicy=Never \
    --set workers.extractor.image=docker.io/tweetpipe/extractor:dev \
    --set workers.transformer.image=docker.io/tweetpipe/transformer:dev \
    --set workers.pullPolicy=Never \
    --set "allowedApiServices[0].namespace=$NAMESPACE" --set 'allowedApiServices[0].name=x-api-simulator' \
    --set 'allowedApiServices[0].port=8080' >/dev/null
}

start_simulator() {
  x_api_simulator_manifest "$NAMESPACE" e2e | kubectl_admin apply -f - >/dev/null
  kubectl_admin -n "$NAMESPACE" rollout status deploy/x-api-simulator --timeout=120s >/dev/null
}

# apply_pipeline PASSWORD_FILE: the Secrets (values from files and the env file, never on a command
# line) and the TweetPipeline, the covid19 example's queries, deleted with its data at the end.
apply_pipeline() {
  local password_file=$1
  kubectl_admin -n "$NAMESPACE" create secret generic x-bearer-token --from-literal=token=simulator-token-1 \
    --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
  kubectl_admin -n "$NAMESPACE" create secret generic mysql-admin \
    --from-file=url=<(printf '%s' "$TWEETPIPE_MYSQL_URL_POD") --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
  kubectl_admin -n "$NAMESPACE" create secret generic mysql-reporting --from-file=password="$password_file" \
    --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
  kubectl_admin apply -f - >/dev/null <<YAML
apiVersion: tweetpipe.io/v1beta1
kind: TweetPipeline
metadata:
  name: posts
  namespace: $NAMESPACE
  labels: {tweetpipe.io/operator-instance: $PREFIX}
spec:
  source:
    baseUrl: http://x-api-simulator.$NAMESPACE.svc:8080
    tokens: [{name: x-bearer-token}]
    queries:
      - {name: covid-en, query: "(covid OR covid19 OR coronavirus) lang:en -is:retweet"}
      - {name: covid-pt, query: "(covid OR coronavírus) lang:pt -is:retweet"}
      - {name: quarantine-en, query: "(quarantine OR lockdown) lang:en -is:retweet"}
      - {name: quarantine-pt, query: "(quarentena OR isolamento) lang:pt -is:retweet"}
    limits: {requestsPerWindow: 450, windowSeconds: 900, monthlyPostCap: 1000000}
  kafka:
    bootstrapServers: $TWEETPIPE_KAFKA_BOOTSTRAP_POD
    topic: $PREFIX.posts
    partitions: 2
    replicationFactor: 1
  mysql:
    urlSecret: {name: mysql-admin, key: url}
    database: $DATABASE
    reportingUser: {name: $REPORTING_USER, passwordSecret: {name: mysql-reporting, key: password}}
  deletionPolicy: Delete
YAML
}

wait_for_posts() {
  local deadline=$((SECONDS + 300)) counts
  while true; do
    counts=$(mysql_root "SELECT (SELECT COUNT(*) FROM \`$DATABASE\`.posts), (SELECT COUNT(*) FROM \`$DATABASE\`.post_mentions), (SELECT COUNT(*) FROM \`$DATABASE\`.hashtags_daily)" 2>/dev/null || echo "0 0 0")
    read -r posts mentions hashtags <<<"$counts"
    if ((posts >= WANTED_POSTS && mentions > 0 && hashtags > 0)); then
      step "stored: $posts posts, $mentions mentions, $hashtags hashtag-days"
      return 0
    fi
    if ((SECONDS >= deadline)); then
      kubectl_admin -n "$NAMESPACE" describe tp posts >&2 || true
      die "the pipeline stored $posts posts ($mentions mentions, $hashtags hashtag-days) in 300s, wanted $WANTED_POSTS"
    fi
    sleep 5
  done
}

cleanup() {
  local rc=$?
  if [[ ${DASHBOARDS_E2E_KEEP:-0} == 1 ]]; then
    step "kept: namespace $NAMESPACE, database $DATABASE, Superset on 127.0.0.1:$SUPERSET_PORT"
    exit "$rc"
  fi
  step "cleaning up"
  bash dev/platform/superset.sh down --purge >/dev/null 2>&1 || true
  # deletionPolicy Delete: the operator drops the database, its accounts and topics, then lets go.
  kubectl_admin -n "$NAMESPACE" delete tp posts --ignore-not-found --wait --timeout=120s >/dev/null 2>&1 || true
  helm --kubeconfig "$KUBECONFIG" uninstall "$PREFIX" --namespace "$NAMESPACE" --wait >/dev/null 2>&1 || true
  kubectl_admin delete namespace "$NAMESPACE" --ignore-not-found --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK_DIR"
  exit "$rc"
}

main() {
  cd "$(dirname "$0")/../.."
  # shellcheck source=SCRIPTDIR/../../dev/platform/lib.sh
  source dev/platform/lib.sh
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  export KUBECONFIG=$STATE_DIR/kubeconfig

  step "the generated dashboards match dashboards/sql"
  python3 dashboards/generate.py --check

  WORK_DIR=$(mktemp -d)
  trap cleanup EXIT
  (umask 077 && openssl rand -hex 24 > "$WORK_DIR/reporting-password")

  step "operator $PREFIX (watching $NAMESPACE, webhook off), X API simulator, pipeline into $DATABASE"
  install_operator
  start_simulator
  apply_pipeline "$WORK_DIR/reporting-password"
  bash dev/platform/superset.sh install
  # Superset starts while the pipeline collects.
  bash dev/platform/superset.sh up
  kubectl_admin -n "$NAMESPACE" wait tp/posts --for=condition=Ready --timeout=300s >/dev/null ||
    { kubectl_admin -n "$NAMESPACE" describe tp posts >&2; die "the pipeline did not become Ready"; }
  wait_for_posts

  step "importing the bundle as $REPORTING_USER (read-only) into Superset on 127.0.0.1:$SUPERSET_PORT"
  SUPERSET_MYSQL_DATABASE=$DATABASE SUPERSET_MYSQL_USER=$REPORTING_USER \
    SUPERSET_MYSQL_PASSWORD_FILE=$WORK_DIR/reporting-password bash dev/platform/superset.sh import

  step "chart data and the dashboard in headless Chromium"
  mkdir -p "$(dirname "$SCREENSHOT")"
  SUPERSET_URL=http://127.0.0.1:$SUPERSET_PORT SUPERSET_ADMIN_PASSWORD_FILE=$STATE_DIR/$SUPERSET_INSTANCE/admin-password \
    SUPERSET_CONFIG_PATH=$PLATFORM_DIR/superset/superset_config.py TWEETPIPE_SUPERSET_STATE=$STATE_DIR/$SUPERSET_INSTANCE \
    "$CACHE_DIR/superset-6.1.0/bin/python" dashboards/tests/superset_e2e.py "$SCREENSHOT"
}

main "$@"
