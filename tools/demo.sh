#!/usr/bin/env bash
# The main job: a local dpcni node. Builds dpcni, starts dpcni-agent in a "node" network namespace
# with the configuration embedded below, adds three pods through the real CNI plugin exactly as
# kubelet's runtime would, sends ping and TCP (iperf3) between them through the DPDK dataplane, shows
# what dpcnictl sees, then deletes the pods. Everything lives in namespaces this script makes and is
# removed on exit, also on failure. Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${DPCNI_BUILD_DIR:-build}
backend=${DPCNI_BACKEND:-auto}   # auto picks vhost-net where /dev/vhost-net exists, else tap

bash tools/install-deps.sh
cmake -S . -B "$build_dir" -G Ninja >/dev/null
ninja -C "$build_dir" dpcni dpcni-agent dpcnictl

work=$(mktemp -d /tmp/dpcni-demo.XXXXXX)
node=dpcni-demo-node
pods=(web db cache)
agent_pid=""
cleanup() {
  set +e
  for pod in "${pods[@]}"; do ip netns del "dpcni-demo-$pod" 2>/dev/null; done
  [ -n "$agent_pid" ] && kill "$agent_pid" 2>/dev/null && wait "$agent_pid" 2>/dev/null
  ip netns del "$node" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/agent.yaml" <<YAML
socket: $work/dpcni.sock
state_dir: $work/state
pod_cidrs: [10.98.0.0/24]
backend: $backend
max_pods: 16
worker_lcores: [1]
eal:
  lcores: "0-1"
  file_prefix: dpcni-demo
YAML
cat > "$work/netconf.json" <<JSON
{"cniVersion": "1.1.0", "name": "dpcni-demo", "type": "dpcni", "agentSocket": "$work/dpcni.sock"}
JSON

ip netns add "$node"
ip netns exec "$node" "$build_dir/dataplane/dpcni-agent" --config "$work/agent.yaml" 2>"$work/agent.log" &
agent_pid=$!
ctl() { "$build_dir/tools/dpcnictl/dpcnictl" --socket "$work/dpcni.sock" "$@"; }
for _ in $(seq 100); do ctl status >/dev/null 2>&1 && break; sleep 0.1; done
ctl status

cni() {  # cni COMMAND POD
  CNI_COMMAND=$1 CNI_CONTAINERID="demo-$2" CNI_NETNS="/var/run/netns/dpcni-demo-$2" CNI_IFNAME=eth0 \
    CNI_ARGS="IgnoreUnknown=1;K8S_POD_NAMESPACE=demo;K8S_POD_NAME=$2;K8S_POD_UID=uid-$2" \
    CNI_PATH=/opt/cni/bin "$build_dir/cni/dpcni" <"$work/netconf.json"
}
declare -A ip_of
for pod in "${pods[@]}"; do
  ip netns add "dpcni-demo-$pod"
  result=$(cni ADD "$pod")
  ip_of[$pod]=$(sed -n 's/.*"address": *"\([0-9.]*\)\/.*/\1/p' <<<"$result" | head -1)
  echo "ADD $pod -> ${ip_of[$pod]}"
done

echo; echo "== ping web -> db, db -> cache"
ip netns exec dpcni-demo-web ping -c 3 -i 0.2 "${ip_of[db]}"
ip netns exec dpcni-demo-db ping -c 3 -i 0.2 "${ip_of[cache]}"

echo; echo "== TCP web -> db (iperf3, 3 s)"
ip netns exec dpcni-demo-db iperf3 -s -1 >/dev/null &
sleep 0.5
ip netns exec dpcni-demo-web iperf3 -c "${ip_of[db]}" -t 3 | tail -4

echo; echo "== dpcnictl pods / ports / routes"
ctl pods; echo; ctl ports; echo; ctl routes

for pod in "${pods[@]}"; do cni DEL "$pod" && echo "DEL $pod"; done
ctl status
