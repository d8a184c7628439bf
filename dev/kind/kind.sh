#!/usr/bin/env bash
# tweetpipe on a kind cluster on this machine: podman as kind's provider, kind from its Go module,
# the node image and the base images made here, our images built from images/Dockerfile and loaded
# with `kind load image-archive`, the chart installed with helm, examples/covid19.yaml against the
# local platform's Kafka and MariaDB (reached from the kind node through the host).
# Usage: kind.sh test    the whole path with assertions, then the pipeline and the cluster deleted
#        kind.sh demo    the same, left running, posts per query printed (KIND_DEMO_WATCH seconds)
#        kind.sh up      the cluster with our images loaded      kind.sh down   delete it all
#        kind.sh status
set -o errexit -o nounset -o pipefail
source "$(dirname "$0")/lib.sh"

SYSTEM_NS=tweetpipe-system
PIPELINE_NS=tweets
# The example as the kind cluster runs it: its own pipeline name, topic, database and reporting
# account, so that it never touches what a pipeline of the local platform (make demo) owns in the
# same Kafka and MariaDB; deletionPolicy Delete, so that deleting it leaves nothing behind.
PIPELINE=covid19-kind
TOPIC=tweets.covid19-kind
DATABASE=tweets_covid19_kind
REPORTING_USER=dashboards_kind
READY_SECONDS=${KIND_READY_SECONDS:-300}
POSTS_SECONDS=${KIND_POSTS_SECONDS:-180}
DELETE_SECONDS=${KIND_DELETE_SECONDS:-180}
HOST_PORTS=(30080 30300)

k() { kubectl --kubeconfig "$KIND_KUBECONFIG" --context "$KIND_CONTEXT" "$@"; }

# ---------------------------------------------------------------------------------------------
# Preflight: the tools, and nothing of ours overlapping the local platform or this machine.

build_kind() {
  [[ -x $KIND_BIN/kind ]] && { klog "kind $KIND_VERSION cached"; return; }
  mkdir -p "$KIND_BIN"
  (cd / && GOBIN=$KIND_BIN CGO_ENABLED=0 nice -n 19 go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kind@$KIND_VERSION")
}

# check_ranges: refuse to start if a range of ours overlaps the local platform's ranges or any
# address or route of this machine, other than our own podman networks' bridges (cni-podman*
# inside PODMAN_SUBNET_POOL, made by podman with this project's configuration).
check_ranges() {
  python3 - "$PODMAN_SUBNET_POOL" "$KIND_POD_SUBNET" "$KIND_SERVICE_SUBNET" -- \
    "platform-pods $POD_CIDR" "platform-services $SERVICE_CIDR" \
    "$(ip -o -4 addr show | awk '{print $2, $4}')" \
    "$(ip -4 route show | awk '$1 != "default" {print $3, $1}')" <<'PY'
import ipaddress, sys
args = sys.argv[1:]
ours = [ipaddress.ip_network(a) for a in args[:args.index("--")]]
pool = ours[0]
theirs = [line.split() for arg in args[args.index("--") + 1:] for line in arg.splitlines() if line.strip()]
clash = []
for dev, net in theirs:
    net = ipaddress.ip_network(net, strict=False)
    if dev.startswith("cni-podman") and net.subnet_of(pool):
        continue
    clash += [(o, dev, net) for o in ours if o.overlaps(net)]
for o, dev, net in clash:
    print(f"kind range {o} overlaps {net} ({dev})", file=sys.stderr)
sys.exit(1 if clash else 0)
PY
}

check_ports() {
  local port ours
  ours=$(podman ps --filter "label=io.x-k8s.kind.cluster=$KIND_CLUSTER" -q 2>/dev/null || true)
  [[ -n $ours ]] && return 0
  for port in "${HOST_PORTS[@]}"; do
    if [[ $(ss -Hltn "sport = :$port") ]]; then die "host port $port (kind-config.yaml extraPortMappings) is in use: $(ss -Hltnp "sport = :$port")"; fi
  done
}

# check_platform: the pipeline's Kafka and MariaDB are the local platform's, on its bridge address.
check_platform() {
  local port
  for port in "$KAFKA_POD_PORT" "$MYSQL_PORT"; do
    timeout 5 bash -c "exec 3<>/dev/tcp/$NODE_IP/$port" 2>/dev/null ||
      die "nothing answers on $NODE_IP:$port (the local platform's Kafka / MariaDB): run 'make platform-up' first"
  done
}

# platform_net_snapshot: the local platform's networking as the host sees it (bridge address,
# its FORWARD rules, the NAT rules kube-proxy keeps for it), to check that kind changed none of it.
platform_net_snapshot() {
  ip -o -4 addr show dev "$POD_BRIDGE" 2>/dev/null | awk '{print $2, $4}'
  iptables -S FORWARD | grep -- "$POD_BRIDGE" || true
  iptables -t nat -S | grep -E -- '-A (KUBE-SERVICES|KUBE-POSTROUTING|POSTROUTING) ' | grep -v -- 'CNI-' || true
}

# Debian's packages kind needs here: podman (with its CNI plugins and conmon), debootstrap for the
# base images; installed only when missing (dev/platform/lib.sh).
KIND_PACKAGES=(podman debootstrap containernetworking-plugins)

preflight() {
  install_debian_packages "${KIND_PACKAGES[@]}"
  for tool in podman kubectl helm go python3 ss iptables; do
    command -v "$tool" >/dev/null || die "kind.sh needs $tool on PATH (podman: apt-get install podman)"
  done
  podman_config
  mkdir -p "$KIND_STATE"
  check_ranges || die "address ranges clash (above): change them in dev/kind/lib.sh and kind-config.yaml"
  check_ports
  check_platform
}

# ---------------------------------------------------------------------------------------------
# The cluster.

cluster_exists() { [[ $'\n'$(kind get clusters 2>/dev/null)$'\n' == *$'\n'"$KIND_CLUSTER"$'\n'* ]]; }

network() {
  podman network exists "$KIND_NETWORK" && return 0
  podman network create --subnet "$KIND_SUBNET" "$KIND_NETWORK" >/dev/null
  klog "podman network $KIND_NETWORK $KIND_SUBNET"
}

create_cluster() {
  if cluster_exists; then klog "kind cluster $KIND_CLUSTER exists"; return; fi
  local image
  image=$(cat "$KIND_STATE/node-image")
  # kind-config.yaml names kindest/node for machines that can pull it; here the node image is ours.
  kind create cluster --config "$REPO_ROOT/kind-config.yaml" --image "$image" --kubeconfig "$KIND_KUBECONFIG" \
    --wait 300s
}

load_images() {
  local archive
  for archive in "$KIND_STATE"/images/*.tar; do
    kind load image-archive --name "$KIND_CLUSTER" "$archive"
  done
  local node
  node=$(kind get nodes --name "$KIND_CLUSTER" | head -1)
  podman exec "$node" crictl images 2>/dev/null | grep tweetpipe || podman exec "$node" ctr -n k8s.io images ls -q | grep tweetpipe
}

up() {
  preflight
  timed "kind $KIND_VERSION" build_kind
  timed "base images" bash "$KIND_DIR/base-images.sh" build
  timed "node image" bash "$KIND_DIR/node-image.sh" build
  timed "images from images/Dockerfile" bash "$KIND_DIR/build-images.sh"
  timed "podman network" network
  timed "kind create cluster" create_cluster
  timed "kind load image-archive" load_images
}

# storage_check: kind's default StorageClass (local-path-provisioner, built here) provisions a
# volume that a pod writes and reads.
storage_check() {
  k apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata: {name: storage-check, namespace: default}
spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Mi}}}
---
apiVersion: v1
kind: Pod
metadata: {name: storage-check, namespace: default}
spec:
  restartPolicy: Never
  containers:
  - name: check
    image: docker.io/library/debian:bookworm-slim
    imagePullPolicy: IfNotPresent
    command: [sh, -c, "echo written > /data/file && cat /data/file"]
    volumeMounts: [{name: data, mountPath: /data}]
  volumes: [{name: data, persistentVolumeClaim: {claimName: storage-check}}]
YAML
  if ! k wait pod/storage-check --for=jsonpath='{.status.phase}'=Succeeded --timeout=120s >/dev/null; then
    k describe pod storage-check >&2 || true
    k get pvc storage-check -o wide >&2 || true
    k -n local-path-storage get pods >&2 || true
    die "the storage check pod did not succeed within 120s (its description, its claim and the provisioner above)"
  fi
  [[ $(k logs storage-check) == written ]] || die "the storage check pod read back '$(k logs storage-check)', not 'written'"
  klog "volume $(k get pvc storage-check -o jsonpath='{.spec.volumeName}') provisioned by $(k get pvc storage-check -o jsonpath='{.metadata.annotations.volume\.kubernetes\.io/storage-provisioner}'), written and read"
  k delete pod/storage-check pvc/storage-check --timeout=60s >/dev/null
}

# ---------------------------------------------------------------------------------------------
# The pipeline.

install_chart() {
  helm --kubeconfig "$KIND_KUBECONFIG" --kube-context "$KIND_CONTEXT" upgrade --install tweetpipe-operator \
    "$REPO_ROOT/helm/tweetpipe-operator" --namespace "$SYSTEM_NS" --create-namespace --wait --timeout 240s \
    --set image.repository=docker.io/tweetpipe/operator --set "image.tag=$KIND_IMAGE_TAG" --set image.pullPolicy=Never \
    --set "workers.extractor.image=docker.io/tweetpipe/extractor:$KIND_IMAGE_TAG" \
    --set "workers.transformer.image=docker.io/tweetpipe/transformer:$KIND_IMAGE_TAG" \
    --set workers.pullPolicy=Never \
    --set "allowedApiServices[0].namespace=$SYSTEM_NS" --set 'allowedApiServices[0].name=x-api-simulator' \
    --set 'allowedApiServices[0].port=8080' >/dev/null
  k -n "$SYSTEM_NS" get deploy tweetpipe-operator
  x_api_simulator_manifest "$SYSTEM_NS" kind | sed "s#tweetpipe/xapi-simulator:dev#tweetpipe/xapi-simulator:$KIND_IMAGE_TAG#" | k apply -f - >/dev/null
  k -n "$SYSTEM_NS" rollout status deploy/x-api-simulator --timeout=120s
}

pipeline_manifest() {
  sed -e "s/^  name: covid19\$/  name: $PIPELINE/" -e "s/^    topic: tweets.covid19\$/    topic: $TOPIC/" \
    -e "s/^    database: tweets_covid19\$/    database: $DATABASE/" \
    -e "s/^      name: dashboards\$/      name: $REPORTING_USER/" -e 's/^  deletionPolicy: Retain$/  deletionPolicy: Delete/' \
    "$REPO_ROOT/examples/covid19.yaml"
}

apply_pipeline() {
  local manifest
  manifest=$(pipeline_manifest)
  local want
  for want in "name: $PIPELINE" "topic: $TOPIC" "database: $DATABASE" "name: $REPORTING_USER" "deletionPolicy: Delete"; do
    [[ $manifest == *"$want"* ]] || die "examples/covid19.yaml changed: could not set '$want' in it"
  done
  # The admission webhook answers once the operator has published its CA; retry until then.
  local deadline=$((SECONDS + 60)) err
  until err=$(k apply -f - <<<"$manifest" 2>&1 >/dev/null); do
    ((SECONDS < deadline)) || die "kubectl apply of the pipeline still failing after 60s: $err"
    sleep 2
  done
  if ! k -n "$PIPELINE_NS" wait "tp/$PIPELINE" --for=condition=Ready --timeout="${READY_SECONDS}s" >/dev/null; then
    k -n "$PIPELINE_NS" describe tp "$PIPELINE" >&2 || true
    k -n "$PIPELINE_NS" get pods -o wide >&2 || true
    k -n "$SYSTEM_NS" logs deploy/tweetpipe-operator --tail=40 >&2 || true
    die "pipeline $PIPELINE_NS/$PIPELINE not Ready after ${READY_SECONDS}s (its description, pods and the operator's log above)"
  fi
  k -n "$PIPELINE_NS" get tp,pods
}

mysql_host() {
  MYSQL_PWD=$MYSQL_ROOT_PASSWORD mariadb --protocol=tcp -h 127.0.0.1 -P "$MYSQL_PORT" -u root "$@"
}

posts_per_query() {
  mysql_host --table -e "SELECT query_name, COUNT(*) AS posts FROM $DATABASE.post_queries GROUP BY query_name ORDER BY query_name"
}

total_posts() { mysql_host -N -e "SELECT COUNT(*) FROM $DATABASE.post_queries" 2>/dev/null || echo 0; }

# wait_posts: posts of every query in MySQL, within POSTS_SECONDS.
wait_posts() {
  local deadline=$((SECONDS + POSTS_SECONDS)) queries have
  queries=$(awk '/^    queries:/ {q = 1; next} q && /^    [a-z]/ {q = 0} q && /^      - name: / {n++} END {print n}' \
    "$REPO_ROOT/examples/covid19.yaml")
  ((queries > 0)) || die "no queries found in examples/covid19.yaml"
  while :; do
    have=$(mysql_host -N -e "SELECT COUNT(DISTINCT query_name) FROM $DATABASE.post_queries" 2>/dev/null || echo 0)
    ((have >= queries)) && break
    if ((SECONDS >= deadline)); then
      k -n "$PIPELINE_NS" get tp,pods >&2 || true
      die "posts of $have of $queries queries in $DATABASE.post_queries after ${POSTS_SECONDS}s (total $(total_posts) rows; pipeline and pods above)"
    fi
    sleep 5
  done
  posts_per_query
}

kafka_topics() {
  java -Xms64m -Xmx256m -cp "$KAFKA_HOME/libs/*" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "127.0.0.1:$KAFKA_HOST_PORT" --list 2>"$KIND_STATE/topics.err" ||
    die "listing Kafka's topics failed: $(tail -3 "$KIND_STATE/topics.err")"
}

has_line() { [[ $'\n'$1$'\n' == *$'\n'"$2"$'\n'* ]]; }

pipeline_accounts() {
  mysql_host -N -e "SELECT CONCAT(User, '@', Host) FROM mysql.user WHERE User = '$REPORTING_USER'"
}

# delete_pipeline: delete it and check nothing is left: the resource, its workers (the namespace
# holds nothing else), its topic, its database and its reporting account, each first seen present.
delete_pipeline() {
  has_line "$(kafka_topics)" "$TOPIC" || die "topic $TOPIC not in Kafka before the deletion: this check would prove nothing"
  [[ -n $(mysql_host -N -e "SHOW DATABASES LIKE '$DATABASE'") ]] || die "database $DATABASE missing before the deletion"
  [[ -n $(pipeline_accounts) ]] || die "account $REPORTING_USER missing before the deletion"
  [[ -n $(k -n "$PIPELINE_NS" get pods -o name) ]] || die "no worker pods in $PIPELINE_NS before the deletion"
  k -n "$PIPELINE_NS" delete tp "$PIPELINE" --timeout="${DELETE_SECONDS}s"
  local deadline=$((SECONDS + DELETE_SECONDS)) left
  while :; do
    left=$(k -n "$PIPELINE_NS" get tp,deploy,statefulset,replicaset,pods,services -o name 2>/dev/null)
    [[ -z $left ]] && break
    ((SECONDS < deadline)) || die "still in namespace $PIPELINE_NS ${DELETE_SECONDS}s after deleting $PIPELINE: $left"
    sleep 2
  done
  [[ -z $(mysql_host -N -e "SHOW DATABASES LIKE '$DATABASE'") ]] ||
    die "database $DATABASE still in MariaDB after deleting $PIPELINE (deletionPolicy Delete)"
  [[ -z $(pipeline_accounts) ]] || die "account of $PIPELINE still in MariaDB after its deletion: $(pipeline_accounts)"
  ! has_line "$(kafka_topics)" "$TOPIC" || die "topic $TOPIC still in Kafka after deleting $PIPELINE"
  klog "pipeline $PIPELINE deleted: nothing in namespace $PIPELINE_NS, no topic $TOPIC, no database $DATABASE, no account $REPORTING_USER (each seen before)"
}

down() {
  podman_config
  if [[ -x $KIND_BIN/kind ]] && cluster_exists; then
    # The pipeline first (deletionPolicy Delete): its topic, database and account are the local
    # platform's to keep clean, and only the operator in this cluster deletes them.
    if [[ -n $(k -n "$PIPELINE_NS" get tp "$PIPELINE" -o name 2>/dev/null) ]]; then
      k -n "$PIPELINE_NS" delete tp "$PIPELINE" --timeout="${DELETE_SECONDS}s" ||
        klog "warning: deleting $PIPELINE_NS/$PIPELINE failed; its topic $TOPIC and database $DATABASE may remain"
    fi
    kind delete cluster --name "$KIND_CLUSTER" --kubeconfig "$KIND_KUBECONFIG"
  fi
  local left
  left=$(podman ps -a --filter "label=io.x-k8s.kind.cluster=$KIND_CLUSTER" --format '{{.Names}}')
  [[ -z $left ]] || die "containers of kind cluster $KIND_CLUSTER left after its deletion: $left"
  if podman network exists "$KIND_NETWORK"; then podman network rm "$KIND_NETWORK" >/dev/null; fi
  # Volumes of deleted node containers (kind makes an anonymous one for /var).
  podman volume prune -f >/dev/null
  rm -f "$KIND_KUBECONFIG"
  klog "kind cluster $KIND_CLUSTER and network $KIND_NETWORK deleted"
}

test_all() {
  local before after
  before=$(platform_net_snapshot)
  timed "cluster" up
  timed "images/Dockerfile images vs the platform's umoci images" bash "$KIND_DIR/compare-images.sh"
  timed "default StorageClass provisions a volume" storage_check
  timed "operator chart and X API simulator" install_chart
  timed "pipeline Ready" apply_pipeline
  timed "posts of every query in MySQL" wait_posts
  timed "pipeline deleted, nothing left" delete_pipeline
  timed "cluster deleted" down
  after=$(platform_net_snapshot)
  [[ $before == "$after" ]] || die "the local platform's networking changed while kind ran:
--- before
$before
--- after
$after"
  klog "the local platform's bridge, FORWARD and NAT rules unchanged"
  klog "kind test passed"
}

demo() {
  local watch=${KIND_DEMO_WATCH:-60}
  timed "cluster" up
  timed "operator chart and X API simulator" install_chart
  timed "pipeline Ready" apply_pipeline
  timed "posts of every query in MySQL" wait_posts
  local end=$((SECONDS + watch))
  while ((SECONDS < end)); do
    sleep 15
    echo "--- $(date -u +%H:%M:%S) posts per query ($DATABASE in the local platform's MariaDB)"
    posts_per_query
  done
  k get tp -A
  echo "Left running. kubectl --kubeconfig $KIND_KUBECONFIG get tp -A; delete it all: bash dev/kind/kind.sh down"
}

status() {
  podman_config
  if [[ -x $KIND_BIN/kind ]] && cluster_exists; then
    echo "up   kind cluster $KIND_CLUSTER ($(kind get nodes --name "$KIND_CLUSTER" | tr '\n' ' '))"
    k get nodes
  else
    echo "down"
  fi
}

main() {
  case ${1:-} in
    test) test_all ;;
    demo) demo ;;
    up) up ;;
    down) down ;;
    status) status ;;
    *) die "usage: kind.sh test|demo|up|down|status" ;;
  esac
}

main "$@"
