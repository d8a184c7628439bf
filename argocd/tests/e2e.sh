#!/usr/bin/env bash
# GitOps end to end (make gitops-test): Argo CD (dev/platform/argocd.sh, already up) syncs the
# operator chart and a TweetPipeline from the platform's git repository, through the app of apps
# of examples/argocd-application.yaml, and judges the pipeline with argocd/health.lua.
#   1. sync waves: the operator's Application (wave -1, chart with its CRD) is Healthy before the
#      pipelines' Application (wave 1) exists; both end Synced and Healthy once the pipeline is Ready
#   2. a commit raising extractor.maxReplicas is synced and the extractors follow
#   3. while the operator scales and writes status, the Applications never leave Synced
#   4. a commit breaking the MySQL Secret reference: Degraded, with health.lua's message
#   5. removing the pipelines' Application from git: its cascade deletes the pipeline, and with it
#      (deletionPolicy Delete) the topic and the database
# Every check exits non-zero with a message. Secrets are created with kubectl, never committed.
set -o errexit -o nounset -o pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=../../dev/platform/lib.sh
source dev/platform/lib.sh
# shellcheck disable=SC1090
source "$ENV_FILE"

ARGO_NS=argocd
OPERATOR_NS=gitops-system
PIPELINE_NS=gitops-tweets
PIPELINE=trends
DATABASE=gitops_trends
TOPIC=gitops.trends
ROOT_APP=tweetpipe
OPERATOR_APP=tweetpipe-operator
PIPELINES_APP=tweet-pipelines
RELEASE_FULLNAME=gitops-operator-tweetpipe-operator
CRD=tweetpipelines.tweetpipe.io
GIT_URL=git://$NODE_IP:9418/tweetpipe.git
WORK=$(mktemp -d)
started=$SECONDS

k() { kubectl_admin "$@"; }
step() { printf '%s [gitops-e2e] %s\n' "$(date -u +%H:%M:%S)" "$*"; }

fail() {
  step "FAIL: $*"
  diagnostics
  exit 1
}

diagnostics() {
  step "diagnostics"
  k -n "$ARGO_NS" get applications -o wide 2>&1 || true
  for app in "$ROOT_APP" "$OPERATOR_APP" "$PIPELINES_APP"; do
    k -n "$ARGO_NS" get application "$app" -o jsonpath='{.metadata.name}: {.status.sync.status} {.status.health.status} {.status.conditions} {.status.operationState.message}{"\n"}' 2>&1 || true
  done
  k -n "$PIPELINE_NS" get tp,sts,deploy,pods 2>&1 || true
  k -n "$PIPELINE_NS" get tp "$PIPELINE" -o jsonpath='{range .status.conditions[*]}{.type}={.status} {.reason}: {.message}{"\n"}{end}' 2>&1 || true
  tail -n 20 "$LOG_DIR/argocd-application-controller.log" 2>&1 || true
}

# wait_until DESCRIPTION TIMEOUT_SECONDS COMMAND...: poll every 2 s; fail with DESCRIPTION.
wait_until() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what: not within ${timeout}s"
    sleep 2
  done
  step "ok: $what"
}

app_field() { k -n "$ARGO_NS" get application "$1" -o jsonpath="$2" 2>/dev/null; }
app_state() { app_field "$1" '{.status.sync.status}/{.status.health.status}'; }
app_is() { [[ $(app_state "$1") == "$2" ]]; }
app_synced_at() { [[ $(app_field "$1" '{.status.sync.status} {.status.sync.revision}') == "Synced $2" ]]; }
app_exists() { k -n "$ARGO_NS" get application "$1" >/dev/null 2>&1; }
app_gone() { ! app_exists "$1"; }
pipeline_health() {
  app_field "$PIPELINES_APP" '{.status.resources[?(@.kind=="TweetPipeline")].health.status}|{.status.resources[?(@.kind=="TweetPipeline")].health.message}'
}
pipeline_health_is() { [[ $(pipeline_health) == "$1|"* ]]; }
pipeline_ready() {
  [[ $(k -n "$PIPELINE_NS" get tp "$PIPELINE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}
extractors_ready() {
  [[ $(k -n "$PIPELINE_NS" get sts "$PIPELINE-extractor" -o jsonpath='{.spec.replicas}/{.status.readyReplicas}') == "$1/$1" ]]
}
operator_available() {
  [[ $(k -n "$OPERATOR_NS" get deploy "$RELEASE_FULLNAME" -o jsonpath='{.status.availableReplicas}' 2>/dev/null) -ge 1 ]]
}

# mysql://user:password@host:port from the platform's env file (host side).
mysql_query() {
  local url=${TWEETPIPE_MYSQL_URL#mysql://} user rest password hostport
  user=${url%%:*}; rest=${url#*:}; password=${rest%%@*}; hostport=${rest#*@}
  MYSQL_PWD=$password mariadb --protocol=tcp -h "${hostport%%:*}" -P "${hostport##*:}" -u "$user" -N -B -e "$1"
}
# database_listed: 0 listed, 1 not listed, 2 MariaDB did not answer (neither "there" nor "gone").
database_listed() {
  local listing
  listing=$(mysql_query "SHOW DATABASES LIKE '$DATABASE'") || return 2
  [[ -n $listing ]]
}
database_exists() { database_listed; }
database_gone() { local rc=0; database_listed || rc=$?; ((rc == 1)); }
# Kafka's own topic tool, from the platform's Kafka libraries (kafka.sh).
kafka_topics() {
  java -Xms64m -Xmx256m -Djava.awt.headless=true -cp "$KAFKA_HOME/libs/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$TWEETPIPE_KAFKA_BOOTSTRAP" "$@"
}
# topic_listed: 0 listed, 1 not listed, 2 Kafka did not answer.
topic_listed() {
  local listing
  listing=$(kafka_topics --list 2>/dev/null) || return 2
  grep -qx "$TOPIC" <<<"$listing"
}
topic_exists() { topic_listed; }
topic_gone() { local rc=0; topic_listed || rc=$?; ((rc == 1)); }

# commit MESSAGE SED_EXPRESSION FILE: one commit on the served repository; prints its sha.
commit() {
  local message=$1 expression=$2 file=$3
  (
    cd "$WORK/repo" || exit 1
    git pull --quiet --rebase origin main
    sed -i "$expression" "$file"
    git diff --quiet && { echo "commit '$message' changes nothing" >&2; exit 1; }
    git -c user.name=gitops-e2e -c user.email=e2e@tweetpipe.local commit --quiet -am "$message"
    git push --quiet origin main
    git rev-parse HEAD
  )
}

# commit_synced MESSAGE SED_EXPRESSION: commits the edit of the pipeline's manifest and waits until
# the pipelines' Application has synced that commit.
commit_synced() {
  local sha
  sha=$(commit "$1" "$2" examples/gitops/pipelines/trends.yaml) || fail "could not commit"
  wait_until "Argo CD synced commit ${sha:0:8}" 120 app_synced_at "$PIPELINES_APP" "$sha"
}

# Everything this test created, whatever state it stopped in. The operator's Application has no
# cascade (by design: it holds the shared CRD), so its objects are deleted by name here.
cleanup() {
  local rc=$?
  step "cleanup"
  k -n "$ARGO_NS" delete application "$ROOT_APP" --ignore-not-found --wait=true --timeout=60s >/dev/null 2>&1 || true
  if app_exists "$PIPELINES_APP"; then
    k -n "$ARGO_NS" delete application "$PIPELINES_APP" --wait=false >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 120))
    while app_exists "$PIPELINES_APP" && ((SECONDS < deadline)); do sleep 2; done
  fi
  # A pipeline the operator could not finish (it only happens on a failed run) loses its finalizer.
  if k -n "$PIPELINE_NS" get tp "$PIPELINE" >/dev/null 2>&1; then
    k -n "$PIPELINE_NS" delete tp "$PIPELINE" --wait=false >/dev/null 2>&1 || true
    sleep 20
    k -n "$PIPELINE_NS" patch tp "$PIPELINE" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
  fi
  k -n "$ARGO_NS" patch application "$PIPELINES_APP" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1 || true
  k -n "$ARGO_NS" delete application "$OPERATOR_APP" --ignore-not-found --timeout=60s >/dev/null 2>&1 || true
  k delete namespace "$PIPELINE_NS" "$OPERATOR_NS" --ignore-not-found --timeout=120s >/dev/null 2>&1 || true
  k delete clusterrolebinding "$RELEASE_FULLNAME" --ignore-not-found >/dev/null 2>&1 || true
  k delete clusterrole "$RELEASE_FULLNAME" --ignore-not-found >/dev/null 2>&1 || true
  # The CRD stays (other installations use it); only Argo's tracking mark goes.
  k annotate crd "$CRD" argocd.argoproj.io/tracking-id- >/dev/null 2>&1 || true
  mysql_query "DROP DATABASE IF EXISTS \`$DATABASE\`" >/dev/null 2>&1 || true
  if topic_exists; then
    kafka_topics --delete --topic "$TOPIC" >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  step "done in $((SECONDS - started))s (exit $rc)"
  exit "$rc"
}

fixtures() {
  step "fixtures: namespaces, X API simulator in $OPERATOR_NS, Secrets in $PIPELINE_NS (not in git)"
  for ns in "$OPERATOR_NS" "$PIPELINE_NS"; do
    k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
  done
  x_api_simulator_manifest "$OPERATOR_NS" gitops | k apply -f - >/dev/null
  # Values through files, never on a command line.
  printf '%s' simulator-token-1 > "$WORK/token"
  printf '%s' "$TWEETPIPE_MYSQL_URL_POD" > "$WORK/mysql-url"
  k -n "$PIPELINE_NS" create secret generic x-bearer-token --from-file=token="$WORK/token" \
    --dry-run=client -o yaml | k apply -f - >/dev/null
  k -n "$PIPELINE_NS" create secret generic mysql-admin --from-file=url="$WORK/mysql-url" \
    --dry-run=client -o yaml | k apply -f - >/dev/null
  rm -f "$WORK/token" "$WORK/mysql-url"
  k -n "$OPERATOR_NS" rollout status deploy/x-api-simulator --timeout=120s >/dev/null \
    || fail "the X API simulator did not start"
}

main() {
  trap cleanup EXIT
  [[ $(bash dev/platform/argocd.sh status) == up* ]] || fail "Argo CD is not up (make argocd-up)"
  # Leftovers of an interrupted run would fake results.
  for app in "$ROOT_APP" "$PIPELINES_APP" "$OPERATOR_APP"; do
    app_gone "$app" || fail "Application $app of an earlier run exists; delete it (this test cleans up after itself)"
  done
  database_gone || fail "database $DATABASE exists before the test (or MariaDB does not answer)"
  topic_gone || fail "topic $TOPIC exists before the test (or Kafka does not answer)"

  step "the repository: the working tree's chart and examples/gitops/, then a clone to commit from"
  bash dev/platform/argocd.sh publish
  # git daemon serves reads only; commits are pushed through the repository's path on this machine.
  git ls-remote "$GIT_URL" >/dev/null || fail "git daemon does not serve $GIT_URL"
  git clone --quiet "$STATE_DIR/argocd/git/tweetpipe.git" "$WORK/repo"
  fixtures

  step "1. sync: kubectl apply -f examples/argocd-application.yaml (the app of apps)"
  k apply -f examples/argocd-application.yaml >/dev/null
  wait_until "the operator's Application exists" 60 app_exists "$OPERATOR_APP"
  # Wave 1 must wait for wave -1 to be Healthy: when the pipelines' Application first shows,
  # the operator is already available.
  local deadline=$((SECONDS + 300))
  until app_exists "$PIPELINES_APP"; do
    ((SECONDS < deadline)) || fail "the pipelines' Application (wave 1) was not created within 300s"
    sleep 1
  done
  operator_available || fail "sync waves: the pipelines' Application exists before the operator is available"
  app_is "$OPERATOR_APP" Synced/Healthy \
    || fail "sync waves: pipelines' Application created while the operator's is $(app_state "$OPERATOR_APP")"
  step "ok: sync waves: the operator's Application was Synced/Healthy before the pipelines' appeared"
  [[ $(app_field "$OPERATOR_APP" '{.status.resources[?(@.kind=="CustomResourceDefinition")].status}') == Synced ]] \
    || fail "the operator's Application does not manage the CRD in sync"
  wait_until "the pipeline is Ready" 300 pipeline_ready
  wait_until "Argo CD: pipelines' Application Synced/Healthy" 120 app_is "$PIPELINES_APP" Synced/Healthy
  wait_until "Argo CD: TweetPipeline health Healthy (health.lua)" 60 pipeline_health_is Healthy
  wait_until "Argo CD: root Application Synced/Healthy" 120 app_is "$ROOT_APP" Synced/Healthy
  extractors_ready 1 || fail "expected 1 extractor at maxReplicas 1"

  step "2. a commit raises extractor.maxReplicas 1 -> 2"
  local sha
  sha=$(commit "trends: two extractors" '/^  extractor:$/,/^  kafka:$/ s/^    maxReplicas: 1$/    maxReplicas: 2/' \
    examples/gitops/pipelines/trends.yaml) || fail "could not commit"
  [[ $(k -n "$PIPELINE_NS" get tp "$PIPELINE" -o jsonpath='{.spec.extractor.maxReplicas}') == 1 ]] \
    || fail "maxReplicas changed before the commit was synced"
  wait_until "Argo CD synced commit ${sha:0:8}" 120 app_synced_at "$PIPELINES_APP" "$sha"
  [[ $(k -n "$PIPELINE_NS" get tp "$PIPELINE" -o jsonpath='{.spec.extractor.maxReplicas}') == 2 ]] \
    || fail "the synced pipeline's extractor.maxReplicas is not 2"
  # From here on the operator scales the extractors and writes status; Argo must see no drift.
  step "3. no self-inflicted drift: both Applications stay Synced while the operator scales and writes"
  local version_before state settled_at=0
  version_before=$(k -n "$PIPELINE_NS" get tp "$PIPELINE" -o jsonpath='{.metadata.resourceVersion}')
  deadline=$((SECONDS + 300))
  # Until 2 extractors are ready and Healthy, then 75 s more (the operator's status refresh is 60 s).
  while ((settled_at == 0 || SECONDS < settled_at + 75)); do
    ((SECONDS < deadline)) || fail "the extractors did not follow (2 ready, Healthy) within 300s: $(app_state "$PIPELINES_APP")"
    for app in "$OPERATOR_APP" "$PIPELINES_APP"; do
      state=$(app_field "$app" '{.status.sync.status}')
      [[ $state == Synced ]] || fail "drift: $app is $state while nothing was committed"
    done
    if ((settled_at == 0)) && extractors_ready 2 && app_is "$PIPELINES_APP" Synced/Healthy; then
      settled_at=$SECONDS
      step "ok: the extractors followed: 2/2 ready, Synced/Healthy"
    fi
    sleep 3
  done
  [[ $(k -n "$PIPELINE_NS" get tp "$PIPELINE" -o jsonpath='{.metadata.resourceVersion}') != "$version_before" ]] \
    || fail "the operator wrote nothing: the drift check proved nothing"
  step "ok: both Applications stayed Synced while the operator scaled and wrote the pipeline"

  step "4. a commit breaks the MySQL Secret reference"
  commit_synced "trends: a Secret that does not exist" \
    's/^      name: mysql-admin$/      name: mysql-admin-missing/'
  wait_until "Argo CD: pipelines' Application Degraded" 120 app_is "$PIPELINES_APP" Synced/Degraded
  local health expected='Degraded|SecretMissing: Secret "mysql-admin-missing" (MySQL URL) does not exist'
  health=$(pipeline_health)
  [[ $health == "$expected"* ]] || fail "TweetPipeline health: got '$health', want '$expected...'"
  step "ok: Argo CD shows: $health"

  step "    the fix is a commit too"
  commit_synced "trends: the MySQL Secret again" 's/^      name: mysql-admin-missing$/      name: mysql-admin/'
  wait_until "Argo CD: Synced/Healthy again" 240 app_is "$PIPELINES_APP" Synced/Healthy
  database_exists || fail "database $DATABASE missing while the pipeline is Ready"
  topic_exists || fail "topic $TOPIC missing while the pipeline is Ready"

  step "5. a commit removes the pipelines' Application: cascade, deletionPolicy Delete"
  (
    cd "$WORK/repo" || exit 1
    git pull --quiet --rebase origin main
    git rm --quiet examples/gitops/apps/pipelines.yaml
    git -c user.name=gitops-e2e -c user.email=e2e@tweetpipe.local commit --quiet -m "no more pipelines"
    git push --quiet origin main
  ) || fail "could not commit"
  wait_until "the root pruned the pipelines' Application (its finalizer cascaded)" 240 app_gone "$PIPELINES_APP"
  wait_until "the TweetPipeline is gone" 120 bash -c "! kubectl --kubeconfig '$STATE_DIR/kubeconfig' -n $PIPELINE_NS get tp $PIPELINE"
  wait_until "its extractors are gone" 60 bash -c "! kubectl --kubeconfig '$STATE_DIR/kubeconfig' -n $PIPELINE_NS get sts $PIPELINE-extractor"
  wait_until "database $DATABASE dropped" 60 database_gone
  wait_until "topic $TOPIC deleted" 60 topic_gone
  app_is "$OPERATOR_APP" Synced/Healthy || fail "the operator's Application is $(app_state "$OPERATOR_APP") after the cascade"

  step "PASS in $((SECONDS - started))s"
  echo "5 passed, 0 failed"
}

main "$@"
