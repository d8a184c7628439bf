#!/usr/bin/env bash
# The operator half of `make demo`: installs the chart, runs the X API simulator in the cluster,
# applies examples/covid19.yaml (addresses of the local platform substituted), waits for the
# pipeline to be Ready and shows posts arriving: counts per query, top hashtags, `kubectl get tp`.
# Needs `make platform-up` and the images tweetpipe/{operator,extractor,transformer,xapi-simulator}:dev
# (`make images`). Usage: bash examples/demo.sh [seconds to watch, default 60]
# DEMO_SECURE=1: the secured variant — Kafka over the platform's SASL_SSL listener (SCRAM-SHA-512,
# Kafka's own CA; the workers as user `tweetpipe`, the operator as `tweetpipe-admin`) and MySQL
# over TLS (`mysql.tls`, verify-identity against MariaDB's CA; accounts REQUIRE SSL).
# docs/security.md, docs/mysql-tls.md.
set -euo pipefail
cd "$(dirname "$0")/.."
source dev/platform/lib.sh
# shellcheck source=/dev/null  # written by dev/platform/up.sh
source "$ENV_FILE"
watch_seconds=${1:-60}
system=tweetpipe-system

# With `make observe-up`, the operator and the workers export their traces to the collector.
otlp=()
if [[ -n ${TWEETPIPE_OTLP_ENDPOINT_POD:-} ]]; then
  otlp=(--set "otlpEndpoint=$TWEETPIPE_OTLP_ENDPOINT_POD" --set "workers.otlpEndpoint=$TWEETPIPE_OTLP_ENDPOINT_POD")
fi

echo "==> operator chart"
helm --kubeconfig "$KUBECONFIG" upgrade --install tweetpipe-operator helm/tweetpipe-operator "${otlp[@]}" \
  --namespace "$system" --create-namespace --wait --timeout 180s \
  --set image.repository=docker.io/tweetpipe/operator --set image.tag=dev --set image.pullPolicy=Never \
  --set workers.extractor.image=docker.io/tweetpipe/extractor:dev \
  --set workers.transformer.image=docker.io/tweetpipe/transformer:dev \
  --set workers.pullPolicy=Never \
  --set "allowedApiServices[0].namespace=$system" --set 'allowedApiServices[0].name=x-api-simulator' \
  --set 'allowedApiServices[0].port=8080' >/dev/null
kubectl_admin -n "$system" get deploy tweetpipe-operator

echo "==> X API simulator (token simulator-token-1) in $system"
x_api_simulator_manifest "$system" demo | kubectl_admin apply -f - >/dev/null
kubectl_admin -n "$system" rollout status deploy/x-api-simulator --timeout=120s >/dev/null

# secure_kafka < MANIFEST: the pipeline's kafka section on the SASL_SSL listener.
secure_kafka() {
  awk -v bootstrap="$TWEETPIPE_KAFKA_SECURE_BOOTSTRAP_POD" '
    /^    bootstrapServers: / {
      print "    bootstrapServers: " bootstrap
      print "    tls:"
      print "      caSecret: {name: kafka-ca, key: ca.crt}"
      print "    sasl:"
      print "      mechanism: SCRAM-SHA-512"
      print "      secretName: kafka-workers"
      print "      adminSecretName: kafka-admin"
      next
    }
    { print }'
}

# secure_mysql < MANIFEST: the pipeline's mysql section over TLS.
secure_mysql() {
  awk '
    /^  mysql:$/ {
      print
      print "    tls:"
      print "      caSecret: {name: mysql-ca, key: ca.crt}"
      print "      mode: verify-identity"
      next
    }
    { print }'
}

# kafka_secrets: the Kafka CA and both SCRAM users' Secrets, and MariaDB's CA, in namespace tweets,
# from the platform's files (values never on a command line).
kafka_secrets() {
  local users=${TWEETPIPE_KAFKA_CA_FILE%/ca.crt}/users
  kubectl_admin create namespace tweets --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
  kubectl_admin -n tweets create secret generic kafka-ca --from-file=ca.crt="$TWEETPIPE_KAFKA_CA_FILE" \
    --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
  kubectl_admin -n tweets create secret generic kafka-workers \
    --from-file=username="$users/tweetpipe/username" --from-file=password="$users/tweetpipe/password" \
    --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
  kubectl_admin -n tweets create secret generic kafka-admin \
    --from-file=username="$users/tweetpipe-admin/username" --from-file=password="$users/tweetpipe-admin/password" \
    --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
  kubectl_admin -n tweets create secret generic mysql-ca --from-file=ca.crt="$TWEETPIPE_MYSQL_CA_FILE" \
    --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
}

echo "==> pipeline examples/covid19.yaml"
manifest=$(sed -e "s#mysql://root:tweetpipe-dev-root@10.244.0.1:3306#$TWEETPIPE_MYSQL_URL_POD#" \
    -e "s#bootstrapServers: 10.244.0.1:9094#bootstrapServers: $TWEETPIPE_KAFKA_BOOTSTRAP_POD#" \
    examples/covid19.yaml)
if [[ ${DEMO_SECURE:-0} == 1 ]]; then
  echo "    secured: Kafka over SASL_SSL at $TWEETPIPE_KAFKA_SECURE_BOOTSTRAP_POD, MySQL over TLS (Secrets kafka-ca, kafka-workers, kafka-admin, mysql-ca)"
  kafka_secrets
  manifest=$(secure_kafka <<<"$manifest" | secure_mysql)
fi
# The admission webhook answers once the operator has published its CA (a few seconds after
# the chart is ready); until then the API server cannot call it, so retry briefly.
for attempt in $(seq 1 30); do
  if apply_error=$(kubectl_admin apply -f - <<<"$manifest" 2>&1 >/dev/null); then
    break
  fi
  if (( attempt == 30 )); then
    echo "$apply_error" >&2
    exit 1
  fi
  sleep 2
done
if ! kubectl_admin -n tweets wait tp/covid19 --for=condition=Ready --timeout=300s >/dev/null; then
  kubectl_admin -n tweets describe tp covid19
  exit 1
fi
kubectl_admin -n tweets get tp,pods

# mysql://user:password@host:port from the platform's env file.
url=${TWEETPIPE_MYSQL_URL#mysql://}
db_user=${url%%:*}; rest=${url#*:}; db_password=${rest%%@*}; hostport=${rest#*@}
mysql_query() {
  MYSQL_PWD=$db_password mariadb --protocol=tcp -h "${hostport%%:*}" -P "${hostport##*:}" -u "$db_user" --table -e "$1"
}
echo "==> posts arriving (watching ${watch_seconds}s)"
end=$((SECONDS + watch_seconds))
while (( SECONDS < end )); do
  sleep 15
  echo "--- $(date -u +%H:%M:%S) posts per query"
  mysql_query "SELECT query_name, COUNT(*) AS posts FROM tweets_covid19.post_queries GROUP BY query_name ORDER BY query_name"
done
echo "--- top hashtags"
mysql_query "SELECT display AS hashtag, COUNT(*) AS posts FROM tweets_covid19.post_hashtags GROUP BY tag, display ORDER BY posts DESC LIMIT 10"
echo
kubectl_admin get tp -A
