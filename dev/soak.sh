#!/usr/bin/env bash
# soak.sh N: N times in a row, purge the local platform, bring it up fresh and run the `tests`
# stage of `make test` on it (what CI does on a fresh machine, minus the tool builds). Prints a
# pass/fail table with each run's time and keeps every run's log and diagnostics under target/soak/.
# A failure is a finding to fix, never a reason to retry: the table shows every run.
set -o errexit -o nounset -o pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  echo "usage: dev/soak.sh RUNS   (RUNS >= 1; each run purges the platform: its data is lost)" >&2
  exit 2
}

# One fresh platform and one tests stage; its exit code.
one_run() {
  local log=$1
  {
    bash dev/platform/down.sh --purge
    bash dev/platform/up.sh
    make --no-print-directory images IMAGE_PROFILE=debug
    bash dev/platform/observe.sh up
    # Every failing test of the run, not only the first failing binary's.
    make --no-print-directory tests TEST_FLAGS=--no-fail-fast
  } >"$log" 2>&1
}

main() {
  [[ $# -eq 1 && $1 =~ ^[1-9][0-9]*$ ]] || usage
  local runs=$1 out="$ROOT/target/soak" i rc t0 failed=0
  cd "$ROOT"
  mkdir -p "$out"
  # What a fresh run would build anyway, built once up front so each run times only itself.
  t0=$(date +%s)
  cargo build --workspace --bins --locked
  cargo test --workspace --locked --no-run
  echo "::: soak: workspace build $(($(date +%s) - t0))s"
  local table="$out/table.md"
  printf '| run | started (UTC) | result | seconds | failed tests |\n| --- | --- | --- | --- | --- |\n' >"$table"
  for ((i = 1; i <= runs; i++)); do
    local log="$out/run-$i.log" started
    started=$(date -u +%H:%M:%S)
    t0=$(date +%s)
    rc=0
    echo "::: soak run $i/$runs (log: $log)"
    one_run "$log" || rc=$?
    local result=pass failures=""
    if ((rc != 0)); then
      result="FAIL (exit $rc)"
      failed=$((failed + 1))
      failures=$(grep -E '^test .* FAILED$|^    [a-z_:]+$|did not finish within' "$log" | sort -u | tr '\n' ' ' || true)
      if [[ -d target/e2e-diagnostics ]]; then
        mkdir -p "$out/run-$i-diagnostics"
        cp target/e2e-diagnostics/* "$out/run-$i-diagnostics/" 2>/dev/null || true
        rm -rf target/e2e-diagnostics
      fi
    fi
    printf '| %s | %s | %s | %s | %s |\n' "$i" "$started" "$result" "$(($(date +%s) - t0))" "$failures" >>"$table"
    echo "::: soak run $i: $result in $(($(date +%s) - t0))s"
  done
  cat "$table"
  echo "::: soak: $((runs - failed))/$runs runs passed; logs in $out"
  ((failed == 0))
}

main "$@"
