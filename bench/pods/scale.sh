#!/usr/bin/env bash
# A node with many pods: CNI ADD and DEL latency when the node already holds 10, 100 and 500 pods, the
# agent's RSS and mbufs in use as pods are added (per pod: the difference to an empty node, divided),
# and the TCP rate between two busy pods with 10 and with 500 idle pods on the node. The agent runs in
# a node netns with the defaults (one worker on CPU 1, idle backoff up to 200 µs, EAL memory sized by
# the agent); every pod is a netns added through the plugin as the runtime adds it. Everything happens
# in namespaces made here and removed on exit.
#
# Usage: bench/pods/scale.sh [build-dir]   (root; prints Markdown tables)
#   DPCNI_BENCH_LEVELS   pods on the node at which to measure (default "10 100 500")
#   DPCNI_BENCH_SAMPLES  ADD+DEL pairs timed at each level (default 20)
#   DPCNI_BENCH_SECONDS  iperf3 duration (default 5)
#   DPCNI_BACKEND        auto (default), tap or vhost-net
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "${1:-build}")
read -r -a levels <<<"${DPCNI_BENCH_LEVELS:-10 100 500}"
samples=${DPCNI_BENCH_SAMPLES:-20}
seconds=${DPCNI_BENCH_SECONDS:-5}
backend=${DPCNI_BACKEND:-auto}
concurrency=16  # plugin calls at once while the node is filled, as a runtime starting pods would
max_level=${levels[-1]}

ninja -C "$build" agent_rpc >/dev/null
work=$(mktemp -d /tmp/dpcni-bench-scale.XXXXXX)
node=dpcni-bench-scale-node
agent_pid=""
cleanup() {
  set +e
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  ip netns list | awk '/^dpcni-bench-scale-/ {print $1}' | xargs -r -P "$concurrency" -n 1 ip netns del
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=bench/pods/measure.sh
. "$(dirname "$0")/measure.sh"
status_field() { "$build/bench/pods/agent_rpc" "$work/dpcni.sock" Status | python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }
rss_mb() { awk '/^VmRSS/ {printf "%.0f", $2/1024}' "/proc/$agent_pid/status"; }  # ip netns exec execs the agent

cni() {  # cni COMMAND POD
  CNI_COMMAND=$1 CNI_CONTAINERID="bench-$2" CNI_NETNS="/var/run/netns/dpcni-bench-scale-$2" CNI_IFNAME=eth0 \
    CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=bench;K8S_POD_NAME=$2" CNI_PATH=/opt/cni/bin \
    "$build/cni/dpcni" <"$work/dpcni.json"
}
add_pod() {  # add_pod POD: its netns, then ADD; prints the pod's address
  ip netns add "dpcni-bench-scale-$1"
  cni ADD "$1" | pod_ip
}
fill_to() {  # fill_to N: idle pods idle-0.. until N are on the node, $concurrency at a time
  local have batch=()
  have=$(ip netns list | grep -c '^dpcni-bench-scale-idle-' || true)
  for ((i = have; i < $1; i++)); do
    add_pod "idle-$i" >/dev/null &
    batch+=($!)
    if ((${#batch[@]} == concurrency)); then wait "${batch[@]}"; batch=(); fi
  done
  ((${#batch[@]} == 0)) || wait "${batch[@]}"
}

cat >"$work/agent.yaml" <<YAML
socket: $work/dpcni.sock
state_dir: $work/state
pod_cidrs: [10.94.0.0/22]
backend: $backend
max_pods: $((max_level + 3))
worker_lcores: [1]
eal: {lcores: "0-1", file_prefix: dpcni-bench-scale}
YAML
echo "{\"cniVersion\":\"1.1.0\",\"name\":\"bench\",\"type\":\"dpcni\",\"agentSocket\":\"$work/dpcni.sock\"}" >"$work/dpcni.json"

ip netns add "$node"
ip netns exec "$node" "$build/dataplane/dpcni-agent" --config "$work/agent.yaml" 2>"$work/agent.log" &
agent_pid=$!
for _ in $(seq 600); do "$build/bench/pods/agent_rpc" "$work/dpcni.sock" Status >/dev/null 2>&1 && break; sleep 0.05; done
echo "agent: $(grep -m1 'serving on' "$work/agent.log")" >&2
rss0=$(rss_mb)
mbufs0=$(status_field mbufs_in_use)

# The busy pair: present at every level, not counted among the idle pods.
busy_a=$(add_pod busy-a)
busy_b=$(add_pod busy-b)
used_backend=$(status_field default_backend)

declare -A row
for level in "${levels[@]}"; do
  fill_to "$level"
  : >"$work/add.$level"; : >"$work/del.$level"
  for ((s = 0; s < samples; s++)); do
    ip netns add "dpcni-bench-scale-probe-$s"
    t0=$(now_us); cni ADD "probe-$s" >/dev/null; t1=$(now_us); cni DEL "probe-$s" >/dev/null; t2=$(now_us)
    echo $((t1 - t0)) >>"$work/add.$level"; echo $((t2 - t1)) >>"$work/del.$level"
    ip netns del "dpcni-bench-scale-probe-$s"
  done
  row[$level]="| $level | $(percentile 50 <"$work/add.$level") / $(percentile 99 <"$work/add.$level") | $(percentile 50 <"$work/del.$level") / $(percentile 99 <"$work/del.$level") | $(rss_mb) | $(status_field mbufs_in_use) | $(tcp_gbps dpcni-bench-scale-busy-a dpcni-bench-scale-busy-b "$busy_b") |"
  echo "measured at $level idle pods (load average $(cut -d' ' -f1-3 /proc/loadavg))" >&2
done
rss_max=$(rss_mb)
mbufs_max=$(status_field mbufs_in_use)
pool=$(status_field mbuf_pool_size)
memory=$(sed -n 's/.*EAL memory \([^)]*\)).*/\1/p' "$work/agent.log" | head -1)

echo "backend $used_backend; busy pair $busy_a -> $busy_b; mbuf pool $pool; EAL memory $memory"
echo
echo "| idle pods on the node (+ the busy pair) | CNI ADD p50 / p99 (ms, $samples samples) | CNI DEL p50 / p99 (ms) | agent RSS (MB) | mbufs in use | busy pair TCP, iperf3 ${seconds} s (Gbit/s) |"
echo "|---|---|---|---|---|---|"
echo "| 0 (empty node) | | | $rss0 | $mbufs0 | |"
for level in "${levels[@]}"; do echo "${row[$level]}"; done
pods=$((max_level + 2))
echo
echo "Per pod, empty node -> $pods pods: RSS $(python3 -c "print('%.2f' % (($rss_max - $rss0) / $pods))") MB, mbufs $(python3 -c "print('%.2f' % (($mbufs_max - $mbufs0) / $pods))")"
