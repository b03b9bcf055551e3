#!/usr/bin/env bash
# Pod networking side by side, in one run on this machine: dpcni (agent in a node netns, pods through
# the DPDK dataplane, an af_packet uplink toward an "outside" host) against the reference `bridge`
# plugin with host-local IPAM (veth pairs on a Linux bridge in the same node netns, the node's kernel
# routing toward the outside host). Measures pod->pod and pod->outside TCP (iperf3), ping latency, and
# CNI ADD/DEL latency (p50/p99 over N pods). Everything happens in namespaces made here and removed
# on exit.
# Usage: bench/pods/run.sh [build-dir]   (root; prints a Markdown table)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
seconds=${DPCNI_BENCH_SECONDS:-5}
latency_pods=${DPCNI_BENCH_PODS:-50}
batch=25  # Debian's DPDK holds 32 ethdevs: ADD/DEL latency is taken in batches of live pods
backend=${DPCNI_BACKEND:-auto}
bridge_plugins=/usr/lib/cni
pod_netns_prefix=dpcni-bench-

work=$(mktemp -d /tmp/dpcni-bench.XXXXXX)
node=dpcni-bench-node
agent_pid=""
cleanup() {
  set +e
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  for ns in $(ip netns list | awk '{print $1}' | grep '^dpcni-bench-'); do ip netns del "$ns"; done
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=bench/pods/measure.sh
. "$(dirname "$0")/measure.sh"

cat >"$work/agent.yaml" <<YAML
socket: $work/dpcni.sock
state_dir: $work/state
pod_cidrs: [10.96.0.0/24]
backend: $backend
max_pods: 28
worker_lcores: [1]
eal: {lcores: "0-1", memory_mb: 512, file_prefix: dpcni-bench}
uplink: {type: af_packet, interface: up0, address: 192.168.77.2/24}
YAML
echo "{\"cniVersion\":\"1.1.0\",\"name\":\"bench\",\"type\":\"dpcni\",\"agentSocket\":\"$work/dpcni.sock\"}" >"$work/dpcni.json"
cat >"$work/bridge.json" <<JSON
{"cniVersion": "1.0.0", "name": "bench-bridge", "type": "bridge", "bridge": "cni-bench0",
 "isGateway": true, "isDefaultGateway": true, "ipam": {"type": "host-local", "subnet": "10.95.0.0/24", "dataDir": "$work/host-local"}}
JSON

# The outside host: one veth toward dpcni's af_packet uplink, one toward the node's kernel (the bridge
# plugin's pods leave through the kernel's routing). docs/testing.md explains the veth settings.
outside=dpcni-bench-outside
ip netns add "$node"
ip netns add "$outside"
in_node() { ip netns exec "$node" "$@"; }
in_outside() { ip netns exec "$outside" "$@"; }
in_node sysctl -qw net.ipv4.ip_forward=1
in_node ip link add up0 type veth peer name out0 netns "$outside"
in_node sysctl -qw net.ipv4.conf.up0.forwarding=0
in_node ip link set up0 up
in_node ip link add upk0 type veth peer name outk0 netns "$outside"
in_node ip addr add 192.168.78.2/24 dev upk0
in_node ip link set upk0 up
in_outside ip addr add 192.168.77.1/24 dev out0
in_outside ip addr add 192.168.78.1/24 dev outk0
in_outside ip link set out0 up
in_outside ip link set outk0 up
in_outside ip route add 10.96.0.0/24 via 192.168.77.2
in_outside ip route add 10.95.0.0/24 via 192.168.78.2
in_outside ethtool -K out0 tx off tso off gso off sg off >/dev/null
ip netns exec "$node" "$build/dataplane/dpcni-agent" --config "$work/agent.yaml" 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 300); do [ -S "$work/dpcni.sock" ] && break; sleep 0.05; done
sleep 0.5

declare -A result
# "RX_PACKETS RX_BYTES" of the port of pod dpcni-a (the TCP sender), from dpcnictl.
sender_rx() {
  "$build/tools/dpcnictl/dpcnictl" --socket "$work/dpcni.sock" ports |
    awk '$2 == "bench/dpcni-a" { print $4, $5; found = 1 } END { exit !found }'
}
# DPCNI_BENCH_PROFILE=1: where the CPU time goes during dpcni's pod->pod TCP, from /proc (the
# vhost-net lane's guest has no perf): the machine's user/system/softirq/idle split, and the threads
# that took the most (agent workers, iperf3, the kernel's vhost and softirq threads).
cpu_times() {  # "<pid>/<tid> <comm> <utime+stime ticks>" per thread, and the /proc/stat cpu line
  for task in /proc/[0-9]*/task/[0-9]*; do
    read -r line <"$task/stat" 2>/dev/null || continue
    local comm=${line#*(}; comm=${comm%)*}; local rest=${line##*) }
    # shellcheck disable=SC2086
    set -- $rest
    echo "${task#/proc/} ${comm// /_} $(( ${12} + ${13} ))"
  done
  head -1 /proc/stat
}
# Samples from 1.5 s into the transfer to 1 s before its end, while every thread of it is alive.
profile_window() {
  sleep 1.5
  cpu_times >"$work/profile.start"
  sleep "$(awk -v s="$seconds" 'BEGIN { print (s > 3 ? s - 2.5 : 0.5) }')"
  cpu_times >"$work/profile.end"
  awk -v hz="$(getconf CLK_TCK)" '
    FNR == 1 { file++ }
    $1 == "cpu" { for (i = 2; i <= 9; i++) c[file, i] = $i; next }
    file == 1 { start[$1] = $3; next }
    { used = $3 - start[$1]; if (used > 0) by_comm[$2] += used }
    END {
      total = 0; for (i = 2; i <= 9; i++) total += c[2, i] - c[1, i]
      printf "machine: user %.0f %%, system %.0f %%, softirq %.0f %%, idle %.0f %% (of %.1f CPU-s)\n",
        100 * (c[2,2] + c[2,3] - c[1,2] - c[1,3]) / total, 100 * (c[2,4] - c[1,4]) / total,
        100 * (c[2,8] - c[1,8]) / total, 100 * (c[2,5] + c[2,6] - c[1,5] - c[1,6]) / total,
        total / hz
      for (comm in by_comm) printf "%s %.2f\n", comm, by_comm[comm] / hz | "sort -k2 -rn | head -8"
    }' "$work/profile.start" "$work/profile.end"
}
# ---- throughput and latency: two pods each ---------------------------------------------------------
for impl in dpcni bridge; do
  for pod in ${impl}-a ${impl}-b; do ip netns add "dpcni-bench-$pod"; done
  if [ "$impl" = dpcni ]; then
    ip_a=$(cni "$build/cni/dpcni" "$work/dpcni.json" ADD dpcni-a | pod_ip)
    ip_b=$(cni "$build/cni/dpcni" "$work/dpcni.json" ADD dpcni-b | pod_ip)
  else
    ip_a=$(cni "$bridge_plugins/bridge" "$work/bridge.json" ADD bridge-a "$node" | pod_ip)
    ip_b=$(cni "$bridge_plugins/bridge" "$work/bridge.json" ADD bridge-b "$node" | pod_ip)
  fi
  if [ "$impl" = dpcni ]; then
    before=$(sender_rx)
    profiler=""
    if [ "${DPCNI_BENCH_PROFILE:-0}" = 1 ]; then
      profile_window >"$work/profile" &
      profiler=$!
    fi
    result[$impl-tcp]=$(tcp_gbps "dpcni-bench-$impl-a" "dpcni-bench-$impl-b" "$ip_b")
    [ -z "$profiler" ] || wait "$profiler"
    after=$(sender_rx)
    # What the sending pod's port handed the engine during the transfer: GSO passthrough shows as
    # tens of KB per packet, an MTU-sized path as about 1.5 KB.
    result[dpcni-bpp]=$(awk -v b="$before" -v a="$after" 'BEGIN {
      split(b, x, " "); split(a, y, " "); p = y[1] - x[1]
      if (p > 0) printf "%.0f B (%d packets)", (y[2] - x[2]) / p, p; else print "-" }')
  else
    result[$impl-tcp]=$(tcp_gbps "dpcni-bench-$impl-a" "dpcni-bench-$impl-b" "$ip_b")
  fi
  result[$impl-ping]=$(ping_avg_ms "dpcni-bench-$impl-a" "$ip_b")
  outside_ip=192.168.77.1
  [ "$impl" = bridge ] && outside_ip=192.168.78.1
  result[$impl-out]=$(tcp_gbps "dpcni-bench-$impl-a" "$outside" "$outside_ip")
done
dpcni_backend=$("$build/tools/dpcnictl/dpcnictl" --socket "$work/dpcni.sock" pods | awk 'NR>1 {print $(NF-1); exit}' || true)

# ---- CNI ADD/DEL latency ----------------------------------------------------------------------------
measure_cni() {  # measure_cni NAME PLUGIN NETCONF [exec-netns]
  : >"$work/$1.add"; : >"$work/$1.del"
  local done_pods=0
  while [ "$done_pods" -lt "$latency_pods" ]; do
    local n=$(( latency_pods - done_pods < batch ? latency_pods - done_pods : batch ))
    for i in $(seq "$done_pods" $((done_pods + n - 1))); do ip netns add "dpcni-bench-$1-$i"; done
    for i in $(seq "$done_pods" $((done_pods + n - 1))); do
      t0=$(now_us); cni "$2" "$3" ADD "$1-$i" "${4:-}" >/dev/null; echo $(( $(now_us) - t0 )) >>"$work/$1.add"
    done
    for i in $(seq "$done_pods" $((done_pods + n - 1))); do
      t0=$(now_us); cni "$2" "$3" DEL "$1-$i" "${4:-}" >/dev/null; echo $(( $(now_us) - t0 )) >>"$work/$1.del"
      ip netns del "dpcni-bench-$1-$i"
    done
    done_pods=$((done_pods + n))
  done
  result[$1-add50]=$(percentile 50 <"$work/$1.add"); result[$1-add99]=$(percentile 99 <"$work/$1.add")
  result[$1-del50]=$(percentile 50 <"$work/$1.del"); result[$1-del99]=$(percentile 99 <"$work/$1.del")
}
measure_cni dpcni "$build/cni/dpcni" "$work/dpcni.json"
measure_cni bridge "$bridge_plugins/bridge" "$work/bridge.json" "$node"

echo "| measure | dpcni (${dpcni_backend:-$backend}) | bridge + host-local |"
echo "|---|---|---|"
echo "| pod→pod TCP, iperf3 ${seconds} s (Gbit/s) | ${result[dpcni-tcp]} | ${result[bridge-tcp]} |"
echo "| pod→outside TCP, iperf3 ${seconds} s (Gbit/s): dpcni af_packet uplink, bridge via the node's kernel | ${result[dpcni-out]} | ${result[bridge-out]} |"
echo "| pod→pod TCP, bytes per packet the sender's port took into the engine | ${result[dpcni-bpp]} | - |"
echo "| pod→pod ping avg, 200 × 5 ms (ms) | ${result[dpcni-ping]} | ${result[bridge-ping]} |"
echo "| CNI ADD p50 / p99 over $latency_pods pods (ms) | ${result[dpcni-add50]} / ${result[dpcni-add99]} | ${result[bridge-add50]} / ${result[bridge-add99]} |"
echo "| CNI DEL p50 / p99 over $latency_pods pods (ms) | ${result[dpcni-del50]} / ${result[dpcni-del99]} | ${result[bridge-del50]} / ${result[bridge-del99]} |"
if [ "${DPCNI_BENCH_PROFILE:-0}" = 1 ]; then
  echo
  echo "CPU time during dpcni's pod→pod TCP (seconds by thread name, the most first):"
  cat "$work/profile"
fi
