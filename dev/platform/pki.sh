#!/usr/bin/env bash
# Credentials for the local cluster: a CA, the API server's serving certificate, its client
# certificate for kubelets, the service-account key pair, and static bearer tokens (one per
# component, each with the identity RBAC and the Node authorizer expect). Made once per state dir.
# Usage: pki.sh              the cluster's credentials, Kafka's (in $STATE_DIR/pki/kafka) and
#                            MariaDB's (in $STATE_DIR/pki/mariadb)
#        pki.sh kafka DIR    Kafka's only, in DIR (kafka.sh's private brokers for tests use this)
#        pki.sh kafka-client DIR NAME
#                            a client certificate for mutual TLS (CN=NAME), signed by DIR's Kafka
#                            CA: DIR/clients/NAME.crt and NAME.key
#        pki.sh mariadb DIR  MariaDB's only, in DIR (mariadb.sh, also for private servers)
source "$(dirname "$0")/lib.sh"

# kafka_certificates DIR: a CA of Kafka's own (clients trust it through a CA file, as they would
# a managed Kafka's) and the broker's key and certificate in one PEM file, the form Kafka's PEM
# keystore reads, valid for loopback, the pod bridge address and localhost. Made once per DIR.
kafka_certificates() {
  local dir=$1
  [[ -f $dir/broker.pem ]] && return 0
  log "creating Kafka CA and broker certificate in $dir"
  mkdir -p "$dir"
  (
    cd "$dir" || exit 1
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tweetpipe-kafka-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=kafka" -keyout broker.key -out broker.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,IP:%s,DNS:localhost\nextendedKeyUsage=serverAuth\n' "$NODE_IP" > broker.ext
    openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile broker.ext -out broker.crt 2>/dev/null
    cat broker.key broker.crt > broker.pem
    rm -f broker.csr broker.ext broker.key
    chmod 644 ca.crt
  )
}

# kafka_client_certificate DIR NAME: a key and a certificate for client authentication
# (CN=NAME, the principal Kafka sees as User:CN=NAME), signed by the Kafka CA of DIR. Made once.
kafka_client_certificate() {
  local dir=$1 name=$2
  [[ -f $dir/ca.key ]] || die "no Kafka CA in $dir (pki.sh kafka $dir first)"
  [[ -f $dir/clients/$name.crt ]] && return 0
  mkdir -p "$dir/clients"
  (
    cd "$dir/clients" || exit 1
    umask 077
    openssl req -newkey rsa:2048 -nodes -subj "/CN=$name" -keyout "$name.key" -out "$name.csr" 2>/dev/null
    printf 'extendedKeyUsage=clientAuth\n' > "$name.ext"
    openssl x509 -req -in "$name.csr" -CA ../ca.crt -CAkey ../ca.key -CAcreateserial -days 3650 \
      -extfile "$name.ext" -out "$name.crt" 2>/dev/null
    rm -f "$name.csr" "$name.ext"
  )
}

# mariadb_certificates DIR: a CA of MariaDB's own (clients and dashboards trust it through a CA
# file: ca.crt) and the server's certificate and key (server.crt, server.key), valid for loopback,
# the pod bridge address and localhost, so hostname verification passes from host and pods.
# Made once per DIR.
mariadb_certificates() {
  local dir=$1
  [[ -f $dir/server.crt ]] && return 0
  log "creating MariaDB CA and server certificate in $dir"
  mkdir -p "$dir"
  (
    cd "$dir" || exit 1
    umask 077
    openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tweetpipe-mariadb-ca" \
      -keyout ca.key -out ca.crt 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -subj "/CN=mariadb" -keyout server.key -out server.csr 2>/dev/null
    printf 'subjectAltName=IP:127.0.0.1,IP:%s,DNS:localhost\nextendedKeyUsage=serverAuth\n' "$NODE_IP" > server.ext
    openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile server.ext -out server.crt 2>/dev/null
    rm -f server.csr server.ext
    chmod 644 ca.crt server.crt
  )
}

case ${1:-} in
  kafka)
    kafka_certificates "${2:?usage: pki.sh kafka DIR}"
    exit 0
    ;;
  kafka-client)
    kafka_client_certificate "${2:?usage: pki.sh kafka-client DIR NAME}" "${3:?NAME}"
    exit 0
    ;;
  mariadb)
    mariadb_certificates "${2:?usage: pki.sh mariadb DIR}"
    exit 0
    ;;
esac

PKI=$STATE_DIR/pki
mkdir -p "$PKI"
cd "$PKI" || exit 1

if [[ ! -f ca.crt ]]; then
  log "creating cluster CA and certificates"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=tweetpipe-local-ca" \
    -keyout ca.key -out ca.crt 2>/dev/null

  # sign NAME SUBJECT [SANS]: a key and a CA-signed certificate.
  sign() {
    local name=$1 subject=$2 sans=${3:-}
    openssl req -newkey rsa:2048 -nodes -subj "$subject" -keyout "$name.key" -out "$name.csr" 2>/dev/null
    local ext=$name.ext
    if [[ -n $sans ]]; then
      printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$sans" > "$ext"
    else
      printf 'extendedKeyUsage=clientAuth\n' > "$ext"
    fi
    openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 3650 \
      -extfile "$ext" -out "$name.crt" 2>/dev/null
    rm -f "$name.csr" "$ext"
  }
  sign apiserver "/CN=kube-apiserver" \
    "DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,DNS:localhost,IP:127.0.0.1,IP:$NODE_IP,IP:${SERVICE_CIDR%.0/*}.1"
  sign apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client"
  openssl genrsa -out sa.key 2048 2>/dev/null
  openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
fi

if [[ ! -f tokens.csv ]]; then
  token() { head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
  {
    echo "$(token),admin,admin,system:masters"
    echo "$(token),system:kube-controller-manager,kcm,"
    echo "$(token),system:kube-scheduler,scheduler,"
    echo "$(token),system:node:$NODE_NAME,kubelet,system:nodes"
    echo "$(token),system:kube-proxy,kube-proxy,"
    echo "$(token),system:coredns,coredns,"
  } > tokens.csv
  chmod 600 tokens.csv ./*.key
fi

# kubeconfig FILE USER: a kubeconfig that authenticates with USER's static token.
kubeconfig() {
  local file=$1 user=$2 tok
  tok=$(awk -F, -v u="$user" '$2==u {print $1}' tokens.csv)
  cat > "$file" <<KC
apiVersion: v1
kind: Config
clusters:
- name: tweetpipe-local
  cluster:
    server: https://$NODE_IP:$APISERVER_PORT
    certificate-authority: $PKI/ca.crt
users:
- name: $user
  user:
    token: $tok
contexts:
- name: tweetpipe-local
  context: {cluster: tweetpipe-local, user: $user}
current-context: tweetpipe-local
KC
  chmod 600 "$file"
}
kubeconfig "$STATE_DIR/kubeconfig" admin
kubeconfig "$PKI/controller-manager.kubeconfig" system:kube-controller-manager
kubeconfig "$PKI/scheduler.kubeconfig" system:kube-scheduler
kubeconfig "$PKI/kubelet.kubeconfig" "system:node:$NODE_NAME"
kubeconfig "$PKI/kube-proxy.kubeconfig" system:kube-proxy
kubeconfig "$PKI/coredns.kubeconfig" system:coredns
kafka_certificates "$PKI/kafka"
mariadb_certificates "$PKI/mariadb"
