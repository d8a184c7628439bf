#!/usr/bin/env bash
# The previous release (N-1, named in dev/upgrade/previous-release), for the upgrade run of
# `make chaos`. Built from this repository's history, cached per commit.
# Usage:
#   previous.sh build    binaries (debug), chart and CRD of N-1 into the cache; prints the directory
#   previous.sh images   build, then import tweetpipe/{operator,extractor,transformer}:previous
#   previous.sh dir      the cache directory (whether built or not)
# Its crates build in the shared cargo target directory, so only our own crates compile (the
# dependencies are the same); the current tree's binaries are linked back at the end, because
# cargo's uplifted binaries (target/debug/<bin>) are the last build's.
set -o errexit -o nounset -o pipefail

# shellcheck source=../platform/lib.sh
source "$(dirname "$0")/../platform/lib.sh"

BINARIES=(tweetpipe-operator tweetpipe-extractor tweetpipe-transformer)

commit() {
  local sha
  sha=$(grep -vE '^(#|$)' "$REPO_ROOT/dev/upgrade/previous-release" | head -1)
  # A shallow clone lacks it: deepen once.
  if ! git -C "$REPO_ROOT" cat-file -e "$sha^{commit}" 2>/dev/null &&
    [[ $(git -C "$REPO_ROOT" rev-parse --is-shallow-repository) == true ]]; then
    git -C "$REPO_ROOT" fetch --quiet --unshallow >&2 || true
  fi
  git -C "$REPO_ROOT" cat-file -e "$sha^{commit}" 2>/dev/null ||
    die "commit $sha (dev/upgrade/previous-release) is not in this clone: fetch the full history (git fetch --unshallow)"
  echo "$sha"
}

dir() { echo "$CACHE_DIR/previous-release/$(commit)"; }

build() {
  local out sha target
  sha=$(commit)
  out=$(dir)
  if [[ -f $out/done ]]; then
    log "previous release ${sha:0:7} cached in $out"
    return
  fi
  target=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
  rm -rf "$out"
  mkdir -p "$out/src" "$out/bin"
  git -C "$REPO_ROOT" archive "$sha" | tar -x -C "$out/src"
  log "building previous release ${sha:0:7} (our crates only; dependencies are shared)"
  # The same command as the current tree's binaries, so feature unification (and so every
  # dependency's build) is the same.
  (cd "$out/src" && CARGO_TARGET_DIR=$target cargo build --workspace --bins --locked)
  local bin
  for bin in "${BINARIES[@]}"; do install -m 0755 "$target/debug/$bin" "$out/bin/$bin"; done
  log "linking the current tree's binaries back into $target/debug"
  (cd "$REPO_ROOT" && cargo build --workspace --bins --locked)
  # Only the chart and the CRD are needed from the sources.
  mv "$out/src/helm/tweetpipe-operator" "$out/chart"
  cp "$out/src/crds/tweetpipe.io_tweetpipelines.yaml" "$out/crd.yaml"
  rm -rf "$out/src"
  touch "$out/done"
}

images() {
  build
  local out bin
  out=$(dir)
  for bin in "${BINARIES[@]}"; do
    TWEETPIPE_IMAGE_TAG=previous bash "$PLATFORM_DIR/images.sh" binary "${bin#tweetpipe-}" "$out/bin/$bin"
  done
}

main() {
  case ${1:-} in
    build) build; dir ;;
    images) images ;;
    dir) dir ;;
    *) die "usage: $0 build|images|dir" ;;
  esac
}

main "$@"
