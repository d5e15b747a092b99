#!/usr/bin/env bash
# A real single-node Kubernetes on this machine: etcd, kube-apiserver, kube-controller-manager,
# kube-scheduler, containerd + runc + CNI bridge, kubelet and kube-proxy, all on addresses of their own.
#
#   node-cluster.sh up     bring it up (tearing down leftovers of an interrupted run first); prints
#                          KUBECONFIG=<path> once the node is Ready
#   node-cluster.sh down   stop everything and remove processes, mounts, network namespaces, the bridge,
#                          nft tables and cgroups it made
#
# `up` also starts the harness's OCI registry (registry/registry.sh) if it is not serving: containerd
# pulls every image from it, the pod sandbox image included. `down` leaves the registry to its owner
# (npm run cluster, the e2e suite), so a `down` of leftovers does not wipe what was just pushed.
#
# Network rules (see docs/testing.md): one bridge 198.18.0.1/24 (pods 198.18.0.0/24, Services
# 198.19.0.0/24); ip_forward is never turned on and a guard table drops anything routed into or out of
# the bridge, so pod traffic only reaches the host's own addresses and other pods.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
CACHE="${LEASEHOLD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/leasehold}"
ROOT="${LEASEHOLD_NODE_ROOT:-$CACHE/run/node-cluster}"
NODE=leasehold-node
BRIDGE=lhnode0
IP=198.18.0.1
POD_CIDR=198.18.0.0/24
SERVICE_CIDR=198.19.0.0/24
API_PORT=16443
CGROUP=leasehold-node
GUARD_TABLE=leasehold_node_guard
REGISTRY=$(bash "$here/../registry/registry.sh" address)
log() { printf '[node-cluster] %s\n' "$*" >&2; }

binaries() {
  local cp node
  cp=$(bash "$here/../build-control-plane.sh")
  node=$(bash "$here/build-node.sh")
  json() { printf '%s' "$1" | sed -n "s/.*\"$2\":\"\\([^\"]*\\)\".*/\\1/p"; }
  ETCD=$(json "$cp" etcd); APISERVER=$(json "$cp" kubeApiserver); KUBECTL=$(json "$cp" kubectl)
  KUBELET=$(json "$node" kubelet); KCM=$(json "$node" kubeControllerManager)
  SCHEDULER=$(json "$node" kubeScheduler); PROXY=$(json "$node" kubeProxy)
}

# start NAME COMMAND...: runs in the background, logs to logs/NAME.log, pid in pids/NAME.
start() {
  local name=$1; shift
  setsid "$@" >"$ROOT/logs/$name.log" 2>&1 </dev/null 8>&- &
  echo $! >"$ROOT/pids/$name"
}

# wait_for WHAT SECONDS COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
  local what=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@" >/dev/null 2>&1; do
    if ((SECONDS >= deadline)); then log "$what not ready after ${seconds} s; logs in $ROOT/logs"; return 1; fi
    sleep 0.2
  done
}

pki() {
  local p=$ROOT/pki; mkdir -p "$p"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$p/ca.key" -out "$p/ca.crt" -days 7 -subj /CN=leasehold-node-ca 2>/dev/null
  openssl genrsa -out "$p/sa.key" 2048 2>/dev/null
  openssl rsa -in "$p/sa.key" -pubout -out "$p/sa.pub" 2>/dev/null
  # cert NAME SUBJECT EXTENDED-KEY-USAGE [SUBJECT-ALT-NAMES]
  cert() {
    openssl req -newkey rsa:2048 -nodes -keyout "$p/$1.key" -out "$p/$1.csr" -subj "$2" 2>/dev/null
    { echo 'basicConstraints=CA:FALSE'; echo 'keyUsage=critical,digitalSignature,keyEncipherment'
      echo "extendedKeyUsage=$3"; if [[ -n "${4:-}" ]]; then echo "subjectAltName=$4"; fi; } >"$p/$1.ext"
    openssl x509 -req -in "$p/$1.csr" -CA "$p/ca.crt" -CAkey "$p/ca.key" -CAcreateserial -days 7 \
      -extfile "$p/$1.ext" -out "$p/$1.crt" 2>/dev/null
    rm -f "$p/$1.csr" "$p/$1.ext"
  }
  cert apiserver /CN=kube-apiserver serverAuth \
    "IP:$IP,IP:127.0.0.1,IP:198.19.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  cert admin /O=system:masters/CN=leasehold-admin clientAuth
  cert controller-manager /CN=system:kube-controller-manager clientAuth
  cert scheduler /CN=system:kube-scheduler clientAuth
  cert kube-proxy /CN=system:kube-proxy clientAuth
  cert kubelet "/O=system:nodes/CN=system:node:$NODE" clientAuth
  cert apiserver-kubelet-client /O=system:masters/CN=kube-apiserver-kubelet-client clientAuth
  cert kubelet-serving "/CN=$NODE" serverAuth "IP:$IP,IP:127.0.0.1,DNS:$NODE"
  for user in admin controller-manager scheduler kube-proxy kubelet; do
    cat >"$ROOT/$user.kubeconfig" <<K
apiVersion: v1
kind: Config
clusters: [{name: leasehold-node, cluster: {server: "https://$IP:$API_PORT", certificate-authority: $p/ca.crt}}]
users: [{name: $user, user: {client-certificate: $p/$user.crt, client-key: $p/$user.key}}]
contexts: [{name: leasehold-node, context: {cluster: leasehold-node, user: $user, namespace: default}}]
current-context: leasehold-node
K
  done
}

network_up() {
  ip link add "$BRIDGE" type bridge
  ip addr add "$IP/24" dev "$BRIDGE"
  ip link set "$BRIDGE" up
  nft -f - <<N
table inet $GUARD_TABLE {
  chain forward {
    type filter hook forward priority -5; policy accept;
    iifname "$BRIDGE" oifname != "$BRIDGE" counter drop
    oifname "$BRIDGE" iifname != "$BRIDGE" counter drop
  }
}
N
  mkdir -p "$ROOT/cni/net.d" "$ROOT/cni/ipam"
  cat >"$ROOT/cni/net.d/10-leasehold.conflist" <<C
{
  "cniVersion": "0.4.0",
  "name": "leasehold-node",
  "plugins": [{
    "type": "bridge", "bridge": "$BRIDGE", "isGateway": false, "isDefaultGateway": false,
    "ipMasq": false, "hairpinMode": true,
    "ipam": {
      "type": "host-local", "dataDir": "$ROOT/cni/ipam",
      "ranges": [[{"subnet": "$POD_CIDR", "rangeStart": "198.18.0.10", "rangeEnd": "198.18.0.250", "gateway": "$IP"}]],
      "routes": [{"dst": "$SERVICE_CIDR"}]
    }
  }]
}
C
}

cgroups_up() {
  for c in cpu cpuacct cpuset memory devices freezer blkio pids systemd; do
    if [[ -d /sys/fs/cgroup/$c ]]; then mkdir -p "/sys/fs/cgroup/$c/$CGROUP"; fi
  done
  cat /sys/fs/cgroup/cpuset/cpuset.cpus >"/sys/fs/cgroup/cpuset/$CGROUP/cpuset.cpus"
  cat /sys/fs/cgroup/cpuset/cpuset.mems >"/sys/fs/cgroup/cpuset/$CGROUP/cpuset.mems"
}

control_plane_up() {
  local p=$ROOT/pki
  start etcd "$ETCD" --name leasehold-node --data-dir "$ROOT/etcd" \
    --listen-client-urls http://127.0.0.1:23790 --advertise-client-urls http://127.0.0.1:23790 \
    --listen-peer-urls http://127.0.0.1:23800 --initial-advertise-peer-urls http://127.0.0.1:23800 \
    --initial-cluster leasehold-node=http://127.0.0.1:23800 --unsafe-no-fsync --log-level warn
  start kube-apiserver "$APISERVER" --etcd-servers http://127.0.0.1:23790 \
    --bind-address "$IP" --advertise-address "$IP" --secure-port "$API_PORT" \
    --tls-cert-file "$p/apiserver.crt" --tls-private-key-file "$p/apiserver.key" --client-ca-file "$p/ca.crt" \
    --kubelet-client-certificate "$p/apiserver-kubelet-client.crt" --kubelet-client-key "$p/apiserver-kubelet-client.key" \
    --kubelet-certificate-authority "$p/ca.crt" --kubelet-preferred-address-types InternalIP \
    --authorization-mode Node,RBAC --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$p/sa.pub" --service-account-signing-key-file "$p/sa.key" \
    --service-cluster-ip-range "$SERVICE_CIDR" --allow-privileged=false --v 1
  wait_for kube-apiserver 90 curl -sf --cacert "$p/ca.crt" --cert "$p/admin.crt" --key "$p/admin.key" "https://$IP:$API_PORT/readyz"
  start kube-controller-manager "$KCM" --kubeconfig "$ROOT/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$ROOT/controller-manager.kubeconfig" --authorization-kubeconfig "$ROOT/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 20257 --service-account-private-key-file "$p/sa.key" --root-ca-file "$p/ca.crt" \
    --cluster-signing-cert-file "$p/ca.crt" --cluster-signing-key-file "$p/ca.key" --use-service-account-credentials \
    --service-cluster-ip-range "$SERVICE_CIDR" --cluster-cidr "$POD_CIDR" --allocate-node-cidrs=false \
    --leader-elect=false --controllers '*,-cloud-node-lifecycle' --v 1
  start kube-scheduler "$SCHEDULER" --kubeconfig "$ROOT/scheduler.kubeconfig" \
    --authentication-kubeconfig "$ROOT/scheduler.kubeconfig" --authorization-kubeconfig "$ROOT/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --secure-port 20259 --leader-elect=false --v 1
}

containerd_up() {
  mkdir -p "$ROOT/containerd"
  cat >"$ROOT/containerd/config.toml" <<T
version = 2
root = "$ROOT/containerd/root"
state = "$ROOT/containerd/state"
[grpc]
  address = "$ROOT/containerd/containerd.sock"
[ttrpc]
  address = "$ROOT/containerd/containerd.sock.ttrpc"
[debug]
  address = ""
[metrics]
  address = ""
[plugins."io.containerd.internal.v1.opt"]
  path = "$ROOT/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$REGISTRY/leasehold/pause:3.10"
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  enable_selinux = false
  disable_apparmor = true
  # This VM's capability bounding set lacks CAP_SYS_RESOURCE: a negative oom_score_adj would be refused.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  # Images come from the harness's registry, over plain HTTP on loopback (hosts.toml below).
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$ROOT/containerd/certs.d"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$ROOT/cni/net.d"
    max_conf_num = 1
T
  mkdir -p "$ROOT/containerd/certs.d/$REGISTRY"
  cat >"$ROOT/containerd/certs.d/$REGISTRY/hosts.toml" <<T
server = "http://$REGISTRY"
[host."http://$REGISTRY"]
  capabilities = ["pull", "resolve"]
T
  start containerd containerd --config "$ROOT/containerd/config.toml"
  wait_for containerd 30 ctr --address "$ROOT/containerd/containerd.sock" version
}

kubelet_up() {
  local k=$ROOT/kubelet; mkdir -p "$k/sysctl" "$k/root" "$k/pki"
  # kubelet insists on these kernel settings; it sees them in its own mount namespace only.
  echo 1 >"$k/sysctl/overcommit_memory"; echo 0 >"$k/sysctl/panic_on_oom"
  echo 10 >"$k/sysctl/panic"; echo 1 >"$k/sysctl/panic_on_oops"
  echo "nameserver 127.0.0.1" >"$k/resolv.conf"
  # Volume mounts the kubelet makes must reach containerd in the host namespace: a shared bind mount.
  mountpoint -q "$k/root" || { mount --bind "$k/root" "$k/root"; mount --make-shared "$k/root"; }
  cat >"$k/config.yaml" <<Y
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $IP
port: 10250
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: 10248
cgroupDriver: cgroupfs
cgroupRoot: /$CGROUP
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$ROOT/containerd/containerd.sock
imageServiceEndpoint: unix://$ROOT/containerd/containerd.sock
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $ROOT/pki/ca.crt}
authorization: {mode: Webhook}
tlsCertFile: $ROOT/pki/kubelet-serving.crt
tlsPrivateKeyFile: $ROOT/pki/kubelet-serving.key
clusterDomain: cluster.local
clusterDNS: []
resolvConf: $k/resolv.conf
serializeImagePulls: false
protectKernelDefaults: false
evictionHard: {memory.available: "100Mi", nodefs.available: "2%", imagefs.available: "2%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
maxPods: 40
Y
  start kubelet unshare -m --propagation unchanged sh -c "
    for f in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops; do
      mount --bind $k/sysctl/\${f#*/} /proc/sys/\$f
    done
    exec $KUBELET --config=$k/config.yaml --kubeconfig=$ROOT/kubelet.kubeconfig --root-dir=$k/root \
      --cert-dir=$k/pki --hostname-override=$NODE --node-ip=$IP --v=${LEASEHOLD_KUBELET_VERBOSITY:-2}"
}

proxy_up() {
  mkdir -p "$ROOT/kube-proxy"
  cat >"$ROOT/kube-proxy/config.yaml" <<Y
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $ROOT/kube-proxy.kubeconfig}
hostnameOverride: $NODE
healthzBindAddress: 127.0.0.1:20256
metricsBindAddress: 127.0.0.1:20249
clusterCIDR: $POD_CIDR
nodePortAddresses: ["$IP/32"]
# Leave the host's conntrack sysctls alone.
conntrack: {maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}
Y
  start kube-proxy "$PROXY" --config "$ROOT/kube-proxy/config.yaml" --v 1
}

node_ready() {
  "$KUBECTL" --kubeconfig "$ROOT/admin.kubeconfig" get node "$NODE" \
    -o 'jsonpath={.status.conditions[?(@.type=="Ready")].status}' | grep -q True
}

stop_recorded() {
  local name=$1 file=$ROOT/pids/$1 pid
  [[ -f $file ]] || return 0
  pid=$(cat "$file")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || true
  fi
  rm -f "$file"
}

down() {
  [[ -d $ROOT ]] || { log "nothing to tear down"; return 0; }
  binaries >/dev/null 2>&1 || true
  local kc=(--kubeconfig "$ROOT/admin.kubeconfig" --request-timeout 10s)
  # Workloads first, so the kubelet stops their containers in order.
  if [[ -n ${KUBECTL:-} ]] && "$KUBECTL" "${kc[@]}" get --raw /readyz >/dev/null 2>&1 && [[ -f $ROOT/pids/kubelet ]]; then
    "$KUBECTL" "${kc[@]}" delete namespaces -l leasehold.io/test-run --wait=false >/dev/null 2>&1 || true
    "$KUBECTL" "${kc[@]}" delete pods --all -A --grace-period 5 --timeout 40s >/dev/null 2>&1 || true
  fi
  stop_recorded kube-proxy
  [[ -n ${PROXY:-} ]] && "$PROXY" --cleanup --v 0 >/dev/null 2>&1 || true
  stop_recorded kubelet
  if [[ -S $ROOT/containerd/containerd.sock ]]; then
    local ctr=(ctr --address "$ROOT/containerd/containerd.sock" -n k8s.io)
    for task in $("${ctr[@]}" tasks list -q 2>/dev/null); do "${ctr[@]}" tasks kill -s KILL "$task" >/dev/null 2>&1 || true; done
  fi
  stop_recorded containerd
  # Shims outlive containerd; the ones of this run carry its socket path.
  pkill -KILL -f "containerd-shim.*$ROOT/containerd" 2>/dev/null || true
  for name in kube-scheduler kube-controller-manager kube-apiserver etcd; do stop_recorded "$name"; done
  # Network namespaces the CNI made for this run's pods (their veths end on our bridge).
  for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^cni-' || true); do
    if ip netns exec "$ns" ip -o addr 2>/dev/null | grep -q '198\.18\.0\.'; then ip netns delete "$ns"; fi
  done
  for m in $(findmnt -rn -o TARGET | grep -F "$ROOT/" | sort -r || true); do umount "$m" 2>/dev/null || umount -l "$m"; done
  if mountpoint -q "$ROOT/kubelet/root"; then umount -l "$ROOT/kubelet/root"; fi
  nft delete table inet "$GUARD_TABLE" 2>/dev/null || true
  for family in ip ip6; do nft delete table "$family" kube-proxy 2>/dev/null || true; done
  for table in filter nat mangle; do
    for chain in KUBE-FIREWALL KUBE-KUBELET-CANARY KUBE-IPTABLES-HINT; do
      for tool in iptables ip6tables; do
        "$tool" -t "$table" -D INPUT -j "$chain" 2>/dev/null || true
        "$tool" -t "$table" -D OUTPUT -j "$chain" 2>/dev/null || true
        "$tool" -t "$table" -F "$chain" 2>/dev/null && "$tool" -t "$table" -X "$chain" 2>/dev/null || true
      done
    done
  done
  if ip link show "$BRIDGE" >/dev/null 2>&1; then ip link delete "$BRIDGE"; fi
  for c in /sys/fs/cgroup/*/"$CGROUP"; do
    [[ -d $c ]] && find "$c" -depth -type d -exec rmdir {} \; 2>/dev/null || true
  done
  # LEASEHOLD_NODE_LOGS_TO=DIR keeps the components' logs (the e2e tests set it when one failed).
  if [[ -n ${LEASEHOLD_NODE_LOGS_TO:-} && -d $ROOT/logs ]]; then
    mkdir -p "$LEASEHOLD_NODE_LOGS_TO" && cp -r "$ROOT/logs/." "$LEASEHOLD_NODE_LOGS_TO/"
    log "logs kept in $LEASEHOLD_NODE_LOGS_TO"
  fi
  rm -rf "$ROOT"
  log "down"
}

up() {
  [[ $(id -u) -eq 0 ]] || { log "a node needs root (mounts, cgroups, a bridge)"; exit 1; }
  binaries
  exec 8>"$CACHE/.node-cluster.lock"
  flock -n 8 || { log "another node cluster is running from this cache ($ROOT)"; exit 1; }
  down
  mkdir -p "$ROOT/logs" "$ROOT/pids"
  local started=$SECONDS
  bash "$here/../registry/registry.sh" up >/dev/null
  pki
  network_up
  cgroups_up
  control_plane_up
  containerd_up
  kubelet_up
  wait_for "node $NODE" 120 node_ready
  proxy_up
  wait_for "the default ServiceAccount" 60 "$KUBECTL" --kubeconfig "$ROOT/admin.kubeconfig" get serviceaccount default
  log "node $NODE Ready in $((SECONDS - started)) s (API https://$IP:$API_PORT, pods $POD_CIDR, Services $SERVICE_CIDR)"
  echo "KUBECONFIG=$ROOT/admin.kubeconfig"
  echo "REGISTRY=$REGISTRY"
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  *) echo "usage: node-cluster.sh up | down" >&2; exit 2 ;;
esac
