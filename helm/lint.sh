#!/usr/bin/env bash
# Lints the chart strictly, renders it with and without the ServiceMonitor, PodMonitor and the webhook
# (self-managed and cert-manager certificates), checks that the
# values schema rejects bad values, and that the chart's CRD is the generated one.
set -euo pipefail
cd "$(dirname "$0")/.."
# The platform's helm (the newest cached version), else helm from PATH.
helms=("$HOME"/.cache/tweetpipe/helm-*/bin/helm)
[[ -x ${helms[-1]} ]] || helms=(helm)
HELM=${HELM:-${helms[-1]}}
chart=helm/tweetpipe-operator
"$HELM" lint "$chart" --strict
"$HELM" lint "$chart" --strict --set metrics.serviceMonitor.enabled=true --set replicaCount=2
"$HELM" lint "$chart" --strict --set metrics.prometheusRule.enabled=true
"$HELM" lint "$chart" --strict --set metrics.podMonitor.enabled=true --set watchNamespace=tweets
"$HELM" template lint "$chart" --namespace tweetpipe-system --kube-version 1.33.0 > /dev/null
# The admission webhook: on (default, self-managed CA), off, and cert-manager mode.
render() { "$HELM" template lint "$chart" --namespace tweetpipe-system --kube-version 1.33.0 "$@"; }
expect() { # expect <present|absent> <text> <render args...>
  local want=$1 text=$2 out
  shift 2
  out=$(render "$@")
  if [[ $want == present && $out != *"$text"* ]] || [[ $want == absent && $out == *"$text"* ]]; then
    echo "rendering with ${*:-defaults}: expected $text to be $want" >&2
    exit 1
  fi
}
cm=(--set webhook.certManager.enabled=true --set webhook.certManager.issuerRef.name=webhook-issuer)
"$HELM" lint "$chart" --strict --set webhook.enabled=false
"$HELM" lint "$chart" --strict "${cm[@]}"
expect present "kind: ValidatingWebhookConfiguration"
expect present "name: TWEETPIPE_WEBHOOK_CA_SECRET"
expect present "operator: DoesNotExist"
expect absent "kind: Certificate"
expect absent "kind: ValidatingWebhookConfiguration" --set webhook.enabled=false
expect absent "kind: PrometheusRule"
expect present "alert: TweetPipelineNotReady" --set metrics.prometheusRule.enabled=true
expect absent "kind: PodMonitor"
expect present "any: true" --set metrics.podMonitor.enabled=true
expect present 'matchNames: ["tweets"]' --set metrics.podMonitor.enabled=true --set watchNamespace=tweets
expect present "targetLabel: pipeline" --set metrics.podMonitor.enabled=true
expect absent "containerPort: 8443" --set webhook.enabled=false
expect present "kind: Certificate" "${cm[@]}"
expect present "cert-manager.io/inject-ca-from: \"tweetpipe-system/lint-tweetpipe-operator-webhook\"" "${cm[@]}"
expect present "name: TWEETPIPE_WEBHOOK_CERT_DIR" "${cm[@]}"
expect absent "name: TWEETPIPE_WEBHOOK_CA_SECRET" "${cm[@]}"
# `required` only warns under helm lint, so check that rendering refuses a missing issuer.
if render --set webhook.certManager.enabled=true > /dev/null 2>&1; then
  echo "cert-manager mode rendered without webhook.certManager.issuerRef.name" >&2
  exit 1
fi
# Worker images follow the operator's version unless pinned (docs/upgrading.md, "Version skew").
expect present 'value: "ghcr.io/tweetpipe/extractor:0.1.0"'
expect present 'value: "ghcr.io/tweetpipe/transformer:0.1.0"'
expect present 'value: "mirror.acme:5000/tp/extractor:0.2.1"' --set workers.registry=mirror.acme:5000/tp/ --set image.tag=0.2.1
expect present 'value: "ghcr.io/acme/transformer:0.1.0-patched"' --set workers.transformer.image=ghcr.io/acme/transformer:0.1.0-patched
# RBAC: cluster-wide by default; with a namespace list, Roles in those namespaces and no cluster
# access (helm/rbac-test.sh checks what that grants against the API server).
expect present "kind: ClusterRoleBinding"
expect absent "kind: ClusterRoleBinding" --set 'watchNamespaces={team-a,team-b}' --set webhook.enabled=false
expect present 'namespace: team-b' --set 'watchNamespaces={team-a,team-b}'
expect present 'value: "team-a,team-b"' --set 'watchNamespaces={team-a}' --set watchNamespace=team-b
# The single watchNamespace keeps the ClusterRole (its namespace may not exist yet at install).
expect present "kind: ClusterRoleBinding" --set watchNamespace=later --set webhook.enabled=false
expect absent "namespace: later" --set watchNamespace=later
expect present 'values: ["team-a"]' --set 'watchNamespaces={team-a}' --set watchNamespace=team-a
expect present 'rbac.authorization.k8s.io/aggregate-to-edit: "true"'
expect absent 'aggregate-to-view' --set aggregatedRoles.enabled=false
# The optional NetworkPolicy: off by default; ingress to the webhook and metrics ports only.
expect absent "kind: NetworkPolicy"
expect present "kind: NetworkPolicy" --set networkPolicy.enabled=true
expect present "port: 8443" --set networkPolicy.enabled=true
expect absent "- Egress" --set networkPolicy.enabled=true
expect present "- Egress" --set networkPolicy.enabled=true --set 'networkPolicy.egress[0].ports[0].port=53'
"$HELM" lint "$chart" --strict --set networkPolicy.enabled=true \
  --set 'networkPolicy.metricsFrom[0].namespaceSelector.matchLabels.team=monitoring'
# Where tokens may go: the X API by default; allowed Services expand to their three names.
expect present 'value: "https://api.x.com,https://api.twitter.com"'
svc=(--set 'allowedApiServices[0].namespace=tweetpipe-system' --set 'allowedApiServices[0].name=x-api-simulator'
  --set 'allowedApiServices[0].port=8080')
expect present 'value: "https://api.x.com,https://api.twitter.com,x-api-simulator.tweetpipe-system:8080,x-api-simulator.tweetpipe-system.svc:8080,x-api-simulator.tweetpipe-system.svc.cluster.local:8080"' "${svc[@]}"
expect present 'value: "10.0.0.7:8080,[fd00::1]"' --set 'allowedApiHosts={10.0.0.7:8080,[fd00::1]}'
"$HELM" lint "$chart" --strict "${svc[@]}"
if render --set 'allowedApiHosts=null' > /dev/null 2>&1; then
  echo "rendered with no allowed API host at all" >&2
  exit 1
fi
for bad in 'allowedApiHosts={https://api.x.com/2}' 'allowedApiHosts={user@api.x.com}' \
  'allowedApiHosts={*.x.com}' 'allowedApiServices[0].name=x-api-simulator' \
  'allowedApiServices[0].namespace=Bad_NS' 'clusterDomain=-bad'; do
  if "$HELM" lint "$chart" --set "$bad" > /dev/null 2>&1; then
    echo "values.schema.json accepted the invalid value $bad" >&2
    exit 1
  fi
done
for bad in replicaCount=0 image.pullPolicy=Sometimes unknownKey=1 leaderElection.leaseSeconds=1 \
  webhook.port=80 webhook.certManager.issuerRef.kind=Other 'workers.registry=ghcr.io/x:1' \
  'watchNamespaces={Team_A}'; do
  if "$HELM" lint "$chart" --set "$bad" > /dev/null 2>&1; then
    echo "values.schema.json accepted the invalid value $bad" >&2
    exit 1
  fi
done
diff -q crds/tweetpipe.io_tweetpipelines.yaml "$chart/crds/tweetpipe.io_tweetpipelines.yaml"
echo "chart OK"
