#!/usr/bin/env bash
# Brings the whole local platform up: builds (cached by version), the pod network, Kafka,
# MariaDB, the schema registry and a single-node Kubernetes. Idempotent: what already runs is left alone.
source "$(dirname "$0")/lib.sh"

stage() {
  local name=$1; shift
  local t0=$SECONDS
  "$@"
  log "stage $name: $((SECONDS - t0))s"
}

[[ $(id -u) == 0 ]] || die "the platform needs root (network namespaces, mounts, cgroups)"
stage install-deps bash "$PLATFORM_DIR/install-deps.sh"
stage build-kubernetes bash "$PLATFORM_DIR/build-kubernetes.sh"
stage network bash "$PLATFORM_DIR/network.sh" up
stage kafka bash "$PLATFORM_DIR/kafka.sh" start
stage mariadb bash "$PLATFORM_DIR/mariadb.sh" start
# After the network: the registry listens on the pod bridge address.
stage schema-registry bash "$PLATFORM_DIR/registry.sh" start
stage kubernetes bash "$PLATFORM_DIR/kubernetes.sh" start
bash "$PLATFORM_DIR/write-env.sh"
log "platform up; env: $ENV_FILE, logs: $LOG_DIR"
