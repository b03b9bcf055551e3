#!/usr/bin/env bash
# Builds the images (tools/image/build.sh) and checks them in a private containerd, the way a node
# gets them: every layer is a whole tar archive; each archive imports under the names the build
# lists, the chart's default image among them; the dpcni image's programs load all their libraries;
# the agent in it, with only the capabilities the chart's unprivileged mode grants, loads its DPDK
# drivers, serves dpcnictl and sets up a pod through the plugin; the echo image answers HTTP, UDP
# and ping and stops on SIGTERM as a pod's main process; pause runs and stops.
#
#   images_test.sh --source-dir DIR --build-dir DIR --out-dir DIR
#
# containerd runs with its own root, state and socket under a temporary directory, and is stopped
# with everything it ran on any exit, as is the one network namespace it makes (the pod's). Needs
# root, containerd and ctr (tools/install-deps.sh).
set -euo pipefail

source_dir="" build_dir="" out_dir=""
while [ $# -gt 0 ]; do
  case "$1" in
    --source-dir) source_dir=$2; shift 2 ;;
    --build-dir) build_dir=$2; shift 2 ;;
    --out-dir) out_dir=$2; shift 2 ;;
    *) echo "images_test: unknown argument $1" >&2; exit 2 ;;
  esac
done

log() { echo "images_test: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
[ -n "$source_dir" ] && [ -n "$build_dir" ] && [ -n "$out_dir" ] || fail "missing arguments"
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, containerd)"
for tool in containerd ctr runc ip; do
  command -v "$tool" >/dev/null || fail "$tool is not installed: run tools/install-deps.sh"
done

"$source_dir/tools/image/build.sh" --build-dir "$build_dir" "$out_dir" || fail "tools/image/build.sh"

# --- Scratch space, and everything this test starts stopped on any exit ----------------------------

tmp=$(mktemp -d /tmp/dpcni-images-test.XXXXXX)
chmod 0711 "$tmp"
address=$tmp/containerd.sock
ctr_binary=$(command -v ctr)
# ctr passes a SIGTERM on to the container, where a PID 1 without a handler ignores it: the timeout
# kills ctr itself after 10 s more.
ctr() { timeout --kill-after=10 120 "$ctr_binary" --address "$address" --namespace k8s.io "$@"; }
# Container IDs unique to this run: runc's state of every containerd on the machine shares one
# directory per namespace.
id_prefix=dpcni-images-test-$$
containerd_pid="" netns=""
cleanup() {
  local id
  if [ -n "$containerd_pid" ]; then
    for id in $(ctr tasks ls -q 2>/dev/null); do
      ctr tasks kill -s SIGKILL "$id" >/dev/null 2>&1 || true
      ctr tasks delete -f "$id" >/dev/null 2>&1 || true
    done
    for id in $(ctr containers ls -q 2>/dev/null); do ctr containers delete "$id" >/dev/null 2>&1 || true; done
    kill "$containerd_pid" 2>/dev/null || true
    wait "$containerd_pid" 2>/dev/null || true
  fi
  [ -z "$netns" ] || ip netns delete "$netns" 2>/dev/null || true
  # Snapshots the kill left mounted.
  findmnt -rn -o TARGET | { grep -F "$tmp/" || true; } | sort -r | while read -r mount_point; do
    umount -l "$mount_point" || true
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# --- Layers: whole tar archives, as GNU tar (and the scanners built on it) reads them ---------------

for archive in $(cut -d' ' -f2 "$out_dir/images" | sort -u); do
  layers=$tmp/layers
  mkdir "$layers"
  tar -xf "$out_dir/$archive" -C "$layers"
  for blob in "$layers"/blobs/sha256/*; do
    [ "$(head -c 2 "$blob" | od -An -tx1 | tr -d ' ')" = 1f8b ] || continue  # gzip: a layer
    tar -tzf "$blob" >/dev/null 2>"$layers/tar.log" ||
      { cat "$layers/tar.log" >&2; fail "a layer of $archive is not a whole tar archive"; }
  done
  rm -rf "$layers"
done

# --- A private containerd ------------------------------------------------------------------------

cat >"$tmp/config.toml" <<EOF
version = 2
root = "$tmp/root"
state = "$tmp/state"
# Only images and tasks: no CRI, which would look for CNI and a sandbox image.
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$address"
[ttrpc]
  address = "$address.ttrpc"
[plugins."io.containerd.internal.v1.opt"]
  path = "$tmp/opt"
EOF
containerd --config "$tmp/config.toml" >"$tmp/containerd.log" 2>&1 &
containerd_pid=$!
for _ in $(seq 100); do
  ctr version >/dev/null 2>&1 && break
  kill -0 "$containerd_pid" 2>/dev/null || { cat "$tmp/containerd.log" >&2; fail "containerd exited"; }
  sleep 0.2
done
ctr version >/dev/null || fail "containerd does not answer on $address"

# --- Import: the names -------------------------------------------------------------------------

[ -s "$out_dir/images" ] || fail "$out_dir/images lists no image"
for archive in $(cut -d' ' -f2 "$out_dir/images" | sort -u); do
  ctr images import "$out_dir/$archive" >/dev/null || fail "ctr images import $archive"
done
expected=$(cut -d' ' -f1 "$out_dir/images" | sort)
imported=$(ctr images ls -q | sort)
[ "$expected" = "$imported" ] ||
  fail "ctr images ls shows $(echo $imported), the build lists $(echo $expected)"
log "imported: $(echo $imported)"

version=$(git -C "$source_dir" describe --always --dirty)
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$source_dir/charts/dpcni/Chart.yaml")
repository=$(sed -n 's/^  repository: *//p' "$source_dir/charts/dpcni/values.yaml")
chart_default=$repository:$app_version
image=dpcni.dev/dpcni:$version
echo_image=dpcni.dev/echo:$version
for name in "$image" "$chart_default" "$echo_image"; do
  grep -qxF "$name" <<<"$imported" || fail "$name is not among the imported images"
done
pause_image=$(grep -x 'dpcni.dev/pause:[0-9.]*' <<<"$imported") || fail "no dpcni.dev/pause:<version> image"

# The status ctr shows for a task (RUNNING, STOPPED, …), empty when there is none.
task_status() {  # ID
  local tasks
  tasks=$(ctr tasks ls) || return 0
  awk -v id="$1" '$1 == id { print $3 }' <<<"$tasks"
}

# Waits up to SECONDS for a task to stop.
wait_stopped() {  # ID SECONDS
  local i
  for ((i = 0; i < $2 * 10; i++)); do
    [ "$(task_status "$1")" = STOPPED ] && return 0
    sleep 0.1
  done
  return 1
}

# Deletes a stopped task; false when it had exited with a non-zero status, which `ctr tasks delete`
# reports only as a warning.
stopped_with_zero() {  # ID
  local output
  output=$(ctr tasks delete "$1" 2>&1) || { echo "$output" >&2; return 1; }
  [[ "$output" != *"non-zero exit code"* ]] || { echo "$output" >&2; return 1; }
}

# --- dpcni: every program loads -------------------------------------------------------------------

# Runs a command in a fresh container of IMAGE; prints its output, fails on a status not in OK.
run_in() {  # IMAGE OK_STATUSES COMMAND...
  local image=$1 ok=$2 status=0 output
  shift 2
  output=$(ctr run --rm "$image" "$id_prefix-run" "$@" 2>&1) || status=$?
  [[ " $ok " == *" $status "* ]] || { echo "$output" >&2; fail "'$*' in $image exited with $status"; }
  echo "$output"
}
# abseil's --help exits with 1 and Go's flag package's with 0 or 2; a library the loader cannot
# find exits with 127 before main, and prints no flag.
help=$(run_in "$image" "0 1" dpcni-agent --help)
grep -q -- '--config' <<<"$help" || fail "dpcni-agent --help lists no --config: $help"
help=$(run_in "$image" "0 1" dpcnictl --help)
grep -q -- '--socket' <<<"$help" || fail "dpcnictl --help lists no --socket: $help"
help=$(run_in "$image" "0 1 2" dpcni-k8s --help)
grep -q -- 'cni-conf-dir' <<<"$help" || fail "dpcni-k8s --help lists no cni-conf-dir: $help"
# The plugin answers VERSION as the runtime asks it (CNI_COMMAND in the environment). Its stdin is
# the container's /dev/null: ctr does not close a container's stdin when its own ends.
version_result=$(run_in "$image" 0 sh -c 'CNI_COMMAND=VERSION /usr/libexec/dpcni/dpcni </dev/null')
grep -q '"supportedVersions"' <<<"$version_result" || fail "the plugin's VERSION result: $version_result"
log "dpcni-agent, dpcnictl, dpcni-k8s and dpcni run in $image"

# The agent for real, as the chart runs it with agent.privileged=false: only the capabilities its
# DaemonSet template adds (read from there), /dev/net/tun bind-mounted like its hostPath volume (char
# 10:200 is on containerd's default device list), the socket and netns directories shared with the
# host. EAL loads its drivers from the DPDK in the image (dlopen, which ldd misses). The agent runs
# in the container's own network namespace (ctr's default), which holds its host port and nftables
# table and goes with it; the pod is a namespace this test makes and removes.
mapfile -t chart_caps < <(awk '/^ *add:$/ { adding = 1; next }
  adding && $1 == "-" && $2 ~ /^[A-Z_]+$/ { print $2; next } { adding = 0 }' \
  "$source_dir/charts/dpcni/templates/daemonset.yaml")
[ ${#chart_caps[@]} -gt 0 ] || fail "no capabilities found in the chart's DaemonSet template"
# ctr starts from containerd's default set: drop it, then add the chart's.
declare -A cap_bit=([CHOWN]=0 [DAC_OVERRIDE]=1 [FOWNER]=3 [FSETID]=4 [KILL]=5 [SETGID]=6
  [SETUID]=7 [SETPCAP]=8 [NET_BIND_SERVICE]=10 [NET_ADMIN]=12 [NET_RAW]=13 [IPC_LOCK]=14
  [SYS_CHROOT]=18 [SYS_ADMIN]=21 [MKNOD]=27 [AUDIT_WRITE]=29 [SETFCAP]=31)
cap_options=()
expected_mask=0
for cap in "${chart_caps[@]}"; do
  [ -n "${cap_bit[$cap]:-}" ] || fail "capability $cap of the chart is not in this test's table"
  cap_options+=(--cap-add "CAP_$cap")
  expected_mask=$((expected_mask | 1 << cap_bit[$cap]))
done
for cap in CHOWN DAC_OVERRIDE FSETID FOWNER MKNOD NET_RAW SETGID SETUID SETFCAP SETPCAP \
  NET_BIND_SERVICE SYS_CHROOT KILL AUDIT_WRITE; do
  [[ " ${chart_caps[*]} " == *" $cap "* ]] || cap_options+=(--cap-drop "CAP_$cap")
done
printf '%s\n' 'pod_cidrs: [10.250.0.0/24]' 'backend: tap' 'max_pods: 4' >"$tmp/agent.yaml"
mkdir "$tmp/socket"
netns=dpcni-images-test-$$
ip netns add "$netns"
agent_id=$id_prefix-agent
ctr run -d "${cap_options[@]}" \
  --mount "type=bind,src=/dev/net/tun,dst=/dev/net/tun,options=rbind:rw" \
  --mount "type=bind,src=$tmp/agent.yaml,dst=/etc/dpcni/agent.yaml,options=rbind:ro" \
  --mount "type=bind,src=$tmp/socket,dst=/run/dpcni,options=rbind:rw" \
  --mount "type=bind,src=/run/netns,dst=/run/netns,options=rbind:rslave:ro" \
  "$image" "$agent_id" dpcni-agent --config=/etc/dpcni/agent.yaml >/dev/null ||
  fail "cannot start dpcni-agent in $image"
status_output=""
for _ in $(seq 60); do
  status_output=$(ctr tasks exec --exec-id "status-$RANDOM" "$agent_id" dpcnictl status 2>&1) && break
  status_output=""
  [ "$(task_status "$agent_id")" = RUNNING ] || break
  sleep 1
done
if [ -z "$status_output" ]; then
  ctr tasks ls >&2 || true
  fail "dpcni-agent in $image did not answer dpcnictl status within 60 s"
fi
cap_effective=$(ctr tasks exec --exec-id "caps-$RANDOM" "$agent_id" cat /proc/1/status |
  awk '$1 == "CapEff:" { print $2 }')
[ -n "$cap_effective" ] && [ $((16#$cap_effective)) -eq "$expected_mask" ] ||
  fail "the agent ran with capabilities '$cap_effective', not the chart's ${chart_caps[*]}"
log "dpcni-agent in $image serves with only ${chart_caps[*]}: $(tr '\n' ' ' <<<"$status_output" | cut -c1-120)"
# A pod through the plugin on the host, as the runtime runs it: the agent enters the pod's netns.
plugin_conf='{"cniVersion": "1.0.0", "name": "dpcni", "type": "dpcni", "agentSocket": "'$tmp/socket/dpcni.sock'"}'
cni() {  # COMMAND
  CNI_COMMAND=$1 CNI_CONTAINERID=images-test-$$ CNI_NETNS=/run/netns/$netns CNI_IFNAME=eth0 \
    CNI_PATH=/opt/cni/bin "$build_dir/cni/dpcni" <<<"$plugin_conf"
}
result=$(cni ADD) || fail "ADD through the agent in $image: $result"
pod_address=$(ip -n "$netns" -4 -o addr show dev eth0 | awk '{ print $4 }')
[ "$pod_address" = 10.250.0.2/32 ] || fail "the pod got '$pod_address', the ADD result: $result"
# Its default route leads through the dataplane to the agent's host port, 10.250.0.1.
ip netns exec "$netns" ping -c 2 -W 2 10.250.0.1 >/dev/null ||
  fail "the pod cannot reach the agent's host port through the dataplane"
cni DEL >/dev/null || fail "DEL through the agent in $image"
log "a pod set up through it: $pod_address, ping to the host port, DEL"
ctr tasks kill -s SIGTERM "$agent_id"
wait_stopped "$agent_id" 30 || fail "dpcni-agent did not stop within 30 s of SIGTERM"
stopped_with_zero "$agent_id" || fail "dpcni-agent exited with an error on SIGTERM"
ctr containers delete "$agent_id"

# --- echo: a pod's server, and its tools ------------------------------------------------------------

echo_id=$id_prefix-echo
ctr run -d "$echo_image" "$echo_id" >/dev/null || fail "cannot start $echo_image"
in_echo() { ctr tasks exec --exec-id "exec-$RANDOM" "$echo_id" "$@"; }
health=""
for _ in $(seq 50); do
  health=$(in_echo wget -q -O - http://127.0.0.1:8080/healthz 2>/dev/null) && break
  sleep 0.2
done
[ "$health" = ok ] || fail "GET /healthz of the echo image answered '$health', not ok"
body=$(in_echo wget -q -O - http://127.0.0.1:8080/anything) || fail "GET / of the echo image"
[[ "$body" == "hostname="*" address=127.0.0.1:8080 peer=127.0.0.1:"* ]] ||
  fail "GET / of the echo image answered '$body'"
reply=$(in_echo dpcni_test_echo udp 127.0.0.1 8080) || fail "UDP echo of the echo image"
[[ "$reply" == "peer=127.0.0.1:"*" hostname="* ]] || fail "UDP echo of the echo image answered '$reply'"
in_echo ping -c 1 -W 2 127.0.0.1 >/dev/null || fail "busybox ping in the echo image"
# SIGTERM to PID 1: without a handler the kernel would drop it and the task would keep running.
ctr tasks kill -s SIGTERM "$echo_id"
wait_stopped "$echo_id" 5 || fail "the echo server as PID 1 did not stop within 5 s of SIGTERM"
stopped_with_zero "$echo_id" || fail "the echo server exited with an error on SIGTERM"
ctr containers delete "$echo_id"
log "$echo_image: GET /healthz '$health', GET / '$body', UDP '$reply', ping ok, stopped by SIGTERM"

# --- pause -----------------------------------------------------------------------------------------

pause_id=$id_prefix-pause
ctr run -d "$pause_image" "$pause_id" >/dev/null || fail "cannot start $pause_image"
sleep 1
[ "$(task_status "$pause_id")" = RUNNING ] || fail "$pause_image is not running"
ctr tasks kill -s SIGTERM "$pause_id"
wait_stopped "$pause_id" 5 || fail "$pause_image did not stop within 5 s of SIGTERM"
stopped_with_zero "$pause_id" || fail "$pause_image exited with an error on SIGTERM"
ctr containers delete "$pause_id"
log "$pause_image runs and stops"

log "passed"
