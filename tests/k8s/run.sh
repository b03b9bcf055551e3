#!/usr/bin/env bash
# The cluster lane: a real one-node Kubernetes cluster on this machine (tests/k8s/cluster.sh: etcd,
# kube-apiserver, kube-controller-manager, kube-scheduler, containerd, kubelet and kube-proxy in
# namespaces of their own), driven as an operator drives one, with kubectl and helm:
#
#   1. helm install charts/dpcni: the node is NotReady until the agent is ready, Ready after
#   2. kubectl apply a Deployment of 3 echo servers with HTTP probes, a ClusterIP Service, a client
#   3. traffic: pod to pod (ping, TCP), the Service (TCP, HTTP, UDP) reaching every endpoint, the
#      probes holding, and the outside host reached through the node's masquerade
#   4. a deleted pod leaves no pod, port or address in the agent (dpcnictl in the agent's pod)
#   5. helm upgrade with a changed value rolls the agent: pods keep addresses and traffic; the
#      longest gap of a 20 ms ping across the roll is printed
#   6. the agent's pod deleted: the DaemonSet recreates it; the same checks and measurement
#   7. the workload deleted: the agent is back to its baseline (pods, ports, addresses)
#   8. helm uninstall: the agent is gone and its conflist removed from the node
#
# With --cni bridge, the node gets the reference bridge + host-local conflist instead of the chart,
# and steps 2 and 3 run on it: a check of the cluster itself, and the baseline of bench/k8s.
#
#   run.sh --k8s-bin DIR --image-dir DIR --echo BINARY [--source-dir DIR] [--cni dpcni|bridge]
#          [--log-dir DIR] [--budget SECONDS]
#
# --k8s-bin      the programs tools/k8s/build.sh builds (kube-*, kubelet, kubectl, etcd, helm, crictl)
# --image-dir    what tools/image/build.sh makes: pause.tar, echo.tar, dpcni.tar and `images`, the
#                names they hold; imported into the node's containerd (no registry is reached)
# --echo         dpcni_test_echo, the outside host's server
# --log-dir      where the run's logs are copied before the cluster is removed
# --budget       wall-clock seconds (default 600); past them the lane fails and removes its cluster
#                (within the longest bounded wait, 120 s), so that ctest's timeout never has to kill it
# Any missing piece or failed check fails the lane, naming it; nothing is skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=tests/k8s/cluster.sh
source "$here/cluster.sh"

k8s_bin="" image_dir="" echo_bin="" cni=dpcni budget=600
source_dir=$(cd "$here/../.." && pwd)
while [ $# -gt 0 ]; do
  case "$1" in
    --k8s-bin) k8s_bin=$2; shift 2 ;;
    --image-dir) image_dir=$2; shift 2 ;;
    --echo) echo_bin=$2; shift 2 ;;
    --source-dir) source_dir=$(realpath "$2"); shift 2 ;;
    --cni) cni=$2; shift 2 ;;
    --log-dir) K8S_LOG_DIR=$2; shift 2 ;;
    --budget) budget=$2; shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[ -n "$k8s_bin" ] || fail "--k8s-bin is required (the output of tools/k8s/build.sh)"
case "$cni" in
  dpcni | bridge) ;;
  *) fail "--cni must be dpcni or bridge, not $cni" ;;
esac
# The image names tools/image/build.sh gave each archive.
[ -n "$image_dir" ] && [ -f "$image_dir/images" ] ||
  fail "no image list '$image_dir/images': build the images with tools/image/build.sh --build-dir BUILD $image_dir"
image_name() {  # ARCHIVE [TAG_TO_AVOID]: a name the archive holds, another tag than the second if it can
  local names
  names=$(awk -v a="$1" '$2 == a { print $1 }' "$image_dir/images")
  [ -n "$names" ] || fail "$image_dir/images names no image in $1"
  { echo "$names" | grep -v -x ".*:${2:-}" || echo "$names"; } | head -n 1
}
archives=(pause.tar echo.tar)
[ "$cni" = bridge ] || archives+=(dpcni.tar)
for archive in "${archives[@]}"; do
  [ -f "$image_dir/$archive" ] || fail "$image_dir/$archive is missing: build the images with tools/image/build.sh"
done
[ -n "$echo_bin" ] && [ -x "$echo_bin" ] || fail "--echo must name the built dpcni_test_echo"
[ "$cni" = bridge ] || [ -f "$source_dir/charts/dpcni/Chart.yaml" ] ||
  fail "no chart at $source_dir/charts/dpcni"

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
result() {  # TEXT: a measurement for the summary
  results+=("$1")
  log "$1"
}

lane_traps

# The agent's pod (the chart's DaemonSet has one per node; this cluster has one node).
agent_selector=app.kubernetes.io/name=dpcni
agent_pod() {
  kc get pods -n kube-system -l "$agent_selector" \
    -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.metadata.deletionTimestamp}{"\n"}{end}' |
    awk 'NF == 1 { print $1 }'
}
agent_dump() {
  [ "$cni" = dpcni ] || return 0
  local pod
  for pod in $(kc get pods -n kube-system -l "$agent_selector" -o name 2>/dev/null); do
    echo "=== $pod: agent log (tail)" >&2
    kc logs -n kube-system "$pod" -c agent --tail 40 >&2 2>&1
    echo "=== $pod: k8s log (tail)" >&2
    kc logs -n kube-system "$pod" -c k8s --tail 20 >&2 2>&1
  done
}
dpcnictl() { kc exec -n kube-system "$(agent_pod)" -c agent -- dpcnictl "$@"; }

# Conditions for wait_for.
# The agent's pods are one, not OLD_UID, and Ready. Notes each time the node is not Ready meanwhile.
agent_replaced() {  # OLD_UID
  local pods
  node_is True || echo "$(now_ms) $(node_ready)" >>"$K8S_RUN/node-not-ready"
  pods=$(kc get pods -n kube-system -l "$agent_selector" \
    -o jsonpath='{range .items[*]}{.metadata.uid}{" "}{.status.containerStatuses[?(@.name=="agent")].ready}{"\n"}{end}')
  [ "$(echo "$pods" | wc -l)" -eq 1 ] && [ "${pods%% *}" != "$1" ] && [ "${pods##* }" = true ]
}
replies_beyond() { [ "$(grep -c 'seq=' "$1")" -gt "$2" ]; }
agent_at_baseline() { [ "$(agent_counts)" = "$baseline_pods $baseline_ports $baseline_addresses" ]; }
no_pods_in() { [ -z "$(kc get pods "$@" -o name)" ]; }
pod_gone() { [ -z "$(kc get pod -n lane "$1" -o name --ignore-not-found)" ]; }

# --- the cluster ----------------------------------------------------------------------------------

phase "cluster up"
cluster_init "$k8s_bin"
K8S_PAUSE_IMAGE=$(image_name pause.tar)
test_ref=$(image_name echo.tar)
dpcni_ref=""
if [ "$cni" = dpcni ]; then
  # The build's own version, not the chart's appVersion that build.sh also tags it with.
  app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$source_dir/charts/dpcni/Chart.yaml")
  dpcni_ref=$(image_name dpcni.tar "$app_version")
fi
cluster_up
phase "images imported"
for archive in "${archives[@]}"; do
  cluster_import "$image_dir/$archive" >/dev/null
done
log "sandbox image $K8S_PAUSE_IMAGE, test image $test_ref${dpcni_ref:+, dpcni image $dpcni_ref}"

# --- step 1: the network plugin --------------------------------------------------------------------

node_ready() { kc get node "$K8S_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}'; }
node_is() { [ "$(node_ready)" = "$1" ]; }
[ "$(node_ready)" = False ] || fail "node $K8S_NODE_NAME is '$(node_ready)' before any network plugin: expected NotReady"
reason=$(kc get node "$K8S_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].message}')
log "before the network plugin the node is NotReady: $reason"

if [ "$cni" = bridge ]; then
  phase "bridge conflist installed, node Ready"
  cluster_install_bridge
  wait_for "node Ready with the bridge conflist" 60 node_is True
else
  phase "helm install: node Ready once the agent is"
  repo=${dpcni_ref%:*} tag=${dpcni_ref##*:}
  install_ms=$(now_ms)
  helm_ install dpcni "$source_dir/charts/dpcni" --namespace kube-system \
    --set "image.repository=$repo" --set-string "image.tag=$tag" \
    --set "clusterCIDRs={$K8S_CLUSTER_CIDR}" >"$K8S_RUN/logs/helm-install.log" ||
    fail "helm install (logs/helm-install.log)"
  # Sampled as fast as kubectl answers, the node's Ready condition first and then the agent, so
  # that a node seen Ready while the agent (looked at later) does not run yet is a real violation.
  # kubelet's view of the agent container (started, ready) follows its probes, every few seconds;
  # whether the agent served before the node turned Ready is taken from timestamps below.
  conflist=/etc/cni/net.d/10-dpcni.conflist
  t_running="" t_conflist="" t_agent_ready="" t_node_ready="" samples_not_ready=0
  deadline=$((SECONDS + 240))
  while [ -z "$t_node_ready" ] || [ -z "$t_agent_ready" ]; do
    check_daemons
    [ "$SECONDS" -lt "$deadline" ] || fail "the agent and the node not Ready within 240 s of helm install"
    ready=$(node_ready)
    agent=$(kc get pods -n kube-system -l "$agent_selector" \
      -o jsonpath='{range .items[*].status.containerStatuses[?(@.name=="agent")]}{.state.running.startedAt}{" "}{.ready}{end}')
    has_conflist=no
    node_sh "test -e $conflist" && has_conflist=yes
    t=$(($(now_ms) - install_ms))
    running=no
    [ -z "${agent%% *}" ] || running=yes
    [ -n "$t_running" ] || [ "$running" = no ] || t_running=$t
    [ -n "$t_conflist" ] || [ "$has_conflist" = no ] || t_conflist=$t
    [ -n "$t_agent_ready" ] || [ "${agent##* }" != true ] || t_agent_ready=$t
    if [ "$ready" = True ]; then
      [ -n "$t_node_ready" ] || t_node_ready=$t
      [ "$running" = yes ] || fail "node Ready while the agent container does not run ($t ms after helm install)"
      [ "$has_conflist" = yes ] || fail "node Ready with no $conflist on the node"
    else
      samples_not_ready=$((samples_not_ready + 1))
    fi
    sleep 0.2
  done
  [ "$samples_not_ready" -gt 0 ] || fail "the node was never seen NotReady after helm install"
  result "helm install -> agent running ${t_running} ms, conflist on the node ${t_conflist} ms, node Ready ${t_node_ready} ms, agent pod Ready ${t_agent_ready} ms (node NotReady in $samples_not_ready samples)"
  # The order, from the clocks of this one machine: the agent's log says when it began to serve
  # (containerd stamps each line), the conflist's mtime when dpcni-k8s wrote it, the node's
  # condition when kubelet saw the network ready (whole seconds).
  to_ms() { date -d "$1" +%s%3N; }
  serving=$(kc logs -n kube-system "$(agent_pod)" -c agent --timestamps | grep -m 1 'serving on' | cut -d' ' -f1 || true)
  [ -n "$serving" ] || fail "the agent's log has no 'serving on' line"
  serving_ms=$(to_ms "$serving")
  conflist_ms=$(node_sh "stat -c %.3Y $conflist" | tr -d .)
  node_ready_s=$(to_ms "$(kc get node "$K8S_NODE_NAME" -o jsonpath='{.status.conditions[?(@.type=="Ready")].lastTransitionTime}')")
  node_ready_s=$((node_ready_s / 1000))
  [ "$conflist_ms" -ge "$serving_ms" ] ||
    fail "the conflist was written $((serving_ms - conflist_ms)) ms before the agent served"
  [ "$node_ready_s" -ge $((serving_ms / 1000)) ] || fail "the node turned Ready before the agent served"
  result "agent serving at +$((serving_ms - install_ms)) ms, conflist written $((conflist_ms - serving_ms)) ms later, node's Ready transition in the second from +$((node_ready_s * 1000 - install_ms)) ms (the API keeps whole seconds)"
  node_sh "cat $conflist" >"$K8S_RUN/logs/conflist.json"
  grep -q '"type": *"dpcni"' "$K8S_RUN/logs/conflist.json" || fail "the node's conflist names no dpcni plugin"
fi
phase_end

# The agent's own view: its counts before any pod, restored after every pod is gone.
baseline_pods="" baseline_ports="" baseline_addresses=""
agent_counts() {  # prints "pods ports addresses"
  local status ports
  status=$(dpcnictl status) || return 1
  ports=$(dpcnictl ports) || return 1
  echo "$(echo "$status" | awk '$1 == "pods:" { print $2 }') $(($(echo "$ports" | wc -l) - 1)) $(echo "$status" | awk '$1 == "addresses:" { print $2 }')"
}
if [ "$cni" = dpcni ]; then
  read -r baseline_pods baseline_ports baseline_addresses < <(agent_counts) || fail "dpcnictl in the agent's pod"
  log "agent baseline: pods=$baseline_pods ports=$baseline_ports addresses=${baseline_addresses:-?}"
  dpcnictl status >&2
fi

# --- step 2: the workload ---------------------------------------------------------------------------

phase "workload applied and Ready"
sed "s|@TEST_IMAGE@|$test_ref|g" "$here/workload.yaml" | kc apply -f - >/dev/null
kc rollout status -n lane deployment/echo --timeout 120s >/dev/null ||
  fail "the echo Deployment did not become available"
kc wait -n lane --for=condition=Ready pod/client --timeout 60s >/dev/null || fail "the client pod is not Ready"
kc get pods -n lane -o wide >&2

# "name ip" per pod of the workload; only the pods that are not being deleted.
lane_pods() {
  kc get pods -n lane -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.podIP}{" "}{.metadata.deletionTimestamp}{"\n"}{end}' |
    awk 'NF == 2 { print $1, $2 }'
}
# Whether dotted IPv4 address $1 lies in CIDR $2.
# shellcheck disable=SC2086  # split at the dots on purpose
ip_to_int() { local IFS=.; set -- $1; echo $((($1 << 24) + ($2 << 16) + ($3 << 8) + $4)); }
ip_in_cidr() {
  local net=${2%/*} bits=${2#*/}
  local mask=$(((0xffffffff << (32 - bits)) & 0xffffffff))
  [ $(($(ip_to_int "$1") & mask)) -eq $(($(ip_to_int "$net") & mask)) ]
}
mapfile -t pods < <(lane_pods)
[ "${#pods[@]}" -eq 4 ] || fail "expected 4 pods in namespace lane, found ${#pods[@]}"
for entry in "${pods[@]}"; do
  name=${entry% *} ip=${entry#* }
  ip_in_cidr "$ip" "$K8S_POD_CIDR" || fail "pod $name has $ip, outside the node's pod CIDR $K8S_POD_CIDR"
done
log "every pod's address is in the node's pod CIDR $K8S_POD_CIDR"

# --- step 3: traffic --------------------------------------------------------------------------------

# From each pod: ping every other pod and ask every other echo server over TCP, which must name
# itself and see the asking pod's own address (pod to pod is never translated). One exec per pod.
pod_to_pod() {
  local entry name ip other oname oip script
  mapfile -t pods < <(lane_pods)
  for entry in "${pods[@]}"; do
    name=${entry% *} ip=${entry#* }
    script="rc=0"
    for other in "${pods[@]}"; do
      oname=${other% *} oip=${other#* }
      [ "$oname" = "$name" ] && continue
      script+="; ping -c 2 -i 0.2 -w 5 $oip >/dev/null || { echo 'ping $oname ($oip): no reply'; rc=1; }"
      case "$oname" in
        echo-*)
          script+="; out=\$(dpcni_test_echo tcp $oip 8080 2>&1)"
          script+="; case \"\$out\" in *'hostname=$oname address=$oip:8080 peer=$ip:'*) ;; *) echo \"tcp $oname ($oip): \$out\"; rc=1 ;; esac"
          ;;
      esac
    done
    script+="; exit \$rc"
    kc exec -n lane "$name" -- sh -c "$script" || fail "pod to pod traffic from $name ($ip)"
  done
  log "pod to pod: every pair pings, every echo server answers TCP and sees the client's own address"
}

cluster_ip=""
service_traffic() {
  cluster_ip=$(kc get service -n lane echo -o jsonpath='{.spec.clusterIP}')
  local client_ip out names want
  client_ip=$(kc get pod -n lane client -o jsonpath='{.status.podIP}')
  # 30 connections: each endpoint is missed with probability (2/3)^30 < 1e-5.
  out=$(kc exec -n lane client -- sh -c \
    "for i in \$(seq 30); do dpcni_test_echo tcp $cluster_ip 80 || exit 1; done") ||
    fail "TCP to the Service $cluster_ip:80 from the client: $out"
  echo "$out" | grep -v -q "peer=$client_ip:" && fail "a Service reply saw another client address than $client_ip: $out"
  names=$(echo "$out" | sed -n 's/.*hostname=\([^ ]*\) .*/\1/p' | sort -u | tr '\n' ' ')
  want=$(lane_pods | awk '$1 ~ /^echo-/ { print $1 }' | sort | tr '\n' ' ')
  [ "$names" = "$want" ] || fail "30 TCP connections to the Service reached [$names], not every endpoint [$want]"
  out=$(kc exec -n lane client -- wget -q -O - "http://$cluster_ip/healthz") ||
    fail "HTTP GET http://$cluster_ip/healthz from the client"
  [ "$out" = ok ] || fail "HTTP GET http://$cluster_ip/healthz answered '$out'"
  out=$(kc exec -n lane client -- wget -q -O - "http://$cluster_ip/") || fail "HTTP GET http://$cluster_ip/"
  [[ "$out" == hostname=echo-* ]] || fail "HTTP GET http://$cluster_ip/ answered '$out'"
  out=$(kc exec -n lane client -- dpcni_test_echo udp "$cluster_ip" 53) || fail "UDP to the Service $cluster_ip:53: $out"
  [[ "$out" == "peer=$client_ip:"*hostname=echo-* ]] || fail "UDP to the Service answered '$out'"
  log "Service $cluster_ip: TCP reached all of [$names], HTTP and UDP answered"
}

probes_hold() {
  local bad
  bad=$(kc get pods -n lane -o jsonpath='{range .items[*]}{.metadata.name}{" "}{.status.containerStatuses[0].ready}{" "}{.status.containerStatuses[0].restartCount}{"\n"}{end}' |
    awk '$2 != "true" || $3 != 0')
  [ -z "$bad" ] || fail "pods not Ready or restarted (name ready restarts): $bad"
}

outside_traffic() {
  local out client_ip
  client_ip=$(kc get pod -n lane client -o jsonpath='{.status.podIP}')
  kc exec -n lane client -- ping -c 2 -w 5 "$K8S_OUTSIDE_IP" >/dev/null || fail "the client cannot ping the outside host"
  out=$(kc exec -n lane client -- dpcni_test_echo tcp "$K8S_OUTSIDE_IP" 8080) ||
    fail "TCP from the client to the outside host: $out"
  [[ "$out" == "peer=$K8S_NODE_OUT_IP:"* ]] ||
    fail "the outside host saw '$out', not the node's address $K8S_NODE_OUT_IP (client $client_ip)"
  log "outside host: reached, and it saw the node's address $K8S_NODE_OUT_IP, not the pod's $client_ip"
}

all_traffic() {
  pod_to_pod
  service_traffic
  outside_traffic
  probes_hold
}

phase "traffic"
spawn outside-echo "$K8S_NS_OUT" "$echo_bin" serve --tcp 8080
wait_for "the outside host's echo server" 10 grep -q serving "$K8S_RUN/logs/outside-echo.log"
all_traffic
phase_end

if [ "$cni" = bridge ]; then
  log "bridge baseline passed"
  exit 0
fi

# --- step 4: a deleted pod leaves nothing behind --------------------------------------------------

# The agent's pods and ports against the cluster's, and the node's netns mounts against its sandboxes.
agent_matches_cluster() {
  local want have pods ports addresses netns
  want=$(lane_pods | awk '{ print $2 }' | sort | tr '\n' ' ')
  have=$(dpcnictl pods | awk 'NR > 1 { sub("/.*", "", $4); print $4 }' | sort | tr '\n' ' ')
  [ "$want" = "$have" ] || fail "the agent lists pods [$have], the cluster has [$want]"
  read -r pods ports addresses < <(agent_counts)
  local n
  n=$(echo "$want" | wc -w)
  [ "$pods" -eq $((baseline_pods + n)) ] || fail "dpcnictl status counts $pods pods, expected $((baseline_pods + n))"
  [ "$ports" -eq $((baseline_ports + n)) ] || fail "dpcnictl ports lists $ports ports, expected $((baseline_ports + n))"
  if [ -n "$baseline_addresses" ]; then
    [ "$addresses" -eq $((baseline_addresses + n)) ] ||
      fail "the agent holds $addresses addresses, expected $((baseline_addresses + n))"
  fi
  netns=$(node_sh 'ls /run/netns | wc -l')
  [ "$netns" -eq "$n" ] || fail "the node holds $netns pod network namespaces for $n pods"
}

phase "pod deleted: nothing left behind"
victim=$(lane_pods | awk '$1 ~ /^echo-/ { print $1; exit }')
victim_ip=$(lane_pods | awk -v v="$victim" '$1 == v { print $2 }')
kc delete pod -n lane "$victim" --wait --timeout 60s >/dev/null || fail "deleting pod $victim"
kc rollout status -n lane deployment/echo --timeout 120s >/dev/null || fail "the Deployment did not replace $victim"
wait_for "the deleted pod $victim gone" 30 pod_gone "$victim"
agent_matches_cluster
dpcnictl pods | grep -q -w "$victim_ip" && fail "the agent still lists $victim_ip of the deleted $victim"
log "after deleting $victim ($victim_ip): the agent's pods, ports and addresses match the cluster's"
dpcnictl pods >&2

# --- steps 5 and 6: the agent replaced under running pods ---------------------------------------

# Pings from the client to an echo pod every 20 ms while COMMAND replaces the agent; prints the
# longest run of lost replies as time, and checks that every pod kept its address and traffic.
measure_roll() {  # WHAT COMMAND...
  local what=$1
  shift
  local old_agent before after target pingout seqs gap lost first_after
  old_agent=$(kc get pods -n kube-system -l "$agent_selector" -o jsonpath='{.items[0].metadata.uid}')
  before=$(lane_pods | sort)
  target=$(lane_pods | awk '$1 ~ /^echo-/ { print $2; exit }')
  pingout=$K8S_RUN/logs/ping-$(echo "$what" | tr ' ' '-').txt
  kc exec -n lane client -- ping -i 0.02 -w 300 "$target" >"$pingout" 2>&1 &
  local ping_job=$!
  wait_for "the first pings of the client" 10 grep -q 'seq=' "$pingout"
  rm -f "$K8S_RUN/node-not-ready"
  "$@"
  wait_for "a new agent pod, alone and Ready, after $what" 240 agent_replaced "$old_agent"
  # The conflist stays while the agent restarts: the node must not turn NotReady (kubelet would
  # refuse new pods and, given time, evict).
  [ ! -e "$K8S_RUN/node-not-ready" ] ||
    fail "the node was not Ready during $what: $(head -n 3 "$K8S_RUN/node-not-ready")"
  # Replies again, for two seconds, before the ping stops.
  first_after=$(grep -c 'seq=' "$pingout")
  wait_for "pings answered again after $what" 60 replies_beyond "$pingout" $((first_after + 100))
  kc exec -n lane client -- killall ping >/dev/null 2>&1 || true
  wait "$ping_job" || true
  seqs=$(sed -n 's/.*seq=\([0-9]*\) .*/\1/p' "$pingout")
  # The gap: the longest stretch of sequence numbers without a reply, 20 ms each.
  gap=$(echo "$seqs" | awk 'NR > 1 && $1 - prev > max { max = $1 - prev } { prev = $1 } END { print (max > 0 ? max - 1 : 0) }')
  lost=$(echo "$seqs" | awk 'NR == 1 { first = $1 } { n++; last = $1 } END { print last - first + 1 - n }')
  result "$what: longest interruption $((gap * 20)) ms ($gap pings of 20 ms lost in a row, $lost lost in all, $(echo "$seqs" | wc -l) answered)"
  after=$(lane_pods | sort)
  [ "$before" = "$after" ] || fail "pods changed across $what: before [$before], after [$after]"
  log "every pod kept its address across $what, and the node stayed Ready"
  all_traffic
  agent_matches_cluster
}

phase "helm upgrade rolls the agent"
upgrade() {
  # A changed value of the agent's configuration: the ConfigMap's checksum changes the pod template.
  helm_ upgrade dpcni "$source_dir/charts/dpcni" --namespace kube-system --reuse-values \
    --set agent.extraConfig.idle_sleep_max_us=100 >"$K8S_RUN/logs/helm-upgrade.log" ||
    fail "helm upgrade (logs/helm-upgrade.log)"
}
measure_roll "helm upgrade" upgrade
agent_yaml=$(kc exec -n kube-system "$(agent_pod)" -c agent -- cat /etc/dpcni/agent.yaml)
[[ "$agent_yaml" == *"idle_sleep_max_us: 100"* ]] ||
  fail "the upgraded agent does not run the changed configuration: $agent_yaml"

phase "agent pod deleted, DaemonSet recreates it"
delete_agent() { kc delete pod -n kube-system "$(agent_pod)" --wait=false >/dev/null; }
measure_roll "agent pod deleted" delete_agent

# --- step 7: every pod gone, the agent at its baseline ----------------------------------------------

phase "workload deleted: agent back to baseline"
kc delete -n lane deployment/echo pod/client service/echo --wait --timeout 60s >/dev/null || fail "deleting the workload"
wait_for "the workload's pods gone" 60 no_pods_in -n lane
wait_for "the agent back to its baseline" 30 agent_at_baseline
[ -z "$(dpcnictl pods | awk 'NR > 1')" ] || fail "the agent still lists pods: $(dpcnictl pods)"
netns=$(node_sh 'ls /run/netns | wc -l')
[ "$netns" -eq 0 ] || fail "the node still holds $netns pod network namespaces"
log "no pod, port, address or network namespace left: pods=$baseline_pods ports=$baseline_ports addresses=${baseline_addresses:-?}"
kc delete namespace lane --wait=false >/dev/null

# --- step 8: uninstall --------------------------------------------------------------------------------

phase "helm uninstall"
# The agent pod's last words (its logs go with it), kept in the run's logs.
uninstalled_pod=$(agent_pod)
kc logs -n kube-system "$uninstalled_pod" -c k8s --timestamps -f >"$K8S_RUN/logs/dpcni-k8s-uninstall.log" 2>&1 &
kc logs -n kube-system "$uninstalled_pod" -c agent --timestamps -f >"$K8S_RUN/logs/dpcni-agent-uninstall.log" 2>&1 &
helm_ uninstall dpcni --namespace kube-system --wait --timeout 120s >"$K8S_RUN/logs/helm-uninstall.log" ||
  fail "helm uninstall (logs/helm-uninstall.log)"
wait_for "the agent's pods gone" 60 no_pods_in -n kube-system -l "$agent_selector"
node_sh "test ! -e $conflist" ||
  fail "$conflist is still on the node after helm uninstall; dpcni-k8s, stopping, said:
$(grep -E 'Stopping|Keeping|Removed|DaemonSet' "$K8S_RUN/logs/dpcni-k8s-uninstall.log" | tail -n 3 || true)"
wait_for "the node NotReady without a network plugin" 60 node_is False
log "agent gone, $conflist removed, the node NotReady again"
phase_end

log "timings:"
for i in "${!phase_names[@]}"; do
  printf '  %-48s %7.1f s\n' "${phase_names[$i]}" "$(echo "${phase_ms[$i]}" | awk '{ print $1 / 1000 }')" >&2
done
for line in "${results[@]}"; do echo "  $line" >&2; done
log "cluster lane passed"
