#!/usr/bin/env bash
# `make demo`: shows the local platform working end to end — a pod from our own image, on the
# node, round-trips a Kafka message and queries MariaDB — and the platform's status.
set -euo pipefail
cd "$(dirname "$0")/.."
source dev/platform/lib.sh
# shellcheck source=/dev/null  # written by dev/platform/up.sh
source "$ENV_FILE"

ns=tweetpipe-demo
kubectl_admin get namespace "$ns" >/dev/null 2>&1 || kubectl_admin create namespace "$ns" >/dev/null
kubectl_admin -n "$ns" delete pod probe --ignore-not-found --wait=true >/dev/null
kubectl_admin -n "$ns" create secret generic mysql --from-literal=url="$TWEETPIPE_MYSQL_URL_POD" \
  --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
kubectl_admin -n "$ns" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Pod
metadata: {name: probe}
spec:
  restartPolicy: Never
  containers:
  - name: probe
    image: tweetpipe/probe:dev
    imagePullPolicy: Never
    env:
    - {name: PROBE_KAFKA_BOOTSTRAP, value: "$TWEETPIPE_KAFKA_BOOTSTRAP_POD"}
    - {name: PROBE_MYSQL_URL_FILE, value: /etc/mysql/url}
    volumeMounts: [{name: mysql, mountPath: /etc/mysql, readOnly: true}]
    securityContext: {runAsNonRoot: true, readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
  volumes: [{name: mysql, secret: {secretName: mysql}}]
YAML
echo "waiting for the probe pod in namespace $ns ..."
kubectl_admin -n "$ns" wait pod/probe --for=jsonpath='{.status.phase}'=Succeeded --timeout=120s >/dev/null ||
  { kubectl_admin -n "$ns" describe pod probe; kubectl_admin -n "$ns" logs probe || true; exit 1; }
echo
echo "probe report from inside the pod:"
kubectl_admin -n "$ns" logs probe
echo
kubectl_admin get nodes -o wide
echo
bash dev/platform/status.sh
