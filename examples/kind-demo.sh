#!/usr/bin/env bash
# `make kind-demo`: the demo on a kind cluster, for machines with Docker (this repository's CI
# machine has none, so this path is documented rather than exercised there).
#   1. kind cluster from kind-config.yaml
#   2. docker build of the four images from images/Dockerfile, loaded into the node
#   3. Kafka (KRaft, single node) and MariaDB inside the cluster, namespace tweetpipe-data
#   4. the operator chart, the X API simulator, examples/covid19.yaml pointed at them
#   5. posts per query, top hashtags, kubectl get tp
# Needs: docker, kind, kubectl, helm. Usage: bash examples/kind-demo.sh [seconds to watch]
set -euo pipefail
cd "$(dirname "$0")/.."
watch_seconds=${1:-60}
cluster=tweetpipe
context=kind-$cluster
k() { kubectl --context "$context" "$@"; }
for tool in docker kind kubectl helm; do
  command -v "$tool" >/dev/null || { echo "kind-demo needs $tool on PATH" >&2; exit 1; }
done

echo "==> kind cluster $cluster"
kind get clusters | grep -qx "$cluster" || kind create cluster --config kind-config.yaml

echo "==> images"
for bin in tweetpipe-operator tweetpipe-extractor tweetpipe-transformer xapi-simulator; do
  name=${bin#tweetpipe-}
  docker build -f images/Dockerfile --build-arg BIN="$bin" -t "docker.io/tweetpipe/$name:dev" .
  kind load docker-image --name "$cluster" "docker.io/tweetpipe/$name:dev"
done

echo "==> Kafka and MariaDB in tweetpipe-data"
k create namespace tweetpipe-data --dry-run=client -o yaml | k apply -f -
k apply -f - <<'YAML'
apiVersion: apps/v1
kind: StatefulSet
metadata: {name: kafka, namespace: tweetpipe-data}
spec:
  serviceName: kafka
  selector: {matchLabels: {app: kafka}}
  template:
    metadata: {labels: {app: kafka}}
    spec:
      containers:
      - name: kafka
        image: docker.io/apache/kafka:3.9.0
        env:
        - {name: KAFKA_NODE_ID, value: "1"}
        - {name: KAFKA_PROCESS_ROLES, value: "broker,controller"}
        - {name: KAFKA_LISTENERS, value: "PLAINTEXT://:9092,CONTROLLER://:9093"}
        - {name: KAFKA_ADVERTISED_LISTENERS, value: "PLAINTEXT://kafka-0.kafka.tweetpipe-data.svc:9092"}
        - {name: KAFKA_CONTROLLER_LISTENER_NAMES, value: CONTROLLER}
        - {name: KAFKA_LISTENER_SECURITY_PROTOCOL_MAP, value: "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT"}
        - {name: KAFKA_CONTROLLER_QUORUM_VOTERS, value: "1@localhost:9093"}
        - {name: KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR, value: "1"}
        - {name: KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR, value: "1"}
        - {name: KAFKA_TRANSACTION_STATE_LOG_MIN_ISR, value: "1"}
        - {name: KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS, value: "0"}
        - {name: KAFKA_HEAP_OPTS, value: "-Xmx512m -Xms512m"}
        ports: [{containerPort: 9092}]
---
apiVersion: v1
kind: Service
metadata: {name: kafka, namespace: tweetpipe-data}
spec: {clusterIP: None, selector: {app: kafka}, ports: [{port: 9092}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: mariadb, namespace: tweetpipe-data}
spec:
  selector: {matchLabels: {app: mariadb}}
  template:
    metadata: {labels: {app: mariadb}}
    spec:
      containers:
      - name: mariadb
        image: docker.io/library/mariadb:11.4
        env: [{name: MARIADB_ROOT_PASSWORD, value: tweetpipe-dev-root}]
        ports: [{containerPort: 3306}]
        readinessProbe: {tcpSocket: {port: 3306}}
---
apiVersion: v1
kind: Service
metadata: {name: mariadb, namespace: tweetpipe-data}
spec: {selector: {app: mariadb}, ports: [{port: 3306}]}
YAML
k -n tweetpipe-data rollout status statefulset/kafka --timeout=300s
k -n tweetpipe-data rollout status deployment/mariadb --timeout=300s

echo "==> operator chart"
helm --kube-context "$context" upgrade --install tweetpipe-operator helm/tweetpipe-operator \
  --namespace tweetpipe-system --create-namespace --wait --timeout 180s \
  --set image.repository=docker.io/tweetpipe/operator --set image.tag=dev --set image.pullPolicy=Never \
  --set workers.extractor.image=docker.io/tweetpipe/extractor:dev \
  --set workers.transformer.image=docker.io/tweetpipe/transformer:dev \
  --set workers.pullPolicy=Never \
  --set 'allowedApiServices[0].namespace=tweetpipe-system' --set 'allowedApiServices[0].name=x-api-simulator' \
  --set 'allowedApiServices[0].port=8080'

echo "==> X API simulator"
k apply -f - <<'YAML'
apiVersion: v1
kind: ConfigMap
metadata: {name: x-api-simulator, namespace: tweetpipe-system}
data:
  config.json: |
    {"tokens": [{"name": "demo", "token": "simulator-token-1", "requests_per_window": 450, "window_seconds": 900, "monthly_post_cap": 1000000}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: x-api-simulator, namespace: tweetpipe-system}
spec:
  selector: {matchLabels: {app: x-api-simulator}}
  template:
    metadata: {labels: {app: x-api-simulator}}
    spec:
      securityContext: {runAsNonRoot: true, runAsUser: 65532}
      containers:
      - name: simulator
        image: docker.io/tweetpipe/xapi-simulator:dev
        imagePullPolicy: Never
        args: [--config, /etc/simulator/config.json]
        ports: [{name: http, containerPort: 8080}]
        volumeMounts: [{name: config, mountPath: /etc/simulator, readOnly: true}]
      volumes: [{name: config, configMap: {name: x-api-simulator}}]
---
apiVersion: v1
kind: Service
metadata: {name: x-api-simulator, namespace: tweetpipe-system}
spec:
  type: NodePort
  selector: {app: x-api-simulator}
  ports: [{name: http, port: 8080, targetPort: http, nodePort: 30080}]
YAML

echo "==> pipeline"
sed -e "s#mysql://root:tweetpipe-dev-root@10.244.0.1:3306#mysql://root:tweetpipe-dev-root@mariadb.tweetpipe-data.svc:3306#" \
    -e "s#bootstrapServers: 10.244.0.1:9094#bootstrapServers: kafka-0.kafka.tweetpipe-data.svc:9092#" \
    examples/covid19.yaml | k apply -f -
k -n tweets wait tp/covid19 --for=condition=Ready --timeout=300s || { k -n tweets describe tp covid19; exit 1; }

sql() { k -n tweetpipe-data exec deploy/mariadb -- mariadb -uroot -ptweetpipe-dev-root --table -e "$1"; }
end=$((SECONDS + watch_seconds))
while (( SECONDS < end )); do
  sleep 15
  sql "SELECT query_name, COUNT(*) AS posts FROM tweets_covid19.post_queries GROUP BY query_name ORDER BY query_name"
done
sql "SELECT display AS hashtag, COUNT(*) AS posts FROM tweets_covid19.post_hashtags GROUP BY tag, display ORDER BY posts DESC LIMIT 10"
k get tp -A
