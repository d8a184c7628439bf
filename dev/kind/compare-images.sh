#!/usr/bin/env bash
# The images built from images/Dockerfile (build-images.sh, on the local base images) against the
# images the local platform ships (dev/platform/images.sh: umoci, no Docker), binary by binary:
#   - the same program: built by the same rustc (.comment), needing the same shared libraries
#     (ELF NEEDED), within 5% of the same size, starting as the same service (first log line);
#   - every library it needs present in each image, and it starts there (the dynamic loader finds
#     them): "telemetry initialised" from the binary itself;
#   - run as the non-root user 65532:65532, named in /etc/passwd;
#   - the same CA certificates in /etc/ssl/certs/ca-certificates.crt (as sets).
# The umoci images are made from $TARGET_DIR/release binaries (cargo builds them if need be).
# Usage: compare-images.sh [BINARY...]   Prints 'N passed, N failed'; exits non-zero on a failure.
set -o errexit -o nounset -o pipefail
source "$(dirname "$0")/lib.sh"

TARGET_DIR=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
BINARIES=(tweetpipe-operator tweetpipe-extractor tweetpipe-transformer xapi-simulator)
START_SECONDS=20
passed=0 failed=0

check() {
  local what=$1
  shift
  if "$@"; then passed=$((passed + 1)); printf '  ok    %s\n' "$what"
  else failed=$((failed + 1)); printf '  FAIL  %s\n' "$what"; fi
}

# umoci_image BINARY: the platform's image of the release binary, loaded into podman.
umoci_image() {
  local bin=$1 name=${1#tweetpipe-} out
  local ref=docker.io/tweetpipe/$name:umoci
  out=$KIND_STATE/images/$bin.umoci.tar
  bash "$PLATFORM_DIR/images.sh" archive "$ref" "$out" "$TARGET_DIR/release/$bin" >/dev/null
  podman rmi -f "$ref" >/dev/null 2>&1 || true
  podman load -q -i "$out" >/dev/null
  podman image exists "$ref" || die "podman load of $out did not give $ref"
  echo "$ref"
}

entry_binary() { # IMAGE ROOTFS: the entrypoint's file in the mounted root filesystem
  local ep
  ep=$(podman image inspect --format '{{index .Config.Entrypoint 0}}' "$1")
  echo "$2$ep"
}

needed() { readelf -d "$1" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort; }
compiler() { readelf -p .comment "$1" | grep -o 'rustc version [0-9.]*' | sort -u; }
certs() { python3 -c '
import re, sys
print("\n".join(sorted(re.findall(r"-----BEGIN CERTIFICATE-----.*?-----END CERTIFICATE-----", open(sys.argv[1]).read(), re.S))))' "$1"; }

# libs_present ROOTFS BINARY: every NEEDED library of BINARY is a file in ROOTFS's library paths.
libs_present() {
  local root=$1 bin=$2 lib dir found
  for lib in $(needed "$bin"); do
    found=
    for dir in lib/x86_64-linux-gnu usr/lib/x86_64-linux-gnu lib usr/lib lib64 usr/lib64; do
      [[ -e $root/$dir/$lib ]] && { found=1; break; }
    done
    [[ -n $found ]] || { echo "    $lib missing from $root" >&2; return 1; }
  done
}

# first_line IMAGE: the image's entrypoint started with no network and no arguments, as 65532; its
# first log line's service name once it says telemetry is initialised.
first_line() {
  local c=tweetpipe-compare-$$ line deadline=$((SECONDS + START_SECONDS))
  podman run -d --name "$c" --network none "$1" >/dev/null
  until line=$(podman logs "$c" 2>&1 | grep -m1 'telemetry initialised'); do
    if ((SECONDS >= deadline)); then
      echo "    no 'telemetry initialised' from $1 in ${START_SECONDS}s; state $(podman inspect --format '{{.State.Status}} {{.State.ExitCode}}' "$c"); log: $(podman logs "$c" 2>&1 | tail -3)" >&2
      podman rm -f "$c" >/dev/null
      return 1
    fi
    sleep 1
  done
  podman rm -f "$c" >/dev/null
  jq -r .service <<<"$line"
}

passwd_has_nonroot() { grep -q '^nonroot:x:65532:65532:' "$1/etc/passwd"; }
same() { [[ $1 == "$2" ]] || { printf '    %s\n    vs\n    %s\n' "$1" "$2" | head -12 >&2; return 1; }; }
size_close() { python3 -c 'import sys; a, b = map(int, sys.argv[1:]); sys.exit(0 if abs(a - b) <= 0.05 * max(a, b) else 1)' "$1" "$2" || { echo "    sizes $1 vs $2" >&2; return 1; }; }

compare() {
  local bin=$1 docker_image umoci_image
  docker_image=docker.io/tweetpipe/${bin#tweetpipe-}:$KIND_IMAGE_TAG
  podman image exists "$docker_image" || die "$docker_image missing: bash dev/kind/build-images.sh $bin"
  if [[ ! -x $TARGET_DIR/release/$bin ]]; then
    klog "building the release $bin for the umoci image"
    (cd "$REPO_ROOT" && nice -n 19 cargo build --release --locked --bin "$bin")
  fi
  umoci_image=$(umoci_image "$bin")
  echo "$bin: $docker_image (Dockerfile) vs $umoci_image (umoci)"
  local d u db ub
  d=$(podman image mount "$docker_image") u=$(podman image mount "$umoci_image")
  db=$(entry_binary "$docker_image" "$d") ub=$(entry_binary "$umoci_image" "$u")
  check "same compiler: $(compiler "$db")" same "$(compiler "$db")" "$(compiler "$ub")"
  check "same shared libraries needed: $(needed "$db" | tr '\n' ' ')" same "$(needed "$db")" "$(needed "$ub")"
  check "sizes within 5%: $(stat -c %s "$db") and $(stat -c %s "$ub") bytes" size_close "$(stat -c %s "$db")" "$(stat -c %s "$ub")"
  check "libraries present in the Dockerfile image" libs_present "$d" "$db"
  check "libraries present in the umoci image" libs_present "$u" "$ub"
  check "user 65532:65532 in both" same "$(podman image inspect --format '{{.Config.User}}' "$docker_image")/$(podman image inspect --format '{{.Config.User}}' "$umoci_image")" "65532:65532/65532:65532"
  check "nonroot 65532 in both /etc/passwd" eval_both passwd_has_nonroot "$d" "$u"
  check "same CA certificates ($(certs "$d/etc/ssl/certs/ca-certificates.crt" | grep -c BEGIN) in the Dockerfile image)" \
    same "$(certs "$d/etc/ssl/certs/ca-certificates.crt")" "$(certs "$u/etc/ssl/certs/ca-certificates.crt")"
  local ds us
  ds=$(first_line "$docker_image" || true) us=$(first_line "$umoci_image" || true)
  check "starts in both as service '$ds'" same "$ds/$us" "${bin}/${bin}"
  podman image unmount "$docker_image" "$umoci_image" >/dev/null
}

eval_both() { local fn=$1; shift; local r; for r in "$@"; do "$fn" "$r" || return 1; done; }

main() {
  podman_config
  mkdir -p "$KIND_STATE/images"
  local bins=("$@") bin
  ((${#bins[@]})) || bins=("${BINARIES[@]}")
  for bin in "${bins[@]}"; do compare "$bin"; done
  echo "$passed passed, $failed failed"
  ((failed == 0))
}

main "$@"
