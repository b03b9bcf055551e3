#!/usr/bin/env bash
# Pod start-up through a real kubelet, dpcni against the reference bridge + host-local plugins, in one
# run: the time from `kubectl apply` of a Deployment of N pods to each pod's Ready, p50 and p99, on
# the one-node cluster of the cluster lane (tests/k8s/cluster.sh). Each network gets a fresh cluster;
# the rounds of one run alternate between the two clusters, both up at once, so that the machine's
# load drifts over both alike.
#
#   bench/k8s/run.sh --k8s-bin DIR --image-dir DIR [--source-dir DIR] [--pods N] [--rounds R]
#
# --k8s-bin, --image-dir as for tests/k8s/run.sh. N pods per round (default 20), R rounds per network
# (default 3); --networks "bridge dpcni" (the default) or either alone. The pods run the test image's
# `sleep` with no probe, so Ready means: scheduled, sandbox and network set up (the CNI ADD),
# container started, status posted by kubelet. A pod's time is when a watch of the API server first
# sees it Ready, less the moment before `kubectl apply`. Prints a Markdown table. Root; everything
# is made in namespaces and removed on exit.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)

k8s_bin="" image_dir="" pods=20 rounds=3 networks="bridge dpcni"
while [ $# -gt 0 ]; do
  case "$1" in
    --k8s-bin) k8s_bin=$2; shift 2 ;;
    --image-dir) image_dir=$(realpath "$2"); shift 2 ;;
    --source-dir) source_dir=$(realpath "$2"); shift 2 ;;
    --pods) pods=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --networks) networks=$2; shift 2 ;;
    *) echo "bench/k8s/run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$k8s_bin" ] && [ -n "$image_dir" ] || { echo "usage: bench/k8s/run.sh --k8s-bin DIR --image-dir DIR [--pods N] [--rounds R]" >&2; exit 2; }

work=$(mktemp -d /tmp/dpcni-k8s-bench.XXXXXX)
children=()
cleanup() {
  local status=$? pid
  trap - EXIT
  for pid in "${children[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# One cluster per network, each its own process (tests/k8s/cluster.sh keeps one cluster per shell):
# it brings the cluster up, installs the network, then runs a round each time the parent writes
# "round R" to its fifo, answering on its result fifo, and tears down on "quit" or any exit.
cluster_worker() {  # NETWORK
  local net=$1 cmd=$work/$1.cmd res=$work/$1.res
  # shellcheck source=tests/k8s/cluster.sh
  source "$source_dir/tests/k8s/cluster.sh"
  trap 'k8s_restore_output; cluster_down' EXIT
  image_name() { awk -v a="$1" '$2 == a { print $1; exit }' "$image_dir/images"; }
  cluster_init "$k8s_bin"
  K8S_PAUSE_IMAGE=$(image_name pause.tar)
  cluster_up
  cluster_import "$image_dir/pause.tar" >/dev/null
  cluster_import "$image_dir/echo.tar" >/dev/null
  local image
  image=$(image_name echo.tar)
  node_ready() { [ "$(kc get node "$K8S_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]; }
  if [ "$net" = bridge ]; then
    cluster_install_bridge
  else
    cluster_import "$image_dir/dpcni.tar" >/dev/null
    local app ref
    app=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$source_dir/charts/dpcni/Chart.yaml")
    ref=$(awk -v a=dpcni.tar -v app="$app" '$2 == a && $1 !~ ":" app "$" { print $1; exit }' "$image_dir/images")
    [ -n "$ref" ] || ref=$(image_name dpcni.tar)
    helm_ install dpcni "$source_dir/charts/dpcni" --namespace kube-system \
      --set "image.repository=${ref%:*}" --set "image.tag=${ref##*:}" \
      --set "clusterCIDRs={$K8S_CLUSTER_CIDR}" --wait --timeout 240s >"$K8S_RUN/logs/helm.log"
  fi
  wait_for "node Ready on $net" 240 node_ready
  kc create namespace bench >/dev/null
  log "$net: cluster ready"
  echo ready >"$res"

  local line round t0 watch_pid name ready
  while read -r line <"$cmd"; do
    [ "$line" != quit ] || break
    round=${line#round }
    # Ready transitions as the API server's watch reports them, stamped on arrival.
    mkfifo "$work/$net.events.$round"
    nsenter --net="/run/netns/$K8S_NS_CP" "$K8S_BIN/kubectl" --kubeconfig "$K8S_RUN/pki/admin.kubeconfig" \
      get pods -n bench --watch \
      -o jsonpath='{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}' \
      >"$work/$net.events.$round" &
    watch_pid=$!
    while read -r name ready; do echo "$(now_ms) $name $ready"; done \
      <"$work/$net.events.$round" >"$work/$net.watch.$round" &
    sleep 1
    t0=$(now_ms)
    kc apply -f - >/dev/null <<EOF
apiVersion: apps/v1
kind: Deployment
metadata: {name: bench, namespace: bench}
spec:
  replicas: $pods
  selector: {matchLabels: {app: bench}}
  template:
    metadata: {labels: {app: bench}}
    spec:
      dnsPolicy: Default
      terminationGracePeriodSeconds: 0
      containers:
        - {name: sleep, image: $image, imagePullPolicy: Never, command: [sleep, "86400"]}
EOF
    ready_all() { [ "$(awk '$3 == "True" { print $2 }' "$work/$net.watch.$round" | sort -u | wc -l)" -ge "$pods" ]; }
    wait_for "$pods pods Ready on $net (round $round)" 300 ready_all
    kill "$watch_pid" 2>/dev/null || true
    wait 2>/dev/null || true
    awk -v t0="$t0" '$3 == "True" && !seen[$2]++ { print $1 - t0 }' "$work/$net.watch.$round" \
      >"$work/$net.times.$round"
    kc delete -n bench deployment/bench --wait >/dev/null
    no_pods() { [ -z "$(kc get pods -n bench -o name)" ]; }
    wait_for "the round's pods gone on $net" 300 no_pods
    # Every sandbox gone too (the CNI DEL ran), so the next round starts from an empty node.
    no_sandboxes() { [ -z "$(crictl_ pods -q --namespace bench)" ]; }
    wait_for "the round's sandboxes gone on $net" 120 no_sandboxes
    echo "done $round" >"$res"
  done
}

# The fifos stay open read-write here, so that neither side blocks opening one when the other has
# died: a worker that exits is noticed by the wait below instead.
declare -A cmd_fd res_fd worker
for net in $networks; do
  mkfifo "$work/$net.cmd" "$work/$net.res"
  exec {fd}<>"$work/$net.cmd"
  cmd_fd[$net]=$fd
  exec {fd}<>"$work/$net.res"
  res_fd[$net]=$fd
  cluster_worker "$net" >"$work/$net.log" 2>&1 &
  worker[$net]=$!
  children+=("$!")
done
answer_of() {  # NETWORK EXPECTED WHAT
  local answer="" deadline=$((SECONDS + 900))
  while [ "$SECONDS" -lt "$deadline" ]; do
    if read -r -t 5 -u "${res_fd[$1]}" answer; then
      [ "$answer" = "$2" ] && return 0
      break
    fi
    kill -0 "${worker[$1]}" 2>/dev/null || break
  done
  tail -n 40 "$work/$1.log" >&2
  echo "bench/k8s: $3 on $1 failed" >&2
  exit 1
}
# Both clusters come up at once: the set-up is mostly waiting.
for net in $networks; do answer_of "$net" ready "bringing the cluster up"; done
echo "bench/k8s: both clusters ready; $rounds rounds of $pods pods each, alternating" >&2
for round in $(seq 1 "$rounds"); do
  for net in $networks; do
    echo "round $round" >&"${cmd_fd[$net]}"
    answer_of "$net" "done $round" "round $round"
    echo "bench/k8s: round $round on $net: $(sort -n "$work/$net.times.$round" | awk '{ a[NR] = $1 } END { printf "first %.2f s, last %.2f s", a[1] / 1000, a[NR] / 1000 }') (load $(cut -d' ' -f1 /proc/loadavg))" >&2
  done
done
for net in $networks; do echo quit >&"${cmd_fd[$net]}"; done
wait "${children[@]}" 2>/dev/null || true

# Nearest-rank percentiles over every pod of every round.
percentile() {  # FILE P
  sort -n "$1" | awk -v p="$2" '{ a[NR] = $1 } END { i = int((p * NR + 99) / 100); if (i < 1) i = 1; printf "%.2f", a[i] / 1000 }'
}
echo "| network | pods | p50 apply → Ready (s) | p99 (s) | slowest (s) |"
echo "|---|---|---|---|---|"
for net in $networks; do
  cat "$work/$net".times.* >"$work/$net.all"
  echo "| $net | $(wc -l <"$work/$net.all") | $(percentile "$work/$net.all" 50) | $(percentile "$work/$net.all" 99) | $(percentile "$work/$net.all" 100) |"
done
