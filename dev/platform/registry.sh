#!/usr/bin/env bash
# Apicurio Registry, a Confluent-compatible schema registry (API under /apis/ccompat/v7), with
# in-memory storage: a restart starts empty. Runs Apicurio's own fast-jar distribution, the `all`
# tar.gz that Maven Central carries beside io.apicurio:apicurio-registry-app (a thin jar alone
# cannot be assembled here: ten of its Apicurio module jars are not served).
# Usage: registry.sh fetch|start|stop|restart|status
set -o errexit -o nounset -o pipefail
source "$(dirname "$0")/lib.sh"

DISTRIBUTION=io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all

fetch() {
  [[ -f $REGISTRY_HOME/.complete ]] && return 0
  log "fetching Apicurio Registry $APICURIO_VERSION (fast-jar distribution) from Maven Central"
  rm -rf "$REGISTRY_HOME"
  mkdir -p "$REGISTRY_HOME"
  mvn -B -q dependency:copy "-Dartifact=$DISTRIBUTION" "-DoutputDirectory=$REGISTRY_HOME" \
    || die "maven could not fetch $DISTRIBUTION"
  local archive=$REGISTRY_HOME/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz
  tar -xzf "$archive" -C "$REGISTRY_HOME" || die "cannot unpack $archive"
  rm -f "$archive"
  [[ -f $REGISTRY_HOME/quarkus-run.jar ]] || die "$DISTRIBUTION has no quarkus-run.jar"
  touch "$REGISTRY_HOME/.complete"
}

# The registry is built for Java 21; the machine's default is 17. Take the first JDK of 21 or newer:
# $TWEETPIPE_REGISTRY_JAVA, then `java` on PATH, then any under /usr/lib/jvm (Temurin 25 here).
find_java() {
  local candidate
  for candidate in ${TWEETPIPE_REGISTRY_JAVA:-} "$(command -v java || true)" /usr/lib/jvm/*/bin/java; do
    [[ -n $candidate && -x $candidate ]] || continue
    if (($(java_feature_version "$candidate") >= 21)); then
      echo "$candidate"
      return 0
    fi
  done
  die "the schema registry needs Java 21 or newer; none found (set TWEETPIPE_REGISTRY_JAVA)"
}

java_feature_version() {
  "$1" -XshowSettings:properties -version 2>&1 | awk -F' = ' '/java.specification.version/ {print $2; exit}'
}

registry_ready() { curl -sf -o /dev/null "$REGISTRY_URL/subjects"; }

start() {
  fetch
  if daemon_running registry; then log "schema registry already running"; return 0; fi
  ip -4 addr show dev "$POD_BRIDGE" 2>/dev/null | grep -q "inet $NODE_IP/" \
    || die "the pod bridge $POD_BRIDGE ($NODE_IP) is missing: run dev/platform/network.sh up first"
  local java
  java=$(find_java)
  log "starting Apicurio Registry $APICURIO_VERSION on $NODE_IP:$REGISTRY_PORT ($java)"
  start_daemon registry "$java" -Xms64m -Xmx256m -XX:+UseSerialGC -Djava.awt.headless=true \
    "-Dquarkus.http.host=$NODE_IP" "-Dquarkus.http.port=$REGISTRY_PORT" \
    -Dquarkus.management.host=127.0.0.1 "-Dquarkus.management.port=$REGISTRY_MANAGEMENT_PORT" \
    -Dquarkus.log.category.\"io.apicurio.registry.logging.audit\".level=WARN \
    -Dquarkus.log.category.\"io.quarkus.vertx.http.runtime.filters.accesslog\".level=WARN \
    -jar "$REGISTRY_HOME/quarkus-run.jar"
  wait_for "schema registry" 120 registry_ready
}

stop() { stop_daemon registry; }

restart() { stop; start; }

status() {
  if daemon_running registry && registry_ready; then echo "up   $REGISTRY_URL"; else echo "down"; fi
}

main() {
  mkdir -p "$LOG_DIR"
  local command=${1:-status}
  case $command in
    fetch) fetch ;;
    start) start ;;
    stop) stop ;;
    restart) restart ;;
    status) status ;;
    *) die "usage: registry.sh fetch|start|stop|restart|status (got: $command)" ;;
  esac
}

main "$@"
