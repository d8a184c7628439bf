#!/usr/bin/env bash
# kind's node image, built here (kindest/node cannot be pulled): kind's node-image layout on a
# Debian root filesystem (the local debian:bookworm-slim), containerd/runc/CNI plugins from Debian,
# kubelet/kubeadm/kubectl from the platform's Kubernetes build, and the control-plane and add-on
# images kubeadm and kind's manifests name preloaded into its containerd (k8s.io namespace, pinned,
# not unpacked: the kubelet's containerd unpacks them on first use, as with kind's own images).
# `kind build node-image` cannot do this offline: it pulls every image it preloads (`ctr content
# fetch`) and drives a Docker engine; its steps are repeated here with podman (see docs/kind.md).
# Cached by everything that makes it: a warm run only checks the tag.
# Usage: node-image.sh [build|name]
set -o errexit -o nounset -o pipefail
source "$(dirname "$0")/lib.sh"

LPP_VERSION=v0.0.30
LPP_BIN=$CACHE_DIR/local-path-provisioner-$LPP_VERSION/bin
NODE_BUILD_CONTAINER=tweetpipe-kind-node-build
CONTAINERD_WAIT_SECONDS=30

kind_source() { (cd / && go mod download -json "sigs.k8s.io/kind@$KIND_VERSION" | jq -r .Dir); }

node_key() {
  local debian_id
  debian_id=$(podman image inspect --format '{{.Id}}' docker.io/library/debian:bookworm-slim)
  hash_of "$K8S_VERSION $ETCD_VERSION $COREDNS_VERSION $LPP_VERSION $KIND_VERSION $debian_id" \
    "$0" "$KIND_DIR"/node/*
}

node_image_name() { echo "localhost/tweetpipe/kind-node:$K8S_VERSION-$(node_key)"; }

build_binaries() {
  bash "$PLATFORM_DIR/build-kubernetes.sh" kubernetes kubeadm etcd coredns
  if [[ ! -x $LPP_BIN/local-path-provisioner ]]; then
    klog "building local-path-provisioner $LPP_VERSION"
    mkdir -p "$LPP_BIN"
    (cd / && GOBIN=$LPP_BIN CGO_ENABLED=0 nice -n 19 go install -trimpath -ldflags "-s -w" \
      "github.com/rancher/local-path-provisioner@$LPP_VERSION")
  fi
}

# storage_manifest KIND_SOURCE: kind's own default storage manifest (local-path-provisioner), as
# `kind build node-image` writes it, read from the Go constant in kind's source.
storage_manifest() {
  python3 - "$1/pkg/build/nodeimage/const_storage.go" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
consts = dict(re.findall(r'^const (\w+) = "([^"]*)"', src, re.M))
# The constant is raw strings and constant names joined by +: evaluate that concatenation.
pos, out = src.index("const defaultStorageManifest = ") + len("const defaultStorageManifest = "), []
while True:
    if src[pos] == "`":
        end = src.index("`", pos + 1)
        out.append(src[pos + 1:end])
        pos = end + 1
    else:
        name = re.match(r"\w+", src[pos:]).group(0)
        out.append(consts[name])
        pos += len(name)
    more = re.match(r"[ \t]*\+[ \t\n]*", src[pos:])
    if not more:
        break
    pos += more.end()
print("".join(out))
PY
}

# The names kind's storage manifest gives its images (the same constants).
storage_images() {
  grep -oE '^const storage(Provisioner|Helper)Image = "[^"]+"' "$1/pkg/build/nodeimage/const_storage.go" | cut -d'"' -f2
}

node_base() {
  local kind_src=$1 tag=$2 ctx=$CACHE_DIR/build/kind-node/context
  rm -rf "$ctx" && mkdir -p "$ctx/bin"
  cp -r "$kind_src/images/base/files" "$ctx/files"
  chmod -R u+w "$ctx/files"
  chmod 0755 "$ctx"/files/usr/local/bin/* "$ctx"/files/kind/bin/*
  mv "$ctx/files/usr/local/bin/entrypoint" "$ctx/files/usr/local/bin/kind-entrypoint"
  install -m 0755 "$KIND_DIR/node/entrypoint" "$ctx/files/usr/local/bin/entrypoint"
  mkdir -p "$ctx/files/kind/manifests"
  cp "$KIND_DIR/node/default-cni.yaml" "$ctx/files/kind/manifests/default-cni.yaml"
  storage_manifest "$kind_src" > "$ctx/files/kind/manifests/default-storage.yaml"
  # This machine's root lacks CAP_SYS_RESOURCE: containerd must clamp the OOM score adjustments the
  # kubelet asks for, as on the local platform (README, "Host quirk handled").
  sed -i 's/^\(\s*restrict_oom_score_adj\s*=\s*\)false/\1true/' "$ctx/files/etc/containerd/config.toml"
  grep -q 'restrict_oom_score_adj = true' "$ctx/files/etc/containerd/config.toml" ||
    die "kind's containerd config has no restrict_oom_score_adj to set"
  local b
  for b in kubelet kubeadm kubectl; do cp "$K8S_BIN/$b" "$ctx/bin/$b"; done
  nice -n 19 podman build --layers --build-arg K8S_VERSION="$K8S_VERSION" -f "$KIND_DIR/node/Containerfile" \
    -t "$tag" "$ctx" > "$KIND_STATE/node-base.build.log" 2>&1 ||
    { tail -30 "$KIND_STATE/node-base.build.log" >&2; die "node base image build failed (log: $KIND_STATE/node-base.build.log)"; }
  rm -rf "$ctx"
}

# components KIND_SOURCE ARCHIVE: build the control-plane and add-on images, tag them as kubeadm and
# kind expect, and save them all in one archive. Prints nothing; the names go to ARCHIVE.names.
components() {
  local kind_src=$1 archive=$2 ctx=$CACHE_DIR/build/kind-node/components
  rm -rf "$ctx" && mkdir -p "$ctx/bin"
  local b
  for b in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do cp "$K8S_BIN/$b" "$ctx/bin/"; done
  cp "$ETCD_BIN/etcd" "$COREDNS_BIN/coredns" "$LPP_BIN/local-path-provisioner" "$ctx/bin/"
  (cd "$PLATFORM_DIR/pause" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$ctx/bin/pause" .)
  # The names: kubeadm's list for this version, the sandbox image of kind's containerd config,
  # kind's storage images.
  local kubeadm_images pause_image storage
  kubeadm_images=$("$K8S_BIN/kubeadm" config images list --kubernetes-version "$K8S_VERSION")
  pause_image=$(sed -n 's/^\s*sandbox_image\s*=\s*"\(.*\)"/\1/p' "$kind_src/images/base/files/etc/containerd/config.toml")
  storage=$(storage_images "$kind_src")
  local -A target_of=()
  local image
  for image in $kubeadm_images; do
    case $image in
      */kube-apiserver:* | */kube-controller-manager:* | */kube-scheduler:* | */etcd:*) target_of[$image]=control-plane ;;
      */kube-proxy:*) target_of[$image]=kube-proxy ;;
      */coredns:*) target_of[$image]=coredns ;;
      */pause:*) ;;
      *) die "kubeadm lists an image this script cannot make: $image" ;;
    esac
  done
  target_of[$pause_image]=pause
  target_of[$(head -1 <<<"$storage")]=local-path-provisioner
  target_of[$(tail -1 <<<"$storage")]=local-path-helper
  # The CNI DaemonSet (node/default-cni.yaml) runs the Debian base itself.
  target_of[docker.io/library/debian:bookworm-slim]=
  local target
  for target in control-plane kube-proxy coredns pause local-path-provisioner local-path-helper; do
    nice -n 19 podman build --layers --target "$target" -f "$KIND_DIR/node/components.Containerfile" \
      -t "localhost/tweetpipe/kind-$target:$K8S_VERSION" "$ctx" > "$KIND_STATE/component-$target.build.log" 2>&1 ||
      { tail -30 "$KIND_STATE/component-$target.build.log" >&2; die "component image $target failed (log: $KIND_STATE/component-$target.build.log)"; }
  done
  : > "$archive.names"
  for image in "${!target_of[@]}"; do
    [[ -z ${target_of[$image]} ]] || podman tag "localhost/tweetpipe/kind-${target_of[$image]}:$K8S_VERSION" "$image"
    echo "$image" >> "$archive.names"
  done
  rm -f "$archive"
  # shellcheck disable=SC2046 # one name a line, none with spaces
  podman save -q -m --format docker-archive -o "$archive" $(sort "$archive.names")
  rm -rf "$ctx"
}

# preload BASE ARCHIVE NAMES TAG: run BASE with containerd alone (its main process, the archive
# mounted, so neither ends up in the image), import the archive into its k8s.io namespace as kind
# does, check every name is there, stop it and commit as TAG.
preload() {
  local base=$1 archive=$2 names=$3 tag=$4 c=$NODE_BUILD_CONTAINER
  podman rm -f "$c" >/dev/null 2>&1 || true
  podman run -d --privileged --name "$c" -v "$archive:/preload.tar:ro" --entrypoint containerd "$base" >/dev/null
  local deadline=$((SECONDS + CONTAINERD_WAIT_SECONDS))
  until podman exec "$c" ctr version >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      podman logs --tail 20 "$c" >&2 || true
      die "containerd in $c not answering 'ctr version' after ${CONTAINERD_WAIT_SECONDS}s (state: $(podman inspect --format '{{.State.Status}}' "$c"); its log above)"
    fi
    sleep 1
  done
  podman exec "$c" ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned \
    --all-platforms --no-unpack --digests /preload.tar >/dev/null
  local have image
  have=$(podman exec "$c" ctr --namespace=k8s.io images list -q)
  while read -r image; do
    [[ $'\n'$have$'\n' == *$'\n'"$image"$'\n'* ]] || die "image $image missing in the node's containerd after import (it has: $have)"
  done < "$names"
  podman stop --time 30 "$c" >/dev/null
  podman commit --quiet --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' --change 'CMD []' \
    "$c" "$tag" >/dev/null
  podman rm -f "$c" >/dev/null
}

build() {
  podman_config
  mkdir -p "$KIND_STATE"
  timed "node binaries (Kubernetes, kubeadm, etcd, CoreDNS, local-path-provisioner)" build_binaries
  local tag
  tag=$(node_image_name)
  if podman image exists "$tag"; then klog "node image $tag cached"; echo "$tag" > "$KIND_STATE/node-image"; return; fi
  local kind_src
  kind_src=$(kind_source)
  local base=localhost/tweetpipe/kind-node-base:$K8S_VERSION archive=$CACHE_DIR/build/kind-node/components.tar
  mkdir -p "$(dirname "$archive")"
  timed "node base image (Debian, systemd, containerd, kind's files, kubelet/kubeadm/kubectl)" node_base "$kind_src" "$base"
  timed "control-plane and add-on images" components "$kind_src" "$archive"
  timed "preload into the node's containerd" preload "$base" "$archive" "$archive.names" "$tag"
  rm -f "$archive"
  echo "$tag" > "$KIND_STATE/node-image"
  klog "node image $tag: $(podman image inspect --format '{{.Size}}' "$tag") bytes"
}

main() {
  case ${1:-build} in
    build) build ;;
    name) podman_config; node_image_name ;;
    *) die "usage: node-image.sh [build|name]" ;;
  esac
}

main "$@"
