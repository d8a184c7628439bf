#!/usr/bin/env bash
# OCI images without a Docker engine: umoci assembles a layout, ctr imports it into containerd's
# k8s.io namespace, where the kubelet finds it (imagePullPolicy IfNotPresent, nothing is pulled).
# Usage:
#   images.sh pause                      build and import the pod sandbox image
#   images.sh binary NAME BINARY...      image tweetpipe/NAME:dev with the binaries, their shared
#                                        libraries, CA certificates and a non-root user
#   images.sh archive REF OUT BINARY...  the same image named REF (registry/name:tag) as an OCI
#                                        archive at OUT, reproducibly; nothing is imported, no
#                                        platform is needed (make release)
# TWEETPIPE_IMAGE_TAG (default dev) tags the binary images otherwise, so a branch can test its own
# images beside the ones other tests use.
source "$(dirname "$0")/lib.sh"

IMAGES=$STATE_DIR/images
CTR=(ctr --address "$STATE_DIR/containerd/containerd.sock" --namespace k8s.io)
PAUSE_IMAGE=registry.k8s.io/pause:3.10
NONROOT=65532

# build_layout NAME TAG ENTRYPOINT POPULATE_FN...: a one-layer image from a function that fills $rootfs.
# With SOURCE_DATE_EPOCH set, the same files give the same image digest: every entry's mtime is that
# time and directories are 0755 whatever the umask (umoci's layer tar is sorted, numeric 0:0 owners
# as unpacked by root, or mapped to 0:0 by --rootless for another user), and the config's `created`
# and history timestamps are that time too (umoci new/repack/config would stamp the current time).
build_layout() {
  local name=$1 tag=$2 entrypoint=$3; shift 3
  local layout=$IMAGES/$name-$tag bundle=$IMAGES/$name-$tag.bundle
  rm -rf "$layout" "$bundle"
  mkdir -p "$IMAGES"
  local unpack=()
  ((EUID == 0)) || unpack=(--rootless)
  umoci init --layout "$layout"
  umoci new --image "$layout:$tag"
  umoci unpack "${unpack[@]}" --image "$layout:$tag" "$bundle" >/dev/null
  rootfs=$bundle/rootfs
  "$@"
  local stamp=() created=()
  if [[ -n ${SOURCE_DATE_EPOCH:-} ]]; then
    local when
    when=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
    find "$rootfs" -type d ! -path "$rootfs/tmp" -exec chmod 0755 {} +
    find "$rootfs" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +
    stamp=(--history.created "$when")
    created=(--created "$when")
  fi
  umoci repack "${stamp[@]}" --image "$layout:$tag" "$bundle"
  umoci config "${stamp[@]}" "${created[@]}" --image "$layout:$tag" --os linux --architecture amd64 \
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

# archive REF OUT BINARY...: build_layout in a scratch directory (not the platform's state), then a
# tar of the layout with the sort order, mtimes, owners and modes fixed, so that the same binaries
# give a byte-identical archive. The index names the image as buildkit's OCI exporter does: the tag
# in org.opencontainers.image.ref.name (umoci's), REF in io.containerd.image.name (ctr import,
# Docker's loader). Prints the manifest digest.
archive() {
  local ref=$1 out=$2; shift 2
  [[ ${ref##*/} == *:* ]] || die "image reference $ref has no tag"
  BINARIES=("$@")
  local bin
  for bin in "${BINARIES[@]}"; do [[ -x $bin ]] || die "binary $bin missing: build it first (make release)"; done
  local repo=${ref%:*} tag=${ref##*:}
  local name=${repo##*/}
  SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git -C "$REPO_ROOT" log -1 --format=%ct)}
  IMAGES=$(mktemp -d)
  build_layout "$name" "$tag" "/usr/local/bin/$(basename "$1")" populate_binaries
  local layout=$IMAGES/$name-$tag
  jq --arg ref "$ref" '.manifests[0].annotations["io.containerd.image.name"] = $ref' \
    "$layout/index.json" > "$IMAGES/index.json"
  mv "$IMAGES/index.json" "$layout/index.json"
  mkdir -p "$(dirname "$out")"
  tar --sort=name --mtime="@$SOURCE_DATE_EPOCH" --owner=0 --group=0 --numeric-owner \
    --mode=u=rwX,go=rX --format=posix --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$layout" -cf "$out" .
  jq -r '.manifests[0].digest' "$layout/index.json"
  rm -rf "$IMAGES"
}

main() {
  local cmd=${1:-}
  case $cmd in
    pause) pause ;;
    binary) shift; binary "$@" ;;
    archive) shift; archive "$@" ;;
    *) die "usage: images.sh pause | binary NAME BINARY... | archive REF OUT BINARY..." ;;
  esac
}

main "$@"
