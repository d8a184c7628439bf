#!/usr/bin/env bash
# A single-node Kubernetes: containerd + runc + CNI, etcd, the control plane, kubelet and
# kube-proxy, each a daemon logging to $LOG_DIR. Usage: kubernetes.sh start|stop|status
source "$(dirname "$0")/lib.sh"

PKI=$STATE_DIR/pki
CONTAINERD=$STATE_DIR/containerd
KUBELET_DIR=$STATE_DIR/kubelet
CNI_CONF=$STATE_DIR/cni/net.d

start_containerd() {
  mkdir -p "$CONTAINERD" "$CNI_CONF"
  write_file "$CNI_CONF/10-tweetpipe.conflist" <<CNI
{
  "cniVersion": "1.0.0",
  "name": "tweetpipe",
  "plugins": [
    {"type": "bridge", "bridge": "$POD_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "ranges": [[{"subnet": "$POD_CIDR", "rangeStart": "${POD_CIDR%.0/*}.10", "gateway": "$NODE_IP"}]],
              "routes": [{"dst": "0.0.0.0/0"}], "dataDir": "$STATE_DIR/cni/ipam"}},
    {"type": "portmap", "capabilities": {"portMappings": true}},
    {"type": "loopback"}
  ]
}
CNI
  write_file "$CONTAINERD/config.toml" <<TOML
version = 2
root = "$CONTAINERD/root"
state = "$CONTAINERD/state"
disabled_plugins = ["io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs",
  "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "$CONTAINERD/containerd.sock"
[plugins."io.containerd.internal.v1.opt"]
  path = "$CONTAINERD/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "registry.k8s.io/pause:3.10"
  # This sandbox's root lacks CAP_SYS_RESOURCE, so no process may lower its OOM score below
  # ours; the kubelet asks for -998 (sandboxes) and -997 (Guaranteed pods). Clamp instead of failing.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$CNI_CONF"
TOML
  start_daemon containerd containerd --config "$CONTAINERD/config.toml"
  wait_for containerd 30 ctr --address "$CONTAINERD/containerd.sock" version
}

start_etcd() {
  start_daemon etcd etcd --name tweetpipe --data-dir "$STATE_DIR/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster tweetpipe=http://127.0.0.1:2380 --listen-metrics-urls http://127.0.0.1:2381 \
    --quota-backend-bytes 2147483648 --unsafe-no-fsync
  wait_for etcd 30 curl -fsS http://127.0.0.1:2381/health
}

start_apiserver() {
  start_daemon kube-apiserver kube-apiserver \
    --etcd-servers=http://127.0.0.1:2379 \
    --bind-address="$NODE_IP" --advertise-address="$NODE_IP" --secure-port="$APISERVER_PORT" \
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key" \
    --client-ca-file="$PKI/ca.crt" --token-auth-file="$PKI/tokens.csv" \
    --authorization-mode=Node,RBAC --enable-admission-plugins=NodeRestriction \
    --service-cluster-ip-range="$SERVICE_CIDR" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$PKI/sa.pub" --service-account-signing-key-file="$PKI/sa.key" \
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt" \
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP \
    --allow-privileged=true --profiling=false --v=1
  wait_for kube-apiserver 90 kubectl_admin get --raw /readyz
}

start_controllers() {
  start_daemon kube-controller-manager kube-controller-manager \
    --kubeconfig="$PKI/controller-manager.kubeconfig" \
    --authentication-kubeconfig="$PKI/controller-manager.kubeconfig" \
    --authorization-kubeconfig="$PKI/controller-manager.kubeconfig" \
    --service-account-private-key-file="$PKI/sa.key" --root-ca-file="$PKI/ca.crt" \
    --use-service-account-credentials=true --leader-elect=false \
    --bind-address=127.0.0.1 --controllers='*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-node-route-controller' --v=1
  start_daemon kube-scheduler kube-scheduler \
    --kubeconfig="$PKI/scheduler.kubeconfig" \
    --authentication-kubeconfig="$PKI/scheduler.kubeconfig" \
    --authorization-kubeconfig="$PKI/scheduler.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --v=1
}

start_kubelet() {
  mkdir -p "$KUBELET_DIR" "$STATE_DIR/pod-logs"
  write_file "$KUBELET_DIR/config.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $PKI/ca.crt}
authorization: {mode: Webhook}
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
# This host has a cgroup v1 hierarchy; 1.33 kubelets still support it (maintenance mode).
failCgroupV1: false
containerRuntimeEndpoint: unix://$CONTAINERD/containerd.sock
clusterDomain: cluster.local
clusterDNS: [$NODE_IP]
resolvConf: /etc/resolv.conf
podLogsDirectory: $STATE_DIR/pod-logs
failSwapOn: false
serializeImagePulls: false
# Images are built locally and cannot be pulled again: never garbage-collect them.
imageGCHighThresholdPercent: 100
evictionHard: {memory.available: "200Mi", nodefs.available: "1%", imagefs.available: "1%"}
maxPods: 200
YAML
  start_daemon kubelet kubelet --config="$KUBELET_DIR/config.yaml" \
    --kubeconfig="$PKI/kubelet.kubeconfig" --root-dir="$KUBELET_DIR" \
    --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" --v=1
  wait_for "node $NODE_NAME Ready" 120 node_ready
}

node_ready() {
  [[ $(kubectl_admin get node "$NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}') == True ]]
}

start_proxy() {
  write_file "$STATE_DIR/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {kubeconfig: $PKI/kube-proxy.kubeconfig}
mode: iptables
clusterCIDR: $POD_CIDR
hostnameOverride: $NODE_NAME
bindAddress: 127.0.0.1
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0}
YAML
  start_daemon kube-proxy kube-proxy --config="$STATE_DIR/kube-proxy.yaml" --v=1
}

# Cluster DNS runs on the node itself, answering pods on the bridge address; it serves only
# cluster.local: names outside the cluster do not resolve from pods (nothing may leave the machine).
start_dns() {
  kubectl_admin apply -f - >/dev/null <<YAML
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: "tweetpipe-platform:coredns"}
rules:
- apiGroups: [""]
  resources: [endpoints, services, pods, namespaces]
  verbs: [list, watch]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [list, watch]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "tweetpipe-platform:coredns"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "tweetpipe-platform:coredns"}
subjects:
- {apiGroup: rbac.authorization.k8s.io, kind: User, name: "system:coredns"}
YAML
  write_file "$STATE_DIR/Corefile" <<COREFILE
.:53 {
    bind $NODE_IP
    errors
    ready 127.0.0.1:8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        kubeconfig $PKI/coredns.kubeconfig tweetpipe-local
        pods insecure
    }
    cache 30
}
COREFILE
  start_daemon coredns coredns -conf "$STATE_DIR/Corefile"
  wait_for coredns 30 curl -fsS http://127.0.0.1:8181/ready
}

start() {
  bash "$PLATFORM_DIR/pki.sh"
  log "starting containerd, etcd and the Kubernetes $K8S_VERSION control plane"
  start_containerd
  bash "$PLATFORM_DIR/images.sh" pause
  start_etcd
  start_apiserver
  start_controllers
  start_dns
  start_proxy
  start_kubelet
  # Pods run only once the default ServiceAccount exists.
  wait_for "default service account" 60 kubectl_admin -n default get serviceaccount default
}

# The runc shims of this containerd (they outlive it on purpose), found by PID: each is a
# containerd-shim-runc-v2 process whose command line names this containerd's socket. A pattern
# match over every process's command line (pkill -f) could hit any process quoting it.
stop_shims() {
  local socket=$CONTAINERD/containerd.sock pid exe args
  # The kernel keeps 15 characters of a process name: containerd-shim-runc-v2 is "containerd-shim".
  for pid in $(pgrep -x containerd-shim || true); do
    exe=$(readlink "/proc/$pid/exe" 2>/dev/null) || continue
    [[ ${exe##*/} == containerd-shim-runc-v2 ]] || continue
    args=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || continue
    if [[ " $args " == *" -address $socket "* ]]; then kill "$pid" 2>/dev/null || true; fi
  done
}

stop() {
  # Pods first, so that their sandboxes, mounts and network namespaces are torn down properly.
  if daemon_running kubelet && daemon_running kube-apiserver; then
    kubectl_admin delete pods --all -A --grace-period=5 --wait=false >/dev/null 2>&1 || true
  fi
  local name
  for name in kube-proxy kubelet coredns kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_daemon "$name"; done
  # Whatever containers remain: kill their tasks before containerd goes.
  if daemon_running containerd; then
    local c
    for c in $(ctr --address "$CONTAINERD/containerd.sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$CONTAINERD/containerd.sock" -n k8s.io tasks kill -s KILL "$c" >/dev/null 2>&1 || true
    done
    sleep 1
  fi
  stop_daemon containerd
  stop_shims
  # Mounts under the state dir (volumes, rootfs overlays, shm) and containerd's: innermost first.
  awk -v state="$STATE_DIR/" 'index($2, state) == 1 || index($2, "/run/containerd/") == 1 {print $2}' /proc/mounts |
    sort -r | while read -r mount; do umount -l "$mount" 2>/dev/null || true; done
  # kube-proxy's rules.
  for table in nat filter mangle; do
    [[ $(iptables-save -t $table 2>/dev/null) == *KUBE-* ]] || continue
    iptables-save -t $table | grep -v KUBE- | grep -v '^-A .*-j KUBE' | iptables-restore -T $table 2>/dev/null || true
  done
}

# One line per component: up (its daemon runs and its health check answers), running but not
# healthy, or down. The check is a command and its arguments, run as given (no eval).
status_line() {
  local name=$1; shift
  if daemon_running "$name" && "$@" >/dev/null 2>&1; then printf '%-24s up\n' "$name"
  elif daemon_running "$name"; then printf '%-24s running, not healthy\n' "$name"
  else printf '%-24s down\n' "$name"; fi
}

status() {
  status_line containerd ctr --address "$CONTAINERD/containerd.sock" version
  status_line etcd curl -fsS http://127.0.0.1:2381/health
  status_line kube-apiserver kubectl_admin get --raw /readyz
  status_line kube-controller-manager curl -fsSk https://127.0.0.1:10257/healthz
  status_line kube-scheduler curl -fsSk https://127.0.0.1:10259/healthz
  status_line coredns curl -fsS http://127.0.0.1:8181/ready
  status_line kube-proxy curl -fsS http://127.0.0.1:10256/healthz
  status_line kubelet curl -fsS http://127.0.0.1:10248/healthz
  if node_ready 2>/dev/null; then printf '%-24s Ready\n' "node $NODE_NAME"; else printf '%-24s NotReady\n' "node $NODE_NAME"; fi
}

main() {
  mkdir -p "$LOG_DIR"
  case ${1:-status} in
    start) start ;;
    stop) stop ;;
    status) status ;;
    *) die "usage: kubernetes.sh start|stop|status" ;;
  esac
}

main "$@"
