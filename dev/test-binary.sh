#!/usr/bin/env bash
# test-binary.sh BINARY ARGS...: cargo's runner for test binaries in `make test`. One binary that
# hangs (a client waiting on a stopped broker, a lost wake-up) fails with its name after
# TWEETPIPE_TEST_BINARY_TIMEOUT seconds instead of holding CI until its deadline. libtest names
# the test itself: "test X has been running for over 60 seconds".
set -o errexit -o nounset -o pipefail

main() {
  local limit=${TWEETPIPE_TEST_BINARY_TIMEOUT:-900}
  local rc=0
  timeout --kill-after=30 "$limit" "$@" || rc=$?
  if [[ $rc -eq 124 || $rc -eq 137 ]]; then
    printf '::: test binary %s did not finish within %ss; stopped\n' "$(basename "$1")" "$limit" >&2
  fi
  return "$rc"
}

main "$@"
