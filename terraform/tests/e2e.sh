#!/usr/bin/env bash
# End-to-end test of terraform/ on the local platform (make terraform-test):
#   tofu init offline -> apply (operator installed, pipeline Ready, posts in MariaDB) -> a second
#   plan shows no changes -> max_replicas changed: an in-place update the extractors follow -> plan
#   clean again -> destroy leaves no release, pipeline, topic, database, Secret or namespace.
# Own names (tf-e2e-*) and state directory, so it runs beside `make terraform-demo` and other
# operators: the operator watches only the pipeline's namespace, its webhook off. Cleans up on
# failure too. Needs the platform (make platform-up) and the docker.io/tweetpipe/*:dev images.
set -o errexit -o nounset -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
STACKS=$REPO/terraform/environments/local/stacks.sh
# shellcheck source=../../dev/platform/lib.sh
source "$REPO/dev/platform/lib.sh"
# shellcheck source=/dev/null
source "$ENV_FILE"

OPERATOR_NS=tf-e2e-system
PIPELINE_NS=tf-e2e-tweets
# Contains the chart name, so the Deployment is named like the release.
RELEASE=tf-e2e-tweetpipe-operator
PIPELINE=covid19
TOPIC=tf.e2e.covid19
DATABASE=tf_e2e_covid19

export TF_LOCAL_STATE_DIR TF_VAR_operator_namespace=$OPERATOR_NS TF_VAR_release_name=$RELEASE \
  TF_VAR_watch_namespace=$PIPELINE_NS TF_VAR_webhook_enabled=false TF_VAR_namespace=$PIPELINE_NS \
  TF_VAR_kafka_topic=$TOPIC TF_VAR_mysql_database=$DATABASE TF_VAR_deletion_policy=Delete \
  TF_VAR_extractor_max_replicas=4 \
  TF_VAR_instance=tf-e2e TF_VAR_operator_instance=tf-e2e
TF_LOCAL_STATE_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tweetpipe-tf-e2e.XXXXXX")
started=$SECONDS
# Plain output in CI logs.
export TF_CLI_ARGS=-no-color

say() { printf '%s [terraform-e2e] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
fail() { say "FAIL: $*"; exit 1; }
k() { kubectl --kubeconfig "$KUBECONFIG" "$@"; }

mysql_query() {
  local url=${TWEETPIPE_MYSQL_URL#mysql://} user password hostport
  user=${url%%:*}; url=${url#*:}; password=${url%%@*}; hostport=${url#*@}
  MYSQL_PWD=$password mariadb --protocol=tcp -h "${hostport%%:*}" -P "${hostport##*:}" -u "$user" -N -B -e "$1"
}

kafka_topics() {
  java -Xms64m -Xmx256m -Djava.awt.headless=true -cp "$KAFKA_HOME/libs/*" \
    org.apache.kafka.tools.TopicCommand --bootstrap-server "$TWEETPIPE_KAFKA_BOOTSTRAP" --list
}

# cleanup: on any exit, destroy through tofu; then remove by hand whatever a failed destroy left,
# so a failing run never leaves an operator reconciling in the shared cluster.
cleanup() {
  local rc=$?
  trap - EXIT
  if ((rc != 0)); then
    say "failed (exit $rc): state of the cluster before cleanup"
    k -n "$PIPELINE_NS" get tp,statefulsets,deployments,pods,secrets 2>&1 | sed 's/^/    /' >&2 || true
    k -n "$PIPELINE_NS" describe tp "$PIPELINE" 2>&1 | tail -25 | sed 's/^/    /' >&2 || true
    bash "$STACKS" destroy >/dev/null 2>&1 || say "tofu destroy failed during cleanup; removing by hand"
    k -n "$PIPELINE_NS" delete tp "$PIPELINE" --ignore-not-found --timeout=120s >/dev/null 2>&1 || true
    helm --kubeconfig "$KUBECONFIG" -n "$OPERATOR_NS" uninstall "$RELEASE" >/dev/null 2>&1 || true
    k delete namespace "$PIPELINE_NS" "$OPERATOR_NS" --ignore-not-found --timeout=120s >/dev/null 2>&1 || true
    mysql_query "DROP DATABASE IF EXISTS \`$DATABASE\`" >/dev/null 2>&1 || true
  fi
  rm -rf "$TF_LOCAL_STATE_DIR"
  say "took $((SECONDS - started))s: $([[ $rc == 0 ]] && echo PASS || echo FAIL)"
  exit "$rc"
}

# json_get PATH < JSON: one value of a JSON document, PATH in Python's subscript syntax.
json_get() { python3 -c "import json, sys; print(json.load(sys.stdin)$1)"; }

# poll DESCRIPTION TIMEOUT COMMAND...: until COMMAND succeeds, or fail naming DESCRIPTION.
poll() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "$what (not within ${timeout}s)"
    sleep 3
  done
}

posts_stored() { (($(mysql_query "SELECT COUNT(*) FROM \`$DATABASE\`.posts") > 0)); }
extractors_are() {
  local spec ready
  spec=$(k -n "$PIPELINE_NS" get statefulset "$PIPELINE-extractor" -o jsonpath='{.spec.replicas}')
  ready=$(k -n "$PIPELINE_NS" get statefulset "$PIPELINE-extractor" -o jsonpath='{.status.readyReplicas}')
  [[ $spec == "$1" && ${ready:-0} == "$1" ]]
}
ready_condition() {
  k -n "$PIPELINE_NS" get tp "$PIPELINE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'
}

# expect_no_changes: the second plan of both stacks must be empty (exit 0 of -detailed-exitcode).
expect_no_changes() {
  local rc=0
  bash "$STACKS" plan >"$TF_LOCAL_STATE_DIR/plan.log" 2>&1 || rc=$?
  if ((rc != 0)); then
    cat "$TF_LOCAL_STATE_DIR/plan.log" >&2
    fail "tofu plan after $1 shows changes or failed (detailed exit code $rc, expected 0)"
  fi
  say "ok: plan after $1 shows no changes"
}

main() {
  trap cleanup EXIT
  # A signal ends the script through exit, so the EXIT trap cleans up then too.
  trap 'exit 130' INT TERM
  [[ -z $(k get namespace "$OPERATOR_NS" "$PIPELINE_NS" --ignore-not-found -o name) ]] \
    || fail "$OPERATOR_NS or $PIPELINE_NS exists already (a previous run's leftovers?)"

  say "tofu init, offline: providers from the filesystem mirror only, any network use refused"
  HTTPS_PROXY=http://127.0.0.1:9 HTTP_PROXY=http://127.0.0.1:9 bash "$STACKS" init \
    || fail "tofu init did not succeed offline"
  say "ok: init offline"

  say "tofu apply (operator stack, then pipeline stack)"
  bash "$STACKS" apply || fail "tofu apply failed"
  [[ $(helm --kubeconfig "$KUBECONFIG" -n "$OPERATOR_NS" status "$RELEASE" -o json | json_get '["info"]["status"]') == deployed ]] \
    || fail "helm release $RELEASE is not deployed"
  k -n "$OPERATOR_NS" rollout status deployment "$RELEASE" --timeout=60s >/dev/null \
    || fail "operator Deployment $RELEASE not ready"
  [[ $(ready_condition) == True ]] || fail "TweetPipeline $PIPELINE_NS/$PIPELINE is not Ready after apply"
  for secret in "$PIPELINE-x-bearer-tokens" "$PIPELINE-mysql-admin"; do
    k -n "$PIPELINE_NS" get secret "$secret" >/dev/null 2>&1 || fail "Secret $secret missing"
  done
  [[ $(k -n "$PIPELINE_NS" get tp "$PIPELINE" -o jsonpath='{.spec.source.tokens[0].name}') == "$PIPELINE-x-bearer-tokens" ]] \
    || fail "the pipeline does not name the token Secret"
  say "ok: operator deployed, pipeline Ready, Secrets in place"
  local stack
  for stack in operator pipeline; do
    grep -q '"encrypted_data"' "$TF_LOCAL_STATE_DIR/$stack.tfstate" || fail "state of $stack is not encrypted"
    ! grep -qF -e "simulator-token-1" -e "${TWEETPIPE_MYSQL_URL_POD#mysql://}" "$TF_LOCAL_STATE_DIR/$stack.tfstate" \
      || fail "state of $stack holds a token or the MySQL admin URL in clear"
  done
  say "ok: both states encrypted, no secret in clear"
  # The absence checks after destroy mean something only if these existed.
  local topics
  topics=$(kafka_topics) || fail "cannot list Kafka topics"
  grep -qxF "$TOPIC" <<<"$topics" || fail "Kafka topic $TOPIC was not created"
  poll "posts stored in MariaDB database $DATABASE" 240 posts_stored
  say "ok: $(mysql_query "SELECT COUNT(*) FROM \`$DATABASE\`.posts") posts in $DATABASE"
  poll "4 extractors ready" 180 extractors_are 4

  expect_no_changes "apply"

  say "extractor max_replicas 4 -> 2: an in-place update"
  export TF_VAR_extractor_max_replicas=2
  local plan_file=$TF_LOCAL_STATE_DIR/replicas.tfplan actions
  bash "$STACKS" tofu pipeline plan -out="$plan_file" >/dev/null || fail "plan of the max_replicas change failed"
  actions=$(bash "$STACKS" tofu pipeline show -json "$plan_file" \
    | python3 -c 'import json, sys
changes = json.load(sys.stdin)["resource_changes"]
print(" ".join(c["address"] + ":" + "+".join(c["change"]["actions"]) for c in changes if c["change"]["actions"] != ["no-op"]))')
  [[ $actions == "module.covid19.kubernetes_manifest.pipeline:update" ]] \
    || fail "expected one in-place update of the TweetPipeline, planned: $actions"
  bash "$STACKS" tofu pipeline apply "$plan_file" >/dev/null || fail "apply of the max_replicas change failed"
  [[ $(k -n "$PIPELINE_NS" get tp "$PIPELINE" -o jsonpath='{.spec.extractor.maxReplicas}') == 2 ]] \
    || fail "spec.extractor.maxReplicas is not 2 after apply"
  poll "extractors following max_replicas=2" 180 extractors_are 2
  say "ok: updated in place, extractors at 2"
  expect_no_changes "the update"

  say "tofu destroy (pipeline stack, then operator stack)"
  bash "$STACKS" destroy || fail "tofu destroy failed"
  local left
  left=$(helm --kubeconfig "$KUBECONFIG" -n "$OPERATOR_NS" list -q) || fail "cannot list helm releases"
  [[ -z $left ]] || fail "a helm release is left in $OPERATOR_NS: $left"
  left=$(k -n "$PIPELINE_NS" get tp "$PIPELINE" --ignore-not-found -o name) || fail "cannot look up the TweetPipeline"
  [[ -z $left ]] || fail "TweetPipeline $PIPELINE_NS/$PIPELINE is left"
  [[ -z $(k get namespace "$OPERATOR_NS" "$PIPELINE_NS" --ignore-not-found -o name) ]] \
    || fail "namespace $OPERATOR_NS or $PIPELINE_NS is left"
  local secrets
  secrets=$(k -n "$PIPELINE_NS" get secrets -o name 2>&1) || fail "cannot list Secrets in $PIPELINE_NS: $secrets"
  [[ -z $secrets ]] || fail "Secrets are left in $PIPELINE_NS: $secrets"
  topics=$(kafka_topics) || fail "cannot list Kafka topics"
  ! grep -Eq "^${TOPIC//./\\.}(\.|$)" <<<"$topics" || fail "Kafka topic $TOPIC (or a companion) is left: $(grep -E "^${TOPIC//./\\.}" <<<"$topics" | tr '\n' ' ')"
  [[ -z $(mysql_query "SHOW DATABASES LIKE '$DATABASE'") ]] || fail "database $DATABASE is left"
  say "ok: nothing left (release, pipeline, Secrets, namespaces, topic, database)"
}

main "$@"
