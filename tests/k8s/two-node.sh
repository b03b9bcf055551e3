#!/usr/bin/env bash
# The two-node cluster lane: two Kubernetes nodes on this machine sharing one control plane
# (tests/k8s/cluster.sh with K8S_NODE_COUNT=2), dpcni installed on both with helm, each agent's
# uplink an af_packet port on a veth into a data-plane fabric of its own namespaces:
#
#   --fabric l2      node 1 up0 172.31.0.11/24 ── br1 (fabric netns) ── up0 172.31.0.12/24 node 2
#                    one subnet: remote_nodes mode auto routes host-gw
#   --fabric routed  node 1 up0 172.31.1.11/24 ── br1 ── r1 172.31.1.1 (router netns)
#                    node 2 up0 172.31.2.12/24 ── br2 ── r2 172.31.2.1
#                    two subnets: mode auto encapsulates in VXLAN
#
# Each node's InternalIP is its address on the control plane's network (172.30.0.2, .3); its
# uplink address is published as the Node annotation dpcni.dev/data-address.
#
# Checks, driven with kubectl (and dpcnictl in the agents' pods):
#   1. helm install on both nodes: both Ready, both agents Ready
#   2. same-node: on each node a client pings and asks its echo server over TCP
#   3. cross-node: each agent routes the other node's pod CIDR (dpcnictl routes); pods ping both
#      ways; a 30 s TCP transfer from node 1 to node 2 arrives whole; the Service with an endpoint
#      on each node answers from each side, reaching both; a pod reaches the other node's
#      host-network address
#   4. (routed) VXLAN from the fabric whose inner source is outside the sending node's pod CIDR is
#      dropped and counted (vxlan_spoofed_source); the same packets with an inner source inside it
#      are decapsulated (the control that shows the packets reach the agent at all)
#   5. node 1's agent pod deleted: the longest gap of a 20 ms ping from node 2 to node 1 is printed
#   6. kubectl delete node of node 2 withdraws its routes on node 1; its kubelet restarted
#      registers it again and the routes come back
#
#   two-node.sh --k8s-bin DIR --image-dir DIR --echo BINARY [--fabric l2|routed] [--source-dir DIR]
#               [--log-dir DIR] [--budget SECONDS] [--only-same-node]
#
# --only-same-node stops after step 2 and leaves remote_nodes out of the agents' configuration: for
# bringing the lane up on a tree whose agent does not know remote routes yet. ctest never passes it.
# Any missing piece or failed check fails the lane, naming it; nothing is skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
K8S_NODE_COUNT=2
# shellcheck source=tests/k8s/cluster.sh
source "$here/cluster.sh"

k8s_bin="" image_dir="" echo_bin="" fabric=l2 budget=600 only_same_node=no
source_dir=$(cd "$here/../.." && pwd)
while [ $# -gt 0 ]; do
  case "$1" in
    --k8s-bin) k8s_bin=$2; shift 2 ;;
    --image-dir) image_dir=$2; shift 2 ;;
    --echo) echo_bin=$2; shift 2 ;;
    --fabric) fabric=$2; shift 2 ;;
    --source-dir) source_dir=$(realpath "$2"); shift 2 ;;
    --log-dir) K8S_LOG_DIR=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    --only-same-node) only_same_node=yes; shift ;;
    *) echo "two-node.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$k8s_bin" ] || fail "--k8s-bin is required (the output of tools/k8s/build.sh)"
case "$fabric" in
  l2 | routed) ;;
  *) fail "--fabric must be l2 or routed, not $fabric" ;;
esac
[ -n "$image_dir" ] && [ -f "$image_dir/images" ] ||
  fail "no image list '$image_dir/images': build the images with tools/image/build.sh --build-dir BUILD $image_dir"
for archive in pause.tar echo.tar dpcni.tar; do
  [ -f "$image_dir/$archive" ] || fail "$image_dir/$archive is missing: build the images with tools/image/build.sh"
done
[ -n "$echo_bin" ] && [ -x "$echo_bin" ] || fail "--echo must name the built dpcni_test_echo"
[ -f "$source_dir/charts/dpcni/Chart.yaml" ] || fail "no chart at $source_dir/charts/dpcni"
command -v ethtool >/dev/null || fail "ethtool is not installed: run tools/install-deps.sh"
image_name() {  # ARCHIVE [TAG_TO_AVOID]: a name the archive holds, another tag than the second if it can
  local names
  names=$(awk -v a="$1" '$2 == a { print $1 }' "$image_dir/images")
  [ -n "$names" ] || fail "$image_dir/images names no image in $1"
  { echo "$names" | grep -v -x ".*:${2:-}" || echo "$names"; } | head -n 1
}

# The data-plane fabric: each node's uplink address, prefix and the routes its agent needs.
if [ "$fabric" = l2 ]; then
  data_ips=(172.31.0.11 172.31.0.12) data_gws=("" "")
else
  data_ips=(172.31.1.11 172.31.2.12) data_gws=(172.31.1.1 172.31.2.1)
fi
VXLAN_PORT=4789

# --- phases, timings, failure reports -------------------------------------------------------------

phase_names=() phase_ms=() results=()
phase_name="" phase_start=0
phase() {
  phase_end
  phase_name=$1
  phase_start=$(now_ms)
  log "== $phase_name"
}
phase_end() {
  [ -n "$phase_name" ] || return 0
  local ms=$(($(now_ms) - phase_start))
  phase_names+=("$phase_name")
  phase_ms+=("$ms")
  log "== $phase_name: done in $((ms / 1000)).$(printf %03d $((ms % 1000))) s"
  phase_name=""
}
result() { results+=("$1"); log "$1"; }

agent_selector=app.kubernetes.io/name=dpcni
agent_dump() {
  local pod
  for pod in $(kc get pods -n kube-system -l "$agent_selector" -o name 2>/dev/null); do
    echo "=== $pod: agent log (tail)" >&2
    kc logs -n kube-system "$pod" -c agent --tail 40 >&2 2>&1
    echo "=== $pod: k8s log (tail)" >&2
    kc logs -n kube-system "$pod" -c k8s --tail 20 >&2 2>&1
  done
}

lane_traps

# --- helpers --------------------------------------------------------------------------------------

# The agent pods of the one release on node N (kubectl's other arguments follow).
agent_pods() {  # N ARGS...
  kc get pods -n kube-system -l app.kubernetes.io/instance=dpcni \
    --field-selector "spec.nodeName=${K8S_NODE_NAMES[$1 - 1]}" "${@:2}"
}
# Node N's agent pod, the one not being deleted.
agent_pod() {  # N
  agent_pods "$1" \
    -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.metadata.deletionTimestamp}{"\n"}{end}' |
    awk 'NF == 1 { print $1 }'
}
dpcnictl_on() {  # N ARGS...
  local n=$1 pod
  shift
  pod=$(agent_pod "$n")
  [ -n "$pod" ] || return 1
  kc exec -n kube-system "$pod" -c agent -- dpcnictl "$@"
}
node_ready() { kc get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'; }
node_is() { [ "$(node_ready "$1")" = "$2" ]; }
agent_ready() {  # N
  local ready
  ready=$(agent_pods "$1" \
    -o jsonpath='{range .items[*]}{.status.containerStatuses[?(@.name=="agent")].ready}{"\n"}{end}')
  [ "$ready" = true ]
}
# While node N waits for its agent: an agent container that exited (e.g. refused its configuration)
# fails the lane at once with its last words, rather than at the end of the wait.
node_ready_or_agent_failed() {  # N
  local restarts pod
  restarts=$(agent_pods "$1" \
    -o jsonpath='{range .items[*]}{.status.containerStatuses[?(@.name=="agent")].restartCount}{end}')
  if [ "${restarts:-0}" -gt 0 ]; then
    pod=$(agent_pod "$1")
    fail "node $1's agent exited: $(kc logs -n kube-system "$pod" -c agent --previous --tail 3 2>&1)"
  fi
  node_is "${K8S_NODE_NAMES[$1 - 1]}" True
}
pod_ip() { kc get pod -n lane "$1" -o jsonpath='{.status.podIP}'; }
in_pod() {  # POD COMMAND...
  local pod=$1
  shift
  kc exec -n lane "$pod" -- "$@"
}
# Whether node N's agent has (want=yes) or lacks (want=no) a route for CIDR (dpcnictl routes: the
# prefix in the first column).
route_is() {  # N CIDR yes|no
  local routes
  routes=$(dpcnictl_on "$1" routes) || return 1
  if echo "$routes" | awk -v p="$2" '$1 == p { found = 1 } END { exit !found }'; then
    [ "$3" = yes ]
  else
    [ "$3" = no ]
  fi
}
# The uplink's counter NAME (drops or events) on node N, from `dpcnictl ports`: "name=count" in the
# uplink's row (named after its role or its interface); 0 when it has none.
uplink_counter() {  # N NAME
  local ports
  ports=$(dpcnictl_on "$1" ports) || fail "dpcnictl ports on node $1"
  echo "$ports" | awk -v c="$2" '$2 == "uplink" || $2 == "up0" { for (i = 1; i <= NF; i++) if (index($i, c "=") == 1) { print substr($i, length(c) + 2); exit } } END { }' |
    { read -r v || true; echo "${v:-0}"; }
}
replies_beyond() { [ "$(grep -c 'seq=' "$1")" -gt "$2" ]; }

# --- the cluster ----------------------------------------------------------------------------------

phase "cluster up (2 nodes)"
cluster_init "$k8s_bin"
K8S_PAUSE_IMAGE=$(image_name pause.tar)
test_ref=$(image_name echo.tar)
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$source_dir/charts/dpcni/Chart.yaml")
dpcni_ref=$(image_name dpcni.tar "$app_version")
cluster_up
node1=${K8S_NODE_NAMES[0]} node2=${K8S_NODE_NAMES[1]}

phase "data-plane fabric ($fabric)"
# The fabric's namespaces are the run's: cluster_teardown removes them (and a later run's sweep).
K8S_NS_FAB=dk8s-$K8S_ID-fab K8S_NS_RT=dk8s-$K8S_ID-rt
for ns in "$K8S_NS_FAB" $([ "$fabric" = routed ] && echo "$K8S_NS_RT"); do
  ip netns add "$ns"
  echo "netns $ns" >>"$K8S_RUN/state"
  ip -n "$ns" link set lo up
done
# Frames the kernel sends into the fabric (the router's, the spoofer's) must reach af_packet whole:
# a veth hands partial checksums and unsegmented TSO frames on, which a real wire never carries.
no_offloads() { ip netns exec "$1" ethtool -K "$2" tx off tso off gso off sg off >/dev/null 2>&1 || true; }
bridges=(br1)
[ "$fabric" = l2 ] || bridges+=(br2)
for br in "${bridges[@]}"; do
  ip -n "$K8S_NS_FAB" link add "$br" type bridge
  ip -n "$K8S_NS_FAB" link set "$br" up
done
for n in 1 2; do
  ns=${K8S_NS_NODES[n - 1]} br=br1
  [ "$fabric" = l2 ] || br=br$n
  ip -n "$K8S_NS_FAB" link add "n$n" type veth peer name up0 netns "$ns"
  ip -n "$K8S_NS_FAB" link set "n$n" master "$br" up
  no_offloads "$K8S_NS_FAB" "n$n"
  # up0 is the agent's (af_packet reads beside the kernel): the kernel holds no address on it, sends
  # no IPv6 of its own there and never forwards what arrives on it.
  ip netns exec "$ns" sysctl -qw net.ipv6.conf.up0.disable_ipv6=1 net.ipv4.conf.up0.forwarding=0
  ip -n "$ns" link set up0 up
done
if [ "$fabric" = routed ]; then
  for n in 1 2; do
    ip -n "$K8S_NS_RT" link add "r$n" type veth peer name "rt$n" netns "$K8S_NS_FAB"
    ip -n "$K8S_NS_FAB" link set "rt$n" master "br$n" up
    ip -n "$K8S_NS_RT" addr add "${data_gws[n - 1]}/24" dev "r$n"
    ip -n "$K8S_NS_RT" link set "r$n" up
    no_offloads "$K8S_NS_RT" "r$n"
  done
  ip netns exec "$K8S_NS_RT" sysctl -qw net.ipv4.ip_forward=1
fi
# The Nodes' data-plane addresses (their InternalIPs are on the control plane's network).
annotate_data_address() {  # N
  kc annotate --overwrite node "${K8S_NODE_NAMES[$1 - 1]}" "dpcni.dev/data-address=${data_ips[$1 - 1]}" >/dev/null
}
annotate_data_address 1
annotate_data_address 2

phase "images imported on both nodes"
# The two nodes' containerds import side by side, each its archives one after another.
import_jobs=()
for n in 1 2; do
  (for archive in pause.tar echo.tar dpcni.tar; do cluster_import "$image_dir/$archive" "$n" >/dev/null; done) &
  import_jobs+=("$!")
done
for job in "${import_jobs[@]}"; do
  wait "$job" || fail "importing the images into a node (the error is above)"
done

# --- step 1: dpcni on both nodes ------------------------------------------------------------------

phase "helm install on both nodes: Ready"
for n in 1 2; do
  node_is "${K8S_NODE_NAMES[n - 1]}" False || fail "node $n is '$(node_ready "${K8S_NODE_NAMES[n - 1]}")' before any network plugin"
done
# One release for both nodes, as an operator installs a CNI: what differs per node (the uplink's
# address, and on the routed fabric its route to the other subnet) goes under uplink.per_node, and
# each agent takes its node's entry. Everything else is the chart's as an operator installs it.
repo=${dpcni_ref%:*} tag=${dpcni_ref##*:}
per_node=""
for n in 1 2; do
  entry="\"address\": \"${data_ips[n - 1]}/24\""
  if [ "$fabric" = routed ]; then
    other=$((3 - n))
    entry+=", \"routes\": [{\"dst\": \"${data_ips[other - 1]%.*}.0/24\", \"via\": \"${data_gws[n - 1]}\"}]"
  fi
  per_node+="${per_node:+, }\"${K8S_NODE_NAMES[n - 1]}\": {$entry}"
done
uplink="{\"type\": \"af_packet\", \"interface\": \"up0\", \"per_node\": {$per_node}}"
remote=(--set remoteNodes.enabled=true --set remoteNodes.mode=auto --set "remoteNodes.vxlanPort=$VXLAN_PORT"
  --set remoteNodes.vni=1)
[ "$only_same_node" = no ] || remote=(--set remoteNodes.enabled=false)
# remoteNodes (the chart renders the agent's remote_nodes and sizes the pods' MTU for VXLAN from
# it; dpcni-k8s sends the other Nodes).
helm_ install dpcni "$source_dir/charts/dpcni" --namespace kube-system \
  --set "image.repository=$repo" --set-string "image.tag=$tag" \
  --set "clusterCIDRs={$K8S_CLUSTER_CIDR}" "${remote[@]}" \
  --set-json "agent.extraConfig={\"uplink\": $uplink}" >"$K8S_RUN/logs/helm-install.log" ||
  fail "helm install dpcni (logs/helm-install.log)"
for n in 1 2; do
  wait_for "node $n Ready" 180 node_ready_or_agent_failed "$n"
  wait_for "node $n's agent pod Ready" 120 agent_ready "$n"
done
for n in 1 2; do
  log "node $n: agent $(agent_pod "$n"), pod CIDR ${K8S_POD_CIDRS[n - 1]}, uplink ${data_ips[n - 1]}"
  dpcnictl_on "$n" status >&2 || fail "dpcnictl status on node $n"
done

# --- step 2: the workload; same-node traffic ------------------------------------------------------

phase "workload Ready"
sed -e "s|@TEST_IMAGE@|$test_ref|g" -e "s|@NODE1@|$node1|g" -e "s|@NODE2@|$node2|g" \
  "$here/two-node.yaml" | kc apply -f - >/dev/null
kc wait -n lane --for=condition=Ready pod/echo-1 pod/echo-2 pod/client-1 pod/client-2 --timeout 120s >/dev/null ||
  fail "the workload's pods are not Ready"
kc get pods -n lane -o wide >&2
# shellcheck disable=SC2086  # split at the dots on purpose
ip_to_int() { local IFS=.; set -- $1; echo $((($1 << 24) + ($2 << 16) + ($3 << 8) + $4)); }
ip_in_cidr() {
  local net=${2%/*} bits=${2#*/}
  local mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
  [ $(($(ip_to_int "$1") & mask)) -eq $(($(ip_to_int "$net") & mask)) ]
}
declare -A ip
for pod in echo-1 client-1 echo-2 client-2; do
  ip[$pod]=$(pod_ip "$pod")
  n=${pod#*-}
  ip_in_cidr "${ip[$pod]}" "${K8S_POD_CIDRS[n - 1]}" ||
    fail "pod $pod has ${ip[$pod]}, outside node $n's pod CIDR ${K8S_POD_CIDRS[n - 1]}"
done

# TCP to an echo server, which must name itself and see the asking pod's own address.
tcp_check() {  # FROM TO
  local out
  out=$(in_pod "$1" dpcni_test_echo tcp "${ip[$2]}" 8080) || fail "TCP from $1 to $2 (${ip[$2]}): $out"
  [[ "$out" == "hostname=$2 "*" peer=${ip[$1]}:"* ]] ||
    fail "TCP from $1 to $2 answered '$out', not hostname=$2 seeing peer ${ip[$1]}"
}
ping_check() {  # FROM TO
  in_pod "$1" ping -c 3 -w 10 "${ip[$2]}" >/dev/null || fail "$1 cannot ping $2 (${ip[$2]})"
}

phase "same-node traffic"
for n in 1 2; do
  ping_check "client-$n" "echo-$n"
  ping_check "echo-$n" "client-$n"
  tcp_check "client-$n" "echo-$n"
done
log "same-node: ping both ways and TCP on each node"
phase_end

summary() {
  log "timings:"
  local i
  for i in "${!phase_names[@]}"; do
    printf '  %-52s %7.1f s\n' "${phase_names[$i]}" "$(echo "${phase_ms[$i]}" | awk '{ print $1 / 1000 }')" >&2
  done
  for line in "${results[@]}"; do echo "  $line" >&2; done
}
if [ "$only_same_node" = yes ]; then
  summary
  log "two-node lane ($fabric): same-node checks passed; --only-same-node: cross-node checks NOT run"
  exit 0
fi

# --- step 3: cross-node traffic --------------------------------------------------------------------

phase "cross-node routes in both agents"
wait_for "node 1's agent routing node 2's pod CIDR ${K8S_POD_CIDRS[1]}" 30 route_is 1 "${K8S_POD_CIDRS[1]}" yes
wait_for "node 2's agent routing node 1's pod CIDR ${K8S_POD_CIDRS[0]}" 30 route_is 2 "${K8S_POD_CIDRS[0]}" yes
# mode auto: host-gw on one subnet, VXLAN across the router; the route's line names its mode.
want_mode=host-gw
[ "$fabric" = l2 ] || want_mode=vxlan
for n in 1 2; do
  other=$((3 - n))
  routes=$(dpcnictl_on "$n" routes) || fail "dpcnictl routes on node $n"
  echo "$routes" >&2
  line=$(echo "$routes" | awk -v p="${K8S_POD_CIDRS[other - 1]}" '$1 == p')
  echo "$line" | grep -q -i -w -- "$want_mode" ||
    fail "node $n routes node $other's ${K8S_POD_CIDRS[other - 1]} as '$line', not in mode $want_mode"
  echo "$line" | grep -q -w -F "${data_ips[other - 1]}" ||
    fail "node $n routes node $other's ${K8S_POD_CIDRS[other - 1]} as '$line', not to its data address ${data_ips[other - 1]}"
done
result "each agent routes the other node's pod CIDR in mode $want_mode to its data address"

phase "cross-node traffic"
# The 30 s transfer runs beside the other checks: a receiver on echo-2 writes what arrives to a
# file; the sender on client-1 writes 256 KiB chunks for 30 s (at most ~12 MB/s) and says how many.
# The connection must carry every byte, through everything else the lane does meanwhile. (The
# receiver's stdin is a pipe that stays open: busybox nc ends when its stdin does.)
in_pod echo-2 sh -c 'rm -f /tmp/rx; (sleep 120 | nc -l -p 9000 >/tmp/rx) >/dev/null 2>&1 &'
sleep 0.5
transfer_start=$(now_ms)
in_pod client-1 sh -c "end=\$((\$(date +%s) + 30)); n=0
  { while [ \$(date +%s) -lt \$end ]; do dd if=/dev/zero bs=65536 count=4 2>/dev/null; n=\$((n + 1)); usleep 20000; done
    echo \$n >/tmp/tx; } | nc ${ip[echo-2]} 9000 && cat /tmp/tx" >"$K8S_RUN/transfer.out" 2>&1 &
transfer_job=$!

for pair in "client-1 echo-2" "echo-2 client-1" "client-2 echo-1" "echo-1 client-2" "echo-1 echo-2" "echo-2 echo-1"; do
  # shellcheck disable=SC2086
  ping_check $pair
done
tcp_check client-1 echo-2
tcp_check client-2 echo-1
log "cross-node: ping both ways between every pair across the nodes, TCP both ways"

# The Service: from each side, 20 connections must reach both endpoints (one on each node).
cluster_ip=$(kc get service -n lane echo -o jsonpath='{.spec.clusterIP}')
for n in 1 2; do
  out=$(in_pod "client-$n" sh -c "for i in \$(seq 20); do dpcni_test_echo tcp $cluster_ip 80 || exit 1; done") ||
    fail "TCP from client-$n to the Service $cluster_ip: $out"
  names=$(echo "$out" | sed -n 's/.*hostname=\([^ ]*\) .*/\1/p' | sort -u | tr '\n' ' ')
  [ "$names" = "echo-1 echo-2 " ] ||
    fail "20 connections from client-$n to the Service reached [$names], not both endpoints [echo-1 echo-2]"
done
log "Service $cluster_ip: from each node, connections reached the endpoints on both nodes"

# The other node's host network: an echo server in each node's netns, reached from the other
# node's pods (through the pod's node and the control plane's network).
for n in 1 2; do
  spawn "host-echo$n" "${K8S_NS_NODES[n - 1]}" "$echo_bin" serve --tcp 8090
done
for n in 1 2; do
  wait_for "node $n's host echo server" 10 grep -q serving "$K8S_RUN/logs/host-echo$n.log"
done
for n in 1 2; do
  other=$((3 - n))
  out=$(in_pod "client-$n" dpcni_test_echo tcp "${K8S_NODE_IPS[other - 1]}" 8090) ||
    fail "TCP from client-$n (node $n) to node $other's host address ${K8S_NODE_IPS[other - 1]}: $out"
  [[ "$out" == peer=* ]] || fail "node $other's host echo server answered '$out'"
  in_pod "client-$n" ping -c 2 -w 5 "${K8S_NODE_IPS[other - 1]}" >/dev/null ||
    fail "client-$n cannot ping node $other's host address ${K8S_NODE_IPS[other - 1]}"
done
log "each node's pods reach the other node's host-network address (ping, TCP)"

# A stalled connection would block the sender for good: 60 s past its 30 s, the lane fails.
transfer_deadline=$((SECONDS + 60))
while kill -0 "$transfer_job" 2>/dev/null; do
  [ "$SECONDS" -lt "$transfer_deadline" ] ||
    fail "the 30 s TCP transfer from client-1 to echo-2 has not ended 60 s after the other checks; echo-2 has received $(in_pod echo-2 stat -c %s /tmp/rx) bytes"
  sleep 1
done
wait "$transfer_job" || fail "the 30 s TCP transfer from client-1 to echo-2 failed: $(cat "$K8S_RUN/transfer.out")"
transfer_ms=$(($(now_ms) - transfer_start))
chunks=$(tail -n 1 "$K8S_RUN/transfer.out")
sent=$((chunks * 262144))
received() { in_pod echo-2 stat -c %s /tmp/rx; }
rx_all() { [ "$(received)" -eq "$sent" ]; }
# The sender's nc ends once the last bytes are in its socket's buffer; they arrive after.
deadline=$((SECONDS + 20))
until rx_all; do
  [ "$SECONDS" -lt "$deadline" ] || fail "the 30 s transfer sent $sent bytes, echo-2 received $(received) (20 s after the sender closed)"
  sleep 0.5
done
rx=$(received)
in_pod echo-2 rm -f /tmp/rx
result "30 s TCP transfer client-1 (node 1) -> echo-2 (node 2): $rx bytes in $transfer_ms ms, all of them"
phase_end

# --- step 4: spoofed VXLAN ------------------------------------------------------------------------

if [ "$fabric" = routed ]; then
  phase "spoofed VXLAN from the fabric dropped and counted"
  # A spoofer on node 1's subnet claims node 2's data address (outer source) and sends VXLAN to node
  # 1's uplink with a kernel vxlan device. Its neighbour entry for node 1 is static: an ARP request
  # of its own would teach node 1's agent a wrong MAC for node 2's address.
  K8S_NS_SPOOF=dk8s-$K8S_ID-spoof
  ip netns add "$K8S_NS_SPOOF"
  echo "netns $K8S_NS_SPOOF" >>"$K8S_RUN/state"
  ip -n "$K8S_NS_SPOOF" link set lo up
  ip -n "$K8S_NS_SPOOF" link add sp0 type veth peer name sp0 netns "$K8S_NS_FAB"
  ip -n "$K8S_NS_FAB" link set sp0 master br1 up
  no_offloads "$K8S_NS_SPOOF" sp0
  ip -n "$K8S_NS_SPOOF" addr add "${data_ips[1]}/32" dev sp0
  ip -n "$K8S_NS_SPOOF" link set sp0 up
  up0_mac=$(ip -n "${K8S_NS_NODES[0]}" -br link show up0 | awk '{ print $3 }')
  ip -n "$K8S_NS_SPOOF" route add "${data_ips[0]}/32" dev sp0
  ip -n "$K8S_NS_SPOOF" neigh add "${data_ips[0]}" lladdr "$up0_mac" dev sp0 nud permanent
  ip -n "$K8S_NS_SPOOF" link add vx0 type vxlan id 1 local "${data_ips[1]}" remote "${data_ips[0]}" \
    dstport "$VXLAN_PORT" dev sp0
  no_offloads "$K8S_NS_SPOOF" vx0
  ip -n "$K8S_NS_SPOOF" link set vx0 up
  ip -n "$K8S_NS_SPOOF" route add "${ip[echo-1]}/32" dev vx0
  ip -n "$K8S_NS_SPOOF" neigh add "${ip[echo-1]}" lladdr 02:00:00:00:00:01 dev vx0 nud permanent
  # SOURCE as the inner source address: pings from it, whose replies never come back here.
  spoof_pings() {  # SOURCE
    # Removing a device's last address makes the kernel flush its routes and neighbours, the
    # permanent ones too (fib_disable_ip): without them again the next pings would go out as ARP
    # inside VXLAN, which dpcni drops as vxlan_bad_header. So each round sets them anew.
    ip -n "$K8S_NS_SPOOF" addr flush dev vx0
    ip -n "$K8S_NS_SPOOF" addr add "$1/32" dev vx0
    ip -n "$K8S_NS_SPOOF" route replace "${ip[echo-1]}/32" dev vx0
    ip -n "$K8S_NS_SPOOF" neigh replace "${ip[echo-1]}" lladdr 02:00:00:00:00:01 dev vx0 nud permanent
    ip netns exec "$K8S_NS_SPOOF" ping -c 5 -i 0.2 -W 1 -I "$1" "${ip[echo-1]}" >/dev/null 2>&1 || true
  }
  # The control: an inner source inside node 2's pod CIDR (an address no pod has) is decapsulated.
  node2_net=${K8S_POD_CIDRS[1]%/*}
  legit=${node2_net%.*}.250
  decap0=$(uplink_counter 1 vxlan_decapsulated) spoofed0=$(uplink_counter 1 vxlan_spoofed_source)
  spoof_pings "$legit"
  decap1=$(uplink_counter 1 vxlan_decapsulated) spoofed1=$(uplink_counter 1 vxlan_spoofed_source)
  [ $((decap1 - decap0)) -ge 5 ] ||
    fail "VXLAN from node 2's address with inner source $legit (in ${K8S_POD_CIDRS[1]}): vxlan_decapsulated rose by $((decap1 - decap0)), expected >= 5"
  [ "$spoofed1" -eq "$spoofed0" ] || fail "inner source $legit counted as spoofed ($spoofed0 -> $spoofed1)"
  # The spoof: an inner source in the cluster's network but outside node 2's pod CIDR.
  spoofed_src=10.244.250.5
  ip_in_cidr "$spoofed_src" "${K8S_POD_CIDRS[1]}" && spoofed_src=10.244.251.5
  spoof_pings "$spoofed_src"
  decap2=$(uplink_counter 1 vxlan_decapsulated) spoofed2=$(uplink_counter 1 vxlan_spoofed_source)
  [ $((spoofed2 - spoofed1)) -ge 5 ] || { dpcnictl_on 1 ports >&2; dpcnictl_on 1 routes >&2
    fail "VXLAN with inner source $spoofed_src (outside node 2's ${K8S_POD_CIDRS[1]}): vxlan_spoofed_source rose by $((spoofed2 - spoofed1)), expected >= 5"; }
  [ "$decap2" -eq "$decap1" ] || fail "spoofed VXLAN was decapsulated ($decap1 -> $decap2)"
  dpcnictl_on 1 ports >&2
  result "spoofed VXLAN: inner source $legit decapsulated (+$((decap1 - decap0))), inner source $spoofed_src dropped as vxlan_spoofed_source (+$((spoofed2 - spoofed1)))"
  phase_end
fi

# --- step 5: node 1's agent restarted under cross-node traffic ------------------------------------

phase "node 1's agent pod deleted: cross-node interruption"
old_agent=$(agent_pod 1)
pingout=$K8S_RUN/logs/ping-agent-restart.txt
in_pod client-2 ping -i 0.02 -w 300 "${ip[echo-1]}" >"$pingout" 2>&1 &
ping_job=$!
wait_for "the first pings of client-2" 10 grep -q 'seq=' "$pingout"
kc delete pod -n kube-system "$old_agent" --wait=false >/dev/null
agent_replaced() { local pod; pod=$(agent_pod 1); [ -n "$pod" ] && [ "$pod" != "$old_agent" ] && agent_ready 1; }
wait_for "a new agent pod on node 1, Ready" 180 agent_replaced
first_after=$(grep -c 'seq=' "$pingout")
wait_for "pings answered again after node 1's agent restarted" 60 replies_beyond "$pingout" $((first_after + 100))
in_pod client-2 killall ping >/dev/null 2>&1 || true
wait "$ping_job" || true
seqs=$(sed -n 's/.*seq=\([0-9]*\) .*/\1/p' "$pingout")
gap=$(echo "$seqs" | awk 'NR > 1 && $1 - prev > max { max = $1 - prev } { prev = $1 } END { print (max > 0 ? max - 1 : 0) }')
lost=$(echo "$seqs" | awk 'NR == 1 { first = $1 } { n++; last = $1 } END { print last - first + 1 - n }')
result "node 1's agent restarted: cross-node ping client-2 -> echo-1 interrupted for $((gap * 20)) ms at most ($gap pings of 20 ms in a row, $lost lost in all, $(echo "$seqs" | wc -l) answered)"
route_is 1 "${K8S_POD_CIDRS[1]}" yes || fail "node 1's new agent does not route node 2's ${K8S_POD_CIDRS[1]}"
ping_check client-2 echo-1
tcp_check client-1 echo-2

# --- step 6: node 2 deleted and registered again ---------------------------------------------------

phase "node 2 deleted: its routes withdrawn on node 1"
kc delete node "$node2" --wait=true --timeout 60s >/dev/null || fail "kubectl delete node $node2"
wait_for "node 1's agent withdrawing ${K8S_POD_CIDRS[1]} of the deleted node 2" 30 route_is 1 "${K8S_POD_CIDRS[1]}" no
log "node 2 deleted: node 1's agent no longer routes ${K8S_POD_CIDRS[1]}"
dpcnictl_on 1 routes >&2

phase "node 2 registered again: its routes restored"
# kubelet registers its Node only when it starts.
kubelet2_pid=$(cat "$K8S_RUN/pids/kubelet2")
rm -f "$K8S_RUN/pids/kubelet2"
kill -TERM "$kubelet2_pid"
kubelet_gone() { ! kill -0 "$kubelet2_pid"; }
wait_for "node 2's kubelet stopped" 30 kubelet_gone
cluster_kubelet 2
wait_for "node 2 registered again with a pod CIDR" 60 node_pod_cidr "$node2"
new_cidr=$(node_pod_cidr "$node2")
annotate_data_address 2
wait_for "node 1's agent routing node 2's pod CIDR $new_cidr again" 60 route_is 1 "$new_cidr" yes
wait_for "node 2 Ready again" 120 node_is "$node2" True
log "node 2 registered again (pod CIDR $new_cidr, was ${K8S_POD_CIDRS[1]}): node 1's agent routes it"
dpcnictl_on 1 routes >&2
phase_end

summary
log "two-node lane ($fabric) passed"
