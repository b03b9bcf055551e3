#!/usr/bin/env bash
# Pods on two nodes, side by side in one run on this machine: dpcni host-gw, dpcni VXLAN, and the
# reference `bridge` plugin with kernel host-gw routes, all between the same two node namespaces on
# one L2 fabric (a bridge in a fabric netns). Measures cross-node pod->pod TCP (iperf3) and ping
# latency, for DPCNI_BENCH_ROUNDS rounds that each run all three.
#
#   dpcni:  pod (tap) -> agent 1 (af_packet uplink up0) -> fabric br0 -> agent 2 (up0) -> pod (tap).
#           Each node's agent is told the other node by SetRemoteNodes, as dpcni-k8s does in a
#           cluster; `remote_nodes.mode` forces host-gw or VXLAN (pod MTU 1450 for VXLAN's header).
#   bridge: pod (veth) -> cni0 bridge -> node 1's kernel -> upk0 -> fabric br1 -> node 2's kernel ->
#           cni0 -> pod, with `podCIDR via nodeIP` routes in each node, as flannel's host-gw would.
#
# The two agents' workers sit on different CPUs (node 1 on CPU 1, node 2 on CPU 0): with one worker
# per agent and two CPUs, traffic between the nodes crosses both. The iperf3 client is pinned to
# CPU 0 as in run.sh. Everything happens in namespaces made here and removed on exit.
# Usage: bench/pods/cross_node.sh [build-dir]   (root; prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${DPCNI_BENCH_SECONDS:-10}
rounds=${DPCNI_BENCH_ROUNDS:-3}
backend=${DPCNI_BACKEND:-auto}
bridge_plugins=/usr/lib/cni
prefix=dpcni-xbench
pod_netns_prefix=$prefix-

work=$(mktemp -d /tmp/$prefix.XXXXXX)
agents=()
stop_agents() {
  local pid
  for pid in "${agents[@]}"; do kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; done
  agents=()
}
cleanup() {
  set +e
  stop_agents
  for ns in $(ip netns list | awk '{print $1}' | grep "^$prefix-"); do ip netns del "$ns"; done
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=bench/pods/measure.sh
. "$(dirname "$0")/measure.sh"

# ---- the fabric and the two nodes -------------------------------------------------------------------
# br0 carries the agents' uplinks (192.168.90.0/24, addresses owned by the agents, none in the
# kernel); br1 the nodes' kernel links for the bridge plugin (192.168.91.0/24). Two bridges keep the
# kernel's ARP and the agents' apart; both are the same kind of wire.
fabric=$prefix-fabric
ip netns add "$fabric"
for br in br0 br1; do
  ip netns exec "$fabric" ip link add "$br" type bridge
  ip netns exec "$fabric" ip link set "$br" up
done
for n in 1 2; do
  node=$prefix-node$n
  ip netns add "$node"
  in_node() { ip netns exec "$node" "$@"; }
  in_node ip link set lo up
  in_node sysctl -qw net.ipv4.ip_forward=1
  in_node ip link add up0 type veth peer name f$n netns "$fabric"
  in_node sysctl -qw net.ipv4.conf.up0.forwarding=0  # the agent's: the kernel must not route it
  in_node ip link set up0 up
  in_node ip link add upk0 type veth peer name k$n netns "$fabric"
  in_node ip addr add 192.168.91.$n/24 dev upk0
  in_node ip link set upk0 up
  other=$((3 - n))
  in_node ip route add 10.95.$other.0/24 via 192.168.91.$other
  ip netns exec "$fabric" ip link set f$n master br0 up
  ip netns exec "$fabric" ip link set k$n master br1 up
  cat >"$work/bridge$n.json" <<JSON
{"cniVersion": "1.0.0", "name": "xbench-bridge", "type": "bridge", "bridge": "cni0",
 "isGateway": true, "isDefaultGateway": true,
 "ipam": {"type": "host-local", "subnet": "10.95.$n.0/24", "dataDir": "$work/host-local$n"}}
JSON
  echo "{\"cniVersion\":\"1.1.0\",\"name\":\"xbench\",\"type\":\"dpcni\",\"agentSocket\":\"$work/node$n/dpcni.sock\"}" \
    >"$work/dpcni$n.json"
done

# ---- dpcni: two agents in MODE, a pod on each, told about each other --------------------------------
start_agents() {  # start_agents MODE
  local n mtu=1500
  [ "$1" = vxlan ] && mtu=1450
  for n in 1 2; do
    # Node 2's worker on CPU 0: EAL's main lcore must then be CPU 1 (a worker cannot be main).
    local worker=1 main_lcore=""
    [ "$n" = 2 ] && worker=0 main_lcore=', extra_args: ["--main-lcore", "1"]'
    rm -rf "$work/node$n"
    mkdir -p "$work/node$n"
    cat >"$work/node$n/agent.yaml" <<YAML
socket: $work/node$n/dpcni.sock
state_dir: $work/node$n/state
pod_cidrs: [10.97.$n.0/24]
cluster_cidrs: [10.97.0.0/16]
pod_mtu: $mtu
backend: $backend
max_pods: 8
worker_lcores: [$worker]
eal: {lcores: "0-1", file_prefix: $prefix-node$n$main_lcore}
uplink: {type: af_packet, interface: up0, address: 192.168.90.$n/24}
remote_nodes: {mode: $1}
YAML
    ip netns exec "$prefix-node$n" "$build/dataplane/dpcni-agent" --config "$work/node$n/agent.yaml" \
      2>"$work/node$n/agent.log" &
    agents+=($!)
  done
  for n in 1 2; do
    for _ in $(seq 600); do
      "$build/bench/pods/agent_rpc" "$work/node$n/dpcni.sock" Status >/dev/null 2>&1 && break
      sleep 0.05
    done
    if ! "$build/bench/pods/agent_rpc" "$work/node$n/dpcni.sock" Status >/dev/null; then
      echo "cross_node.sh: the agent of node $n did not start; its log:" >&2
      cat "$work/node$n/agent.log" >&2
      exit 1
    fi
  done
  for n in 1 2; do
    local other=$((3 - n))
    "$build/bench/pods/agent_rpc" "$work/node$n/dpcni.sock" SetRemoteNodes \
      "{\"nodes\": [{\"name\": \"node$other\", \"address\": \"192.168.90.$other\", \"pod_cidrs\": [\"10.97.$other.0/24\"]}]}" \
      >/dev/null
  done
}

declare -A result
measure() {  # measure NAME: pod a on node 1 -> pod b on node 2, whose address is $ip_b
  local a=$prefix-$1-a b=$prefix-$1-b
  result[$1-tcp]="${result[$1-tcp]:-} $(tcp_gbps "$a" "$b" "$ip_b")"
  result[$1-ping]="${result[$1-ping]:-} $(ping_avg_ms "$a" "$ip_b")"
}

dpcni_round() {  # dpcni_round MODE
  local mode=$1 name=dpcni-$1
  start_agents "$mode"
  ip netns add "$prefix-$name-a"
  ip netns add "$prefix-$name-b"
  cni "$build/cni/dpcni" "$work/dpcni1.json" ADD "$name-a" >/dev/null
  ip_b=$(cni "$build/cni/dpcni" "$work/dpcni2.json" ADD "$name-b" | pod_ip)
  # The remote route's mode as the agent reports it, so the table cannot claim a mode it did not run.
  local shown
  shown=$("$build/tools/dpcnictl/dpcnictl" --socket "$work/node1/dpcni.sock" routes |
          awk '$0 ~ /10\.97\.2\.0\/24/ {print}')
  if ! grep -qw -- "$mode" <<<"$shown"; then
    echo "cross_node.sh: node 1 does not route 10.97.2.0/24 in $mode: '$shown'" >&2
    exit 1
  fi
  pod_backend=$("$build/tools/dpcnictl/dpcnictl" --socket "$work/node1/dpcni.sock" pods |
                awk 'NR>1 {print $(NF-1); exit}' || true)
  measure "$name"
  cni "$build/cni/dpcni" "$work/dpcni1.json" DEL "$name-a" >/dev/null
  cni "$build/cni/dpcni" "$work/dpcni2.json" DEL "$name-b" >/dev/null
  ip netns del "$prefix-$name-a"
  ip netns del "$prefix-$name-b"
  stop_agents
}

bridge_round() {
  ip netns add "$prefix-bridge-a"
  ip netns add "$prefix-bridge-b"
  cni "$bridge_plugins/bridge" "$work/bridge1.json" ADD bridge-a "$prefix-node1" >/dev/null
  ip_b=$(cni "$bridge_plugins/bridge" "$work/bridge2.json" ADD bridge-b "$prefix-node2" | pod_ip)
  measure bridge
  cni "$bridge_plugins/bridge" "$work/bridge1.json" DEL bridge-a "$prefix-node1" >/dev/null
  cni "$bridge_plugins/bridge" "$work/bridge2.json" DEL bridge-b "$prefix-node2" >/dev/null
  ip netns del "$prefix-bridge-a"
  ip netns del "$prefix-bridge-b"
}

for round in $(seq "$rounds"); do
  echo "cross_node.sh: round $round of $rounds" >&2
  dpcni_round host-gw
  dpcni_round vxlan
  bridge_round
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'; }
row() {  # row LABEL KEY: each round, then the median in bold
  local cells="" impl
  for impl in dpcni-host-gw dpcni-vxlan bridge; do
    cells+=" |${result[$impl-$2]} (**$(median <<<"${result[$impl-$2]}")**)"
  done
  echo "| $1$cells |"
}
echo "| cross-node, $rounds rounds (median) | dpcni host-gw (${pod_backend:-$backend}) | dpcni VXLAN (${pod_backend:-$backend}) | bridge + kernel host-gw routes |"
echo "|---|---|---|---|"
row "pod→pod TCP, iperf3 ${seconds} s (Gbit/s)" tcp
row "pod→pod ping avg, 200 × 5 ms (ms)" ping
