#!/usr/bin/env bash
# test-binary.sh BINARY ARGS...: cargo's runner for test binaries in `make test`. One binary that
# hangs (a client waiting on a stopped broker, a lost wake-up) fails with its name after
# TWEETPIPE_TEST_BINARY_TIMEOUT seconds instead of holding CI until its deadline. Before it is
# stopped, every thread's stack (eu-stack) is kept in target/test-hangs/ and its summary printed, so
# the hang names its cause. libtest names the test itself: "test X has been running for over 60
# seconds".
set -o errexit -o nounset -o pipefail

HANGS_DIR="$(cd "$(dirname "$0")/.." && pwd)/target/test-hangs"

# The frames that say what a thread waits for: ours, the clients' and tokio's, not libc's or std's.
summarise_stacks() {
  awk '
    /^TID / { thread = $0; shown = 0; printed = 0; next }
    /^#/ {
      if (shown < 8 && ($0 ~ /tweetpipe|xapi|rdkafka|rd_kafka|sqlx|kube|tokio::runtime::blocking|reqwest|hyper/)) {
        if (!printed) { print thread; printed = 1 }
        print "    " $0; shown++
      }
    }'
}

dump_stacks() {
  local pid=$1 name=$2
  mkdir -p "$HANGS_DIR"
  local file
  file="$HANGS_DIR/${name}-$(date +%s).txt"
  {
    printf '# %s (pid %s) still running after %ss; every thread of it and its children:\n' "$name" "$pid" "$3"
    local proc
    for proc in "$pid" $(pgrep -P "$pid" || true); do
      printf '\n## pid %s: %s\n' "$proc" "$(tr '\0' ' ' < "/proc/$proc/cmdline" 2>/dev/null || true)"
      if command -v eu-stack >/dev/null; then
        eu-stack -p "$proc" 2>&1 || true
      else
        printf '(eu-stack missing: install elfutils)\n'
      fi
    done
  } > "$file" 2>&1
  printf '::: stacks of %s kept in %s; the threads in our code or our clients:\n' "$name" "$file" >&2
  summarise_stacks < "$file" | head -120 >&2
}

main() {
  local limit=${TWEETPIPE_TEST_BINARY_TIMEOUT:-900}
  local name fired
  name=$(basename "$1")
  fired=$(mktemp)
  rm -f "$fired"
  "$@" &
  local pid=$!
  # The watchdog's own stderr is silenced (a killed `sleep` would print "Terminated"); what it
  # has to say goes to fd 3, the real stderr.
  exec 3>&2
  (
    sleep "$limit"
    if kill -0 "$pid" 2>/dev/null; then
      touch "$fired"
      printf '::: test binary %s did not finish within %ss; taking its stacks, then stopping it\n' "$name" "$limit" >&3
      dump_stacks "$pid" "$name" "$limit" 2>&3
      kill -TERM "$pid" 2>/dev/null || true
      sleep 30
      kill -KILL "$pid" 2>/dev/null || true
    fi
  ) 2>/dev/null &
  local watchdog=$!
  local rc=0
  wait "$pid" || rc=$?
  pkill -P "$watchdog" 2>/dev/null || true
  kill "$watchdog" 2>/dev/null || true
  wait "$watchdog" 2>/dev/null || true
  if [[ -e $fired ]]; then
    rm -f "$fired"
    printf '::: test binary %s was stopped after %ss (exit %s)\n' "$name" "$limit" "$rc" >&2
    rc=124
  fi
  return "$rc"
}

main "$@"
