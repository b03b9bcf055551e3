#!/usr/bin/env bash
# An idle node and a lightly loaded one, side by side in one run: what the worker's idle policy costs
# and gives. Three agents in turn, each in a node netns with the same pods:
#   interrupts  the default: Rx interrupts on the pod and host ports, the worker blocks when idle;
#   timed naps  rx_interrupts: false, the backoff of naps up to idle_sleep_max_us (200 µs) alone;
#   busy-poll   idle_sleep_max_us: 0.
# and the reference `bridge` plugin with host-local IPAM in the same node netns. Per agent: the
# agent's CPU (utime + stime from /proc, every thread) over $idle_seconds with $idle_pods idle pods
# on the node, pod→pod ping (200 pings 5 ms apart: each one finds an idle worker) and pod→pod TCP
# (iperf3, so busy throughput can be compared). Then the interrupts agent again with an af_packet
# uplink, which has no Rx interrupt: its worker naps on timers (the row says what that costs).
# Everything happens in namespaces made here and removed on exit.
#
# Usage: bench/pods/idle.sh [build-dir]   (root; prints a Markdown table)
#   DPCNI_BENCH_IDLE_PODS     idle pods on the node (default 100)
#   DPCNI_BENCH_IDLE_SECONDS  how long the idle CPU is measured (default 20)
#   DPCNI_BENCH_SECONDS       iperf3 duration (default 5)
#   DPCNI_BACKEND             auto (default), tap or vhost-net
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "${1:-build}")
idle_pods=${DPCNI_BENCH_IDLE_PODS:-100}
idle_seconds=${DPCNI_BENCH_IDLE_SECONDS:-20}
seconds=${DPCNI_BENCH_SECONDS:-5}
backend=${DPCNI_BACKEND:-auto}
concurrency=16
bridge_plugins=/usr/lib/cni
pod_netns_prefix=dpcni-bench-idlepod-

work=$(mktemp -d /tmp/dpcni-bench-idle.XXXXXX)
node=dpcni-bench-idle-node
outside=dpcni-bench-idle-outside
agent_pid=""
stop_agent() {
  [ -n "$agent_pid" ] || return 0
  kill "$agent_pid" 2>/dev/null || true
  wait "$agent_pid" 2>/dev/null || true
  agent_pid=""
}
remove_pods() {
  ip netns list | awk -v p="$pod_netns_prefix" 'index($1, p) == 1 {print $1}' |
    xargs -r -P "$concurrency" -n 1 ip netns del
}
cleanup() {
  set +e
  stop_agent
  remove_pods
  ip netns del "$node" 2>/dev/null
  ip netns del "$outside" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=bench/pods/measure.sh
. "$(dirname "$0")/measure.sh"

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }  # utime + stime, clock ticks
echo "{\"cniVersion\":\"1.1.0\",\"name\":\"bench\",\"type\":\"dpcni\",\"agentSocket\":\"$work/dpcni.sock\"}" >"$work/dpcni.json"
cat >"$work/bridge.json" <<JSON
{"cniVersion": "1.0.0", "name": "bench-bridge", "type": "bridge", "bridge": "cni-idle0",
 "isGateway": true, "isDefaultGateway": true, "ipam": {"type": "host-local", "subnet": "10.93.0.0/22", "dataDir": "$work/host-local"}}
JSON

ip netns add "$node"
ip netns add "$outside"
ip netns exec "$node" ip link add up0 type veth peer name out0 netns "$outside"
ip netns exec "$node" ip link set up0 up
ip netns exec "$outside" ip addr add 192.168.79.1/24 dev out0
ip netns exec "$outside" ip link set out0 up

add_pods() {  # add_pods PLUGIN NETCONF [exec-netns]: the idle pods, $concurrency at a time
  local batch=()
  for ((i = 0; i < idle_pods; i++)); do
    (ip netns add "${pod_netns_prefix}idle-$i" && cni "$1" "$2" ADD "idle-$i" "${3:-}" >/dev/null) &
    batch+=($!)
    if ((${#batch[@]} == concurrency)); then wait "${batch[@]}"; batch=(); fi
  done
  ((${#batch[@]} == 0)) || wait "${batch[@]}"
}

declare -A result
run_agent() {  # run_agent NAME EXTRA_YAML
  local name=$1
  cat >"$work/agent.yaml" <<YAML
socket: $work/dpcni.sock
state_dir: $work/state-$name
pod_cidrs: [10.92.0.0/22]
backend: $backend
max_pods: $((idle_pods + 3))
worker_lcores: [1]
eal: {lcores: "0-1", file_prefix: dpcni-bench-idle}
$2
YAML
  rm -f "$work/dpcni.sock"
  ip netns exec "$node" "$build/dataplane/dpcni-agent" --config "$work/agent.yaml" 2>"$work/agent-$name.log" &
  agent_pid=$!
  for _ in $(seq 600); do [ -S "$work/dpcni.sock" ] && break; sleep 0.05; done
  sleep 0.5
  for pod in a b; do ip netns add "${pod_netns_prefix}$pod"; done
  cni "$build/cni/dpcni" "$work/dpcni.json" ADD a >/dev/null
  local ip_b
  ip_b=$(cni "$build/cni/dpcni" "$work/dpcni.json" ADD b | pod_ip)
  add_pods "$build/cni/dpcni" "$work/dpcni.json"
  sleep 2
  local t0 t1
  t0=$(cpu_ticks "$agent_pid"); sleep "$idle_seconds"; t1=$(cpu_ticks "$agent_pid")
  result[$name-cpu]=$(awk -v t=$((t1 - t0)) -v hz="$(getconf CLK_TCK)" -v s="$idle_seconds" 'BEGIN {printf "%.2f", 100 * t / hz / s}')
  result[$name-ping]=$(ping_avg_ms "${pod_netns_prefix}a" "$ip_b")
  result[$name-tcp]=$(tcp_gbps "${pod_netns_prefix}a" "${pod_netns_prefix}b" "$ip_b")
  result[$name-backend]=$("$build/tools/dpcnictl/dpcnictl" --socket "$work/dpcni.sock" pods | awk 'NR>1 {print $(NF-1); exit}' || true)
  stop_agent
  remove_pods
}

run_agent interrupts ""
run_agent naps "rx_interrupts: false"
run_agent busy "idle_sleep_max_us: 0"
run_agent uplink "uplink: {type: af_packet, interface: up0, address: 192.168.79.2/24}"

# The bridge plugin: its pods' veths on a Linux bridge in the same node netns; no process to idle.
for pod in a b; do ip netns add "${pod_netns_prefix}$pod"; done
cni "$bridge_plugins/bridge" "$work/bridge.json" ADD a "$node" >/dev/null
bridge_b=$(cni "$bridge_plugins/bridge" "$work/bridge.json" ADD b "$node" | pod_ip)
add_pods "$bridge_plugins/bridge" "$work/bridge.json" "$node"
result[bridge-ping]=$(ping_avg_ms "${pod_netns_prefix}a" "$bridge_b")
result[bridge-tcp]=$(tcp_gbps "${pod_netns_prefix}a" "${pod_netns_prefix}b" "$bridge_b")

echo "backend: ${result[interrupts-backend]:-$backend}; $idle_pods idle pods plus the measured pair; load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| measure | dpcni interrupts (default) | dpcni timed naps | dpcni busy-poll | dpcni interrupts + af_packet uplink | bridge + host-local |"
echo "|---|---|---|---|---|---|"
echo "| agent CPU, node idle, ${idle_seconds} s (% of a core) | ${result[interrupts-cpu]} | ${result[naps-cpu]} | ${result[busy-cpu]} | ${result[uplink-cpu]} | 0 (no process) |"
echo "| pod→pod ping avg, 200 × 5 ms (ms) | ${result[interrupts-ping]} | ${result[naps-ping]} | ${result[busy-ping]} | ${result[uplink-ping]} | ${result[bridge-ping]} |"
echo "| pod→pod TCP, iperf3 ${seconds} s (Gbit/s) | ${result[interrupts-tcp]} | ${result[naps-tcp]} | ${result[busy-tcp]} | ${result[uplink-tcp]} | ${result[bridge-tcp]} |"
