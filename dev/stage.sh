#!/usr/bin/env bash
# stage.sh NAME COMMAND...: runs one stage of a make target and prints how long it took.
name=$1; shift
start=$(date +%s)
printf '\n==> %s\n' "$name"
"$@"
rc=$?
printf '<== %s: %ss (exit %s)\n' "$name" "$(( $(date +%s) - start ))" "$rc"
exit $rc
