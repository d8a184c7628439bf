# Shared helpers for the local platform scripts. Sourced, never run.
# shellcheck shell=bash
# Its variables are for the scripts that source it, so "appears unused" is wrong here.
# shellcheck disable=SC2034
set -euo pipefail

PLATFORM_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_ROOT=$(cd "$PLATFORM_DIR/../.." && pwd)
# shellcheck source=versions.env
source "$PLATFORM_DIR/versions.env"

# Builds are cached per machine (they survive clones); run state is per clone.
CACHE_DIR=${TWEETPIPE_CACHE:-$HOME/.cache/tweetpipe}
STATE_DIR=${TWEETPIPE_STATE:-$REPO_ROOT/.platform}
LOG_DIR=$STATE_DIR/logs
RUN_DIR=$STATE_DIR/run
ENV_FILE=$STATE_DIR/env

K8S_BIN=$CACHE_DIR/kubernetes-$K8S_VERSION/bin
ETCD_BIN=$CACHE_DIR/etcd-$ETCD_VERSION/bin
HELM_BIN=$CACHE_DIR/helm-$HELM_VERSION/bin
COREDNS_BIN=$CACHE_DIR/coredns-$COREDNS_VERSION/bin
KAFKA_HOME=$CACHE_DIR/kafka-$KAFKA_VERSION
REGISTRY_HOME=$CACHE_DIR/registry-$APICURIO_VERSION
# OpenTofu and the providers' filesystem mirror (tofu.sh); not on PATH here: terraform/ only.
TOFU_BIN=$CACHE_DIR/opentofu-$OPENTOFU_VERSION/bin
TOFU_PROVIDER_MIRROR=$CACHE_DIR/terraform-providers
TOFU_CLI_CONFIG=$STATE_DIR/tofu.tfrc

# The pod network: a bridge this setup creates in the host namespace; pods live in their own
# network namespaces behind it. The host side of the bridge is how pods reach Kafka and MariaDB.
POD_CIDR=10.244.0.0/24
POD_BRIDGE=tp0
NODE_IP=10.244.0.1
SERVICE_CIDR=10.96.0.0/16
CLUSTER_DNS_IP=10.96.0.10
NODE_NAME=tweetpipe-node

KAFKA_HOST_PORT=9092
KAFKA_POD_PORT=9094
KAFKA_CONTROLLER_PORT=9093
# SASL_SSL (SCRAM-SHA-512) beside the plaintext listeners: host tests and pods.
KAFKA_SECURE_HOST_PORT=9095
KAFKA_SECURE_POD_PORT=9096
# Kafka's CA, broker keystore and SCRAM users' username/password files (pki.sh, kafka.sh).
KAFKA_SECURE_DIR=$STATE_DIR/pki/kafka
MYSQL_PORT=3306
# MariaDB's CA, server certificate and key (pki.sh); TLS is served beside plaintext.
MYSQL_TLS_DIR=$STATE_DIR/pki/mariadb
MYSQL_ROOT_PASSWORD=tweetpipe-dev-root
APISERVER_PORT=6443
# The schema registry listens on the pod bridge address (reachable from the host too, like the API
# server); its management interface (health, metrics) on loopback only.
REGISTRY_PORT=${TWEETPIPE_REGISTRY_PORT:-8081}
REGISTRY_MANAGEMENT_PORT=${TWEETPIPE_REGISTRY_MANAGEMENT_PORT:-$((REGISTRY_PORT + 10))}
REGISTRY_URL=http://$NODE_IP:$REGISTRY_PORT/apis/ccompat/v7

export PATH="$K8S_BIN:$ETCD_BIN:$HELM_BIN:$COREDNS_BIN:$PATH"

log() { printf '%s [platform] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# install_debian_packages PACKAGE...: installs those not installed yet. Debian's maintainer scripts
# would start services (mariadb, containerd, podman's) system-wide; the platform and kind run their
# own instances, so service starts are refused during the install.
install_debian_packages() {
  local missing=() p
  for p in "$@"; do
    [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
}

# with_build_lock NAME COMMAND...: run COMMAND holding NAME's build lock. .ci/run starts the builds
# only late stages need in the background; a stage that needs one calls its build as usual, waits
# here (saying for what) while the background one runs, then finds it cached. The lock is released
# before anything the command starts could outlive it (it must not start daemons).
BUILD_LOCK_WAIT_SECONDS=${BUILD_LOCK_WAIT_SECONDS:-3600}
with_build_lock() {
  local name=$1 fd started
  shift
  local lock=$CACHE_DIR/locks/$name.lock
  mkdir -p "$CACHE_DIR/locks"
  exec {fd}>>"$lock"
  if ! flock -n "$fd"; then
    started=$(date +%s)
    log "waiting for the $name build another process is running ($(cat "$lock.holder" 2>/dev/null || echo 'holder unknown'); up to ${BUILD_LOCK_WAIT_SECONDS}s)"
    flock -w "$BUILD_LOCK_WAIT_SECONDS" "$fd" ||
      die "the $name build lock $lock is still held after ${BUILD_LOCK_WAIT_SECONDS}s by $(cat "$lock.holder" 2>/dev/null || echo 'an unknown process'); if .ci/run started it, its log is target/ci-logs/$name.log"
    log "the $name build that was running finished after $(($(date +%s) - started))s"
  fi
  printf 'pid %s, %s, since %s\n' "$$" "$(tr '\0' ' ' </proc/$$/cmdline)" "$(date -u +%H:%M:%S)" >"$lock.holder"
  "$@"
  exec {fd}>&-
}

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: poll until COMMAND succeeds.
wait_for() {
  local what=$1 timeout=$2; shift 2
  local deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then
      die "$what did not become ready within ${timeout}s (logs: $LOG_DIR)"
    fi
    sleep 0.5
  done
}

# start_daemon NAME COMMAND...: run in the background, detached, logging to $LOG_DIR/NAME.log.
# Idempotent: a daemon whose pid file names a live process is left alone.
start_daemon() {
  local name=$1; shift
  if daemon_running "$name"; then return 0; fi
  mkdir -p "$LOG_DIR" "$RUN_DIR"
  setsid "$@" >>"$LOG_DIR/$name.log" 2>&1 < /dev/null &
  echo $! > "$RUN_DIR/$name.pid"
}

daemon_running() {
  local pidfile=$RUN_DIR/$1.pid
  [[ -f $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null
}

# stop_daemon NAME: TERM, then KILL after a grace period; the whole session is signalled.
stop_daemon() {
  local pidfile=$RUN_DIR/$1.pid pid
  [[ -f $pidfile ]] || return 0
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
}

kubectl_admin() { kubectl --kubeconfig "$STATE_DIR/kubeconfig" "$@"; }

# write_file PATH < CONTENT: replace PATH only when CONTENT differs, so that daemons watching their
# configuration (kube-proxy exits on any change) survive a second platform-up.
write_file() {
  local path=$1 tmp
  tmp=$(mktemp "$path.XXXXXX")
  cat > "$tmp"
  if cmp -s "$tmp" "$path"; then rm -f "$tmp"; else mv "$tmp" "$path"; fi
}

# x_api_simulator_manifest NAMESPACE TOKEN_NAME: the in-cluster X API simulator (ConfigMap with one
# token, simulator-token-1; Deployment scraped by Prometheus; Service on 8080) that the demo and the
# end-to-end scripts deploy. Pipe it to `kubectl apply -f -`.
x_api_simulator_manifest() {
  local namespace=$1 token_name=$2
  cat <<YAML
apiVersion: v1
kind: ConfigMap
metadata: {name: x-api-simulator, namespace: $namespace}
data:
  config.json: |
    {"tokens": [{"name": "$token_name", "token": "simulator-token-1", "requests_per_window": 450, "window_seconds": 900, "monthly_post_cap": 1000000}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: x-api-simulator, namespace: $namespace}
spec:
  selector: {matchLabels: {app: x-api-simulator}}
  template:
    metadata:
      labels: {app: x-api-simulator}
      annotations: {prometheus.io/scrape: "true", prometheus.io/port: "8080", prometheus.io/path: /metrics}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532, seccompProfile: {type: RuntimeDefault}}
      containers:
      - name: simulator
        image: docker.io/tweetpipe/xapi-simulator:dev
        imagePullPolicy: Never
        args: [--config, /etc/simulator/config.json]
        ports: [{name: http, containerPort: 8080}]
        readinessProbe: {tcpSocket: {port: http}}
        securityContext: {readOnlyRootFilesystem: true, allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
        volumeMounts: [{name: config, mountPath: /etc/simulator, readOnly: true}]
      volumes: [{name: config, configMap: {name: x-api-simulator}}]
---
apiVersion: v1
kind: Service
metadata: {name: x-api-simulator, namespace: $namespace}
spec:
  selector: {app: x-api-simulator}
  ports: [{name: http, port: 8080, targetPort: http}]
YAML
}
