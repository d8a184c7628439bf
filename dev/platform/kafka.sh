#!/usr/bin/env bash
# Apache Kafka in KRaft mode (one broker that is also the controller), from Maven Central jars.
# Usage: kafka.sh fetch|start|stop|restart|status
source "$(dirname "$0")/lib.sh"

KAFKA_DATA=$STATE_DIR/kafka

fetch() {
  [[ -f $KAFKA_HOME/.complete ]] && return 0
  log "fetching Apache Kafka $KAFKA_VERSION and its runtime dependencies from Maven Central"
  mkdir -p "$KAFKA_HOME"
  write_file "$KAFKA_HOME/pom.xml" <<POM
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>io.tweetpipe.dev</groupId><artifactId>kafka-runtime</artifactId><version>1</version>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_$SCALA_BINARY</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>2.24.3</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>2.24.3</version></dependency>
  </dependencies>
</project>
POM
  (cd "$KAFKA_HOME" && mvn -B -q dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=libs) \
    || die "maven could not fetch Kafka $KAFKA_VERSION"
  touch "$KAFKA_HOME/.complete"
}

write_config() {
  mkdir -p "$KAFKA_DATA"
  write_file "$KAFKA_DATA/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
# HOST serves tests on loopback; POD serves pods through the pod bridge.
listeners=HOST://127.0.0.1:$KAFKA_HOST_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,POD://$NODE_IP:$KAFKA_POD_PORT
advertised.listeners=HOST://127.0.0.1:$KAFKA_HOST_PORT,POD://$NODE_IP:$KAFKA_POD_PORT
listener.security.protocol.map=HOST:PLAINTEXT,POD:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=HOST
controller.listener.names=CONTROLLER
log.dirs=$KAFKA_DATA/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
log.retention.hours=168
PROPS
  write_file "$KAFKA_DATA/log4j2.properties" <<'LOG'
rootLogger.level=INFO
rootLogger.appenderRef.stdout.ref=STDOUT
appender.stdout.type=Console
appender.stdout.name=STDOUT
appender.stdout.layout.type=PatternLayout
appender.stdout.layout.pattern=[%d] %p %m (%c)%n
logger.kafka.name=kafka
logger.kafka.level=WARN
logger.state.name=state.change.logger
logger.state.level=WARN
logger.server.name=kafka.server.KafkaServer
logger.server.level=INFO
LOG
}

# The JVM expands the classpath wildcard itself; keep it away from the shell.
JAVA=(java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
  "-Dlog4j2.configurationFile=$STATE_DIR/kafka/log4j2.properties" -cp "$KAFKA_HOME/libs/*")

start() {
  fetch
  if daemon_running kafka; then log "kafka already running"; return 0; fi
  write_config
  if [[ ! -f $KAFKA_DATA/data/meta.properties ]]; then
    log "formatting Kafka storage"
    "${JAVA[@]}" kafka.tools.StorageTool format --standalone -t "$(cat /proc/sys/kernel/random/uuid | tr -d - | head -c 22)" \
      -c "$KAFKA_DATA/server.properties" >> "$LOG_DIR/kafka.log" 2>&1 || die "Kafka storage format failed (see $LOG_DIR/kafka.log)"
  fi
  log "starting Kafka $KAFKA_VERSION"
  # Readiness is read from this start's part of the log only.
  LOG_OFFSET=$(($(stat -c %s "$LOG_DIR/kafka.log" 2>/dev/null || echo 0) + 1))
  start_daemon kafka "${JAVA[@]}" kafka.Kafka "$KAFKA_DATA/server.properties"
  wait_for "Kafka" 120 kafka_ready
}

LOG_OFFSET=1
kafka_ready() {
  # The broker logs each listener as READY once it serves clients; both must be.
  local fresh
  fresh=$(tail -c "+$LOG_OFFSET" "$LOG_DIR/kafka.log")
  grep -q "endpoint HOST. Endpoint is now READY" <<<"$fresh" && grep -q "endpoint POD. Endpoint is now READY" <<<"$fresh"
}

stop() { stop_daemon kafka; }

# Used by `make chaos` (dev/chaos): a process restart with the same data and addresses.
restart() { stop; start; }

status() {
  if daemon_running kafka && (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_HOST_PORT") 2>/dev/null; then echo "up   127.0.0.1:$KAFKA_HOST_PORT (pods: $NODE_IP:$KAFKA_POD_PORT)"; else echo "down"; fi
}

mkdir -p "$LOG_DIR"
"${1:-status}"
