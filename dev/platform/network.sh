#!/usr/bin/env bash
# The pod network: one Linux bridge in the host namespace, each pod in its own network namespace
# behind it (created by the CNI bridge plugin). Nothing leaves the machine: forwarding from the
# bridge to any other interface is dropped.
# Usage: network.sh up|down|status
source "$(dirname "$0")/lib.sh"

up() {
  if ! ip link show "$POD_BRIDGE" >/dev/null 2>&1; then
    log "creating pod bridge $POD_BRIDGE ($NODE_IP)"
    ip link add "$POD_BRIDGE" type bridge
  fi
  # (grep -q on a pipe would make `ip` die of SIGPIPE, failing the test under pipefail)
  [[ $(ip addr show dev "$POD_BRIDGE") == *"inet $NODE_IP/"* ]] || ip addr add "$NODE_IP/24" dev "$POD_BRIDGE"
  ip link set "$POD_BRIDGE" up
  sysctl -qw net.ipv4.ip_forward=1
  # kube-proxy's Service rules must see bridged traffic.
  modprobe br_netfilter 2>/dev/null || true
  sysctl -qw net.bridge.bridge-nf-call-iptables=1 2>/dev/null || log "warning: bridge-nf-call-iptables unavailable"
  iptables -C FORWARD -i "$POD_BRIDGE" ! -o "$POD_BRIDGE" -j DROP 2>/dev/null ||
    iptables -I FORWARD -i "$POD_BRIDGE" ! -o "$POD_BRIDGE" -j DROP
  iptables -C FORWARD -i "$POD_BRIDGE" -o "$POD_BRIDGE" -j ACCEPT 2>/dev/null ||
    iptables -I FORWARD -i "$POD_BRIDGE" -o "$POD_BRIDGE" -j ACCEPT
}

down() {
  iptables -D FORWARD -i "$POD_BRIDGE" ! -o "$POD_BRIDGE" -j DROP 2>/dev/null || true
  iptables -D FORWARD -i "$POD_BRIDGE" -o "$POD_BRIDGE" -j ACCEPT 2>/dev/null || true
  # Pod namespaces left by a crashed kubelet: CNI names them cni-<uuid>.
  for ns in $(ip netns list 2>/dev/null | awk '/^cni-/{print $1}'); do ip netns delete "$ns" || true; done
  if ip link show "$POD_BRIDGE" >/dev/null 2>&1; then ip link delete "$POD_BRIDGE"; fi
}

status() {
  if [[ $(ip addr show dev "$POD_BRIDGE" 2>/dev/null) == *"inet $NODE_IP/"* ]]; then
    echo "up   bridge $POD_BRIDGE $NODE_IP, $(ip netns list 2>/dev/null | grep -c '^cni-') pod namespaces"
  else echo "down"; fi
}

main() {
  case ${1:-status} in
    up) up ;;
    down) down ;;
    status) status ;;
    *) die "usage: network.sh up|down|status" ;;
  esac
}

main "$@"
