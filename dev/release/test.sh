#!/usr/bin/env bash
# make release-check (a stage of make test): what make release rests on, in seconds and without a
# release build or a platform:
# - the version guard (release.sh check) on throwaway git repositories: a VERSION that differs from
#   Cargo.toml or the chart's version/appVersion, or is no semver, is refused and says which files
#   to edit; the right one is accepted; a dirty tree is refused unless RELEASE_ALLOW_DIRTY=1; and
#   this checkout's Cargo.toml and Chart.yaml agree with each other (a release can be cut from it);
# - sbom.py on a small fixture: byte for byte the expected SPDX document, the crate graph walked
#   through cargo tree's de-duplicated `(*)` entries, nothing outside the root's tree;
# - retar.py: the same chart archive whatever the files' mtimes;
# - images.sh archive: the same binary twice gives byte-identical OCI archives (umoci, no platform).
set -o errexit -o nounset -o pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$HERE/../.." && pwd)
RELEASE=$HERE/release.sh
FIXTURES=$HERE/fixtures
PASSED=0
FAILED=0
WORK=

pass() { PASSED=$((PASSED + 1)); printf 'ok      %s\n' "$1"; }
fail() {
  FAILED=$((FAILED + 1))
  printf 'FAIL    %s\n' "$1"
  [[ ! -s $WORK/out ]] || sed 's/^/        /' "$WORK/out"
}

# expect_ok NAME COMMAND...: COMMAND succeeds.
expect_ok() {
  local name=$1; shift
  if "$@" > "$WORK/out" 2>&1; then pass "$name"; else fail "$name"; fi
}

# expect_refused NAME PATTERN COMMAND...: COMMAND fails and says PATTERN (grep -E).
expect_refused() {
  local name=$1 pattern=$2; shift 2
  if "$@" > "$WORK/out" 2>&1; then
    fail "$name: accepted"
  elif grep -qE -- "$pattern" "$WORK/out"; then
    pass "$name"
  else
    fail "$name: refused without saying /$pattern/"
  fi
}

# fixture_repo DIR CARGO_VERSION CHART_VERSION APP_VERSION: a committed git repository holding the
# two files release.sh check reads.
fixture_repo() {
  local dir=$1
  mkdir -p "$dir/helm/tweetpipe-operator"
  printf '[workspace]\nmembers = []\n\n[workspace.package]\nedition = "2024"\nversion = "%s"\n' "$2" > "$dir/Cargo.toml"
  printf 'apiVersion: v2\nname: tweetpipe-operator\nversion: %s\nappVersion: "%s"\n' "$3" "$4" \
    > "$dir/helm/tweetpipe-operator/Chart.yaml"
  git -C "$dir" init -q
  git -C "$dir" add .
  git -C "$dir" -c user.name=test -c user.email=test@example.invalid commit -q -m fixture
}

# check_in DIR VERSION: release.sh's guard against the repository in DIR.
check_in() {
  RELEASE_ROOT=$1 bash "$RELEASE" check "$2"
}

test_version_guard() {
  fixture_repo "$WORK/agree" 1.2.3 1.2.3 1.2.3
  fixture_repo "$WORK/app" 1.2.3 1.2.3 1.2.2
  fixture_repo "$WORK/chart" 1.2.3 1.3.0 1.2.3
  fixture_repo "$WORK/pre" 2.0.0-rc.1 2.0.0-rc.1 2.0.0-rc.1
  expect_ok "guard accepts VERSION equal to Cargo.toml and Chart.yaml" check_in "$WORK/agree" 1.2.3
  expect_ok "guard accepts a pre-release" check_in "$WORK/pre" 2.0.0-rc.1
  expect_refused "guard refuses another VERSION, naming the files to edit" \
    'Cargo.toml \[workspace.package\] version = 1\.2\.3.*edit Cargo\.toml.*Chart\.yaml' check_in "$WORK/agree" 1.2.4
  expect_refused "guard refuses a chart appVersion that differs" 'appVersion = 1\.2\.2' check_in "$WORK/app" 1.2.3
  expect_refused "guard refuses a chart version that differs" 'Chart\.yaml version = 1\.3\.0' check_in "$WORK/chart" 1.2.3
  local bad
  for bad in 1.2 v1.2.3 01.2.3 1.2.3+build.1 1.2.3-; do
    expect_refused "guard refuses VERSION=$bad (not a semver)" 'not a semver' check_in "$WORK/agree" "$bad"
  done
  expect_refused "guard refuses an empty VERSION" 'VERSION is required' check_in "$WORK/agree" ""
  printf 'x\n' > "$WORK/agree/untracked"
  expect_refused "guard refuses a dirty tree" 'git tree is dirty' check_in "$WORK/agree" 1.2.3
  expect_ok "guard accepts a dirty tree with RELEASE_ALLOW_DIRTY=1" env RELEASE_ALLOW_DIRTY=1 RELEASE_ROOT="$WORK/agree" \
    bash "$RELEASE" check 1.2.3
  local version
  version=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["workspace"]["package"]["version"])' \
    "$REPO_ROOT/Cargo.toml")
  expect_ok "this checkout's Cargo.toml and Chart.yaml agree on $version" env RELEASE_ALLOW_DIRTY=1 bash "$RELEASE" check "$version"
}

# sbom ROOT: sbom.py on the fixture for ROOT.
sbom() {
  python3 "$HERE/sbom.py" --image registry.example/demo/worker:0.1.0 \
    --image-digest sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \
    --root "$1" --cargo-tree "$FIXTURES/tree.txt" --metadata "$FIXTURES/metadata.json" \
    --lockfile "$FIXTURES/Cargo.lock" --debs "$FIXTURES/debs.tsv" --distro debian-12 --source-url git+https://github.com/tweetpipe/tweetpipe@0123456789abcdef0123456789abcdef01234567 \
    --source-date-epoch 1700000000
}

test_sbom() {
  : > "$WORK/out"
  if sbom demo-worker > "$WORK/worker.json" 2> "$WORK/out" && diff -u "$FIXTURES/expected.spdx.json" "$WORK/worker.json" > "$WORK/out"; then
    pass "sbom.py writes the expected SPDX 2.3 document (fixtures/expected.spdx.json)"
  else
    fail "sbom.py output differs from fixtures/expected.spdx.json (regenerate it only for an intended change)"
  fi
  # Every relationship joins two elements of the document; every package has a purl.
  # shellcheck disable=SC2016 # jq's variables
  expect_ok "sbom relationships name only the document's packages" jq -e '
    ([.packages[].SPDXID] + ["SPDXRef-DOCUMENT"]) as $ids
    | all(.relationships[]; (.spdxElementId as $a | $ids | index($a)) and (.relatedSpdxElement as $b | $ids | index($b)))
    and all(.packages[]; (.externalRefs // []) | any(.referenceType == "purl"))' "$WORK/worker.json"
  sbom demo-operator > "$WORK/operator.json" 2> "$WORK/out" || true
  # demo-operator's tree has demo-common only as `(*)`: its crates come from demo-worker's tree.
  # shellcheck disable=SC2016 # jq's variables
  expect_ok "sbom walks cargo tree's (*) entries and keeps to the root's tree" jq -e '
    [.packages[].name] as $n
    | ($n | index("rdkafka")) and ($n | index("libc")) and ($n | index("old-style"))
      and ($n | index("anyhow") | not) and ($n | index("unused") | not) and ($n | index("demo-worker") | not)' \
    "$WORK/operator.json"
  expect_ok "sbom turns cargo's old A/B license form into an SPDX expression" jq -e '
    .packages[] | select(.name == "old-style") | .licenseDeclared == "MIT OR Apache-2.0"' "$WORK/operator.json"
  expect_refused "sbom refuses a root that is not in the tree" 'not a root' sbom demo-missing
}

test_retar() {
  local dir=$WORK/chart-src
  mkdir -p "$dir/c/templates"
  printf 'name: c\n' > "$dir/c/Chart.yaml"
  printf 'kind: x\n' > "$dir/c/templates/a.yaml"
  touch -d @1000000000 "$dir/c/Chart.yaml"
  tar -C "$dir" -czf "$WORK/one.tgz" c
  touch -d @2000000000 "$dir/c/Chart.yaml" "$dir/c/templates/a.yaml"
  tar -C "$dir" -czf "$WORK/two.tgz" c
  python3 "$HERE/retar.py" 1700000000 "$WORK/one.tgz"
  python3 "$HERE/retar.py" 1700000000 "$WORK/two.tgz"
  if cmp -s "$WORK/one.tgz" "$WORK/two.tgz" && [[ $(tar -xOzf "$WORK/one.tgz" c/templates/a.yaml) == "kind: x" ]]; then
    pass "retar.py: same files, other mtimes, same bytes"
  else
    : > "$WORK/out"
    fail "retar.py: archives differ or lost content"
  fi
}

test_image_archive() {
  if ! command -v umoci >/dev/null || ! command -v jq >/dev/null; then
    fail "images.sh archive reproducible: umoci or jq is missing (dev/platform/install-deps.sh installs them)"
    return
  fi
  local n
  for n in 1 2; do
    SOURCE_DATE_EPOCH=1700000000 bash "$REPO_ROOT/dev/platform/images.sh" archive \
      registry.example/demo/true:0.0.0 "$WORK/true-$n.oci.tar" "$(type -P true)" > "$WORK/digest-$n" 2> "$WORK/out" || true
  done
  if [[ -s $WORK/digest-1 ]] && cmp -s "$WORK/true-1.oci.tar" "$WORK/true-2.oci.tar" && cmp -s "$WORK/digest-1" "$WORK/digest-2"; then
    pass "images.sh archive: one binary twice, one digest ($(cat "$WORK/digest-1"))"
  else
    fail "images.sh archive: two builds of one binary differ"
  fi
}

main() {
  WORK=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now
  trap "rm -rf '$WORK'" EXIT
  test_version_guard
  test_sbom
  test_retar
  test_image_archive
  printf 'release-check: %d passed, %d failed\n' "$PASSED" "$FAILED"
  ((FAILED == 0))
}

main "$@"
