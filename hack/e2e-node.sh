#!/usr/bin/env bash
# hack/e2e-node.sh - `make e2e-node`: the Helm chart as real Pods on a real single-node cluster.
#
# Builds (cached) the control plane and node binaries (hack/envtest.sh, hack/envtest.sh node,
# hack/node-tools.sh), the operator image from the Dockerfile and the pause image (hack/image.sh)
# and fake-clerk, then runs the whole cluster in namespaces of its own:
#   unshare --net --mount --pid --fork   a network namespace (the node IP 10.250.0.10 on its lo,
#       the CNI bridge, kube-proxy's nftables: nothing touches the host's network), a private
#       mount namespace (tmpfs on /run and /var/log, read-only files over the three sysctls the
#       kubelet would otherwise rewrite, containerd's and the kubelet's mounts: all vanish with
#       it), and a PID namespace (every process, shims and containers included, dies with it).
#   cgroups: the kubelet's cgroupRoot is a new child of this process's own memory cgroup
#       (created in each cgroup v1 hierarchy and removed afterwards, deepest first).
# In there: etcd, kube-apiserver (ServiceAccount admission, Node+RBAC authorization),
# kube-controller-manager, kube-scheduler, containerd + runc + CNI bridge, kubelet
# (failCgroupV1: false), kube-proxy (nftables), fake-clerk behind a recording proxy; then
# `helm install` of deploy/helm/clerk-operator with the built image, and the checks listed in
# tests/node/README.md. Prints "N passed, M failed"; exits non-zero on any failure.
#
# Environment: CLERK_OPERATOR_CACHE (cache root), KEEP_NODE=1 (keep the state dir for debugging),
# CARGO (default cargo).
set -euo pipefail
HACK_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$HACK_DIR/.." && pwd)
LOG_TAG=e2e-node
# shellcheck source=hack/lib.sh
source "$HACK_DIR/lib.sh"

NODE_IP=10.250.0.10
NODE_NAME=clerk-node
POD_CIDR=10.244.0.0/24
SERVICE_CIDR=10.0.0.0/24
CLERK_KEY=sk_live_e2e_node_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')

# ---------------------------------------------------------------------------------------------
# Outside: build, make the cgroup root, enter the namespaces, clean up afterwards.
# ---------------------------------------------------------------------------------------------
outer() {
  [[ $(id -u) == 0 ]] || die "needs root (namespaces, cgroups, containerd)"
  need_debs nftables conntrack iproute2 util-linux openssl jq curl
  local t0=$SECONDS
  log "building what the node needs (cached under $CACHE_ROOT)"
  local cp_bin rt_bin image pause
  cp_bin=$(bash "$HACK_DIR/envtest.sh" | tail -n1)
  local node_bin
  node_bin=$(bash "$HACK_DIR/envtest.sh" node | tail -n1)
  rt_bin=$(bash "$HACK_DIR/node-tools.sh" | tail -n1)
  image=$(bash "$HACK_DIR/image.sh" build | tail -n1)
  bash "$HACK_DIR/image.sh" check
  pause=$(bash "$HACK_DIR/image.sh" pause | tail -n1)
  log "building fake-clerk"
  (cd "$REPO_DIR" && "${CARGO:-cargo}" build --locked -q -p fake-clerk --bin fake-clerk)
  local fake_bin
  fake_bin="$(cd "$REPO_DIR" && "${CARGO:-cargo}" metadata --format-version 1 --no-deps | jq -r .target_directory)/debug/fake-clerk"
  is_exe "$fake_bin" || die "no $fake_bin"
  log "builds ready in $(fmt_secs $((SECONDS - t0)))"

  local dir
  dir=$(mktemp -d /tmp/clerk-node.XXXXXX)
  chmod 0755 "$dir"
  local id=${dir##*.}
  # cgroupRoot: a child of our own memory cgroup, present in every v1 hierarchy.
  local base
  base=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
  [[ -n "$base" ]] || die "no memory cgroup (cgroup v1 expected)"
  local cg_root="${base%/}/clerk-node-$id"
  local created=() h
  for h in /sys/fs/cgroup/*/; do
    h=${h%/}
    [[ "$(stat -f -c %T "$h")" == cgroup* ]] || continue
    local p="" part
    IFS=/ read -ra parts <<<"${cg_root#/}"
    for part in "${parts[@]}"; do
      p="$p/$part"
      if [[ ! -d "$h$p" ]]; then
        mkdir "$h$p"
        created+=("$h$p")
        if [[ -f "$h$p/cpuset.cpus" ]]; then
          cat "$(dirname "$h$p")/cpuset.cpus" >"$h$p/cpuset.cpus"
          cat "$(dirname "$h$p")/cpuset.mems" >"$h$p/cpuset.mems"
        fi
      fi
    done
  done
  printf '%s\n' "${created[@]}" >"$dir/cgroups-created"

  OUTER_DIR=$dir OUTER_T0=$t0
  trap 'outer_cleanup $?' EXIT
  trap 'exit 130' INT TERM
  local rc=0
  log "starting the cluster in new net/mount/pid namespaces (state: $dir, cgroup root: $cg_root)"
  E2E_NODE_INNER=1 DIR="$dir" CG_ROOT="$cg_root" CP_BIN="$cp_bin" NODE_BIN="$node_bin" RT_BIN="$rt_bin" \
    IMAGE_TAR="$image" PAUSE_TAR="$pause" FAKE_BIN="$fake_bin" REPO_DIR="$REPO_DIR" \
    unshare --net --mount --pid --fork --propagation private -- bash "${BASH_SOURCE[0]}" || rc=$?
  return "$rc"
}

# After the namespaces are gone (everything in the PID namespace died with it): remove the
# cgroups (deepest first) and the state directory, and make sure no process is left.
outer_cleanup() {
  local rc=$1 dir=$OUTER_DIR c i
  trap - EXIT
  for ((i = 0; i < 30; i++)); do
    local left=0
    while read -r c; do
      [[ -d "$c" ]] || continue
      find "$c" -depth -mindepth 1 -type d -exec rmdir {} \; 2>/dev/null || true
      rmdir "$c" 2>/dev/null || left=1
    done < <(tac "$dir/cgroups-created")
    ((left)) || break
    sleep 1
  done
  while read -r c; do
    if [[ -d "$c" ]]; then log "WARNING: could not remove cgroup $c"; rc=1; fi
  done <"$dir/cgroups-created"
  if pgrep -f "$dir" >/dev/null; then
    log "WARNING: processes left: $(pgrep -af "$dir")"
    rc=1
  fi
  if [[ -n "${KEEP_NODE:-}" ]]; then
    log "keeping $dir (KEEP_NODE)"
  else
    rm -rf "$dir"
  fi
  log "e2e-node finished in $(fmt_secs $((SECONDS - OUTER_T0))) (exit $rc)"
  exit "$rc"
}

# ---------------------------------------------------------------------------------------------
# Inside the namespaces (PID 1 of the new PID namespace).
# ---------------------------------------------------------------------------------------------
PIDS=()
PASSED=0
FAILED=0
pass() { PASSED=$((PASSED + 1)); log "PASS: $*"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL: $*"; }
check() { # check "what" cmd...
  local what=$1
  shift
  if "$@"; then pass "$what"; else fail "$what"; fi
}

start() { # start NAME cmd...: runs in the background, output in $DIR/logs/NAME.log
  local name=$1
  shift
  "$@" >"$DIR/logs/$name.log" 2>&1 &
  PIDS+=("$!:$name")
  echo "$!" >"$DIR/run/$name.pid"
}

stop_all() {
  local entry pid
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    entry=${PIDS[i]}
    pid=${entry%%:*}
    kill "$pid" 2>/dev/null || true
  done
  for entry in "${PIDS[@]}"; do
    pid=${entry%%:*}
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

# wait_for "what" SECONDS cmd...
wait_for() {
  local what=$1 timeout=$2
  shift 2
  local start=$SECONDS
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS - start > timeout)); then
      log "timed out after ${timeout}s waiting for $what"
      return 1
    fi
    sleep 1
  done
}

kc() { "$CP_BIN/kubectl" --kubeconfig="$DIR/admin.kubeconfig" --cache-dir="$DIR/kube-cache" "$@"; }
helm_() {
  HOME="$DIR/helm" HELM_CACHE_HOME="$DIR/helm/cache" HELM_CONFIG_HOME="$DIR/helm/config" \
    HELM_DATA_HOME="$DIR/helm/data" "$CP_BIN/helm" --kubeconfig="$DIR/admin.kubeconfig" "$@"
}

kubeconfig() { # kubeconfig FILE TOKEN
  cat >"$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: node
  cluster:
    server: https://$NODE_IP:6443
    certificate-authority: $DIR/apiserver/apiserver.crt
users:
- name: user
  user:
    token: $2
contexts:
- name: node
  context: {cluster: node, user: user}
current-context: node
EOF
}

dump_logs() {
  local f
  for f in "$DIR"/logs/*.log; do
    echo "----- tail of $f" >&2
    tail -n 25 "$f" >&2
  done
  kc get pods -A -o wide >&2 || true
  kc get events -A --sort-by=.lastTimestamp >&2 2>/dev/null | tail -n 40 >&2 || true
}

setup_namespace() {
  # The node's network: its IP on lo (no dummy driver here); pods get a bridge from CNI.
  ip link set lo up
  ip addr add "$NODE_IP/32" dev lo
  # Service IPs reached from the node itself (curl of the metrics Service): kube-proxy DNATs them
  # in its output hook; the route only picks the source address.
  ip route add "$SERVICE_CIDR" dev lo src "$NODE_IP"
  # Private mounts: a fresh /proc for this PID namespace, tmpfs where containerd and the kubelet
  # keep fixed paths (/run/containerd/s, /var/log/pods, /var/log/containers), and the sysctls.
  mount --make-rprivate /
  mount -t proc proc /proc
  mount -t tmpfs -o mode=0755 tmpfs /run
  mount -t tmpfs -o mode=0755 tmpfs /var/log
  # Fixed paths of the kubelet (device-plugins) and libcni (its result cache) under /var/lib.
  mount -t tmpfs -o mode=0755 tmpfs /var/lib
  local key want
  for kv in vm/overcommit_memory=1 kernel/panic=10 kernel/panic_on_oops=1; do
    key=${kv%%=*}
    want=${kv#*=}
    echo "$want" >"$DIR/sysctl-${key//\//_}"
    mount --bind "$DIR/sysctl-${key//\//_}" "/proc/sys/$key"
    mount -o remount,bind,ro "/proc/sys/$key"
  done
  # Volume mount propagation into containers (inside this namespace only).
  mount --make-rshared /
}

write_configs() {
  mkdir -p "$DIR"/{logs,run,pki,apiserver,etcd,kubelet,containerd/root,containerd/state,cni/net.d,cni/data,helm}
  # Credentials: static tokens for the admin, the node, kube-proxy and the scheduler; a CA and
  # a client certificate the apiserver shows the kubelet (webhook authn/authz on the kubelet).
  ADMIN_TOKEN=admin-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  local node_token proxy_token sched_token
  node_token=node-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  proxy_token=proxy-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  sched_token=sched-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
  cat >"$DIR/pki/tokens.csv" <<EOF
$ADMIN_TOKEN,admin,admin-uid,"system:masters"
$node_token,system:node:$NODE_NAME,node-uid,"system:nodes"
$proxy_token,system:kube-proxy,proxy-uid
$sched_token,system:kube-scheduler,sched-uid
EOF
  (
    cd "$DIR/pki"
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 -subj /CN=clerk-node-ca 2>/dev/null
    openssl req -newkey rsa:2048 -nodes -keyout kubelet-client.key -out kubelet-client.csr \
      -subj "/O=system:masters/CN=kube-apiserver-kubelet-client" 2>/dev/null
    openssl x509 -req -in kubelet-client.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
      -out kubelet-client.crt -days 2 2>/dev/null
  )
  cat >"$DIR/admin.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: node
  cluster: {server: "https://$NODE_IP:6443", insecure-skip-tls-verify: true}
users:
- name: admin
  user: {token: $ADMIN_TOKEN}
contexts:
- name: node
  context: {cluster: node, user: admin}
current-context: node
EOF
  NODE_TOKEN=$node_token PROXY_TOKEN=$proxy_token SCHED_TOKEN=$sched_token

  cat >"$DIR/containerd/config.toml" <<EOF
version = 3
root = "$DIR/containerd/root"
state = "$DIR/containerd/state"
[grpc]
  address = "$DIR/containerd/containerd.sock"
[ttrpc]
  address = "$DIR/containerd/containerd.sock.ttrpc"
[plugins]
  [plugins.'io.containerd.internal.v1.opt']
    path = "$DIR/containerd/opt"
  [plugins.'io.containerd.nri.v1.nri']
    disable = true
  [plugins.'io.containerd.cri.v1.images']
    snapshotter = "overlayfs"
    [plugins.'io.containerd.cri.v1.images'.pinned_images]
      sandbox = "$PAUSE_IMAGE"
  [plugins.'io.containerd.cri.v1.runtime']
    enable_selinux = false
    netns_mounts_under_state_dir = true
    # No CAP_SYS_RESOURCE on these machines: an oom_score_adj below containerd's own (the
    # sandbox's -998) is refused, so clamp it (as for rootless containerd).
    restrict_oom_score_adj = true
    [plugins.'io.containerd.cri.v1.runtime'.containerd]
      default_runtime_name = "runc"
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
        runtime_type = "io.containerd.runc.v2"
        [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
          BinaryName = "$RT_BIN/runc"
          SystemdCgroup = false
    [plugins.'io.containerd.cri.v1.runtime'.cni]
      bin_dirs = ["$RT_BIN/cni"]
      conf_dir = "$DIR/cni/net.d"
EOF
  cat >"$DIR/cni/net.d/10-clerk-node.conflist" <<EOF
{
  "cniVersion": "1.0.0",
  "name": "clerk-node",
  "plugins": [
    {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": false, "hairpinMode": true,
     "ipam": {"type": "host-local", "dataDir": "$DIR/cni/data",
              "ranges": [[{"subnet": "$POD_CIDR"}]], "routes": [{"dst": "0.0.0.0/0"}]}},
    {"type": "loopback"}
  ]
}
EOF
  echo "nameserver $NODE_IP" >"$DIR/resolv.conf"
  kubeconfig "$DIR/kubelet.kubeconfig" "$NODE_TOKEN"
  kubeconfig "$DIR/proxy.kubeconfig" "$PROXY_TOKEN"
  kubeconfig "$DIR/scheduler.kubeconfig" "$SCHED_TOKEN"
  cat >"$DIR/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
failCgroupV1: false
cgroupDriver: cgroupfs
cgroupRoot: $CG_ROOT
containerRuntimeEndpoint: unix://$DIR/containerd/containerd.sock
address: $NODE_IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $DIR/pki/ca.crt}
authorization: {mode: Webhook}
resolvConf: $DIR/resolv.conf
clusterDomain: cluster.local
podLogsDir: /var/log/pods
volumePluginDir: $DIR/kubelet/volume-plugins
failSwapOn: false
protectKernelDefaults: false
evictionHard: {memory.available: 100Mi, nodefs.available: "1%", nodefs.inodesFree: "1%", imagefs.available: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
registerNode: true
EOF
  cat >"$DIR/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $DIR/proxy.kubeconfig}
hostnameOverride: $NODE_NAME
clusterCIDR: $POD_CIDR
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
EOF
}

start_cluster() {
  start etcd "$CP_BIN/etcd" --data-dir="$DIR/etcd" --listen-client-urls=http://127.0.0.1:2379 \
    --advertise-client-urls=http://127.0.0.1:2379 --listen-peer-urls=http://127.0.0.1:2380 \
    --initial-advertise-peer-urls=http://127.0.0.1:2380 --initial-cluster=default=http://127.0.0.1:2380 \
    --unsafe-no-fsync=true --log-level=warn
  wait_for etcd 60 bash -c "exec 3<>/dev/tcp/127.0.0.1/2379"
  start kube-apiserver "$CP_BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 \
    --bind-address=0.0.0.0 --advertise-address="$NODE_IP" --secure-port=6443 \
    --cert-dir="$DIR/apiserver" --endpoint-reconciler-type=lease \
    --token-auth-file="$DIR/pki/tokens.csv" --authorization-mode=Node,RBAC \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$DIR/pki/sa.key" --service-account-signing-key-file="$DIR/pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --allow-privileged=false \
    --kubelet-client-certificate="$DIR/pki/kubelet-client.crt" --kubelet-client-key="$DIR/pki/kubelet-client.key" \
    --kubelet-preferred-address-types=InternalIP --v=1
  wait_for "kube-apiserver /readyz" 120 kc get --raw /readyz || return 1
  wait_for "default namespace" 60 kc get namespace default || return 1
  start kube-controller-manager "$CP_BIN/kube-controller-manager" --kubeconfig="$DIR/admin.kubeconfig" \
    --controllers=namespace-controller,garbage-collector-controller,serviceaccount-token-controller,serviceaccount-controller,root-ca-certificate-publisher-controller,deployment-controller,replicaset-controller,endpointslice-controller,node-lifecycle-controller,disruption-controller,pod-garbage-collector-controller \
    --service-account-private-key-file="$DIR/pki/sa.key" --root-ca-file="$DIR/apiserver/apiserver.crt" \
    --use-service-account-credentials=false --leader-elect=false --bind-address=127.0.0.1 --secure-port=10257 \
    --node-monitor-grace-period=20s --v=1
  start kube-scheduler "$NODE_BIN/kube-scheduler" --kubeconfig="$DIR/scheduler.kubeconfig" \
    --authentication-kubeconfig="$DIR/scheduler.kubeconfig" --authorization-kubeconfig="$DIR/scheduler.kubeconfig" \
    --leader-elect=false --bind-address=127.0.0.1 --secure-port=10259 --v=1
  PATH="$RT_BIN:$PATH" start containerd "$RT_BIN/containerd" --config "$DIR/containerd/config.toml"
  wait_for containerd 60 "$RT_BIN/ctr" --address "$DIR/containerd/containerd.sock" version || return 1
  local tar
  for tar in "$PAUSE_TAR" "$IMAGE_TAR"; do
    "$RT_BIN/ctr" --address "$DIR/containerd/containerd.sock" -n k8s.io images import "$tar" >&2 || return 1
  done
  start kubelet "$NODE_BIN/kubelet" --config="$DIR/kubelet.yaml" --kubeconfig="$DIR/kubelet.kubeconfig" \
    --root-dir="$DIR/kubelet" --cert-dir="$DIR/kubelet/pki" --hostname-override="$NODE_NAME" \
    --node-ip="$NODE_IP" --v=1
  start kube-proxy "$NODE_BIN/kube-proxy" --config="$DIR/kube-proxy.yaml" --v=1
  wait_for "node $NODE_NAME Ready" 180 kc wait --for=condition=Ready "node/$NODE_NAME" --timeout=5s || return 1
}

# --- test helpers -----------------------------------------------------------------------------
REL=clerk-operator
NS=clerk-system
APP_NS=web
FAKE="http://127.0.0.1:8787"

fake_domains() { curl -sf -H "Authorization: Bearer $CLERK_KEY" "$FAKE/v1/domains?limit=500"; }
fake_domain_json() { fake_domains | jq -c --arg n "$1" '.data[] | select(.name == $n)'; }
cdom_ready() { [[ "$(kc -n "$APP_NS" get cdom "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" == True ]]; }
cdom_synced_gen() {
  local g s og
  g=$(kc -n "$APP_NS" get cdom "$1" -o jsonpath='{.metadata.generation}')
  s=$(kc -n "$APP_NS" get cdom "$1" -o jsonpath='{.status.conditions[?(@.type=="Synced")].status}')
  og=$(kc -n "$APP_NS" get cdom "$1" -o jsonpath='{.status.conditions[?(@.type=="Synced")].observedGeneration}')
  [[ "$s" == True && "$og" == "$g" ]]
}
new_cdom() { # new_cdom NAME DOMAIN [PROXY]
  kc apply -f - >/dev/null <<EOF
apiVersion: clerk-operator.io/v1alpha1
kind: ClerkDomain
metadata: {name: $1, namespace: $APP_NS}
spec:
  domain: $2
${3:+  proxyUrl: $3}
EOF
}
pods() { kc -n "$NS" get pods -l app.kubernetes.io/instance="$REL" -o json; }
ready_pods() { pods | jq -r '.items[] | select(.metadata.deletionTimestamp == null) | select(any(.status.conditions[]?; .type == "Ready" and .status == "True")) | .metadata.name'; }
n_ready() { [[ "$(ready_pods | grep -c .)" == "$1" ]]; }
# Record pod name <-> IP for the write counts.
remember_pod_ips() { pods | jq -r '.items[] | select(.status.podIP) | "\(.status.podIP) \(.metadata.name)"' >>"$DIR/pod-ips"; sort -u -o "$DIR/pod-ips" "$DIR/pod-ips"; }
lease_holder() { kc -n "$NS" get lease "$REL" -o jsonpath='{.spec.holderIdentity}'; }
leader_is_ready() { local h; h=$(lease_holder); [[ -n "$h" ]] && grep -qx "$h" <<<"$(ready_pods)"; }
pod_ip() { kc -n "$NS" get pod "$1" -o jsonpath='{.status.podIP}'; }
# Clerk writes (POST/PATCH/DELETE) in the recorder log after line $1, as "peer" lines.
writes_since() { tail -n +"$(($1 + 1))" "$DIR/clerk-requests.log" | jq -r 'select(.method != "GET") | .peer'; }
log_lines() { grep -c . "$DIR/clerk-requests.log" || true; }
name_of_ip() { awk -v ip="$1" '$1 == ip { print $2 }' "$DIR/pod-ips" | tail -n1; }
# Each writer appears in one contiguous run: once another Pod took over, it never writes again.
single_writer_runs() {
  local runs
  runs=$(uniq <<<"$1" | grep -c .)
  [[ "$runs" == "$(sort -u <<<"$1" | grep -c .)" ]]
}
per_pod_table() {
  local ip
  sort <<<"$1" | uniq -c | while read -r n ip; do printf '    %-5s writes from %-15s %s\n' "$n" "$ip" "$(name_of_ip "$ip")"; done >&2
}

run_tests() {
  start fake-clerk "$FAKE_BIN" --listen 127.0.0.1:8787 --secret-key "$CLERK_KEY"
  start clerk-recorder python3 "$REPO_DIR/tests/node/clerk_recorder.py" "$NODE_IP" 8788 127.0.0.1 8787 "$DIR/clerk-requests.log"
  touch "$DIR/clerk-requests.log"
  wait_for fake-clerk 30 curl -sf "$FAKE/__fake/healthz" || return 1
  wait_for clerk-recorder 30 curl -sf "http://$NODE_IP:8788/__fake/healthz" || return 1

  kc create namespace "$NS" >/dev/null
  kc label namespace "$NS" pod-security.kubernetes.io/enforce=restricted >/dev/null
  kc create namespace "$APP_NS" >/dev/null
  local chart="$REPO_DIR/deploy/helm/clerk-operator"
  local base_values=(--set "clerkApiUrl=http://$NODE_IP:8788/v1" --set "secretKey=$CLERK_KEY"
    --set leaderElection.enabled=true --set leaderElection.leaseDuration=6s --set leaderElection.renewGrace=2s
    --set resyncPeriod=30s)

  # 1. helm install; the Pod becomes Ready through its own probes.
  if helm_ install "$REL" "$chart" -n "$NS" "${base_values[@]}" --wait --timeout 4m >"$DIR/logs/helm-install.out" 2>&1; then
    pass "helm install (image $(kc -n "$NS" get deploy "$REL" -o jsonpath='{.spec.template.spec.containers[0].image}'))"
  else
    fail "helm install: $(tail -n 5 "$DIR/logs/helm-install.out")"
    return 1
  fi
  remember_pod_ips
  local pod
  pod=$(ready_pods | head -n1)
  check "the Pod is Ready (readiness probe /readyz through the kubelet)" test -n "$pod"
  [[ -n "$pod" ]] || return 1
  kc -n "$NS" get pods -o wide | tee "$DIR/pods-wide.txt" >&2
  check "the container is running the imported image, not restarted" \
    test "$(kc -n "$NS" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].restartCount}')" = 0
  # The container as the kernel sees it.
  local cpid
  cpid=$("$RT_BIN/ctr" --address "$DIR/containerd/containerd.sock" -n k8s.io task ls |
    awk -v id="$(kc -n "$NS" get pod "$pod" -o jsonpath='{.status.containerStatuses[0].containerID}' | sed 's,.*://,,')" '$1 == id { print $2 }')
  if [[ -n "$cpid" && -r "/proc/$cpid/status" ]]; then
    check "the operator runs as UID/GID 65532" bash -c "grep -qE '^Uid:\s+65532\s' /proc/$cpid/status && grep -qE '^Gid:\s+65532\s' /proc/$cpid/status"
    check "seccomp filter active (RuntimeDefault)" grep -qE '^Seccomp:\s+2' "/proc/$cpid/status"
    check "no capabilities (drop ALL)" grep -qE '^CapEff:\s+0+$' "/proc/$cpid/status"
    check "root filesystem is read-only" bash -c "awk '\$5 == \"/\" { print \$6 }' /proc/$cpid/mountinfo | grep -q '^ro'"
    check "the projected ServiceAccount token is mounted" \
      test -s "/proc/$cpid/root/var/run/secrets/kubernetes.io/serviceaccount/token"
    check "the CA bundle of the image is present" bash -c "grep -c 'BEGIN CERTIFICATE' /proc/$cpid/root/etc/ssl/certs/ca-certificates.crt | awk '{ exit !(\$1 > 100) }'"
    check "the entrypoint is /clerk-operator run" bash -c "tr '\0' ' ' </proc/$cpid/cmdline | grep -q '^/clerk-operator run '"
  else
    fail "found no container process for $pod (ctr task ls)"
  fi
  check "in-cluster config: the operator reached the API through the kubernetes Service" \
    bash -c "'$CP_BIN/kubectl' --kubeconfig='$DIR/admin.kubeconfig' --cache-dir='$DIR/kube-cache' -n $NS get lease $REL -o jsonpath='{.spec.holderIdentity}' | grep -qx '$pod'"

  # 2. Lifecycle through the Pod: create -> Ready, rename, proxy change, delete.
  local w0
  w0=$(log_lines)
  new_cdom shop shop.example.com
  check "ClerkDomain created -> Ready" wait_for "shop Ready" 90 cdom_ready shop
  local id
  id=$(fake_domain_json shop.example.com | jq -r .id)
  check "the domain exists in Clerk" test -n "$id"
  kc -n "$APP_NS" patch cdom shop --type merge -p '{"spec":{"domain":"shop2.example.com"}}' >/dev/null
  check "rename: Clerk has the new name under the same ID" \
    wait_for rename 60 bash -c "curl -sf -H 'Authorization: Bearer $CLERK_KEY' '$FAKE/v1/domains?limit=500' | jq -e --arg id '$id' '.data[] | select(.id == \$id and .name == \"shop2.example.com\")'"
  kc -n "$APP_NS" patch cdom shop --type merge -p '{"spec":{"proxyUrl":"https://shop2.example.com/__clerk"}}' >/dev/null
  check "proxy change: Clerk has the proxy URL" \
    wait_for proxy 60 bash -c "curl -sf -H 'Authorization: Bearer $CLERK_KEY' '$FAKE/v1/domains?limit=500' | jq -e --arg id '$id' '.data[] | select(.id == \$id and .proxy_url == \"https://shop2.example.com/__clerk\")'"
  check "the status follows (Synced at the latest generation)" wait_for synced 60 cdom_synced_gen shop
  kc -n "$APP_NS" delete cdom shop --timeout=60s >/dev/null
  check "delete: the domain is gone from Clerk and the object is gone" \
    bash -c "! curl -sf -H 'Authorization: Bearer $CLERK_KEY' '$FAKE/v1/domains?limit=500' | jq -e --arg id '$id' '.data[] | select(.id == \$id)' >/dev/null && ! '$CP_BIN/kubectl' --kubeconfig='$DIR/admin.kubeconfig' --cache-dir='$DIR/kube-cache' -n $APP_NS get cdom shop 2>/dev/null"
  local writes
  writes=$(writes_since "$w0")
  check "all lifecycle writes came from the Pod's IP $(pod_ip "$pod") ($(grep -c . <<<"$writes") writes)" \
    test "$(sort -u <<<"$writes")" = "$(pod_ip "$pod")"

  # 3. Logs: JSON, no key.
  kc -n "$NS" logs "$pod" >"$DIR/pod.log"
  check "kubectl logs: $(grep -c . "$DIR/pod.log") lines, every one a JSON object" \
    bash -c "test -s '$DIR/pod.log' && jq -e -s 'all(type == \"object\")' '$DIR/pod.log' >/dev/null"
  check "kubectl logs never show the Clerk key" bash -c "! grep -qF '$CLERK_KEY' '$DIR/pod.log'"

  # 4. Metrics through the Service (kube-proxy nftables DNAT to the Pod), over HTTPS and only
  # with a token allowed to get /metrics (the chart's metrics-reader ClusterRole).
  local svc_ip
  svc_ip=$(kc -n "$NS" get svc "$REL-metrics" -o jsonpath='{.spec.clusterIP}')
  kc -n "$NS" create serviceaccount scraper >/dev/null
  kc create clusterrolebinding "$REL-scraper" --clusterrole="$REL-metrics-reader" --serviceaccount="$NS:scraper" >/dev/null
  SCRAPE_TOKEN=$(kc -n "$NS" create token scraper)
  check "metrics Service $svc_ip:8080 refuses a scrape without a token (401)" \
    test "$(curl -sk -o /dev/null -w '%{http_code}' "https://$svc_ip:8080/metrics")" = 401
  check "metrics Service $svc_ip:8080 scraped with the scraper's token (clerk_operator_clerk_requests_total, leader 1)" \
    wait_for "metrics via Service" 60 bash -c "curl -sfk -H 'Authorization: Bearer $SCRAPE_TOKEN' 'https://$svc_ip:8080/metrics' | tee '$DIR/metrics.txt' | grep -q '^clerk_operator_clerk_requests_total' && grep -qx 'clerk_operator_leader 1' '$DIR/metrics.txt'"

  # 5. Two replicas: one leader; deleting the leader Pod fails over.
  helm_ upgrade "$REL" "$chart" -n "$NS" --reuse-values --set replicaCount=2 --wait --timeout 4m >"$DIR/logs/helm-upgrade-2.out" 2>&1 ||
    fail "helm upgrade replicaCount=2: $(tail -n 5 "$DIR/logs/helm-upgrade-2.out")"
  check "two Pods Ready" wait_for "2 ready pods" 120 n_ready 2
  remember_pod_ips
  kc -n "$NS" get pods -o wide | tee "$DIR/pods-wide-2.txt" >&2
  local leader others
  # With two replicas the chart spreads the Pods over nodes, so the upgrade rolls them: the old
  # Pod releases the Lease on its way out and one of the new ones takes it a moment later.
  check "the Lease is held by one of the Ready Pods" wait_for "a Ready Pod holding the Lease" 60 leader_is_ready
  leader=$(lease_holder)
  local ip p leaders=0
  for p in $(ready_pods); do
    ip=$(pod_ip "$p")
    if curl -sfk -H "Authorization: Bearer $SCRAPE_TOKEN" "https://$ip:8080/metrics" | grep -qx 'clerk_operator_leader 1'; then leaders=$((leaders + 1)); fi
  done
  check "exactly one Pod reports clerk_operator_leader 1 ($leaders)" test "$leaders" = 1
  w0=$(log_lines)
  new_cdom blog blog.example.com
  check "with two replicas: ClerkDomain Ready" wait_for "blog Ready" 90 cdom_ready blog
  writes=$(writes_since "$w0")
  check "only the leader wrote to Clerk" test "$(sort -u <<<"$writes")" = "$(pod_ip "$leader")"
  others=$(ready_pods | grep -vx "$leader" | head -n1)
  kc -n "$NS" delete pod "$leader" --wait=false >/dev/null
  local t_fail=$SECONDS
  wait_for failover 60 bash -c "h=\$('$CP_BIN/kubectl' --kubeconfig='$DIR/admin.kubeconfig' --cache-dir='$DIR/kube-cache' -n $NS get lease $REL -o jsonpath='{.spec.holderIdentity}'); test -n \"\$h\" -a \"\$h\" != '$leader'"
  local new_leader
  new_leader=$(lease_holder)
  check "failover: $new_leader took the Lease from $leader after $((SECONDS - t_fail))s (standby was $others)" \
    test -n "$new_leader" -a "$new_leader" != "$leader"
  remember_pod_ips
  w0=$(log_lines)
  new_cdom docs docs.example.com
  check "after failover: ClerkDomain Ready" wait_for "docs Ready" 90 cdom_ready docs
  writes=$(writes_since "$w0")
  check "after failover only the new leader wrote" test "$(sort -u <<<"$writes")" = "$(pod_ip "$new_leader")"
  check "the Deployment replaced the deleted Pod" wait_for "2 ready pods" 120 n_ready 2
  remember_pod_ips

  # 6. helm upgrade with a changed value rolls the Deployment without two writers.
  local rs_before
  rs_before=$(kc -n "$NS" get deploy "$REL" -o jsonpath='{.metadata.generation}')
  w0=$(log_lines)
  # Keep the operator writing during the roll: flip blog's proxy URL every second.
  (
    i=0
    while [[ ! -e "$DIR/run/stop-writer" ]]; do
      i=$((i + 1))
      kc -n "$APP_NS" patch cdom blog --type merge -p "{\"spec\":{\"proxyUrl\":\"https://blog.example.com/p$i\"}}" >/dev/null 2>&1 || true
      sleep 1
    done
  ) &
  local writer=$!
  PIDS+=("$writer:writer")
  sleep 3
  if helm_ upgrade "$REL" "$chart" -n "$NS" --reuse-values --set logLevel=debug --wait --timeout 4m >"$DIR/logs/helm-upgrade-roll.out" 2>&1; then
    pass "helm upgrade --set logLevel=debug"
  else
    fail "helm upgrade logLevel=debug: $(tail -n 5 "$DIR/logs/helm-upgrade-roll.out")"
  fi
  check "the rollout completed" kc -n "$NS" rollout status "deploy/$REL" --timeout=120s
  for _ in $(seq 10); do remember_pod_ips; sleep 1; done
  touch "$DIR/run/stop-writer"
  wait "$writer" || true
  sleep 3
  check "the Deployment rolled (generation $rs_before -> $(kc -n "$NS" get deploy "$REL" -o jsonpath='{.metadata.generation}'), new Pods run --log-level=debug)" \
    bash -c "'$CP_BIN/kubectl' --kubeconfig='$DIR/admin.kubeconfig' --cache-dir='$DIR/kube-cache' -n $NS get pods -l app.kubernetes.io/instance=$REL -o json | jq -e '[.items[] | select(.metadata.deletionTimestamp == null)] | length == 2 and all(.spec.containers[0].args | index(\"--log-level=debug\"))' >/dev/null"
  kc -n "$NS" get pods -o wide >&2
  writes=$(writes_since "$w0")
  log "Clerk writes per Pod during the rolling upgrade:"
  per_pod_table "$writes"
  uniq <<<"$writes" | while read -r ip; do log "    writer run: $ip $(name_of_ip "$ip")"; done
  check "writes continued across the roll ($(grep -c . <<<"$writes") writes)" test "$(grep -c . <<<"$writes")" -ge 5
  check "no two writers: each Pod wrote in one contiguous run, none after its successor started" single_writer_runs "$writes"
  check "blog converged after the roll" wait_for synced 60 cdom_synced_gen blog
  for p in $(ready_pods); do kc -n "$NS" logs "$p"; done >"$DIR/pod-debug.log"
  check "debug-level logs of the new Pods: $(grep -c . "$DIR/pod-debug.log") JSON lines, no key" \
    bash -c "jq -e -s 'length > 0 and all(type == \"object\")' '$DIR/pod-debug.log' >/dev/null && ! grep -qF '$CLERK_KEY' '$DIR/pod-debug.log'"

  # 7. helm uninstall keeps the CRD and leaves nothing stuck.
  kc -n "$APP_NS" delete cdom --all --timeout=90s >/dev/null || fail "deleting the ClerkDomains"
  check "ClerkDomains deleted from Clerk before uninstall" \
    bash -c "test \"\$(curl -sf -H 'Authorization: Bearer $CLERK_KEY' '$FAKE/v1/domains?limit=500' | jq '[.data[] | select(.name != \"example.com\")] | length')\" = 0"
  if helm_ uninstall "$REL" -n "$NS" --wait --timeout 2m >"$DIR/logs/helm-uninstall.out" 2>&1; then
    pass "helm uninstall"
  else
    fail "helm uninstall: $(tail -n 5 "$DIR/logs/helm-uninstall.out")"
  fi
  check "the CRD is kept" kc get crd clerkdomains.clerk-operator.io
  check "no Pods left" wait_for "pods gone" 60 bash -c "test -z \"\$('$CP_BIN/kubectl' --kubeconfig='$DIR/admin.kubeconfig' --cache-dir='$DIR/kube-cache' -n $NS get pods -o name)\""
  check "nothing of the release left (deploy, rs, svc, sa, secret, roles, bindings)" \
    bash -c "test -z \"\$('$CP_BIN/kubectl' --kubeconfig='$DIR/admin.kubeconfig' --cache-dir='$DIR/kube-cache' get deploy,rs,svc,sa,secret,role,rolebinding,clusterrole,clusterrolebinding,pdb -A -l app.kubernetes.io/instance=$REL -o name)\""
  check "the release namespace deletes cleanly (nothing stuck on a finalizer)" \
    kc delete namespace "$NS" "$APP_NS" --timeout=90s
}

inner() {
  trap 'stop_all' EXIT
  trap 'exit 130' INT TERM
  PAUSE_IMAGE=$(tar -xOf "$PAUSE_TAR" manifest.json | jq -r '.[0].RepoTags[0]')
  write_configs
  setup_namespace
  local rc=0
  if ! start_cluster; then
    log "the cluster did not come up"
    dump_logs
    exit 1
  fi
  log "cluster up: node $NODE_NAME Ready"
  run_tests || rc=$?
  if ((FAILED > 0 || rc != 0)); then dump_logs; fi
  echo "e2e-node: $PASSED passed, $FAILED failed" >&2
  ((FAILED == 0 && rc == 0))
}

if [[ "${E2E_NODE_INNER:-}" == 1 ]]; then
  inner
else
  outer
fi
