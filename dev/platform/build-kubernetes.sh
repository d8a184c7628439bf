#!/usr/bin/env bash
# Builds the Kubernetes server and node binaries, kubectl, etcd and helm from the Go module proxy.
# k8s.io/kubernetes (and etcd's server) `replace` their staging modules with local paths, so each is
# built through a small wrapper module that requires it and points every staging module at its
# published version instead. Results are cached per version: a second run costs nothing.
source "$(dirname "$0")/lib.sh"

export CGO_ENABLED=0 GOFLAGS=-buildvcs=false

# wrapper_gomod MODULE@VERSION STAGING_VERSION: print a go.mod that builds MODULE with each of its
# `=> ./staging/...` replaces redirected to the published STAGING_VERSION.
wrapper_gomod() {
  local module=$1 version=$2 staging_version=$3 gomod
  gomod=$(cd / && go mod download -json "$module@$version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
  echo "module tweetpipe.local/build"
  grep -E '^go [0-9.]+$' "$gomod" | head -1
  grep -E '^godebug ' "$gomod" || true
  echo "require $module $version"
  # Each replace onto a local path names a module; pin it to its published twin: the version the
  # go.mod requires, or STAGING_VERSION where it requires the placeholder v0.0.0.
  # Replaces that only forbid a dependency are dropped.
  python3 - "$gomod" "$staging_version" <<'PY'
import re, sys
text = open(sys.argv[1]).read()
required = dict(re.findall(r'^\s*(\S+) (v\S+)(?: // indirect)?$', text, re.M))
for mod, target in re.findall(r'^\s*(?:replace\s+)?(\S+) => (\.\.?/\S+)$', text, re.M):
    if "FORBIDDEN" in target:
        continue
    version = required.get(mod, "v0.0.0")
    if version == "v0.0.0":
        version = sys.argv[2]
    print(f"replace {mod} => {mod} {version}")
PY
}

# go_build_kubernetes PACKAGE...: build k8s.io/kubernetes/cmd/PACKAGE... into $K8S_BIN the way
# upstream does (static, trimmed, the version stamped), through the cached wrapper module.
go_build_kubernetes() {
  local work=$CACHE_DIR/build/kubernetes-$K8S_VERSION
  local staging=v0.${K8S_VERSION#v1.}
  local major=1 minor
  minor=$(cut -d. -f2 <<<"$K8S_VERSION")
  mkdir -p "$work" "$K8S_BIN"
  cd "$work"
  [[ -s go.mod ]] || wrapper_gomod k8s.io/kubernetes "$K8S_VERSION" "$staging" > go.mod
  local ldflags="-s -w -X k8s.io/component-base/version.gitVersion=$K8S_VERSION \
    -X k8s.io/component-base/version.gitMajor=$major -X k8s.io/component-base/version.gitMinor=$minor \
    -X k8s.io/client-go/pkg/version.gitVersion=$K8S_VERSION \
    -X k8s.io/client-go/pkg/version.gitMajor=$major -X k8s.io/client-go/pkg/version.gitMinor=$minor"
  local pkgs=() p
  for p in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$p"); done
  go build -mod=mod -trimpath -tags selinux,notest -ldflags "$ldflags" -o "$K8S_BIN/" "${pkgs[@]}" 2>&1 | tail -20
}

build_kubernetes() {
  [[ -x $K8S_BIN/kubelet && -x $K8S_BIN/kubectl ]] && { log "kubernetes $K8S_VERSION cached"; return; }
  log "building kubernetes $K8S_VERSION (cold: ~15 min on 2 cores)"
  go_build_kubernetes kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl
  [[ -x $K8S_BIN/kubelet ]] || die "kubernetes build failed"
}

# kubeadm: only kind's node image needs it (dev/kind/node-image.sh), so it is built on demand.
build_kubeadm() {
  [[ -x $K8S_BIN/kubeadm ]] && { log "kubeadm $K8S_VERSION cached"; return; }
  log "building kubeadm $K8S_VERSION"
  go_build_kubernetes kubeadm
  [[ -x $K8S_BIN/kubeadm ]] || die "kubeadm build failed"
}

build_etcd() {
  [[ -x $ETCD_BIN/etcd ]] && { log "etcd $ETCD_VERSION cached"; return; }
  local work=$CACHE_DIR/build/etcd-$ETCD_VERSION
  mkdir -p "$work" "$ETCD_BIN"
  cd "$work"
  wrapper_gomod go.etcd.io/etcd/server/v3 "$ETCD_VERSION" "$ETCD_VERSION" > go.mod
  log "building etcd $ETCD_VERSION"
  # etcd's server module carries the binary's main package under etcdmain; a tiny main wraps it.
  mkdir -p cmd/etcd
  printf 'package main\n\nimport (\n\t"os"\n\n\t"go.etcd.io/etcd/server/v3/etcdmain"\n)\n\nfunc main() { etcdmain.Main(os.Args) }\n' > cmd/etcd/main.go
  go build -mod=mod -trimpath -ldflags "-s -w" -o "$ETCD_BIN/etcd" ./cmd/etcd
}

build_helm() {
  [[ -x $HELM_BIN/helm ]] && { log "helm $HELM_VERSION cached"; return; }
  mkdir -p "$HELM_BIN"
  log "building helm $HELM_VERSION"
  GOBIN=$HELM_BIN go install -trimpath -ldflags "-s -w -X helm.sh/helm/v3/internal/version.version=$HELM_VERSION" \
    "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
}

build_coredns() {
  [[ -x $COREDNS_BIN/coredns ]] && { log "coredns $COREDNS_VERSION cached"; return; }
  mkdir -p "$COREDNS_BIN"
  log "building coredns $COREDNS_VERSION"
  GOBIN=$COREDNS_BIN go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
}

targets=${*:-kubernetes etcd helm coredns}
for t in $targets; do "build_$t"; done
