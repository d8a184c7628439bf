#!/usr/bin/env bash
# `make dashboards`: Superset on top of `make demo`'s pipeline (tweets/covid19). Installs Superset
# (cached), starts it on 127.0.0.1, connects it to the pipeline's database as the pipeline's
# read-only reporting user (name and database from the TweetPipeline, password from its Secret,
# TLS and MariaDB's CA when the pipeline uses them), imports the dashboards and prints the URL.
# Settings: DEMO_NAMESPACE (tweets), DEMO_PIPELINE (covid19), SUPERSET_PORT (8088).
set -o errexit -o nounset -o pipefail

main() {
  cd "$(dirname "$0")/.."
  # shellcheck source=SCRIPTDIR/../dev/platform/lib.sh
  source dev/platform/lib.sh
  # shellcheck disable=SC1090
  source "$ENV_FILE"
  local namespace=${DEMO_NAMESPACE:-tweets} pipeline=${DEMO_PIPELINE:-covid19}
  local state=$STATE_DIR/${SUPERSET_INSTANCE:-superset}
  kubectl_admin -n "$namespace" get tp "$pipeline" >/dev/null 2>&1 ||
    die "no TweetPipeline $namespace/$pipeline: run make demo first"

  bash dev/platform/superset.sh install
  bash dev/platform/superset.sh up

  local user database secret key
  field() { kubectl_admin -n "$namespace" get tp "$pipeline" -o "jsonpath={$1}"; }
  user=$(field .spec.mysql.reportingUser.name)
  secret=$(field .spec.mysql.reportingUser.passwordSecret.name)
  key=$(field .spec.mysql.reportingUser.passwordSecret.key)
  database=$(field .spec.mysql.database)
  [[ -n $user && -n $secret ]] || die "$namespace/$pipeline has no spec.mysql.reportingUser: Superset reads as that user only"
  # The password goes from the Secret to a file only the owner reads; never to a command line.
  (umask 077 && kubectl_admin -n "$namespace" get secret "$secret" -o "jsonpath={.data.${key:-password}}" |
    base64 -d > "$state/mysql-reporting-password")
  if [[ -n $(field .spec.mysql.tls) ]]; then
    export SUPERSET_MYSQL_CA_FILE=$TWEETPIPE_MYSQL_CA_FILE
  fi
  SUPERSET_MYSQL_USER=$user SUPERSET_MYSQL_DATABASE=$database \
    SUPERSET_MYSQL_PASSWORD_FILE=$state/mysql-reporting-password \
    bash dev/platform/superset.sh import
  echo
  echo "Superset: http://127.0.0.1:${SUPERSET_PORT:-8088}/superset/dashboard/tweetpipe/"
  echo "  user admin, password in $state/admin-password"
  echo "  reads $database as $user (read-only); stop it with: bash dev/platform/superset.sh down"
}

main "$@"
