#!/usr/bin/env bash
# Argo CD on the local platform, in core (headless) mode: no API server, no UI, no Dex. Its
# application controller and repo server run as host processes (one binary, dispatched on its
# name), with Redis from Debian and a bare git repository served by `git daemon` on the pod bridge.
#   argocd.sh build    build Argo CD $ARGOCD_VERSION from the Go module proxy (cached per version)
#   argocd.sh await-build  wait for a build another process is running, if any (builds nothing)
#   argocd.sh up       build if needed, install Argo's CRDs and settings, start every process
#   argocd.sh down     stop them (Argo's CRDs, settings and Applications stay in the cluster)
#   argocd.sh status   one line
#   argocd.sh publish  commit the working tree's chart and examples/gitops/ to the served repo
# The repository: git://$NODE_IP:$ARGOCD_GIT_PORT/tweetpipe.git (docs/gitops.md).
source "$(dirname "$0")/lib.sh"

ARGOCD_HOME=$CACHE_DIR/argocd-$ARGOCD_VERSION
ARGOCD_BIN=$ARGOCD_HOME/bin
ARGOCD_STATE=$STATE_DIR/argocd
ARGOCD_NAMESPACE=argocd
# Loopback ports, clear of the platform's (Kafka 909x, registry 8081/8091, API server 6443).
ARGOCD_REDIS_PORT=16379
ARGOCD_REPO_SERVER_PORT=18081
ARGOCD_REPO_SERVER_METRICS_PORT=18084
ARGOCD_CONTROLLER_METRICS_PORT=18082
ARGOCD_GIT_PORT=9418
GIT_BASE=$ARGOCD_STATE/git
GIT_REPO=$GIT_BASE/tweetpipe.git
GIT_URL=git://$NODE_IP:$ARGOCD_GIT_PORT/tweetpipe.git
# How often Argo compares git with the cluster and how long the repo server trusts what it last
# read of the branches (Argo's timeout.reconciliation; default 120 s and 3 min); short, for a
# local loop.
ARGOCD_RECONCILIATION_TIMEOUT=${ARGOCD_RECONCILIATION_TIMEOUT:-15s}
# Up to this much is added at random to each comparison's interval (Argo's default: 60 s).
ARGOCD_RECONCILIATION_JITTER=${ARGOCD_RECONCILIATION_JITTER:-5s}

# Argo CD's module needs a newer Go than the machine's; the proxy serves the toolchain.
export GOTOOLCHAIN=$ARGOCD_GO_TOOLCHAIN CGO_ENABLED=0 GOFLAGS=-buildvcs=false

build() {
  if [[ -x $ARGOCD_BIN/argocd && -x $ARGOCD_BIN/git-verify-wrapper.sh && -f $ARGOCD_HOME/crds/application-crd.yaml ]]; then
    log "argocd $ARGOCD_VERSION cached"
    return 0
  fi
  mkdir -p "$ARGOCD_BIN" "$ARGOCD_HOME/crds"
  if [[ -x $ARGOCD_BIN/argocd ]]; then
    log "argocd $ARGOCD_VERSION binary cached"
  else
    compile
  fi
  # The binary picks its component from its own name.
  ln -sf argocd "$ARGOCD_BIN/argocd-application-controller"
  ln -sf argocd "$ARGOCD_BIN/argocd-repo-server"
  local source_dir
  source_dir=$(cd "$REPO_ROOT/argocd" && go list -m -f '{{.Dir}}' github.com/argoproj/argo-cd/v3)
  cp "$source_dir/manifests/crds/application-crd.yaml" "$source_dir/manifests/crds/appproject-crd.yaml" \
    "$ARGOCD_HOME/crds/"
  # The repo server runs these from PATH, as Argo CD's image ships them (signature checks of
  # commits: with none configured, the wrapper reports the commit unsigned and the sync goes on).
  cp "$source_dir/hack/git-verify-wrapper.sh" "$source_dir/hack/gpg-wrapper.sh" "$ARGOCD_BIN/"
  chmod u+w "$ARGOCD_HOME/crds/"* "$ARGOCD_BIN/"*.sh
  chmod +x "$ARGOCD_BIN/"*.sh
  log "argocd $ARGOCD_VERSION ready: $("$ARGOCD_BIN/argocd" version --client --short 2>/dev/null || true)"
}

compile() {
  local module=$REPO_ROOT/argocd pkg=github.com/argoproj/argo-cd/v3/common build_date ldflags
  build_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
  ldflags="-s -w -X $pkg.version=${ARGOCD_VERSION#v} -X $pkg.gitTag=$ARGOCD_VERSION \
    -X $pkg.gitTreeState=clean -X $pkg.buildDate=$build_date"
  log "building argocd $ARGOCD_VERSION with $GOTOOLCHAIN (cold: ~11 CPU-minutes; 22 min on a busy 2-core VM)"
  (cd "$module" && GODEBUG=tarinsecurepath=0,zipinsecurepath=0 go build -mod=readonly -trimpath \
    -ldflags "$ldflags" -o "$ARGOCD_BIN/argocd" github.com/argoproj/argo-cd/v3/cmd)
}

# settings: Argo's CRDs, the namespace, the ConfigMaps and Secret its components read, and the
# `default` AppProject. Re-applied on every `up`, so a changed health.lua takes effect.
settings() {
  kubectl_admin apply --server-side --force-conflicts -f "$ARGOCD_HOME/crds/" >/dev/null
  wait_for "Argo CD's CRDs" 60 crds_established
  kubectl_admin create namespace "$ARGOCD_NAMESPACE" --dry-run=client -o yaml | kubectl_admin apply -f - >/dev/null
  local health
  health=$(sed 's/^/    /' "$REPO_ROOT/argocd/health.lua")
  kubectl_admin -n "$ARGOCD_NAMESPACE" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cm
  labels: {app.kubernetes.io/name: argocd-cm, app.kubernetes.io/part-of: argocd}
data:
  # Annotation tracking (Argo CD 3's default), spelled out: the operator's own objects carry
  # ownerReferences, not Argo's label, so nothing it creates is mistaken for Argo's.
  application.resourceTrackingMethod: annotation
  # Status is the operator's to write, never drift.
  resource.compareoptions: |
    ignoreResourceStatusField: all
  # Child Applications report health, so sync waves of an app of apps wait for them (docs/gitops.md).
  # Healthy only once Synced with no operation running: Argo leaves resources that do not exist yet
  # out of an Application's health, so a child half-way through its first sync (CRD and RBAC
  # applied, Deployment not yet) reads Healthy, and the next wave would start too early.
  resource.customizations.health.argoproj.io_Application: |
    hs = {status = "Progressing", message = "waiting for the Application's first sync"}
    if obj.status == nil then
      return hs
    end
    if obj.status.operationState ~= nil and obj.status.operationState.phase == "Running" then
      hs.message = "sync running"
      return hs
    end
    if obj.status.sync == nil or obj.status.sync.status ~= "Synced" then
      hs.message = "not Synced yet"
      return hs
    end
    if obj.status.health ~= nil and obj.status.health.status ~= nil then
      hs.status = obj.status.health.status
      hs.message = obj.status.health.message or ""
    end
    return hs
  resource.customizations.health.tweetpipe.io_TweetPipeline: |
$health
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-cmd-params-cm
  labels: {app.kubernetes.io/name: argocd-cmd-params-cm, app.kubernetes.io/part-of: argocd}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-rbac-cm
  labels: {app.kubernetes.io/name: argocd-rbac-cm, app.kubernetes.io/part-of: argocd}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-ssh-known-hosts-cm
  labels: {app.kubernetes.io/name: argocd-ssh-known-hosts-cm, app.kubernetes.io/part-of: argocd}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-tls-certs-cm
  labels: {app.kubernetes.io/name: argocd-tls-certs-cm, app.kubernetes.io/part-of: argocd}
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: argocd-gpg-keys-cm
  labels: {app.kubernetes.io/name: argocd-gpg-keys-cm, app.kubernetes.io/part-of: argocd}
---
apiVersion: argoproj.io/v1alpha1
kind: AppProject
metadata:
  name: default
spec:
  sourceRepos: ['*']
  destinations: [{namespace: '*', server: '*'}]
  clusterResourceWhitelist: [{group: '*', kind: '*'}]
YAML
  # The Secret's keys are Argo's to fill (server.secretkey); only its existence matters here.
  kubectl_admin -n "$ARGOCD_NAMESPACE" get secret argocd-secret >/dev/null 2>&1 \
    || kubectl_admin -n "$ARGOCD_NAMESPACE" create secret generic argocd-secret >/dev/null
  kubectl_admin -n "$ARGOCD_NAMESPACE" label secret argocd-secret --overwrite \
    app.kubernetes.io/name=argocd-secret app.kubernetes.io/part-of=argocd >/dev/null
}

# git_repo: the bare repository the repo server reads, seeded from the working tree once.
git_repo() {
  mkdir -p "$GIT_BASE"
  if [[ ! -d $GIT_REPO ]]; then
    git init --quiet --bare --initial-branch=main "$GIT_REPO"
    touch "$GIT_REPO/git-daemon-export-ok"
    publish
  fi
}

# publish: one commit on main with the working tree's chart and GitOps examples, as a person
# would push them. Tests clone the repository and push their own commits on top.
publish() {
  local work
  work=$(mktemp -d)
  git clone --quiet "$GIT_REPO" "$work/repo" 2>/dev/null
  (
    cd "$work/repo" || exit 1
    git checkout --quiet -B main
    rm -rf helm examples
    mkdir -p helm examples
    cp -r "$REPO_ROOT/helm/tweetpipe-operator" helm/
    cp -r "$REPO_ROOT/examples/gitops" examples/
    git add --all
    if git diff --cached --quiet; then exit 0; fi
    git -c user.name=tweetpipe -c user.email=dev@tweetpipe.local commit --quiet \
      -m "chart and GitOps examples from $(git -C "$REPO_ROOT" rev-parse --short HEAD 2>/dev/null || echo worktree)"
    git push --quiet origin main
  )
  rm -rf "$work"
  log "the chart and examples/gitops/ of the working tree are on main of $GIT_URL"
}

crds_established() {
  local crd
  for crd in applications.argoproj.io appprojects.argoproj.io; do
    [[ $(kubectl_admin get crd "$crd" -o jsonpath='{.status.conditions[?(@.type=="Established")].status}') == True ]] \
      || return 1
  done
}

redis_config() {
  mkdir -p "$ARGOCD_STATE"
  local password_file=$ARGOCD_STATE/redis-password
  if [[ ! -s $password_file ]]; then
    (umask 077 && openssl rand -hex 24 > "$password_file")
  fi
  (umask 077 && write_file "$ARGOCD_STATE/redis.conf" <<CONF
bind 127.0.0.1
port $ARGOCD_REDIS_PORT
requirepass $(cat "$password_file")
save ""
appendonly no
daemonize no
dir $ARGOCD_STATE
CONF
  )
}

redis_ready() {
  REDISCLI_AUTH=$(cat "$ARGOCD_STATE/redis-password") redis-cli -p "$ARGOCD_REDIS_PORT" ping | grep -q PONG
}
repo_server_ready() { curl -fsS "http://127.0.0.1:$ARGOCD_REPO_SERVER_METRICS_PORT/metrics" >/dev/null; }
controller_ready() { curl -fsS "http://127.0.0.1:$ARGOCD_CONTROLLER_METRICS_PORT/healthz" >/dev/null; }
git_ready() { git ls-remote "$GIT_URL" >/dev/null; }

up() {
  local started=$SECONDS
  if ! command -v redis-server >/dev/null || ! command -v git >/dev/null; then
    bash "$PLATFORM_DIR/install-deps.sh"
  fi
  with_build_lock argocd build
  [[ -f $STATE_DIR/kubeconfig ]] || die "no platform: run make platform-up first"
  ip -4 addr show dev "$POD_BRIDGE" 2>/dev/null | grep -q "inet $NODE_IP/" \
    || die "the pod bridge $POD_BRIDGE ($NODE_IP) is missing: run make platform-up first"
  settings
  git_repo
  mkdir -p "$ARGOCD_STATE/tmp" "$ARGOCD_STATE/ssh" "$ARGOCD_STATE/tls" "$ARGOCD_STATE/gpg" "$ARGOCD_STATE/helm"
  redis_config
  start_daemon argocd-redis redis-server "$ARGOCD_STATE/redis.conf"
  wait_for "argocd redis" 30 redis_ready
  start_daemon argocd-git git daemon --reuseaddr --listen="$NODE_IP" --port="$ARGOCD_GIT_PORT" \
    --base-path="$GIT_BASE" "$GIT_BASE"
  wait_for "git daemon" 30 git_ready
  # Redis's password reaches both through the environment, never a command line.
  REDIS_PASSWORD=$(cat "$ARGOCD_STATE/redis-password")
  export REDIS_PASSWORD
  # Both components: the platform's kubeconfig, the shared Redis, plaintext gRPC on loopback.
  # ARGOCD_FAKE_IN_CLUSTER (Argo's switch for running outside a pod): the in-cluster destination
  # https://kubernetes.default.svc is reached through KUBECONFIG, not a pod's service account.
  local common_env=(env "PATH=$ARGOCD_BIN:$HELM_BIN:$K8S_BIN:/usr/local/bin:/usr/bin:/bin"
    "KUBECONFIG=$STATE_DIR/kubeconfig" ARGOCD_FAKE_IN_CLUSTER=true
    "ARGOCD_RECONCILIATION_TIMEOUT=$ARGOCD_RECONCILIATION_TIMEOUT"
    "ARGOCD_RECONCILIATION_JITTER=$ARGOCD_RECONCILIATION_JITTER"
    "TMPDIR=$ARGOCD_STATE/tmp" "HOME=$ARGOCD_STATE" "ARGOCD_SSH_DATA_PATH=$ARGOCD_STATE/ssh"
    "ARGOCD_TLS_DATA_PATH=$ARGOCD_STATE/tls" "ARGOCD_GNUPGHOME=$ARGOCD_STATE/gpg"
    "ARGOCD_GPG_ENABLED=false" "ARGOCD_ASK_PASS_SOCK=$ARGOCD_STATE/reposerver-ask-pass.sock"
    "HELM_CACHE_HOME=$ARGOCD_STATE/helm/cache"
    "HELM_CONFIG_HOME=$ARGOCD_STATE/helm/config" "HELM_DATA_HOME=$ARGOCD_STATE/helm/data")
  start_daemon argocd-repo-server "${common_env[@]}" "$ARGOCD_BIN/argocd-repo-server" \
    --address 127.0.0.1 --port "$ARGOCD_REPO_SERVER_PORT" --disable-tls --client-ca-path "" \
    --metrics-address 127.0.0.1 --metrics-port "$ARGOCD_REPO_SERVER_METRICS_PORT" \
    --redis "127.0.0.1:$ARGOCD_REDIS_PORT" --logformat text
  wait_for "argocd repo server" 120 repo_server_ready
  # Resource health is kept in the Applications' status (not only in Redis), so that kubectl shows
  # each TweetPipeline's health message without Argo's API server.
  start_daemon argocd-application-controller "${common_env[@]}" ARGOCD_CONTROLLER_SHARD=0 \
    ARGOCD_CONTROLLER_REPLICAS=1 "$ARGOCD_BIN/argocd-application-controller" \
    --namespace "$ARGOCD_NAMESPACE" --repo-server "127.0.0.1:$ARGOCD_REPO_SERVER_PORT" \
    --repo-server-plaintext --redis "127.0.0.1:$ARGOCD_REDIS_PORT" \
    --metrics-port "$ARGOCD_CONTROLLER_METRICS_PORT" --persist-resource-health \
    --self-heal-timeout-seconds 5 --logformat text
  wait_for "argocd application controller" 120 controller_ready
  log "argocd $ARGOCD_VERSION up in $((SECONDS - started))s: controller, repo server, redis, git $GIT_URL (logs: $LOG_DIR/argocd-*.log)"
}

down() {
  stop_daemon argocd-application-controller
  stop_daemon argocd-repo-server
  stop_daemon argocd-git
  stop_daemon argocd-redis
  log "argocd stopped"
}

# status: "up ...", "down" (some process missing or unhealthy) or "stopped" (none running: Argo
# CD is optional, so platform-status does not count that as a failure).
status() {
  local name running=0
  for name in argocd-application-controller argocd-repo-server argocd-git argocd-redis; do
    daemon_running "$name" && running=$((running + 1))
  done
  if ((running == 0)); then
    echo "stopped (make argocd-up)"
  elif ((running == 4)) && controller_ready && repo_server_ready && redis_ready && git_ready; then
    echo "up   argocd $ARGOCD_VERSION (core mode), repo $GIT_URL"
  else
    echo "down"
  fi
}

main() {
  mkdir -p "$LOG_DIR"
  local command=${1:-status}
  case $command in
    build) with_build_lock argocd build ;;
    await-build) with_build_lock argocd true ;;
    up) up ;;
    down) down ;;
    status) status ;;
    publish) publish ;;
    *) die "usage: argocd.sh build|await-build|up|down|status|publish (got: $command)" ;;
  esac
}

main "$@"
