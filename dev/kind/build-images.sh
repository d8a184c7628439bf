#!/usr/bin/env bash
# tweetpipe's images for kind, built from images/Dockerfile with `podman build` (on the local base
# images of base-images.sh) and saved as archives for `kind load image-archive`.
# Usage: build-images.sh [BINARY...]   (default: the four the demo runs)
# Images are docker.io/tweetpipe/<name>:$KIND_IMAGE_TAG (dev), archives in $KIND_STATE/images/.
set -o errexit -o nounset -o pipefail
source "$(dirname "$0")/lib.sh"

KIND_IMAGE_BINARIES=(tweetpipe-operator tweetpipe-extractor tweetpipe-transformer xapi-simulator)

image_name() { local bin=$1; echo "docker.io/tweetpipe/${bin#tweetpipe-}:$KIND_IMAGE_TAG"; }

build_one() {
  local bin=$1 image
  image=$(image_name "$bin")
  # --layers: an unchanged source tree reuses every step; the Dockerfile's cache mounts keep cargo's
  # registry and target directory between builds, so the four binaries share one dependency build.
  nice -n 19 podman build --layers -f "$REPO_ROOT/images/Dockerfile" --build-arg BIN="$bin" \
    -t "$image" "$REPO_ROOT" > "$KIND_STATE/images/$bin.build.log" 2>&1 ||
    { tail -30 "$KIND_STATE/images/$bin.build.log" >&2; die "podman build of $bin failed (log: $KIND_STATE/images/$bin.build.log)"; }
  rm -f "$KIND_STATE/images/$bin.tar"
  podman save -q --format docker-archive -o "$KIND_STATE/images/$bin.tar" "$image"
  klog "$image: $(podman image inspect --format '{{.Size}}' "$image") bytes, archive $KIND_STATE/images/$bin.tar"
}

main() {
  podman_config
  export TMPDIR=$PODMAN_TMP
  mkdir -p "$TMPDIR"
  mkdir -p "$KIND_STATE/images"
  local bins=("$@")
  ((${#bins[@]})) || bins=("${KIND_IMAGE_BINARIES[@]}")
  local bin
  for bin in "${bins[@]}"; do timed "podman build $bin" build_one "$bin"; done
}

main "$@"
