#!/usr/bin/env bash
# Versioned release artefacts, built here without a platform, a Docker engine or a registry:
#   release.sh check VERSION    the guards only: VERSION is a semver equal to the workspace's and
#                               the chart's version and appVersion; the git tree is clean
#                               (RELEASE_ALLOW_DIRTY=1 waives it)
#   release.sh binaries         the release binaries, reproducibly (see build_binaries)
#   release.sh build VERSION    everything into dist/VERSION/ (make release VERSION=x.y.z):
#                               binaries, OCI image archives, an SPDX SBOM per image, the packaged
#                               chart, the CRDs and SHA256SUMS over them
# RELEASE_REGISTRY (default ghcr.io/tweetpipe) names the images: REGISTRY/COMPONENT:VERSION.
# RELEASE_ROOT (default: this checkout) is the tree whose versions `check` reads (its tests).
# docs/upgrading.md#releasing says how to verify and publish what this makes.
set -o errexit -o nounset -o pipefail

REPO_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROOT=${RELEASE_ROOT:-$REPO_ROOT}
REGISTRY=${RELEASE_REGISTRY:-ghcr.io/tweetpipe}
# The images' binaries; the image is named after the binary without its `tweetpipe-` prefix.
BINARIES=(tweetpipe-operator tweetpipe-extractor tweetpipe-transformer)
CHART=helm/tweetpipe-operator
CRDS=crds/tweetpipe.io_tweetpipelines.yaml
TARGET_TRIPLE=x86_64-unknown-linux-gnu

# The repository the chart declares (Chart.yaml `sources`): the SBOMs' downloadLocation of our crates.
SOURCE_URL=https://github.com/tweetpipe/tweetpipe
# Image files that images.sh writes itself rather than copies from a Debian package.
GENERATED_FILES=(etc/passwd etc/group etc/nsswitch.conf)

log() { printf '%s [release] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

usage() {
  sed -n '2,/^set /{/^set /d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}" >&2
  exit 2
}

# require TOOL...: each on PATH, or say which are missing and where they come from.
require() {
  local missing=() tool
  for tool in "$@"; do command -v "$tool" >/dev/null || missing+=("$tool"); done
  ((${#missing[@]} == 0)) || die "missing: ${missing[*]} (umoci, jq: Debian packages, as dev/platform/install-deps.sh installs; helm: make platform-up builds it, or put one on PATH)"
}

# helm_on_path: the platform's helm (dev/platform/versions.env) unless one is on PATH already.
helm_on_path() {
  command -v helm >/dev/null && return
  local HELM_VERSION
  # shellcheck source=../platform/versions.env
  HELM_VERSION=$(source "$REPO_ROOT/dev/platform/versions.env" && printf '%s' "$HELM_VERSION")
  PATH=${TWEETPIPE_CACHE:-$HOME/.cache/tweetpipe}/helm-$HELM_VERSION/bin:$PATH
}

# semver VERSION: MAJOR.MINOR.PATCH with an optional pre-release (semver.org's grammar). Build
# metadata (+...) is refused: an image tag cannot contain `+`.
semver() {
  local id='(0|[1-9][0-9]*)' pre='(0|[1-9][0-9]*|[0-9]*[a-zA-Z-][0-9a-zA-Z-]*)'
  [[ $1 =~ ^$id\.$id\.$id(-$pre(\.$pre)*)?$ ]]
}

# check VERSION: refuse unless VERSION is a semver equal to the version in Cargo.toml
# ([workspace.package]) and the chart's version and appVersion, and (unless RELEASE_ALLOW_DIRTY=1)
# the git tree is clean: a release is what one commit says it is.
check() {
  local version=${1:-}
  [[ -n $version ]] || die "VERSION is required: make release VERSION=x.y.z"
  semver "$version" || die "VERSION=$version is not a semver MAJOR.MINOR.PATCH[-PRERELEASE] (no +BUILD: image tags cannot hold '+')"
  local cargo chart_version app_version
  cargo=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["workspace"]["package"]["version"])' "$ROOT/Cargo.toml")
  chart_version=$(sed -n 's/^version:[[:space:]]*//p' "$ROOT/$CHART/Chart.yaml" | tr -d "\"'")
  app_version=$(sed -n 's/^appVersion:[[:space:]]*//p' "$ROOT/$CHART/Chart.yaml" | tr -d "\"'")
  if [[ $cargo != "$version" || $chart_version != "$version" || $app_version != "$version" ]]; then
    die "VERSION=$version is not what this commit declares: Cargo.toml [workspace.package] version = $cargo;" \
      "$CHART/Chart.yaml version = $chart_version, appVersion = $app_version. A release is cut from a commit that" \
      "bumped all three: edit Cargo.toml ([workspace.package] version), $CHART/Chart.yaml (version and appVersion)," \
      "run \`cargo update --workspace\` (Cargo.lock), commit, then make release VERSION=$version (docs/upgrading.md#releasing)"
  fi
  local dirty
  dirty=$(git -C "$ROOT" status --porcelain)
  if [[ -n $dirty ]]; then
    if [[ ${RELEASE_ALLOW_DIRTY:-} == 1 ]]; then
      log "WARNING: the git tree is dirty (RELEASE_ALLOW_DIRTY=1): these artefacts are not reproducible from the commit"
    else
      die "the git tree is dirty; commit or stash first (RELEASE_ALLOW_DIRTY=1 builds anyway):"$'\n'"$(head -n 10 <<<"$dirty")"
    fi
  fi
  log "version $version: Cargo.toml, Chart.yaml version and appVersion agree"
}

# target_dir: cargo's target directory, absolute.
target_dir() {
  local dir=${CARGO_TARGET_DIR:-$REPO_ROOT/target}
  [[ $dir == /* ]] || dir=$REPO_ROOT/$dir
  printf '%s\n' "$dir"
}

# source_date_epoch: the commit's time, the one clock every artefact is stamped with.
source_date_epoch() {
  printf '%s\n' "${SOURCE_DATE_EPOCH:-$(git -C "$REPO_ROOT" log -1 --format=%ct)}"
}

# build_binaries: `cargo build --release --locked` of BINARIES. Reproducible: SOURCE_DATE_EPOCH is
# the commit's time (C compilers' __DATE__/__TIME__), and the checkout, cargo home and target
# directory are remapped to fixed paths for rustc (--remap-path-prefix: panic locations) and for
# the C compilers of librdkafka, zstd and ring (-ffile-prefix-map, read by the cc and cmake crates
# from CFLAGS), so no local path is embedded. The later of two matching prefixes wins in both, so
# the target directory (possibly inside the checkout) comes last. -p scopes feature unification
# to the three packages, as their SBOMs' `cargo tree` does.
build_binaries() {
  local target cargo_home
  target=$(target_dir)
  cargo_home=${CARGO_HOME:-$HOME/.cargo}
  local maps=("$REPO_ROOT=/build/tweetpipe" "$cargo_home=/cargo" "$target=/build/target")
  local rustflags=() cflags=() map
  for map in "${maps[@]}"; do
    rustflags+=("--remap-path-prefix=$map")
    cflags+=("-ffile-prefix-map=$map")
  done
  local args=(build --release --locked --target-dir "$target")
  local bin
  for bin in "${BINARIES[@]}"; do args+=(-p "$bin" --bin "$bin"); done
  log "cargo ${args[*]}"
  (cd "$REPO_ROOT" && env SOURCE_DATE_EPOCH="$(source_date_epoch)" \
    RUSTFLAGS="${rustflags[*]}" CFLAGS="${cflags[*]}" CXXFLAGS="${cflags[*]}" \
    cargo "${args[@]}")
}

# deb_of PATH: `package<TAB>version<TAB>arch` of the Debian package that installed PATH on this
# machine (the file images.sh copied into the image at the same path). With /usr merged, dpkg may
# know a library under /lib or under /usr/lib: both are asked. The CA bundle is generated by
# update-ca-certificates from the ca-certificates package's certificates and owned by no package.
deb_of() {
  local path=$1 alt owner
  case $path in
    /usr/lib/*) alt=${path#/usr} ;;
    /lib*) alt=/usr$path ;;
    *) alt=$path ;;
  esac
  case $path in
    /etc/ssl/certs/ca-certificates.crt) owner=ca-certificates ;;
    *)
      owner=$(dpkg-query -S "$path" 2>/dev/null || dpkg-query -S "$alt" 2>/dev/null) ||
        die "no Debian package owns $path: the SBOM cannot name where it comes from"
      owner=${owner%%$'\n'*}
      owner=${owner%%: *}
      owner=${owner%%,*}
      ;;
  esac
  local fields
  fields=$(dpkg-query -W -f '${Package}\t${Version}\t${Architecture}' "$owner")
  printf '%s\t%s\n' "$fields" "$path"
}

# image_files ARCHIVE: the regular files in the (single) layer of an OCI archive images.sh wrote.
image_files() {
  local archive=$1 manifest layer
  manifest=$(tar -xOf "$archive" ./index.json | jq -r '.manifests[0].digest')
  layer=$(tar -xOf "$archive" "./blobs/sha256/${manifest#sha256:}" | jq -r '.layers[0].digest')
  tar -xOf "$archive" "./blobs/sha256/${layer#sha256:}" | tar -tz | sed 's|^\./||' | grep -v -e '/$' -e '^\.$'
}

# image_debs ARCHIVE: deb_of for every file in the image that no build step of ours wrote.
image_debs() {
  local file
  while IFS= read -r file; do
    [[ $file == usr/local/bin/* ]] && continue
    [[ " ${GENERATED_FILES[*]} " == *" $file "* ]] && continue
    deb_of "/$file"
  done < <(image_files "$1")
}

# check_crds OPERATOR: the CRD the release's operator prints (--print-crd, the same crd_yaml() as
# crdgen) must be crds/'s and the chart's copy: dist/crds.yaml is what the operator serves.
check_crds() {
  local printed copy
  printed=$("$1" --print-crd)
  for copy in "$CRDS" "$CHART/crds/$(basename "$CRDS")"; do
    [[ $printed == "$(cat "$REPO_ROOT/$copy")" ]] ||
      die "$copy differs from the CRD the operator generates: run dev/check-crd-drift.sh --write, commit, release again"
  done
}

# build VERSION: every artefact into dist/VERSION/, then SHA256SUMS over them.
build() {
  local version=${1:-}
  check "$version"
  require cargo umoci jq python3 dpkg-query tar sha256sum
  helm_on_path
  require helm
  local started=$SECONDS epoch
  epoch=$(source_date_epoch)
  export SOURCE_DATE_EPOCH=$epoch
  local out=$REPO_ROOT/dist/$version
  rm -rf "$out"
  mkdir -p "$out/images" "$out/sbom"
  log "SOURCE_DATE_EPOCH=$epoch ($(date -u -d "@$epoch" +%FT%TZ), the commit's time)"

  local step=$SECONDS
  build_binaries
  log "binaries: $((SECONDS - step))s"

  local target
  target=$(target_dir)
  check_crds "$target/release/tweetpipe-operator"

  local work
  work=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: work is local
  trap "rm -rf '$work'" EXIT
  local tree_args=(tree --locked -e 'normal,no-proc-macro' --prefix depth --format '{p}' --target "$TARGET_TRIPLE")
  local bin
  for bin in "${BINARIES[@]}"; do tree_args+=(-p "$bin"); done
  (cd "$REPO_ROOT" && cargo "${tree_args[@]}") > "$work/tree.txt"
  (cd "$REPO_ROOT" && cargo metadata --locked --format-version 1) > "$work/metadata.json"

  local component ref archive digest commit distro
  # shellcheck disable=SC1091 # the build machine's
  distro=$(source /etc/os-release && printf '%s-%s' "$ID" "${VERSION_ID:-}")
  commit=$(git -C "$REPO_ROOT" rev-parse HEAD)
  for bin in "${BINARIES[@]}"; do
    step=$SECONDS
    component=${bin#tweetpipe-}
    ref=$REGISTRY/$component:$version
    archive=$out/images/$component-$version.oci.tar
    digest=$(bash "$REPO_ROOT/dev/platform/images.sh" archive "$ref" "$archive" "$target/release/$bin")
    image_debs "$archive" > "$work/$component.debs"
    python3 "$REPO_ROOT/dev/release/sbom.py" --image "$ref" --image-digest "$digest" --root "$bin" \
      --cargo-tree "$work/tree.txt" --metadata "$work/metadata.json" --lockfile "$REPO_ROOT/Cargo.lock" \
      --debs "$work/$component.debs" --distro "$distro" --source-url "git+$SOURCE_URL@$commit" \
      --source-date-epoch "$epoch" --output "$out/sbom/$component-$version.spdx.json"
    log "$ref $digest ($((SECONDS - step))s)"
  done

  helm package "$REPO_ROOT/$CHART" --destination "$out" >/dev/null
  python3 "$REPO_ROOT/dev/release/retar.py" "$epoch" "$out/tweetpipe-operator-$version.tgz"
  cp "$REPO_ROOT/$CRDS" "$out/crds.yaml"
  local files
  mapfile -t files < <(cd "$out" && find . -type f -printf '%P\n' | LC_ALL=C sort)
  (cd "$out" && sha256sum "${files[@]}") > "$out/SHA256SUMS"

  log "dist/$version/ in $((SECONDS - started))s:"
  (cd "$out" && find . -type f -printf '%s\t%P\n' | LC_ALL=C sort -k2 | numfmt --field=1 --to=iec-i --suffix=B --format='%9f') >&2
}

main() {
  local cmd=${1:-}
  case $cmd in
    check) check "${2:-}" ;;
    binaries) build_binaries ;;
    build) build "${2:-}" ;;
    *) usage ;;
  esac
}

main "$@"
