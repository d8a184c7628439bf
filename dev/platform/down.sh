#!/usr/bin/env bash
# Stops everything platform-up started and removes its mounts, network namespaces, bridge and
# iptables rules. Data (Kafka log, MariaDB, etcd) stays in the state dir unless --purge.
source "$(dirname "$0")/lib.sh"
# Argo CD first: its controller talks to the API server until it stops.
bash "$PLATFORM_DIR/argocd.sh" down
# Superset instances (dev/platform/superset.sh), if any runs.
for pidfile in "$RUN_DIR"/superset*.pid; do
  [[ -f $pidfile ]] || continue
  SUPERSET_INSTANCE=$(basename "$pidfile" .pid) bash "$PLATFORM_DIR/superset.sh" down
done
bash "$PLATFORM_DIR/observe.sh" down
bash "$PLATFORM_DIR/kubernetes.sh" stop
bash "$PLATFORM_DIR/kafka.sh" stop
bash "$PLATFORM_DIR/mariadb.sh" stop
bash "$PLATFORM_DIR/registry.sh" stop
bash "$PLATFORM_DIR/network.sh" down
if [[ ${1:-} == --purge ]]; then
  log "purging $STATE_DIR"
  rm -rf "$STATE_DIR"
fi
log "platform down"
