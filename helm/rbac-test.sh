#!/usr/bin/env bash
# What the chart's RBAC grants, asked of the running API server (`make chart-rbac-test`, part of
# `make test`): with watchNamespaces the operator may read Secrets and manage workloads in those
# namespaces only, and nothing cluster-wide; without, everywhere; the aggregated roles let a
# namespace's editors and viewers use TweetPipelines. Renders the chart under a release name of its
# own, applies only its RBAC objects, asks `kubectl auth can-i`, and deletes what it applied.
set -o errexit -o nounset -o pipefail

RELEASE=rbac-test
OPERATOR_NAMESPACE=tweetpipe-rbac-test
WATCHED=(tp-rbac-a tp-rbac-b)
OTHER=tp-rbac-c
SA="system:serviceaccount:$OPERATOR_NAMESPACE:$RELEASE-tweetpipe-operator"
FAILURES=0

helm_bin() {
  local found
  found=$(find "$HOME/.cache/tweetpipe" -maxdepth 3 -path '*/helm-*/bin/helm' 2>/dev/null | sort | tail -1)
  echo "${HELM:-${found:-helm}}"
}

# Only the RBAC kinds of the rendered chart.
render_rbac() {
  "$(helm_bin)" template "$RELEASE" helm/tweetpipe-operator --namespace "$OPERATOR_NAMESPACE" \
    --kube-version 1.33.0 "$@" |
    python3 -c '
import sys, yaml
kinds = {"Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"}
docs = [d for d in yaml.safe_load_all(sys.stdin) if d and d.get("kind") in kinds]
yaml.safe_dump_all(docs, sys.stdout)'
}

# expect yes|no VERB RESOURCE [kubectl auth can-i args...]
expect() {
  local want=$1 verb=$2 resource=$3 got
  shift 3
  got=$(kubectl auth can-i "$verb" "$resource" --as "$SA" "$@" 2>/dev/null || true)
  if [[ $got != "$want" ]]; then
    printf 'FAIL: can-i %s %s %s as the operator: want %s, got %s\n' "$verb" "$resource" "$*" "$want" "${got:-<no answer>}" >&2
    FAILURES=$((FAILURES + 1))
  else
    printf 'ok: can-i %s %s %s -> %s\n' "$verb" "$resource" "$*" "$got"
  fi
}

# expect_user yes|no USER GROUP VERB RESOURCE NAMESPACE: a person bound to a built-in role.
expect_user() {
  local want=$1 user=$2 verb=$3 resource=$4 namespace=$5 got
  got=$(kubectl auth can-i "$verb" "$resource" --as "$user" -n "$namespace" 2>/dev/null || true)
  if [[ $got != "$want" ]]; then
    printf 'FAIL: can-i %s %s -n %s as %s: want %s, got %s\n' "$verb" "$resource" "$namespace" "$user" "$want" "${got:-<no answer>}" >&2
    FAILURES=$((FAILURES + 1))
  else
    printf 'ok: %s can-i %s %s -n %s -> %s\n' "$user" "$verb" "$resource" "$namespace" "$got"
  fi
}

cleanup() {
  render_rbac --set "watchNamespaces={${WATCHED[0]},${WATCHED[1]}}" | kubectl delete --ignore-not-found -f - >/dev/null 2>&1 || true
  render_rbac | kubectl delete --ignore-not-found -f - >/dev/null 2>&1 || true
  kubectl delete namespace --ignore-not-found --wait=false "$OPERATOR_NAMESPACE" "${WATCHED[@]}" "$OTHER" >/dev/null 2>&1 || true
}

main() {
  cd "$(dirname "$0")/.."
  kubectl version --request-timeout=10s >/dev/null || {
    echo "rbac-test: no Kubernetes API server (KUBECONFIG=${KUBECONFIG:-unset}); start the platform: make platform-up" >&2
    exit 1
  }
  trap cleanup EXIT
  cleanup
  local ns
  for ns in "$OPERATOR_NAMESPACE" "${WATCHED[@]}" "$OTHER"; do
    kubectl create namespace "$ns" >/dev/null
  done

  echo "== watchNamespaces: ${WATCHED[*]}"
  render_rbac --set "watchNamespaces={${WATCHED[0]},${WATCHED[1]}}" | kubectl apply -f - >/dev/null
  for ns in "${WATCHED[@]}"; do
    expect yes list secrets -n "$ns"
    expect yes watch secrets -n "$ns"
    expect yes patch deployments.apps -n "$ns"
    expect yes patch tweetpipelines.tweetpipe.io/status -n "$ns"
  done
  expect no get secrets -n "$OTHER"
  expect no list secrets --all-namespaces
  expect no list deployments.apps -n "$OTHER"
  expect no watch tweetpipelines.tweetpipe.io --all-namespaces
  render_rbac --set "watchNamespaces={${WATCHED[0]},${WATCHED[1]}}" | kubectl delete -f - >/dev/null

  echo "== every namespace (the default)"
  render_rbac | kubectl apply -f - >/dev/null
  expect yes list secrets --all-namespaces
  expect yes list secrets -n "$OTHER"
  # Least privilege either way: no update of pipelines' spec, no reading of what is not ours.
  expect no update tweetpipelines.tweetpipe.io -n "$OTHER"
  expect no list nodes
  # The aggregated roles: a namespace's editors may create pipelines there, viewers only read.
  kubectl create rolebinding rbac-test-editor --clusterrole=edit --user=alice -n "$OTHER" >/dev/null
  kubectl create rolebinding rbac-test-viewer --clusterrole=view --user=bob -n "$OTHER" >/dev/null
  # Aggregation is asynchronous (the controller manager fills the built-in roles' rules).
  local deadline=$((SECONDS + 60))
  until [[ $(kubectl auth can-i create tweetpipelines.tweetpipe.io --as alice -n "$OTHER" 2>/dev/null || true) == yes ]] || ((SECONDS > deadline)); do
    sleep 1
  done
  expect_user yes alice create tweetpipelines.tweetpipe.io "$OTHER"
  expect_user yes alice delete tweetpipelines.tweetpipe.io "$OTHER"
  expect_user no alice create tweetpipelines.tweetpipe.io "${WATCHED[0]}"
  expect_user yes bob list tweetpipelines.tweetpipe.io "$OTHER"
  expect_user no bob create tweetpipelines.tweetpipe.io "$OTHER"

  if ((FAILURES > 0)); then
    echo "rbac-test: $FAILURES check(s) failed" >&2
    exit 1
  fi
  echo "rbac-test: OK"
}

main "$@"
