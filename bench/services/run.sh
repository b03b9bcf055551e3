#!/usr/bin/env bash
# Services on one node, side by side in one run: pod->pod direct against pod->ClusterIP->pod, where
# the ClusterIP is an nftables DNAT in the node's kernel as kube-proxy's nftables mode installs it
# (the flow enters the kernel through dpcni0 and its replies are steered back there by the flow
# table). Then the direct path with the flow table off (flow_table.size: 0, the engine as it was
# before it had one) against on, with the server pod answering kernel-forwarded flows so that every
# packet it sends is looked up: what the table costs traffic that never touches the kernel.
# TCP throughput is iperf3; request/reply rate is dpcni_test_echo over one kept-alive connection.
# Everything happens in namespaces made here and removed on exit.
# Usage: bench/services/run.sh [build-dir]   (root; prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "${1:-build}")
seconds=${DPCNI_BENCH_SECONDS:-5}
requests=${DPCNI_BENCH_REQUESTS:-5000}
backend=${DPCNI_BACKEND:-auto}
echo_tool=$build/tests/e2e/dpcni_test_echo
cluster_ip=10.96.0.10

work=$(mktemp -d /tmp/dpcni-bench-svc.XXXXXX)
node=dpcni-bench-svc-node
agent_pid=""
server_pid=""
stop_agent() {
  if [ -n "$agent_pid" ]; then kill "$agent_pid" 2>/dev/null; wait "$agent_pid" 2>/dev/null; fi
  agent_pid=""
}
cleanup() {
  set +e
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null && wait "$server_pid" 2>/dev/null
  stop_agent
  for ns in $(ip netns list | awk '{print $1}' | grep '^dpcni-bench-svc-'); do ip netns del "$ns"; done
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=bench/pods/measure.sh
. "$(dirname "$0")/../pods/measure.sh"
in_node() { ip netns exec "$node" "$@"; }
rr_rate() {  # rr_rate CLIENT_NS HOST PORT: requests per second over one connection
  ip netns exec "$1" taskset -c 0 "$echo_tool" tcp "$2" "$3" --count "$requests" --keepalive |
    sed -n 's/.*rate=\([0-9.]*\)\/s.*/\1/p'
}
start_agent() {  # start_agent FLOW_TABLE_SIZE
  sed "s/@FLOWS@/$1/" "$work/agent.yaml.in" >"$work/agent.yaml"
  rm -f "$work/dpcni.sock"
  ip netns exec "$node" "$build/dataplane/dpcni-agent" --config "$work/agent.yaml" \
    >>"$work/agent.log" 2>&1 &
  agent_pid=$!
  for _ in $(seq 300); do [ -S "$work/dpcni.sock" ] && break; sleep 0.05; done
  sleep 0.5
}
cni() {  # cni COMMAND POD
  CNI_COMMAND=$1 CNI_CONTAINERID="bench-$2" CNI_NETNS="/var/run/netns/dpcni-bench-svc-$2" \
    CNI_IFNAME=eth0 CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=$2" \
    CNI_PATH=/opt/cni/bin "$build/cni/dpcni" <"$work/dpcni.json"
}
pod_ip() { sed -n 's/.*"address": *"\([0-9.]*\)\/.*/\1/p' | head -1; }

[ -x "$echo_tool" ] || { echo "run.sh: $echo_tool is missing: build the tree first" >&2; exit 1; }
cat >"$work/agent.yaml.in" <<YAML
socket: $work/dpcni.sock
state_dir: $work/state
pod_cidrs: [10.98.0.0/24]
backend: $backend
max_pods: 8
worker_lcores: [1]
eal: {lcores: "0-1", file_prefix: dpcni-bench-svc}
flow_table: {size: @FLOWS@}
YAML
echo "{\"cniVersion\":\"1.0.0\",\"name\":\"bench\",\"type\":\"dpcni\",\"agentSocket\":\"$work/dpcni.sock\"}" >"$work/dpcni.json"

ip netns add "$node"
in_node ip link set lo up
in_node sysctl -qw net.ipv4.ip_forward=1
start_agent 65536
for pod in a b; do ip netns add "dpcni-bench-svc-$pod"; ip -n "dpcni-bench-svc-$pod" link set lo up; done
ip_a=$(cni ADD a | pod_ip)
ip_b=$(cni ADD b | pod_ip)
dpcni_backend=$("$build/tools/dpcnictl/dpcnictl" --socket "$work/dpcni.sock" pods | awk 'NR>1 {print $(NF-1); exit}')
# The Service, as kube-proxy's nftables mode DNATs it: HTTP-ish echo on 80, iperf3 on 5201.
in_node nft -f - <<NFT
table ip bench-svc {
  chain prerouting {
    type nat hook prerouting priority dstnat;
    ip daddr $cluster_ip tcp dport 80 dnat to $ip_b:8080
    ip daddr $cluster_ip tcp dport 5201 dnat to $ip_b:5201
  }
}
NFT
ip netns exec dpcni-bench-svc-b "$echo_tool" serve --tcp 8080 >/dev/null 2>&1 &
server_pid=$!
sleep 0.3

declare -A result
result[direct-tcp]=$(tcp_gbps dpcni-bench-svc-a dpcni-bench-svc-b "$ip_b")
result[service-tcp]=$(tcp_gbps dpcni-bench-svc-a dpcni-bench-svc-b "$cluster_ip")
result[direct-rr]=$(rr_rate dpcni-bench-svc-a "$ip_b" 8080)
result[service-rr]=$(rr_rate dpcni-bench-svc-a "$cluster_ip" 80)
flows=$("$build/tools/dpcnictl/dpcnictl" --socket "$work/dpcni.sock" flows | head -1)

# Direct traffic with the table on, pod b answering kernel-forwarded flows (a Service request just
# made, its entry closing for 120 s): every packet b sends is looked up, and misses.
watch_b() { ip netns exec dpcni-bench-svc-a "$echo_tool" tcp "$cluster_ip" 80 >/dev/null; }
watch_b
result[on-ab]=$(tcp_gbps dpcni-bench-svc-a dpcni-bench-svc-b "$ip_b")
watch_b
result[on-ba]=$(tcp_gbps dpcni-bench-svc-b dpcni-bench-svc-a "$ip_a")
watch_b
result[on-rr]=$(rr_rate dpcni-bench-svc-a "$ip_b" 8080)
# The same pods, the agent restarted without a flow table (pods keep their interfaces).
stop_agent
start_agent 0
result[off-ab]=$(tcp_gbps dpcni-bench-svc-a dpcni-bench-svc-b "$ip_b")
result[off-ba]=$(tcp_gbps dpcni-bench-svc-b dpcni-bench-svc-a "$ip_a")
result[off-rr]=$(rr_rate dpcni-bench-svc-a "$ip_b" 8080)
for pod in a b; do cni DEL "$pod" >/dev/null; done

echo "backend=${dpcni_backend:-$backend}; after the Service runs: $flows"
echo
echo "| measure (dpcni, ${dpcni_backend:-$backend}) | pod→pod direct | pod→ClusterIP→pod (same node) |"
echo "|---|---|---|"
echo "| TCP, iperf3 ${seconds} s (Gbit/s) | ${result[direct-tcp]} | ${result[service-tcp]} |"
echo "| TCP request/reply, $requests on one connection (per s) | ${result[direct-rr]} | ${result[service-rr]} |"
echo
echo "| direct pod↔pod (dpcni, ${dpcni_backend:-$backend}) | flow table off | flow table on, b answering Service flows |"
echo "|---|---|---|"
echo "| TCP a→b, iperf3 ${seconds} s (Gbit/s) | ${result[off-ab]} | ${result[on-ab]} |"
echo "| TCP b→a, iperf3 ${seconds} s (Gbit/s) | ${result[off-ba]} | ${result[on-ba]} |"
echo "| TCP request/reply a→b (per s) | ${result[off-rr]} | ${result[on-rr]} |"
