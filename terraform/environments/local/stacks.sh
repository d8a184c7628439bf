#!/usr/bin/env bash
# Runs the two stacks of the local environment in order against the local platform:
#   stacks.sh init      tofu init of both stacks (offline: providers from the local mirror)
#   stacks.sh apply     operator stack, then pipeline stack (the CRD exists before the pipeline
#                       is planned); every apply waits: operator ready, pipeline Ready
#   stacks.sh plan      `tofu plan -detailed-exitcode` of both; exit 0 no changes, 2 changes
#   stacks.sh destroy   pipeline stack first (its finalizer needs the operator), then operator
#   stacks.sh demo      apply, then show posts arriving in MariaDB
#   stacks.sh tofu STACK ARGS...   any tofu command in one stack (operator|pipeline), same setup
# Addresses and the kubeconfig come from .platform/env as TF_VAR_*; a TF_VAR_* already set wins.
# State (encrypted) and the passphrase live in TF_LOCAL_STATE_DIR (default .platform/terraform).
set -o errexit -o nounset -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../../.." && pwd)
# shellcheck source=../../../dev/platform/lib.sh
source "$REPO/dev/platform/lib.sh"

say() { printf '%s [terraform] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

setup() {
  [[ -f $ENV_FILE ]] || die "$ENV_FILE missing: make platform-up first"
  # shellcheck source=/dev/null
  source "$ENV_FILE"
  bash "$REPO/dev/platform/tofu.sh" build
  TF_CLI_CONFIG_FILE=$(bash "$REPO/dev/platform/tofu.sh" cli-config)
  PATH="$(bash "$REPO/dev/platform/tofu.sh" path):$PATH"
  export TF_CLI_CONFIG_FILE PATH TF_IN_AUTOMATION=1 TF_INPUT=0
  STATE=${TF_LOCAL_STATE_DIR:-$STATE_DIR/terraform}
  mkdir -p "$STATE"
  chmod 700 "$STATE"
  # One passphrase per state directory, made once, readable by its owner only.
  if [[ ! -s $STATE/passphrase ]]; then
    (umask 077 && openssl rand -hex 32 > "$STATE/passphrase")
  fi
  export TF_VAR_state_passphrase
  TF_VAR_state_passphrase=$(< "$STATE/passphrase")
  export TF_VAR_kubeconfig=${TF_VAR_kubeconfig:-$KUBECONFIG}
  export TF_VAR_kafka_bootstrap_servers=${TF_VAR_kafka_bootstrap_servers:-$TWEETPIPE_KAFKA_BOOTSTRAP_POD}
  export TF_VAR_mysql_admin_url=${TF_VAR_mysql_admin_url:-$TWEETPIPE_MYSQL_URL_POD}
}

# tf STACK ARGS...: tofu in STACK's directory, its working data beside its state.
tf() {
  local stack=$1; shift
  TF_DATA_DIR=$STATE/$stack.terraform tofu -chdir="$HERE/$stack" "$@"
}

init() {
  local stack
  for stack in operator pipeline; do
    say "init $stack"
    tf "$stack" init -input=false -backend-config="path=$STATE/$stack.tfstate" >/dev/null
  done
}

# The pipeline reads the simulator the operator stack deployed.
pipeline_vars() {
  export TF_VAR_api_base_url
  TF_VAR_api_base_url=${TF_VAR_api_base_url:-$(tf operator output -raw simulator_base_url)}
}

apply() {
  init
  say "apply operator (chart, CRD, X API simulator)"
  tf operator apply -auto-approve
  pipeline_vars
  say "apply pipeline (waits for Ready)"
  tf pipeline apply -auto-approve
}

plan() {
  local rc=0 stack status
  for stack in operator pipeline; do
    [[ $stack == pipeline ]] && pipeline_vars
    status=0
    tf "$stack" plan -detailed-exitcode -lock=false || status=$?
    say "plan $stack: exit $status"
    ((status == 1)) && return 1
    ((status > rc)) && rc=$status
  done
  return "$rc"
}

has_state() { [[ -s $STATE/$1.tfstate ]]; }

destroy() {
  init
  if has_state pipeline; then
    # The API base URL only matters to a plan that keeps the pipeline; any value satisfies it.
    export TF_VAR_api_base_url=${TF_VAR_api_base_url:-http://unused.invalid}
    say "destroy pipeline (its finalizer drops what deletionPolicy says, so the operator stays until it is gone)"
    tf pipeline destroy -auto-approve
  fi
  if has_state operator; then
    say "destroy operator"
    tf operator destroy -auto-approve
  fi
}

mysql_count() {
  local url=${TWEETPIPE_MYSQL_URL#mysql://} user password hostport
  user=${url%%:*}; url=${url#*:}; password=${url%%@*}; hostport=${url#*@}
  MYSQL_PWD=$password mariadb --protocol=tcp -h "${hostport%%:*}" -P "${hostport##*:}" -u "$user" -N -B \
    -e "SELECT COUNT(*) FROM \`$1\`.posts" 2>/dev/null || echo 0
}

demo() {
  apply
  local database namespace
  database=$(tf pipeline output -raw database)
  namespace=${TF_VAR_namespace:-tf-tweets}
  kubectl --kubeconfig "$TF_VAR_kubeconfig" -n "$namespace" get tp,pods
  say "posts in $database (watching 60s)"
  local end=$((SECONDS + 60))
  while ((SECONDS < end)); do
    sleep 15
    say "posts: $(mysql_count "$database")"
  done
  say "make terraform-destroy removes it all (deletionPolicy Delete: topic and database too)"
}

main() {
  case ${1:-} in
    init | apply | plan | destroy | demo) setup && "$1" ;;
    tofu)
      setup
      [[ ${2:-} == pipeline ]] && pipeline_vars
      tf "${2:?usage: stacks.sh tofu operator|pipeline ARGS...}" "${@:3}"
      ;;
    *) echo "usage: $0 init|apply|plan|destroy|demo|tofu STACK ARGS..." >&2; exit 2 ;;
  esac
}

main "$@"
