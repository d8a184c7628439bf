# Shared helpers for kind on this machine (dev/kind/*.sh): podman as kind's provider, configured
# by files of this project only (containers.conf and storage.conf in the state directory, named by
# CONTAINERS_CONF and CONTAINERS_STORAGE_CONF), so nothing in /etc changes. Sourced, never run.
# shellcheck shell=bash
# shellcheck disable=SC2034
# shellcheck source=../platform/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../platform/lib.sh"

KIND_DIR=$REPO_ROOT/dev/kind
KIND_BIN=$CACHE_DIR/kind-$KIND_VERSION/bin
KIND_STATE=$STATE_DIR/kind
KIND_CLUSTER=tweetpipe
KIND_CONTEXT=kind-$KIND_CLUSTER
KIND_KUBECONFIG=$KIND_STATE/kubeconfig
# podman's images (base images, the node image, our Dockerfile builds) are a cache shared by clones.
PODMAN_ROOT=$CACHE_DIR/podman/storage
PODMAN_RUNROOT=/run/tweetpipe-podman
# podman build's temporary files, and its RUN --mount=type=cache directories (cargo's registry and
# target directory of images/Dockerfile), which buildah keeps under TMPDIR/buildah-cache.
PODMAN_TMP=$CACHE_DIR/podman/tmp

# Address ranges, none overlapping the local platform's (lib.sh: pod bridge 10.244.0.0/24,
# services 10.96.0.0/16) nor this machine's own: podman's networks (the one kind's node joins and
# the one `podman build` uses), and inside the kind cluster its pods and services (kind-config.yaml).
PODMAN_SUBNET_POOL=10.250.0.0/16
PODMAN_DEFAULT_SUBNET=10.250.255.0/24
KIND_NETWORK=tweetpipe-kind
KIND_SUBNET=10.250.23.0/24
KIND_POD_SUBNET=10.251.0.0/16
KIND_SERVICE_SUBNET=10.252.0.0/16

export CONTAINERS_CONF=$KIND_STATE/containers.conf
export CONTAINERS_STORAGE_CONF=$KIND_STATE/storage.conf
export KIND_EXPERIMENTAL_PROVIDER=podman
export KIND_EXPERIMENTAL_PODMAN_NETWORK=$KIND_NETWORK
# dev/kind/bin/podman first: see its header (this machine has no /lib/modules for kind to mount).
export PATH="$KIND_DIR/bin:$KIND_BIN:$PATH"

klog() { printf '%s [kind] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }

# timed NAME COMMAND...: run one stage and say how long it took. A failing command ends the script
# (errexit; never called under || or if, which would switch errexit off inside it), and the exit
# trap below names the stage it failed in.
KIND_STAGE=
timed() {
  local name=$1 start
  shift
  start=$(date +%s)
  klog "-> $name"
  KIND_STAGE=$name KIND_STAGE_START=$start
  "$@"
  KIND_STAGE=
  klog "<- $name: $(($(date +%s) - start))s"
}
on_exit() {
  local rc=$1
  if ((rc != 0)) && [[ -n $KIND_STAGE ]]; then
    klog "FAILED in stage '$KIND_STAGE' after $(($(date +%s) - KIND_STAGE_START))s (exit $rc)"
  fi
}
trap 'on_exit $?' EXIT

# podman_config: write the project's podman configuration. Privileged containers get rlimits within
# this machine's hard limits (podman's defaults ask for more, and root here lacks CAP_SYS_RESOURCE
# to raise them: "error setting rlimit"); networks come from PODMAN_SUBNET_POOL; the CNI
# configurations live in the state directory, not /etc/cni.
podman_config() {
  # podman 4.3 runs its containers' runc with at most 32768 processes whatever the hard limit
  # (seen here: nproc 65536 under a hard limit of 96553 fails with "error setting rlimit type 6").
  local nofile nproc
  nofile=$(ulimit -Hn) nproc=$(ulimit -Hu)
  [[ $nofile == unlimited ]] && nofile=1048576
  [[ $nproc == unlimited ]] && nproc=32768
  ((nofile <= 1048576)) || nofile=1048576
  ((nproc <= 32768)) || nproc=32768
  mkdir -p "$KIND_STATE/cni" "$PODMAN_ROOT" "$PODMAN_RUNROOT"
  cat > "$CONTAINERS_CONF" <<CONF
# Written by dev/kind/lib.sh (podman_config); regenerated on every run.
[containers]
default_ulimits = ["nofile=$nofile:$nofile", "nproc=$nproc:$nproc"]

[network]
network_backend = "cni"
network_config_dir = "$KIND_STATE/cni"
default_subnet = "$PODMAN_DEFAULT_SUBNET"
default_subnet_pools = [{"base" = "$PODMAN_SUBNET_POOL", "size" = 24}]

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
  cat > "$CONTAINERS_STORAGE_CONF" <<CONF
# Written by dev/kind/lib.sh (podman_config); regenerated on every run.
[storage]
driver = "overlay"
graphroot = "$PODMAN_ROOT"
runroot = "$PODMAN_RUNROOT"
CONF
}

# image_label IMAGE LABEL: the label's value on a local image, empty if the image or label is absent.
image_label() {
  podman image inspect --format "{{ index .Labels \"$2\" }}" "$1" 2>/dev/null | sed 's/^<no value>$//'
}

# hash_of TEXT FILE...: a short hash of TEXT and the files' contents, to key cached things by what
# made them.
hash_of() {
  local text=$1
  shift
  { printf '%s\n' "$text"; cat "$@"; } | sha256sum | cut -c1-12
}

# The tag of the images built from images/Dockerfile (build-images.sh) and loaded into kind.
KIND_IMAGE_TAG=${KIND_IMAGE_TAG:-dev}
