#!/usr/bin/env bash
# Pod -> wire TCP through a PCI NIC that DPDK drives, side by side in one run:
#   dpcni     the agent with `uplink: {type: pci}` on the NIC, one pod added through the plugin; the
#             pod's packets cross its port (vhost-net, or tap where vhost-net is missing), the
#             engine's routing and the NIC's PMD;
#   testpmd   dpdk-testpmd in io mode between a virtio-user port and the same NIC: the seed
#             document's exceptional path with nothing in between, a bench netns holding the
#             virtio-user port's tap with the node's uplink address.
# Both send iperf3 TCP to a server on the NIC's wire, alternating for ROUNDS rounds.
#
#   bench/pods/pci_uplink.sh BUILD_DIR PCI_ADDRESS NODE_ADDRESS/LEN SERVER_IP
#
# Needs root, the NIC bound to vfio-pci (docs/dpdk-build.md, "PCI NICs"), and on SERVER_IP
# `iperf3 -s` plus a route back to the bench's pod CIDR: `ip route add 10.96.0.0/24 via
# NODE_ADDRESS`. NODE_ADDRESS must be free on the wire: each side uses it in turn. Env:
# DPCNI_BENCH_SECONDS (default 10), ROUNDS (default 3), DPCNI_BACKEND (default auto). Prints a
# Markdown table of each round's Gbit/s and the medians.
set -euo pipefail
[ $# -eq 4 ] || { sed -n '2,17p' "$0" >&2; exit 2; }
cd "$(dirname "$0")/../.."
build=$1 pci=$2 node_address=$3 server=$4
seconds=${DPCNI_BENCH_SECONDS:-10}
rounds=${ROUNDS:-3}
backend=${DPCNI_BACKEND:-auto}
pod_netns_prefix=dpcni-bench-
bridge_plugins=/usr/lib/cni
# The build's testpmd: our DPDK's, or Debian's on a DPCNI_SYSTEM_DPDK build (bench/engine/run.sh).
testpmd=${TESTPMD:-$(cat "$build/bench/engine/testpmd-path")}
[ -x "$testpmd" ] || { echo "no dpdk-testpmd at $testpmd" >&2; exit 1; }

work=$(mktemp -d /tmp/dpcni-bench.XXXXXX)
node=dpcni-bench-node
pid=""
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=""; }
cleanup() {
  set +e
  stop
  for ns in $(ip netns list | awk '{print $1}' | grep '^dpcni-bench-'); do ip netns del "$ns"; done
  rm -rf "$work"
}
trap cleanup EXIT

# shellcheck source=bench/pods/measure.sh
. "$(dirname "$0")/measure.sh"

# iperf3's receiver Gbit/s from a netns to the server (tcp_gbps starts a server of its own).
to_server() {  # to_server NETNS
  ip netns exec "$1" taskset -c 0 iperf3 -c "$server" -t "$seconds" -f m |
    awk '/ receiver$/ && $(NF-1) == "Mbits/sec" { printf "%.2f\n", $(NF-2) / 1000; found = 1 }
         END { exit !found }'
}

wait_for() {  # wait_for WHAT COMMAND...: up to 60 s while $pid runs
  local what=$1
  shift
  for _ in $(seq 120); do
    "$@" && return 0
    kill -0 "$pid" 2>/dev/null || { echo "exited before $what" >&2; cat "$work"/*.log >&2; exit 1; }
    sleep 0.5
  done
  echo "no $what within 60 s" >&2
  exit 1
}

testpmd_round() {
  local ns=dpcni-bench-testpmd tap=dpcni-tp0
  ip netns add "$ns"
  stdbuf -oL "$testpmd" -l 0,1 --no-huge -m 1024 --no-shconf --file-prefix "dpcni-bench-tp-$$" \
    -a "$pci" --vdev="net_virtio_user0,path=/dev/vhost-net,iface=$tap,queue_size=1024" \
    -- --forward-mode=io --nb-cores=1 --total-num-mbufs=16384 --auto-start --stats-period=3600 \
    </dev/null >"$work/testpmd.log" 2>&1 &
  pid=$!
  wait_for "tap $tap" ip link show "$tap"
  ip link set "$tap" netns "$ns"
  ip netns exec "$ns" ip addr add "$node_address" dev "$tap"
  ip netns exec "$ns" ip link set "$tap" up
  wait_for "forwarding" grep -q "packet forwarding - ports=2" "$work/testpmd.log"
  to_server "$ns" >"$work/result"
  stop
  ip netns del "$ns"
}

dpcni_round() {
  ip netns add "$node"
  cat >"$work/agent.yaml" <<YAML
socket: $work/dpcni.sock
state_dir: $work/state
pod_cidrs: [10.96.0.0/24]
backend: $backend
max_pods: 8
worker_lcores: [1]
eal: {lcores: "0-1", memory_mb: 1024, file_prefix: dpcni-bench-$$}
uplink: {type: pci, pci_address: "$pci", address: $node_address}
YAML
  echo "{\"cniVersion\":\"1.1.0\",\"name\":\"bench\",\"type\":\"dpcni\",\"agentSocket\":\"$work/dpcni.sock\"}" >"$work/dpcni.json"
  ip netns exec "$node" "$build/dataplane/dpcni-agent" --config "$work/agent.yaml" 2>"$work/agent.log" &
  pid=$!
  wait_for "the agent's socket" test -S "$work/dpcni.sock"
  wait_for "the uplink's link" sh -c "'$build/tools/dpcnictl/dpcnictl' --socket '$work/dpcni.sock' status | grep -q 'uplink port:.*: up'"
  ip netns add dpcni-bench-pod
  cni "$build/cni/dpcni" "$work/dpcni.json" ADD pod >/dev/null
  to_server dpcni-bench-pod >"$work/result"
  cni "$build/cni/dpcni" "$work/dpcni.json" DEL pod >/dev/null
  ip netns del dpcni-bench-pod
  stop
  ip netns del "$node"
  rm -rf "$work/state"
}

declare -a dpcni_results testpmd_results
for round in $(seq "$rounds"); do
  testpmd_round
  testpmd_results+=("$(cat "$work/result")")
  dpcni_round
  dpcni_results+=("$(cat "$work/result")")
  echo "round $round: testpmd io ${testpmd_results[-1]}, dpcni ${dpcni_results[-1]} Gbit/s" >&2
done
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
echo "| pod→wire TCP, iperf3 ${seconds} s, NIC $pci (Gbit/s) | dpcni | testpmd io |"
echo "|---|---|---|"
for i in "${!dpcni_results[@]}"; do
  echo "| round $((i + 1)) | ${dpcni_results[$i]} | ${testpmd_results[$i]} |"
done
echo "| median | $(median "${dpcni_results[@]}") | $(median "${testpmd_results[@]}") |"
