# shellcheck shell=bash
# A Kubernetes cluster of one node (or K8S_NODE_COUNT nodes) made of namespaces on this machine, for
# the cluster lanes (tests/k8s/run.sh, tests/k8s/two-node.sh) and the pod start-up benchmark
# (bench/k8s/run.sh). Sourced, not run.
#
#   control plane netns   etcd, kube-apiserver, kube-controller-manager, kube-scheduler
#        fab0 172.30.0.1, a bridge ── veth per node ── fab0 172.30.0.2 (node 2: .3, …)
#   node netns            containerd, kubelet, kube-proxy (one private mount namespace), and the pods
#   (one per node)        (node N's are node<N>-ID, its netns dk8s-ID-node<N>, its files node<N>/;
#                         node 1's keep the plain names)
#        out0 172.30.1.1 ── veth ── eth0 172.30.1.2   (node 1 only)
#   outside netns         a host beyond node 1 (its default route points there); pods reach it
#                         only through the node's masquerade
#
# The nodes share this machine's filesystem, but each has a mount namespace of its own whose /etc,
# /opt, /var and /run are private (tests/k8s/node.sh): a DaemonSet's hostPath (/etc/cni/net.d,
# /var/lib/dpcni, /run/dpcni, …) is a different directory on each node, as on real machines.
#
# Nothing is configured in the machine's root network namespace and nothing leaves the machine:
# kubectl and helm run inside the control plane's netns against https://127.0.0.1:6443, and every
# process of the cluster lives in a cgroup of the run's own (pods included), so cluster_down can
# end them all, also after a crash of the caller (the next run sweeps what a dead one left).
#
# Usage: cluster_init BIN_DIR; cluster_up; … kc/helm_/node_sh/out_sh …; cluster_down.
# Everything the run makes is under $K8S_RUN (removed by cluster_down; logs are copied to
# $K8S_LOG_DIR first when it is set).

K8S_CLUSTER_CIDR=10.244.0.0/16
K8S_SERVICE_CIDR=10.96.0.0/16
K8S_SERVICE_APISERVER_IP=10.96.0.1
K8S_CP_IP=172.30.0.1
K8S_NODE_OUT_IP=172.30.1.1
K8S_OUTSIDE_IP=172.30.1.2

k8s_lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

k8s_started=$SECONDS
# The output the caller gave: a failure (or a TERM trap) may strike inside a command whose output
# is redirected, e.g. a condition polled with >/dev/null; what it reports, and the EXIT trap after
# it, write here again.
exec {k8s_stdout}>&1 {k8s_stderr}>&2
k8s_restore_output() { exec 1>&"$k8s_stdout" 2>&"$k8s_stderr"; }
log() { echo "k8s [$((SECONDS - k8s_started)) s]: $*" >&2; }
fail() {
  k8s_restore_output
  log "FAILED: $*"
  exit 1
}

# Milliseconds since the epoch, for timestamps and phase timings.
now_ms() { date +%s%3N; }

# Polls COMMAND (quietly) every 0.25 s until it succeeds; fails naming WHAT after TIMEOUT seconds.
# While waiting, a daemon of the cluster that exits fails the run at once with its log's tail.
# COMMAND is run anew each time: a condition on a command's output goes into a function.
wait_for() {  # WHAT TIMEOUT COMMAND...
  local what=$1 timeout=$2
  shift 2
  local deadline=$((SECONDS + timeout)) status
  while true; do
    status=0
    "$@" >/dev/null 2>&1 || status=$?
    [ "$status" -ne 0 ] || return 0
    [ "$status" -ne 127 ] || fail "$what: no command $1"
    check_daemons
    [ "$SECONDS" -lt "$deadline" ] || fail "$what: not within ${timeout} s"
    sleep 0.25
  done
}

# --- cgroups: every process of the cluster lives under one cgroup of the run ---------------------

# The hierarchies: each cgroup mount under /sys/fs/cgroup, the v1 ones and, on a hybrid host, the v2
# one beside them (runc makes every container's cgroup there too); or the v2 root on a unified host.
cg_mounts() {
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    echo /sys/fs/cgroup
    return
  fi
  local dir
  for dir in /sys/fs/cgroup/*; do
    [ -L "$dir" ] && continue  # cpu -> cpu,cpuacct and the like
    case "$(stat -fc %T "$dir" 2>/dev/null)" in
      cgroupfs | cgroup2fs) echo "$dir" ;;
    esac
  done
}

# The run's cgroup path, the same in every hierarchy (kubelet's cgroupRoot is one path). On v1 it
# sits under the caller's memory cgroup, so that whatever accounts or limits the caller's memory
# also covers the cluster's; on v2 under the root, whose controllers a child may enable.
cg_base() {
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    echo ""
    return
  fi
  local path
  path=$(awk -F: '$2 == "memory" { print $3 }' /proc/self/cgroup)
  path=${path%/}
  echo "$path"
}

# The caller's own cgroup in hierarchy MOUNT (/proc/self/cgroup names v1 ones by their controllers).
cg_self() {  # MOUNT
  if [ "$(stat -fc %T "$1")" = cgroup2fs ]; then
    awk -F: '$1 == "0" { print $3 }' /proc/self/cgroup
  else
    awk -F: -v n="$(basename "$1")" '$2 == n || $2 == "name=" n { print $3 }' /proc/self/cgroup
  fi
}

# Creates the run's cgroup LEAF (relative to $K8S_CGROUP) in every hierarchy. The state file records
# the run's own cgroup in each hierarchy (cluster_teardown ends what is in it and removes it with
# all below) and the directories above it that are not the caller's own cgroup or its ancestors
# (made here or by a run beside this one; removed alone, and only when empty, by the last run out).
# cpuset directories start empty on v1 and refuse processes until given their parent's CPUs and
# memory nodes.
cg_create() {  # LEAF
  local mount rel dir part self
  while read -r mount; do
    self=$(cg_self "$mount")
    rel=""
    for part in ${K8S_CGROUP//\// } ${1//\// }; do
      rel+="/$part"
      dir=$mount$rel
      if [ "$rel" = "$K8S_CGROUP" ]; then
        [ -d "$dir" ] || echo "cgroup $dir" >>"$K8S_RUN/state"
      elif [ "${#rel}" -lt "${#K8S_CGROUP}" ] && [ "$self" != "$rel" ] && [[ "$self" != "$rel"/* ]]; then
        echo "cgroup-parent $dir" >>"$K8S_RUN/state"
      fi
      # Another run may make the same parent at the same moment.
      mkdir "$dir" 2>/dev/null || [ -d "$dir" ] || fail "cannot make cgroup $dir"
      if [ -f "$dir/cpuset.cpus" ] && [ -z "$(cat "$dir/cpuset.cpus")" ]; then
        cat "$(dirname "$dir")/cpuset.cpus" >"$dir/cpuset.cpus"
        cat "$(dirname "$dir")/cpuset.mems" >"$dir/cpuset.mems"
      fi
    done
  done < <(cg_mounts)
}

# Moves the calling (sub)shell into the run's cgroup LEAF in every hierarchy.
cg_join() {  # LEAF
  local mount
  while read -r mount; do
    echo "$BASHPID" >"$mount$K8S_CGROUP/$1/cgroup.procs"
  done < <(cg_mounts)
}

# --- processes ------------------------------------------------------------------------------------

# Starts a daemon in the background inside NETNS and the run's cgroup, its output in logs/NAME.log.
spawn() {  # NAME NETNS COMMAND...
  local name=$1 netns=$2
  shift 2
  (
    cg_join daemons
    exec nsenter --net="/run/netns/$netns" "$@" >"$K8S_RUN/logs/$name.log" 2>&1 </dev/null
  ) &
  echo "$!" >"$K8S_RUN/pids/$name"
  disown "$!"  # ended through the run's cgroup, and quietly
}

# Node N's suffix in names and paths: none for node 1 (the one-node lane's names), N for the others.
node_sfx() { [ "$1" -eq 1 ] || echo "$1"; }
node_dir() { echo "$K8S_RUN/node$(node_sfx "$1")"; }

# Starts a daemon in node N's netns and mount namespace (see tests/k8s/node.sh).
spawn_on() {  # N NAME COMMAND...
  local n=$1 name=$2
  shift 2
  (
    cg_join daemons
    exec nsenter --target "$(cat "$(node_dir "$n")/pid")" --net --mount -- "$@" \
      >"$K8S_RUN/logs/$name.log" 2>&1 </dev/null
  ) &
  echo "$!" >"$K8S_RUN/pids/$name"
  disown "$!"  # ended through the run's cgroup, and quietly
}

# Fails the run, naming the daemon and showing its log's tail, when one has exited.
check_daemons() {
  local file name
  for file in "$K8S_RUN"/pids/*; do
    [ -e "$file" ] || continue
    name=$(basename "$file")
    if ! kill -0 "$(cat "$file")" 2>/dev/null; then
      rm -f "$file"
      echo "--- tail of $name.log" >&2
      tail -n 40 "$K8S_RUN/logs/$name.log" >&2 || true
      fail "$name exited"
    fi
  done
}

# kubectl and helm as an operator runs them: from a host that reaches the API server (the control
# plane's netns), with the admin kubeconfig.
kc() { nsenter --net="/run/netns/$K8S_NS_CP" "$K8S_BIN/kubectl" --kubeconfig "$K8S_RUN/pki/admin.kubeconfig" "$@"; }
helm_() {
  nsenter --net="/run/netns/$K8S_NS_CP" env HELM_CACHE_HOME="$K8S_RUN/helm/cache" \
    HELM_CONFIG_HOME="$K8S_RUN/helm/config" HELM_DATA_HOME="$K8S_RUN/helm/data" \
    "$K8S_BIN/helm" --kubeconfig "$K8S_RUN/pki/admin.kubeconfig" "$@"
}
spawn_on_node() { spawn_on 1 "$@"; }  # NAME COMMAND...
# A shell command as node N sees it: its netns and its mount namespace (private /etc, /opt, /var,
# /run), e.g. to look into /etc/cni/net.d. node_sh: node 1.
node_sh_on() { nsenter --target "$(cat "$(node_dir "$1")/pid")" --net --mount -- sh -c "$2"; }
node_sh() { node_sh_on 1 "$1"; }
out_sh() { nsenter --net="/run/netns/$K8S_NS_OUT" sh -c "$1"; }
crictl_on() {  # N ARGS...
  local n=$1
  shift
  node_sh_on "$n" "$K8S_BIN/crictl --runtime-endpoint unix://$(node_dir "$n")/containerd.sock $*"
}
crictl_() { crictl_on 1 "$@"; }
ctr_on() {  # N ARGS...
  local n=$1
  shift
  "$K8S_CTR" --address "$(node_dir "$n")/containerd.sock" --namespace k8s.io "$@"
}
ctr_() { ctr_on 1 "$@"; }

# --- set-up ---------------------------------------------------------------------------------------

# Checks the programs, sweeps what dead runs left and makes this run's directory and names.
cluster_init() {  # BIN_DIR
  K8S_BIN=$(realpath "$1" 2>/dev/null) || fail "the Kubernetes binary directory $1 does not exist" \
    "(build it with tools/k8s/build.sh $1)"
  [ "$(id -u)" -eq 0 ] || fail "needs root (namespaces, mounts, cgroups)"
  local bin
  for bin in etcd kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy kubectl \
    helm crictl; do
    [ -x "$K8S_BIN/$bin" ] || fail "$K8S_BIN/$bin is missing: build it with tools/k8s/build.sh $K8S_BIN"
  done
  for bin in containerd containerd-shim-runc-v2 ctr runc openssl nsenter unshare ip nft conntrack; do
    command -v "$bin" >/dev/null || fail "$bin is not installed: run tools/install-deps.sh"
  done
  K8S_CTR=$(command -v ctr)
  for bin in loopback portmap bridge host-local; do
    [ -x "/usr/lib/cni/$bin" ] || fail "/usr/lib/cni/$bin is missing: install containernetworking-plugins"
  done

  cluster_sweep

  local base=${TMPDIR:-/tmp}
  case "$(realpath "$base")/" in
    /etc/* | /opt/* | /var/* | /run/*)
      fail "TMPDIR=$base is under a directory the node overlays (/etc, /opt, /var, /run)" ;;
  esac
  K8S_ID=$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n')
  K8S_RUN=$(realpath "$base")/dpcni-k8s-$K8S_ID
  mkdir -p "$K8S_RUN"/{logs,pids,pki,helm}
  echo "owner $BASHPID" >"$K8S_RUN/state"
  K8S_NS_CP=dk8s-$K8S_ID-cp
  K8S_NS_OUT=dk8s-$K8S_ID-out
  # Per node N (index N - 1): name, netns, address on the control plane's network.
  K8S_NODE_COUNT=${K8S_NODE_COUNT:-1}
  K8S_NODE_NAMES=() K8S_NS_NODES=() K8S_NODE_IPS=()
  local n
  for ((n = 1; n <= K8S_NODE_COUNT; n++)); do
    K8S_NODE_NAMES+=("node$(node_sfx "$n")-$K8S_ID")
    K8S_NS_NODES+=("dk8s-$K8S_ID-node$(node_sfx "$n")")
    K8S_NODE_IPS+=("172.30.0.$((n + 1))")  # on the control plane's bridge
    mkdir -p "$(node_dir "$n")"
  done
  K8S_NS_NODE=${K8S_NS_NODES[0]}
  K8S_NODE_NAME=${K8S_NODE_NAMES[0]}
  K8S_CGROUP=$(cg_base)/dpcni-k8s-$K8S_ID
  log "run $K8S_ID in $K8S_RUN (Kubernetes from $K8S_BIN)"
}

# Tears down the runs whose owner is gone (a run killed before its trap could run).
cluster_sweep() {
  local dir owner
  for dir in "${TMPDIR:-/tmp}"/dpcni-k8s-*; do
    [ -f "$dir/state" ] || continue
    owner=$(awk '$1 == "owner" { print $2 }' "$dir/state")
    [ -n "$owner" ] && kill -0 "$owner" 2>/dev/null && continue
    log "sweeping the remains of a dead run in $dir"
    cluster_teardown "$dir"
  done
}

# The control plane's bridge with a veth to each node, and node 1's veth to the outside; every
# address and route is inside these namespaces.
cluster_network() {
  local ns n
  for ns in "$K8S_NS_CP" "${K8S_NS_NODES[@]}" "$K8S_NS_OUT"; do
    ip netns add "$ns"
    echo "netns $ns" >>"$K8S_RUN/state"
    ip -n "$ns" link set lo up
  done
  ip -n "$K8S_NS_CP" link add fab0 type bridge
  ip -n "$K8S_NS_CP" addr add "$K8S_CP_IP/24" dev fab0
  ip -n "$K8S_NS_CP" link set fab0 up
  for ((n = 1; n <= K8S_NODE_COUNT; n++)); do
    ns=${K8S_NS_NODES[n - 1]}
    ip -n "$K8S_NS_CP" link add "n$n" type veth peer name fab0 netns "$ns"
    ip -n "$K8S_NS_CP" link set "n$n" master fab0 up
    ip -n "$ns" addr add "${K8S_NODE_IPS[n - 1]}/24" dev fab0
    ip -n "$ns" link set fab0 up
    ip netns exec "$ns" sysctl -qw net.ipv4.ip_forward=1
    # Node 1's default route leads outside (below); the others' to the control plane, which
    # forwards nothing: they have no outside.
    [ "$n" -eq 1 ] || ip -n "$ns" route add default via "$K8S_CP_IP"
  done
  ip -n "$K8S_NS_NODE" link add out0 type veth peer name eth0 netns "$K8S_NS_OUT"
  ip -n "$K8S_NS_NODE" addr add "$K8S_NODE_OUT_IP/24" dev out0
  ip -n "$K8S_NS_OUT" addr add "$K8S_OUTSIDE_IP/24" dev eth0
  ip -n "$K8S_NS_NODE" link set out0 up
  ip -n "$K8S_NS_OUT" link set eth0 up
  ip -n "$K8S_NS_NODE" route add default via "$K8S_OUTSIDE_IP"
  # The control plane reaches the pods through their node (cluster_up adds each node's pod CIDR).
}

# A CA, a serving certificate for the API server, a client certificate per component and the
# service-account signing key, all ECDSA P-256 (quick to make) and valid for two days.
cluster_pki() {
  local pki=$K8S_RUN/pki
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -noenc -days 2 \
    -subj "/CN=dpcni-k8s-lane-ca" -keyout "$pki/ca.key" -out "$pki/ca.crt" 2>/dev/null
  cert() {  # NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES]
    local name=$1 subject=$2 usage=$3 sans=${4:-}
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -noenc -subj "$subject" \
      -keyout "$pki/$name.key" -out "$pki/$name.csr" 2>/dev/null
    {
      echo "basicConstraints = CA:FALSE"
      echo "keyUsage = critical, digitalSignature, keyEncipherment"
      echo "extendedKeyUsage = $usage"
      [ -z "$sans" ] || echo "subjectAltName = $sans"
    } >"$pki/$name.ext"
    openssl x509 -req -in "$pki/$name.csr" -CA "$pki/ca.crt" -CAkey "$pki/ca.key" \
      -CAcreateserial -days 2 -extfile "$pki/$name.ext" -out "$pki/$name.crt" 2>/dev/null
  }
  cert apiserver "/CN=kube-apiserver" serverAuth \
    "IP:$K8S_CP_IP, IP:$K8S_SERVICE_APISERVER_IP, IP:127.0.0.1, DNS:localhost, DNS:kubernetes, DNS:kubernetes.default, DNS:kubernetes.default.svc, DNS:kubernetes.default.svc.cluster.local"
  cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  cert admin "/O=system:masters/CN=lane-admin" clientAuth
  cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  cert scheduler "/CN=system:kube-scheduler" clientAuth
  cert kube-proxy "/CN=system:kube-proxy" clientAuth
  local n
  for ((n = 1; n <= K8S_NODE_COUNT; n++)); do
    cert "kubelet$(node_sfx "$n")" "/O=system:nodes/CN=system:node:${K8S_NODE_NAMES[n - 1]}" clientAuth
  done
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$pki/sa.key" 2>/dev/null
  openssl pkey -in "$pki/sa.key" -pubout -out "$pki/sa.pub" 2>/dev/null

  kubeconfig() {  # NAME SERVER
    cat >"$pki/$1.kubeconfig" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: lane
  cluster:
    server: $2
    certificate-authority: $pki/ca.crt
users:
- name: $1
  user:
    client-certificate: $pki/$1.crt
    client-key: $pki/$1.key
contexts:
- name: lane
  context:
    cluster: lane
    user: $1
current-context: lane
EOF
  }
  kubeconfig admin https://127.0.0.1:6443
  kubeconfig controller-manager https://127.0.0.1:6443
  kubeconfig scheduler https://127.0.0.1:6443
  kubeconfig kube-proxy "https://$K8S_CP_IP:6443"
  for ((n = 1; n <= K8S_NODE_COUNT; n++)); do
    kubeconfig "kubelet$(node_sfx "$n")" "https://$K8S_CP_IP:6443"
  done
}

cluster_control_plane() {
  local pki=$K8S_RUN/pki
  spawn etcd "$K8S_NS_CP" "$K8S_BIN/etcd" --name lane --data-dir "$K8S_RUN/etcd" \
    --listen-client-urls http://127.0.0.1:2379 --advertise-client-urls http://127.0.0.1:2379 \
    --listen-peer-urls http://127.0.0.1:2380 --initial-advertise-peer-urls http://127.0.0.1:2380 \
    --initial-cluster lane=http://127.0.0.1:2380 --unsafe-no-fsync --log-level warn
  spawn kube-apiserver "$K8S_NS_CP" "$K8S_BIN/kube-apiserver" \
    --etcd-servers http://127.0.0.1:2379 \
    --bind-address 0.0.0.0 --secure-port 6443 --advertise-address "$K8S_CP_IP" \
    --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
    --client-ca-file "$pki/ca.crt" \
    --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
    --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
    --kubelet-preferred-address-types InternalIP \
    --service-cluster-ip-range "$K8S_SERVICE_CIDR" \
    --service-account-issuer https://kubernetes.default.svc.cluster.local \
    --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
    --authorization-mode Node,RBAC --enable-admission-plugins NodeRestriction \
    --allow-privileged --cert-dir "$K8S_RUN/apiserver-certs" --profiling=false
  # The controller manager and the scheduler read RBAC-protected objects at start: after the API
  # server's bootstrap roles exist (/readyz includes them).
  wait_for "the API server's /readyz" 120 kc get --raw /readyz
  spawn kube-controller-manager "$K8S_NS_CP" "$K8S_BIN/kube-controller-manager" \
    --kubeconfig "$pki/controller-manager.kubeconfig" \
    --authentication-kubeconfig "$pki/controller-manager.kubeconfig" \
    --authorization-kubeconfig "$pki/controller-manager.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false \
    --allocate-node-cidrs --cluster-cidr "$K8S_CLUSTER_CIDR" --node-cidr-mask-size 24 \
    --service-cluster-ip-range "$K8S_SERVICE_CIDR" \
    --root-ca-file "$pki/ca.crt" --service-account-private-key-file "$pki/sa.key" \
    --use-service-account-credentials --profiling=false
  spawn kube-scheduler "$K8S_NS_CP" "$K8S_BIN/kube-scheduler" \
    --kubeconfig "$pki/scheduler.kubeconfig" \
    --authentication-kubeconfig "$pki/scheduler.kubeconfig" \
    --authorization-kubeconfig "$pki/scheduler.kubeconfig" \
    --bind-address 127.0.0.1 --leader-elect=false --profiling=false
}

# Node N: containerd, kubelet and kube-proxy started by tests/k8s/node.sh inside the node's netns
# and a mount namespace of its own (see there). Each node has its own containerd root and socket,
# kubelet root and certificate, and cgroup root (the one-node lane's kubelet uses the run's cgroup
# itself): a kubelet removes pod cgroups under its root that it does not know.
cluster_node() {  # [N]
  local n=${1:-1}
  local node sfx name ip cgroup_root
  node=$(node_dir "$n") sfx=$(node_sfx "$n") name=${K8S_NODE_NAMES[n - 1]} ip=${K8S_NODE_IPS[n - 1]}
  cgroup_root=$K8S_CGROUP
  if [ "$K8S_NODE_COUNT" -gt 1 ]; then
    cg_create "node$n"
    cgroup_root=$K8S_CGROUP/node$n
  fi
  cat >"$node/containerd.toml" <<EOF
version = 2
root = "$node/containerd/root"
state = "$node/containerd/state"
[grpc]
  address = "$node/containerd.sock"
[ttrpc]
  address = "$node/containerd.sock.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$node/containerd/opt"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$K8S_PAUSE_IMAGE"
  # Root lacks CAP_SYS_RESOURCE here: a sandbox's oomScoreAdj below ours would fail inside runc.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$node/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/opt/cni/bin"
    conf_dir = "/etc/cni/net.d"
EOF
  cat >"$node/kubelet.yaml" <<EOF
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
containerRuntimeEndpoint: unix://$node/containerd.sock
# No systemd here; the v1 hierarchy (1.34 only warns about it). The run's own cgroup, so that
# cluster_down ends every pod and nothing collides with another kubelet.
cgroupDriver: cgroupfs
cgroupRoot: $cgroup_root
failSwapOn: false
address: $ip
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $K8S_RUN/pki/ca.crt}
authorization: {mode: Webhook}
# A test node on a shared disk: never evict or collect images because the machine's disk is full.
evictionHard: {memory.available: "100Mi", nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
resolvConf: ""
nodeStatusUpdateFrequency: 2s
syncFrequency: 10s
fileCheckFrequency: 5s
EOF
  cat >"$node/kube-proxy.yaml" <<EOF
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection:
  kubeconfig: $K8S_RUN/pki/kube-proxy.kubeconfig
hostnameOverride: $name
mode: nftables
clusterCIDR: $K8S_CLUSTER_CIDR
bindAddress: $ip
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# nf_conntrack_max and the conntrack timeouts are the machine's, not the netns's: leave them.
conntrack:
  maxPerCore: 0
  min: 0
  tcpEstablishedTimeout: 0s
  tcpCloseWaitTimeout: 0s
EOF
  cat >"$node/env" <<EOF
K8S_RUN=$(printf %q "$K8S_RUN")
K8S_BIN=$(printf %q "$K8S_BIN")
K8S_NODE_DIR=$(printf %q "$node")
EOF
  (
    cg_join daemons
    exec nsenter --net="/run/netns/${K8S_NS_NODES[n - 1]}" unshare --mount --propagation private -- \
      bash "$k8s_lib_dir/node.sh" "$node/env" >"$K8S_RUN/logs/node$sfx.log" 2>&1 </dev/null
  ) &
  echo "$!" >"$K8S_RUN/pids/node$sfx"
  disown "$!"
  wait_for "node $n's mount namespace" 30 test -s "$node/pid"
  spawn_on "$n" "containerd$sfx" containerd --config "$node/containerd.toml"
  wait_for "node $n's containerd answering on its socket" 60 ctr_on "$n" version
  cluster_kubelet "$n"
  spawn_on "$n" "kube-proxy$sfx" "$K8S_BIN/kube-proxy" --config "$node/kube-proxy.yaml"
}

# (Re)starts node N's kubelet, e.g. to register a deleted Node again. It runs under restart.sh, as a
# node's kubelet runs under its service manager: a kubelet that exits is started again, at most
# twice (each exit is in its log). Its pid file holds restart.sh's pid: a TERM to it stops both.
cluster_kubelet() {  # N
  local n=$1 node
  node=$(node_dir "$n")
  spawn_on "$n" "kubelet$(node_sfx "$n")" bash "$k8s_lib_dir/restart.sh" 2 \
    "$K8S_BIN/kubelet" --config "$node/kubelet.yaml" \
    --kubeconfig "$K8S_RUN/pki/kubelet$(node_sfx "$n").kubeconfig" \
    --hostname-override "${K8S_NODE_NAMES[n - 1]}" --node-ip "${K8S_NODE_IPS[n - 1]}" \
    --cert-dir "$node/kubelet-pki"
}

# Imports an OCI or docker archive into node N's containerd (default 1; namespace k8s.io, where the
# CRI looks) and prints the name of the image it holds.
cluster_import() {  # ARCHIVE [N]
  local archive=$1 n=${2:-1} out name
  [ -f "$archive" ] || fail "image archive $archive is missing (build it with tools/image/build.sh)"
  out=$(ctr_on "$n" images import "$archive" 2>&1) || fail "importing $archive into node $n: $out"
  echo "$out" >>"$K8S_RUN/logs/images.log"
  # "unpacking NAME (sha256:…)...done"
  name=$(echo "$out" | sed -n 's/^unpacking \(.*\) (sha256:.*$/\1/p' | head -n 1)
  [ -n "$name" ] || fail "$archive holds no named image: $out"
  echo "$name"
}

# The whole cluster up to registered nodes (NotReady until a network plugin is configured).
# K8S_POD_CIDRS: each node's pod CIDR (K8S_POD_CIDR: node 1's).
cluster_up() {
  cg_create daemons
  cluster_network
  cluster_pki
  cluster_control_plane
  log "control plane ready"
  local n name
  for ((n = 1; n <= K8S_NODE_COUNT; n++)); do
    cluster_node "$n"
  done
  K8S_POD_CIDRS=()
  for ((n = 1; n <= K8S_NODE_COUNT; n++)); do
    name=${K8S_NODE_NAMES[n - 1]}
    wait_for "node $name registered with a pod CIDR" 90 node_pod_cidr "$name"
    K8S_POD_CIDRS+=("$(node_pod_cidr "$name")")
    ip -n "$K8S_NS_CP" route replace "${K8S_POD_CIDRS[n - 1]}" via "${K8S_NODE_IPS[n - 1]}"
    log "node $name registered, pod CIDR ${K8S_POD_CIDRS[n - 1]}"
  done
  K8S_POD_CIDR=${K8S_POD_CIDRS[0]}
}
# Prints node NAME's pod CIDR; fails while it has none.
node_pod_cidr() {  # NAME
  local cidr
  cidr=$(kc get node "$1" -o jsonpath='{.spec.podCIDR}') && [ -n "$cidr" ] && echo "$cidr"
}

# The reference plugins as the node's network, as a cluster without dpcni would run them: bridge
# with host-local addresses from the node's pod CIDR. br_netfilter (in this kernel; its switches are
# per netns) makes bridged pod-to-pod traffic pass kube-proxy's rules, as Services need.
cluster_install_bridge() {
  ip netns exec "$K8S_NS_NODE" sysctl -qw net.bridge.bridge-nf-call-iptables=1
  node_sh "cat >/etc/cni/net.d/10-bridge.conflist" <<EOF
{"cniVersion": "1.0.0", "name": "lane-bridge", "plugins": [
  {"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {"type": "host-local", "ranges": [[{"subnet": "$K8S_POD_CIDR"}]],
            "routes": [{"dst": "0.0.0.0/0"}]}},
  {"type": "portmap", "capabilities": {"portMappings": true}}]}
EOF
}

# --- diagnostics and tear-down --------------------------------------------------------------------

# What a failure needs: the cluster's view and the tails of the node's logs.
# A lane's exit and time budget: on any exit the cluster goes (dumped first when the lane failed,
# with cluster_dump and the lane's own agent_dump), and past $budget seconds the lane is sent TERM,
# whose trap runs once the command in hand returns. Call once, after `budget` is set.
watchdog=""
lane_on_exit() {
  local status=$?
  trap - EXIT
  set +e
  k8s_restore_output
  [ -z "$watchdog" ] || kill "$watchdog" 2>/dev/null
  local job
  for job in $(jobs -p); do kill "$job" 2>/dev/null; done
  if [ "$status" -ne 0 ] && [ -n "${K8S_RUN:-}" ] && [ -d "$K8S_RUN" ]; then
    log "the lane failed in phase '${phase_name:-set-up}'; the cluster as it was:"
    cluster_dump
    agent_dump
  fi
  cluster_down
  log "cluster removed"
  exit "$status"
}
lane_traps() {
  trap lane_on_exit EXIT
  trap 'fail "terminated (or past the budget of $budget s)"' TERM
  trap 'fail "interrupted"' INT
  (
    trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM
    sleep "$budget" &
    sleeper=$!
    wait "$sleeper"
    kill -TERM $$
  ) &
  watchdog=$!
}

cluster_dump() {
  {
    echo "=== nodes and pods"
    kc get nodes -o wide 2>&1 || true
    kc get pods -A -o wide 2>&1 || true
    echo "=== events"
    kc get events -A --sort-by=.lastTimestamp 2>&1 | tail -n 30 || true
    local name n
    for ((n = 1; n <= ${K8S_NODE_COUNT:-1}; n++)); do
      for name in kubelet containerd kube-proxy node; do
        name+=$(node_sfx "$n")
        [ -f "$K8S_RUN/logs/$name.log" ] || continue
        echo "=== tail of $name.log"
        tail -n 30 "$K8S_RUN/logs/$name.log"
      done
    done
    for name in kube-apiserver kube-controller-manager; do
      [ -f "$K8S_RUN/logs/$name.log" ] || continue
      echo "=== tail of $name.log"
      tail -n 30 "$K8S_RUN/logs/$name.log"
    done
  } >&2
}

# Ends every process of a run (by its cgroups), then removes its namespaces, cgroups and directory.
cluster_teardown() {  # RUN_DIR
  local run=$1 kind path procs i dirs=() parents=() nss=()
  [ -f "$run/state" ] || return 0
  while read -r kind path; do
    case "$kind" in
      cgroup) dirs+=("$path") ;;
      cgroup-parent) parents+=("$path") ;;
      netns) nss+=("$path") ;;
    esac
  done <"$run/state"
  # Every process of the run is in its cgroup, pods and containerd's shims included (kubelet's pod
  # cgroups hang below it).
  procs=""
  for _ in $(seq 1 40); do
    procs=$(for path in "${dirs[@]}"; do
      [ -d "$path" ] && find "$path" -name cgroup.procs -exec cat {} + 2>/dev/null
    done | sort -u)
    [ -n "$procs" ] || break
    # shellcheck disable=SC2086
    kill -KILL $procs 2>/dev/null || true
    sleep 0.25
  done
  [ -z "$procs" ] || echo "k8s: processes of $run still alive: $procs" >&2
  for path in "${dirs[@]}"; do
    [ -d "$path" ] || continue
    find "$path" -depth -type d -exec rmdir {} \; 2>/dev/null ||
      echo "k8s: cannot remove cgroup $path" >&2
  done
  for ((i = ${#parents[@]} - 1; i >= 0; i--)); do
    rmdir "${parents[$i]}" 2>/dev/null || true
  done
  for path in "${nss[@]}"; do
    ip netns del "$path" 2>/dev/null || true
  done
  # The node's mounts lived in its own mount namespace, gone with its last process.
  if grep -q " $run" /proc/self/mountinfo; then
    echo "k8s: mounts under $run remain; leaving it" >&2
    return 1
  fi
  rm -rf "$run"
}

cluster_down() {
  [ -n "${K8S_RUN:-}" ] && [ -d "$K8S_RUN" ] || return 0
  if [ -n "${K8S_LOG_DIR:-}" ]; then
    rm -rf "$K8S_LOG_DIR"
    mkdir -p "$K8S_LOG_DIR"
    cp -r "$K8S_RUN/logs/." "$K8S_LOG_DIR/" 2>/dev/null || true
  fi
  cluster_teardown "$K8S_RUN"
}
