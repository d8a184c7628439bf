#!/usr/bin/env bash
# Apache Kafka in KRaft mode (one broker that is also the controller), from Maven Central jars.
# Plaintext listeners for host and pods, and SASL_SSL (SCRAM-SHA-512, Kafka's own CA) ones.
# Usage: kafka.sh fetch|start|stop|restart|status
#        kafka.sh private-secured DIR PLAINTEXT_PORT CONTROLLER_PORT SECURE_PORT [OPTION...]
#                 a private broker's config, certificates and users in DIR, storage formatted;
#                 options: `acls`: Kafka's authorizer is on (only ANONYMOUS, i.e. the plaintext
#                 listeners, is a super user); `mtls=PORT`: an SSL listener on PORT that requires
#                 a client certificate signed by DIR's Kafka CA; `plain`: the SASL_SSL listener
#                 also takes SASL/PLAIN for DIR's users
#        kafka.sh acls BOOTSTRAP ARG...  Kafka's AclCommand through the plaintext BOOTSTRAP
#        kafka.sh run DIR          run that broker in the foreground (the caller owns the process)
#        kafka.sh scram-users BOOTSTRAP DIR [MECHANISM...]
#                 create or update DIR's SCRAM users through the plaintext BOOTSTRAP, with a
#                 credential per MECHANISM (default SCRAM-SHA-512)
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

# The SCRAM users: the workers' principal and the operator's admin principal, separate so that
# ACLs can tell them apart.
KAFKA_USERS=(tweetpipe tweetpipe-admin)
KAFKA_SASL_MECHANISM=SCRAM-SHA-512

# secure_material DIR: the CA and broker certificate (pki.sh) and a random password per user,
# kept as DIR/users/NAME/{username,password}: the files a mounted Secret would present.
secure_material() {
  local dir=$1 user
  bash "$PLATFORM_DIR/pki.sh" kafka "$dir"
  for user in "${KAFKA_USERS[@]}"; do
    [[ -s $dir/users/$user/password ]] && continue
    mkdir -p "$dir/users/$user"
    printf '%s' "$user" > "$dir/users/$user/username"
    (umask 077 && head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' > "$dir/users/$user/password")
  done
}

# secure_properties DIR LISTENER...: broker settings for SASL_SSL listeners: SCRAM over TLS with
# DIR's PEM keystore, no client certificates asked for.
secure_properties() {
  local dir=$1 listener mechanism
  shift
  printf 'sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256\n'
  printf 'ssl.keystore.type=PEM\nssl.keystore.location=%s\nssl.client.auth=none\n' "$dir/broker.pem"
  for listener in "$@"; do
    for mechanism in scram-sha-512 scram-sha-256; do
      printf 'listener.name.%s.%s.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;\n' \
        "${listener,,}" "$mechanism"
    done
  done
}

# common_properties DATA_DIR: what every single-node broker here shares.
common_properties() {
  cat <<PROPS
process.roles=broker,controller
node.id=1
controller.listener.names=CONTROLLER
log.dirs=$1/data
num.partitions=1
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPS
}

# scram_users BOOTSTRAP DIR [MECHANISM...]: each user of DIR gets a SCRAM credential per
# MECHANISM, SCRAM-SHA-512 when none is named (Kafka's kafka-configs tool; idempotent, so it also
# serves a broker formatted before the users existed). One request per mechanism: Kafka refuses
# two changes to one user's credentials in a request. The password goes through a mode-600
# file, not the command line.
scram_users() {
  local bootstrap=$1 dir=$2 user file mechanism
  local mechanisms=("${@:3}")
  ((${#mechanisms[@]} > 0)) || mechanisms=("$KAFKA_SASL_MECHANISM")
  for user in "${KAFKA_USERS[@]}"; do
    for mechanism in "${mechanisms[@]}"; do
      file=$(mktemp)
      chmod 600 "$file"
      printf '%s=iterations=8192,password=%s\n' "$mechanism" "$(cat "$dir/users/$user/password")" > "$file"
      if ! "${JAVA_TOOL[@]}" kafka.admin.ConfigCommand --bootstrap-server "$bootstrap" --alter \
        --add-config-file "$file" --entity-type users --entity-name "$user" >> "$dir/scram-users.log" 2>&1; then
        rm -f "$file"
        die "creating $mechanism user $user on $bootstrap failed (see $dir/scram-users.log)"
      fi
      rm -f "$file"
    done
  done
}

write_config() {
  mkdir -p "$KAFKA_DATA"
  write_file "$KAFKA_DATA/server.properties" <<PROPS
$(common_properties "$KAFKA_DATA")
controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT
# HOST serves tests on loopback; POD serves pods through the pod bridge. SECURE_HOST and
# SECURE_POD are the same with SASL_SSL.
listeners=HOST://127.0.0.1:$KAFKA_HOST_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT,POD://$NODE_IP:$KAFKA_POD_PORT,SECURE_HOST://127.0.0.1:$KAFKA_SECURE_HOST_PORT,SECURE_POD://$NODE_IP:$KAFKA_SECURE_POD_PORT
advertised.listeners=HOST://127.0.0.1:$KAFKA_HOST_PORT,POD://$NODE_IP:$KAFKA_POD_PORT,SECURE_HOST://127.0.0.1:$KAFKA_SECURE_HOST_PORT,SECURE_POD://$NODE_IP:$KAFKA_SECURE_POD_PORT
listener.security.protocol.map=HOST:PLAINTEXT,POD:PLAINTEXT,CONTROLLER:PLAINTEXT,SECURE_HOST:SASL_SSL,SECURE_POD:SASL_SSL
inter.broker.listener.name=HOST
$(secure_properties "$KAFKA_SECURE_DIR" SECURE_HOST SECURE_POD)
log.retention.hours=168
PROPS
  log4j_config "$KAFKA_DATA" INFO
}

# log4j_config DIR LEVEL: the broker's logging (console, which start_daemon sends to the log file).
log4j_config() {
  write_file "$1/log4j2.properties" <<LOG
rootLogger.level=$2
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

# java_command LOG4J_DIR: the broker's JVM; it expands the classpath wildcard itself, so the
# wildcard stays away from the shell.
java_command() {
  JAVA=(java -Xms256m -Xmx512m -XX:+UseG1GC -Djava.awt.headless=true
    "-Dlog4j2.configurationFile=$1/log4j2.properties" -cp "$KAFKA_HOME/libs/*")
}
java_command "$KAFKA_DATA"
# Kafka's command-line tools (kafka-configs, kafka-storage): a small heap is enough.
JAVA_TOOL=(java -Xms64m -Xmx256m -Djava.awt.headless=true -cp "$KAFKA_HOME/libs/*")

start() {
  fetch
  if daemon_running kafka; then log "kafka already running"; return 0; fi
  secure_material "$KAFKA_SECURE_DIR"
  write_config
  if [[ ! -f $KAFKA_DATA/data/meta.properties ]]; then
    log "formatting Kafka storage"
    "${JAVA[@]}" kafka.tools.StorageTool format --standalone -t "$(tr -d - < /proc/sys/kernel/random/uuid | head -c 22)" \
      -c "$KAFKA_DATA/server.properties" >> "$LOG_DIR/kafka.log" 2>&1 || die "Kafka storage format failed (see $LOG_DIR/kafka.log)"
  fi
  log "starting Kafka $KAFKA_VERSION"
  # Readiness is read from this start's part of the log only.
  LOG_OFFSET=$(($(stat -c %s "$LOG_DIR/kafka.log" 2>/dev/null || echo 0) + 1))
  start_daemon kafka "${JAVA[@]}" kafka.Kafka "$KAFKA_DATA/server.properties"
  wait_for "Kafka" 120 kafka_ready
  scram_users "127.0.0.1:$KAFKA_HOST_PORT" "$KAFKA_SECURE_DIR"
}

LOG_OFFSET=1
kafka_ready() {
  # The broker logs each listener as READY once it serves clients; all must be.
  local fresh listener
  fresh=$(tail -c "+$LOG_OFFSET" "$LOG_DIR/kafka.log")
  for listener in HOST POD SECURE_HOST SECURE_POD; do
    grep -q "endpoint $listener. Endpoint is now READY" <<<"$fresh" || return 1
  done
}

stop() { stop_daemon kafka; }

# Used by `make chaos` (dev/chaos): a process restart with the same data and addresses.
restart() { stop; start; }

status() {
  if daemon_running kafka && (exec 3<>"/dev/tcp/127.0.0.1/$KAFKA_HOST_PORT") 2>/dev/null; then
    echo "up   127.0.0.1:$KAFKA_HOST_PORT (pods: $NODE_IP:$KAFKA_POD_PORT), SASL_SSL 127.0.0.1:$KAFKA_SECURE_HOST_PORT (pods: $NODE_IP:$KAFKA_SECURE_POD_PORT)"
  else
    echo "down"
  fi
}

# authorizer_properties: Kafka's ACL authorizer for the SASL_SSL principals. The plaintext
# listeners (controller, inter-broker, test set-up) authenticate nobody, so their principal
# ANONYMOUS is the super user; every SASL user gets exactly what ACLs grant.
authorizer_properties() {
  printf 'authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n'
  printf 'super.users=User:ANONYMOUS\nallow.everyone.if.no.acl.found=false\n'
}

# acls BOOTSTRAP ARG...: Kafka's own ACL tool (kafka-acls) against BOOTSTRAP, e.g.
# `--add --allow-principal User:tweetpipe --operation Write --topic posts`.
acls() {
  local bootstrap=$1
  shift
  "${JAVA_TOOL[@]}" org.apache.kafka.tools.AclCommand --bootstrap-server "$bootstrap" "$@"
}

# mutual_tls_properties DIR LISTENER: an SSL listener that requires a client certificate signed
# by DIR's Kafka CA (a PEM truststore of that CA); the broker's keystore is the shared one.
mutual_tls_properties() {
  local dir=$1 listener=${2,,}
  printf 'listener.name.%s.ssl.client.auth=required\n' "$listener"
  printf 'listener.name.%s.ssl.truststore.type=PEM\nlistener.name.%s.ssl.truststore.location=%s\n' \
    "$listener" "$listener" "$dir/ca.crt"
}

# plain_properties DIR LISTENER: SASL/PLAIN beside SCRAM on LISTENER, for DIR's users (Kafka's
# PLAIN login module keeps them in its JAAS config; the file is mode 600, as write_file makes it).
plain_properties() {
  local dir=$1 listener=${2,,} user users=()
  for user in "${KAFKA_USERS[@]}"; do
    users+=("user_$user=\"$(cat "$dir/users/$user/password")\"")
  done
  printf 'listener.name.%s.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN\n' "$listener"
  printf 'listener.name.%s.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required %s;\n' \
    "$listener" "${users[*]}"
}

# private_secured DIR PLAINTEXT_PORT CONTROLLER_PORT SECURE_PORT [OPTION...]: a broker of a
# test's own, like the platform's (same jars, same SASL_SSL settings, its own CA and users) on
# loopback ports, storage formatted; `run DIR` starts it, `scram-users` then creates its users.
# Options: `acls` (the authorizer), `mtls=PORT` (an SSL listener requiring client certificates),
# `plain` (SASL/PLAIN on the SASL_SSL listener too).
private_secured() {
  local dir=$1 plain=$2 controller=$3 secure=$4 option authorizer='' extra=''
  local listeners="PLAINTEXT://127.0.0.1:$plain,CONTROLLER://127.0.0.1:$controller,SECURE://127.0.0.1:$secure"
  local advertised="PLAINTEXT://127.0.0.1:$plain,SECURE://127.0.0.1:$secure"
  local protocols=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SECURE:SASL_SSL
  fetch
  mkdir -p "$dir"
  secure_material "$dir/secure"
  for option in "${@:5}"; do
    case $option in
      acls) authorizer=$(authorizer_properties) ;;
      mtls=[0-9]*)
        listeners+=",MTLS://127.0.0.1:${option#mtls=}"
        advertised+=",MTLS://127.0.0.1:${option#mtls=}"
        protocols+=,MTLS:SSL
        extra+=$(mutual_tls_properties "$dir/secure" MTLS)$'\n'
        ;;
      plain) extra+=$(plain_properties "$dir/secure" SECURE)$'\n' ;;
      *) die "unknown private-secured option $option (acls|mtls=PORT|plain)" ;;
    esac
  done
  write_file "$dir/server.properties" <<PROPS
$(common_properties "$dir")
controller.quorum.bootstrap.servers=127.0.0.1:$controller
listeners=$listeners
advertised.listeners=$advertised
listener.security.protocol.map=$protocols
inter.broker.listener.name=PLAINTEXT
$(secure_properties "$dir/secure" SECURE)
$extra$authorizer
PROPS
  log4j_config "$dir" WARN
  java_command "$dir"
  [[ -f $dir/data/meta.properties ]] && return 0
  "${JAVA[@]}" kafka.tools.StorageTool format --standalone -t "$(tr -d - < /proc/sys/kernel/random/uuid | head -c 22)" \
    -c "$dir/server.properties" >> "$dir/format.log" 2>&1 || die "formatting $dir failed (see $dir/format.log)"
}

# run DIR: the broker of DIR in the foreground (exec: the caller's child is the JVM).
run() {
  java_command "$1"
  exec "${JAVA[@]}" kafka.Kafka "$1/server.properties"
}

main() {
  local command=${1:-status}
  case $command in
    fetch | start | stop | restart | status) mkdir -p "$LOG_DIR" && "$command" ;;
    private-secured) private_secured "${@:2}" ;;
    run) run "${2:?usage: kafka.sh run DIR}" ;;
    scram-users) scram_users "${2:?usage: kafka.sh scram-users BOOTSTRAP DIR [MECHANISM...]}" "${3:?DIR}" "${@:4}" ;;
    acls) acls "${2:?usage: kafka.sh acls BOOTSTRAP ARG...}" "${@:3}" ;;
    *) die "unknown command $command (fetch|start|stop|restart|status|private-secured|run|scram-users|acls)" ;;
  esac
}

main "$@"
