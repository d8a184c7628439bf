#!/usr/bin/env bash
# The base images images/Dockerfile names, made on this machine because no container registry can
# be reached, under the very names the Dockerfile pulls, so it builds unchanged here and for anyone
# with registry access:
#   docker.io/library/debian:bookworm-slim       debootstrap --variant=minbase, trimmed like -slim
#   docker.io/library/rust:<rustc>-bookworm      that + C toolchain + this machine's Rust toolchain
#   gcr.io/distroless/cc-debian12:nonroot        Debian packages' files on an empty base, user 65532
# Each lives in podman's store (in the cache) labelled with a hash of what made it, and is rebuilt
# only when that changes. Usage: base-images.sh [build|list]
set -o errexit -o nounset -o pipefail
source "$(dirname "$0")/lib.sh"

DEBIAN_SUITE=bookworm
DEBIAN_MIRROR=http://deb.debian.org/debian
DEBIAN_IMAGE=docker.io/library/debian:$DEBIAN_SUITE-slim
DISTROLESS_IMAGE=gcr.io/distroless/cc-debian12:nonroot
LABEL=tweetpipe.made-from

rust_version() { rustc --version | awk '{print $2}'; }
rust_image() { local v; v=$(rust_version); echo "docker.io/library/rust:${v%.*}-$DEBIAN_SUITE"; }

# machine_cas DIR: write each certificate this machine trusts that no Debian package ships (in
# /etc/ssl/certs/ca-certificates.crt, not under /usr/share/ca-certificates) to DIR as a .crt file.
# Here that is the egress proxy's CA: TLS to the package registries is re-signed by it, so cargo in
# the build stage needs it. update-ca-certificates adds these to the bundle wherever the image's
# descendants install ca-certificates (a base pulled from a registry has none and needs none).
machine_cas() {
  python3 - "$1" <<'PY'
import glob, re, sys
pem = re.compile(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", re.S)
shipped = {c for f in glob.glob("/usr/share/ca-certificates/**/*.crt", recursive=True)
           for c in pem.findall(open(f).read())}
extra = [c for c in pem.findall(open("/etc/ssl/certs/ca-certificates.crt").read()) if c not in shipped]
for i, c in enumerate(extra):
    open(f"{sys.argv[1]}/tweetpipe-machine-{i}.crt", "w").write(c + "\n")
PY
}

debian_slim() {
  local key cas
  cas=$(mktemp -d)
  machine_cas "$cas"
  key=$(hash_of "$DEBIAN_SUITE" "$0" "$cas"/*)
  [[ $(image_label "$DEBIAN_IMAGE" "$LABEL") == "$key" ]] && { rm -rf "$cas"; klog "$DEBIAN_IMAGE cached"; return; }
  local work
  work=$(mktemp -d "${TMPDIR:-/tmp}/tweetpipe-debootstrap.XXXXXX")
  klog "debootstrap $DEBIAN_SUITE (minbase) from $DEBIAN_MIRROR"
  nice -n 19 debootstrap --variant=minbase "$DEBIAN_SUITE" "$work/rootfs" "$DEBIAN_MIRROR" > "$work/debootstrap.log" 2>&1 ||
    { tail -20 "$work/debootstrap.log" >&2; rm -rf "$work"; die "debootstrap failed (log above)"; }
  # What the official -slim image leaves out: documentation, manuals, locales, apt's lists.
  local r=$work/rootfs
  rm -rf "$r"/usr/share/doc/* "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* \
    "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/*.bin "$r"/var/cache/apt/archives/*.deb "$r"/var/log/*.log
  cat > "$r/etc/dpkg/dpkg.cfg.d/docker" <<'CFG'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
CFG
  printf 'APT::Install-Recommends "false";\n' > "$r/etc/apt/apt.conf.d/docker-no-recommends"
  mkdir -p "$r/usr/local/share/ca-certificates"
  cp "$cas"/*.crt "$r/usr/local/share/ca-certificates/" 2>/dev/null || true
  rm -rf "$cas"
  tar --numeric-owner -C "$r" -cf "$work/rootfs.tar" .
  podman import --quiet --change 'CMD ["bash"]' --change "LABEL $LABEL=$key" "$work/rootfs.tar" "$DEBIAN_IMAGE" >/dev/null
  rm -rf "$work"
  klog "made $DEBIAN_IMAGE"
}

rust() {
  local image toolchain key
  image=$(rust_image)
  toolchain=$(rustc --print sysroot)
  key=$(hash_of "$(rustc -Vv; podman image inspect --format '{{.Id}}' "$DEBIAN_IMAGE")" "$KIND_DIR/images/rust.Containerfile")
  [[ $(image_label "$image" "$LABEL") == "$key" ]] && { klog "$image cached"; return; }
  klog "making $image from $toolchain"
  # The toolchain without its documentation is the build context.
  local ignore
  ignore=$(mktemp)
  printf 'share/doc\nshare/man\nlib/rustlib/src\n' > "$ignore"
  nice -n 19 podman build --quiet --ignorefile "$ignore" --label "$LABEL=$key" \
    -f "$KIND_DIR/images/rust.Containerfile" -t "$image" "$toolchain" >/dev/null
  rm -f "$ignore"
  klog "made $image"
}

distroless() {
  local key
  key=$(hash_of "$(podman image inspect --format '{{.Id}}' "$DEBIAN_IMAGE")" "$KIND_DIR/images/distroless-cc.Containerfile")
  [[ $(image_label "$DISTROLESS_IMAGE" "$LABEL") == "$key" ]] && { klog "$DISTROLESS_IMAGE cached"; return; }
  klog "making $DISTROLESS_IMAGE"
  nice -n 19 podman build --quiet --label "$LABEL=$key" \
    -f "$KIND_DIR/images/distroless-cc.Containerfile" -t "$DISTROLESS_IMAGE" "$KIND_DIR/images" >/dev/null
  klog "made $DISTROLESS_IMAGE"
}

build() {
  podman_config
  timed "base image $DEBIAN_IMAGE" debian_slim
  timed "base image $(rust_image)" rust
  timed "base image $DISTROLESS_IMAGE" distroless
}

list() {
  podman_config
  podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E 'debian|rust|distroless' || true
}

main() {
  case ${1:-build} in
    build) build ;;
    list) list ;;
    *) die "usage: base-images.sh [build|list]" ;;
  esac
}

main "$@"
