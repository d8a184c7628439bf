#!/usr/bin/env bash
# OCI images without a Docker engine: umoci assembles a layout, ctr imports it into containerd's
# k8s.io namespace, where the kubelet finds it (imagePullPolicy IfNotPresent, nothing is pulled).
# Usage:
#   images.sh pause                      build and import the pod sandbox image
#   images.sh binary NAME BINARY...      image tweetpipe/NAME:dev with the binaries, their shared
#                                        libraries, CA certificates and a non-root user
# TWEETPIPE_IMAGE_TAG (default dev) tags the binary images otherwise, so a branch can test its own
# images beside the ones other tests use.
source "$(dirname "$0")/lib.sh"

IMAGES=$STATE_DIR/images
CTR=(ctr --address "$STATE_DIR/containerd/containerd.sock" --namespace k8s.io)
PAUSE_IMAGE=registry.k8s.io/pause:3.10
NONROOT=65532

# build_layout NAME TAG ENTRYPOINT POPULATE_FN...: a one-layer image from a function that fills $rootfs.
build_layout() {
  local name=$1 tag=$2 entrypoint=$3; shift 3
  local layout=$IMAGES/$name-$tag bundle=$IMAGES/$name-$tag.bundle
  rm -rf "$layout" "$bundle"
  mkdir -p "$IMAGES"
  umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  umoci unpack --image "$layout:$tag" "$bundle" >/dev/null
  rootfs=$bundle/rootfs
  "$@"
  umoci repack --image "$layout:$tag" "$bundle"
  umoci config --image "$layout:$tag" --os linux --architecture amd64 \
    --config.entrypoint "$entrypoint" --config.user "$NONROOT:$NONROOT" --config.workingdir / \
    --config.env PATH=/usr/local/bin:/usr/bin:/bin
  umoci gc --layout "$layout"
  rm -rf "$bundle"
}

# import_layout NAME TAG REFERENCE: load the layout into containerd as REFERENCE.
import_layout() {
  local name=$1 tag=$2 ref=$3
  local layout=$IMAGES/$name-$tag
  tar -C "$layout" -cf "$layout.tar" .
  "${CTR[@]}" images import --base-name "${ref%:*}" "$layout.tar" >/dev/null
  [[ $'\n'$("${CTR[@]}" images ls -q)$'\n' == *$'\n'"$ref"$'\n'* ]] || die "image $ref missing after import"
}

populate_pause() {
  (cd "$PLATFORM_DIR/pause" && CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "$rootfs/pause" .)
}

pause() {
  build_layout pause 3.10 /pause populate_pause
  import_layout pause 3.10 "$PAUSE_IMAGE"
  log "imported $PAUSE_IMAGE"
}

# copy_with_libs FILE DEST_DIR: the file and every shared library it loads, at their own paths.
copy_with_libs() {
  install -D -m 0755 "$1" "$rootfs$2/$(basename "$1")"
  local lib
  for lib in $(ldd "$1" 2>/dev/null | grep -oE '/[^ ]+'); do
    [[ -e $rootfs$lib ]] || install -D -m 0755 "$(readlink -f "$lib")" "$rootfs$lib"
  done
}

populate_binaries() {
  local bin
  for bin in "${BINARIES[@]}"; do copy_with_libs "$bin" /usr/local/bin; done
  install -D -m 0644 /etc/ssl/certs/ca-certificates.crt "$rootfs/etc/ssl/certs/ca-certificates.crt"
  mkdir -p "$rootfs/tmp" && chmod 1777 "$rootfs/tmp"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:%s:%s:nonroot:/home/nonroot:/sbin/nologin\n' $NONROOT $NONROOT > "$rootfs/etc/passwd"
  printf 'root:x:0:\nnonroot:x:%s:\n' $NONROOT > "$rootfs/etc/group"
  printf 'hosts: files dns\n' > "$rootfs/etc/nsswitch.conf"
}

binary() {
  local name=$1; shift
  BINARIES=("$@")
  local bin
  for bin in "${BINARIES[@]}"; do [[ -x $bin ]] || die "binary $bin missing: build it first (make images)"; done
  local tag=${TWEETPIPE_IMAGE_TAG:-dev}
  build_layout "$name" "$tag" "/usr/local/bin/$(basename "$1")" populate_binaries
  import_layout "$name" "$tag" "docker.io/tweetpipe/$name:$tag"
  log "imported tweetpipe/$name:$tag"
}

"$@"
