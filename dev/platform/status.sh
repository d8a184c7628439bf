#!/usr/bin/env bash
# One line per component. Exit status 0 only when everything is healthy.
source "$(dirname "$0")/lib.sh"
set +e
out=$(
  printf '%-24s %s\n' network "$(bash "$PLATFORM_DIR/network.sh" status)"
  printf '%-24s %s\n' kafka "$(bash "$PLATFORM_DIR/kafka.sh" status)"
  printf '%-24s %s\n' mariadb "$(bash "$PLATFORM_DIR/mariadb.sh" status)"
  printf '%-24s %s\n' schema-registry "$(bash "$PLATFORM_DIR/registry.sh" status)"
  printf '%-24s %s\n' argocd "$(bash "$PLATFORM_DIR/argocd.sh" status)"
  bash "$PLATFORM_DIR/kubernetes.sh" status
)
echo "$out"
# Resident memory of every platform daemon (and of all pods' processes, via containerd's shims).
total=0
for pidfile in "$RUN_DIR"/*.pid; do
  [[ -f $pidfile ]] || continue
  rss=$(ps -o rss= -p "$(cat "$pidfile")" 2>/dev/null || echo 0)
  total=$((total + ${rss:-0}))
done
echo "platform daemons resident memory: $((total / 1024)) MiB"
echo "env file: $ENV_FILE    logs: $LOG_DIR"
! grep -qE ' (down|running, not healthy|NotReady)' <<<"$out"
