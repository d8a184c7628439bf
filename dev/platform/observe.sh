#!/usr/bin/env bash
# Observability on the local platform: Prometheus 3.x (Kubernetes service discovery of annotated
# pods) and an OpenTelemetry Collector (OTLP in, traces to a JSON-lines file), both built from the
# Go module proxy, cached per version, and run as host processes beside Kafka and MariaDB.
# Usage: observe.sh build|up|down|status
#   build   build (cached) prometheus, promtool and otelcol-tweetpipe
#   up      build, then start both and add their addresses to the platform's env file
#   down    stop both
#   status  one line each; exit status 0 when both answer
set -o errexit -o nounset -o pipefail
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"

PROMETHEUS_HOME=$CACHE_DIR/prometheus-$PROMETHEUS_MODULE_VERSION
OTELCOL_HOME=$CACHE_DIR/otelcol-$OTELCOL_VERSION
OTELCOL_MANIFEST=$PLATFORM_DIR/otelcol/builder-config.yaml
OBSERVE_DIR=$STATE_DIR/observe
# Prometheus listens on loopback only: tests and people on the host query it; nothing in a pod does.
PROMETHEUS_ADDRESS=127.0.0.1:9090
# The collector listens on the pod bridge (pods export to it) and on loopback (host processes).
OTLP_GRPC_PORT=4317
OTLP_HTTP_PORT=4318
TRACES_FILE=$OBSERVE_DIR/traces.jsonl

# --- build ---------------------------------------------------------------------------------------

build_prometheus() {
  if [[ -x $PROMETHEUS_HOME/bin/prometheus && -x $PROMETHEUS_HOME/bin/promtool ]]; then
    log "prometheus $PROMETHEUS_MODULE_VERSION cached"
    return 0
  fi
  local module=github.com/prometheus/prometheus source work
  # Prometheus 3.X.Y is published as module version v0.3XX.Y; the binaries report the release.
  local release=${PROMETHEUS_MODULE_VERSION#v0.}
  release="${release:0:1}.$((10#${release:1:2})).${release#*.}"
  log "building prometheus $release ($module@$PROMETHEUS_MODULE_VERSION; cold: ~5 min on 2 cores)"
  source=$(cd / && go mod download -json "$module@$PROMETHEUS_MODULE_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  # The module cache is read-only; build from a writable copy (go may need to write go.sum).
  work=$CACHE_DIR/build/prometheus-$PROMETHEUS_MODULE_VERSION
  rm -rf "$work"
  mkdir -p "$(dirname "$work")" "$PROMETHEUS_HOME/bin"
  cp -r "$source" "$work"
  chmod -R u+w "$work"
  # GOWORK=off: the module ships a go.work for its own development. Tags: only the Kubernetes
  # service discovery (the others pull in every cloud SDK and double the build); without
  # `builtinassets` the React UI is not embedded: the HTTP API is all the tests use.
  (cd "$work" && GOWORK=off CGO_ENABLED=0 go build -mod=mod -trimpath \
    -tags remove_all_sd,enable_kubernetes_sd \
    -ldflags "-s -w -X github.com/prometheus/common/version.Version=$release" \
    -o "$PROMETHEUS_HOME/bin/" ./cmd/prometheus ./cmd/promtool)
  [[ -x $PROMETHEUS_HOME/bin/prometheus && -x $PROMETHEUS_HOME/bin/promtool ]] \
    || die "prometheus build failed"
  rm -rf "$work"
}

build_otelcol() {
  if [[ -x $OTELCOL_HOME/bin/otelcol-tweetpipe ]]; then
    log "otelcol $OTELCOL_VERSION cached"
    return 0
  fi
  log "building otelcol $OTELCOL_VERSION with the collector builder (cold: ~5 min on 2 cores)"
  local work=$CACHE_DIR/build/otelcol-$OTELCOL_VERSION
  rm -rf "$work"
  mkdir -p "$work" "$OTELCOL_HOME/bin"
  GOBIN=$work/bin go install "go.opentelemetry.io/collector/cmd/builder@$OTELCOL_VERSION"
  cp "$OTELCOL_MANIFEST" "$work/builder-config.yaml"
  # The builder generates the distribution's sources; its own module step (`go mod tidy`) also
  # resolves the components' test dependencies, one of which the module proxy does not serve
  # (contrib's otlpencodingextension v0.165.0: 403). So the module is made here from the
  # manifest's components and built with -mod=mod, which only needs what the binary imports.
  (cd "$work" && ./bin/builder --config builder-config.yaml --skip-get-modules --skip-compilation)
  local modules
  modules=$(awk '/gomod:/ {print $3 "@" $4}' "$OTELCOL_MANIFEST")
  # shellcheck disable=SC2086 # one argument per component module
  (cd "$work/_build" && go mod init tweetpipe.local/otelcol-tweetpipe \
    && go get $modules \
    && CGO_ENABLED=0 go build -mod=mod -trimpath -ldflags "-s -w" -o otelcol-tweetpipe .)
  install -m 0755 "$work/_build/otelcol-tweetpipe" "$OTELCOL_HOME/bin/otelcol-tweetpipe"
  rm -rf "$work"
}

build() {
  export GOFLAGS=-buildvcs=false
  build_prometheus
  build_otelcol
}

# --- run -----------------------------------------------------------------------------------------

write_prometheus_config() {
  # Pods opt in with prometheus.io/scrape: "true", prometheus.io/port and prometheus.io/path (the
  # chart annotates the operator, the operator its extractors and transformers, the simulator's
  # manifests the simulator). Pods are reachable from the host on the pod bridge.
  write_file "$OBSERVE_DIR/prometheus.yml" <<YAML
global:
  scrape_interval: 5s
  evaluation_interval: 5s
rule_files:
  - $REPO_ROOT/helm/tweetpipe-operator/files/alerts.yaml
scrape_configs:
  - job_name: kubernetes-pods
    # A series' own labels win over the target's: the operator's namespace/pipeline name the
    # pipeline, not the operator's pod.
    honor_labels: true
    kubernetes_sd_configs:
      - role: pod
        kubeconfig_file: $STATE_DIR/kubeconfig
    relabel_configs:
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_scrape]
        action: keep
        regex: "true"
      - source_labels: [__meta_kubernetes_pod_phase]
        action: keep
        regex: Running
      - source_labels: [__meta_kubernetes_pod_annotation_prometheus_io_path]
        action: replace
        target_label: __metrics_path__
        regex: (.+)
      - source_labels: [__meta_kubernetes_pod_ip, __meta_kubernetes_pod_annotation_prometheus_io_port]
        action: replace
        regex: (.+);(\\d+)
        replacement: \$1:\$2
        target_label: __address__
      - source_labels: [__meta_kubernetes_namespace]
        target_label: namespace
      - source_labels: [__meta_kubernetes_pod_name]
        target_label: pod
      - source_labels: [__meta_kubernetes_pod_label_app_kubernetes_io_component]
        target_label: component
      - source_labels: [__meta_kubernetes_pod_label_tweetpipe_io_pipeline]
        target_label: pipeline
YAML
}

write_otelcol_config() {
  write_file "$OBSERVE_DIR/otelcol.yaml" <<YAML
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:$OTLP_GRPC_PORT
      http:
        endpoint: 0.0.0.0:$OTLP_HTTP_PORT
processors:
  batch:
    timeout: 1s
exporters:
  debug:
    verbosity: basic
  file:
    path: $TRACES_FILE
    format: json
    # Bounded on disk: long runs (chaos, benchmarks) roll the file over, keeping one backup.
    rotation:
      max_megabytes: 200
      max_backups: 1
extensions: {}
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [file, debug]
YAML
}

prometheus_ready() { curl -sf -o /dev/null "http://$PROMETHEUS_ADDRESS/-/ready"; }
otelcol_ready() {
  # The OTLP/HTTP receiver answers an empty trace export with 200 once the pipeline runs.
  curl -sf -o /dev/null -H 'Content-Type: application/json' -d '{}' \
    "http://127.0.0.1:$OTLP_HTTP_PORT/v1/traces"
}

# The addresses tests and scripts read; appended to the platform's env file (rewritten by
# write-env.sh on every platform-up, hence rewritten here on every observe-up).
write_observe_env() {
  local env_lines
  env_lines=$(cat <<ENV
# Observability (dev/platform/observe.sh)
TWEETPIPE_PROMETHEUS_URL=http://$PROMETHEUS_ADDRESS
TWEETPIPE_OTLP_ENDPOINT=http://127.0.0.1:$OTLP_GRPC_PORT
TWEETPIPE_OTLP_ENDPOINT_POD=http://$NODE_IP:$OTLP_GRPC_PORT
TWEETPIPE_OTEL_TRACES_FILE=$TRACES_FILE
TWEETPIPE_PROMTOOL=$PROMETHEUS_HOME/bin/promtool
ENV
)
  [[ -f $ENV_FILE ]] || die "$ENV_FILE is missing: run dev/platform/up.sh first"
  {
    grep -v -e '^TWEETPIPE_PROMETHEUS_URL=' -e '^TWEETPIPE_OTLP_ENDPOINT' -e '^TWEETPIPE_OTEL_TRACES_FILE=' \
      -e '^TWEETPIPE_PROMTOOL=' -e '^# Observability (dev/platform/observe.sh)' "$ENV_FILE" || true
    echo "$env_lines"
  } > "$ENV_FILE.observe.tmp"
  mv "$ENV_FILE.observe.tmp" "$ENV_FILE"
}

up() {
  build
  [[ -f $STATE_DIR/kubeconfig ]] || die "no kubeconfig in $STATE_DIR: run dev/platform/up.sh first"
  mkdir -p "$OBSERVE_DIR/prometheus-data"
  write_prometheus_config
  local collector_config_before
  collector_config_before=$(cat "$OBSERVE_DIR/otelcol.yaml" 2>/dev/null || true)
  write_otelcol_config
  # The collector has no reload: a changed configuration restarts it.
  if [[ $(cat "$OBSERVE_DIR/otelcol.yaml") != "$collector_config_before" ]]; then
    stop_daemon otelcol
  fi
  if ! daemon_running prometheus; then
    log "starting prometheus on $PROMETHEUS_ADDRESS"
    start_daemon prometheus "$PROMETHEUS_HOME/bin/prometheus" \
      "--config.file=$OBSERVE_DIR/prometheus.yml" \
      "--storage.tsdb.path=$OBSERVE_DIR/prometheus-data" \
      --storage.tsdb.retention.time=1d \
      "--web.listen-address=$PROMETHEUS_ADDRESS" --web.enable-lifecycle
  fi
  if ! daemon_running otelcol; then
    log "starting otelcol: OTLP gRPC :$OTLP_GRPC_PORT, HTTP :$OTLP_HTTP_PORT -> $TRACES_FILE"
    start_daemon otelcol "$OTELCOL_HOME/bin/otelcol-tweetpipe" "--config=$OBSERVE_DIR/otelcol.yaml"
  fi
  wait_for prometheus 60 prometheus_ready
  wait_for otelcol 60 otelcol_ready
  # A running Prometheus picks up a changed configuration (rules included) without a restart.
  curl -sf -o /dev/null -X POST "http://$PROMETHEUS_ADDRESS/-/reload" || true
  write_observe_env
  log "observability up: prometheus http://$PROMETHEUS_ADDRESS, OTLP $NODE_IP:$OTLP_GRPC_PORT"
}

down() {
  stop_daemon prometheus
  stop_daemon otelcol
  log "observability down"
}

status() {
  local rc=0
  if prometheus_ready; then
    printf '%-24s %s\n' prometheus "running (http://$PROMETHEUS_ADDRESS)"
  else
    printf '%-24s %s\n' prometheus down; rc=1
  fi
  if otelcol_ready; then
    printf '%-24s %s\n' otelcol "running (OTLP $NODE_IP:$OTLP_GRPC_PORT, traces $TRACES_FILE)"
  else
    printf '%-24s %s\n' otelcol down; rc=1
  fi
  return "$rc"
}

main() {
  case ${1:-} in
    build) build ;;
    up) up ;;
    down) down ;;
    status) status ;;
    *) echo "usage: $0 build|up|down|status" >&2; exit 2 ;;
  esac
}

main "$@"
