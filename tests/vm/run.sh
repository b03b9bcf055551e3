#!/usr/bin/env bash
# The vhost-net lane. This host's kernel has no vhost-net, so the product's primary pod port (DPDK
# virtio-user on /dev/vhost-net) is tested in a Debian guest under qemu: the guest boots with the
# project's source and build trees shared at the same paths, checks /dev/vhost-net, runs a testpmd
# smoke on it and then the end-to-end suite with DPCNI_E2E_BACKEND=vhost-net. Any failure, a hang past
# the time budget, or a missing tool fails this script; the guest's console is printed as it runs.
#
#   run.sh --build-dir DIR [--source-dir DIR] [--dpdk-prefix DIR] [--e2e BINARY]... [--bench COMMAND]
#          [--pci-uplinks] [--budget SECONDS]
#
# --build-dir   the CMake build tree: shared with the guest, scanned for the ELF files whose libraries
#               the guest must hold, and home of the cached image (tests/vm/image) and of the last
#               run's results (tests/vm/run: console.log, status, <binary>.xml and <binary>.log per suite).
# --source-dir  shared with the guest too (read-only, like the build tree).
# --dpdk-prefix where our DPDK build is installed (DPCNI_DPDK_PREFIX), shared too; the smoke runs
#               its dpdk-testpmd. Without it the build uses Debian's DPDK, and so does the guest.
# --e2e         an end-to-end GoogleTest binary, run in the order given; without one the guest runs
#               the smoke only.
# --bench       a shell command the guest runs in the source tree after the smoke and before the
#               suites (bench/pods/vm.sh uses it); its output goes to the console and to bench.log
#               in the run's results. Needs --source-dir.
# --pci-uplinks gives the guest PCI NICs for DPDK to drive as the uplink, one per PMD under test
#               (virtio-net-pci: net_virtio; e1000: net_e1000_em; vmxnet3: net_vmxnet3), each on
#               a qemu hub of its own with an e1000 left to the guest's kernel, behind an emulated
#               IOMMU so that vfio-pci can take them. The payload binds them and the suites run
#               their PCI uplink tests on each (DPCNI_E2E_PCI_UPLINKS); every PMD must have run.
# --budget      wall-clock seconds for everything, image build included (default 1470).
# GTEST_FILTER and DPCNI_E2E_* variables are passed on to the suite (the backend is always vhost-net),
# DPCNI_BENCH_* and DPCNI_BACKEND to the bench command.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build_dir="" source_dir="" dpdk_prefix="" bench="" budget=1470 pci_uplinks=false
e2e=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$(realpath "$2"); shift 2 ;;
    --source-dir) source_dir=$(realpath "$2"); shift 2 ;;
    --e2e) e2e+=("$(realpath "$2")"); shift 2 ;;
    --dpdk-prefix) dpdk_prefix=$(realpath "$2"); shift 2 ;;
    --bench) bench=$2; shift 2 ;;
    --pci-uplinks) pci_uplinks=true; shift ;;
    --budget) budget=$2; shift 2 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

started=$SECONDS
log() { echo "vm-lane [$((SECONDS - started)) s]: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
remaining() { echo $((budget - (SECONDS - started))); }

[ -d "$build_dir" ] || fail "--build-dir must name the CMake build tree"
[ -z "$bench" ] || [ -n "$source_dir" ] || fail "--bench runs in the source tree: give --source-dir"
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, and qemu sharing root-owned trees)"
for tool in qemu-system-x86_64 debootstrap mkfs.ext4 dpkg ldd flock timeout; do
  command -v "$tool" >/dev/null || fail "$tool is not installed: run tools/install-deps.sh"
done
for binary in "${e2e[@]}"; do
  [ -x "$binary" ] || fail "the end-to-end binary $binary is not built"
done
if [ -n "$dpdk_prefix" ]; then
  testpmd=$dpdk_prefix/bin/dpdk-testpmd
else
  testpmd=$(command -v dpdk-testpmd) || fail "dpdk-testpmd is not installed: run tools/install-deps.sh"
fi
[ -x "$testpmd" ] || fail "the smoke's forwarder $testpmd is missing"

work_dir=$build_dir/tests/vm
mkdir -p "$work_dir"

# The one child running at a time (image build or qemu), under `timeout`, which signals its whole
# process group; stopping it on the way out leaves no debootstrap or qemu behind.
child=""
stop_child() {
  if [ -n "$child" ] && kill -0 "$child" 2>/dev/null; then
    kill -TERM "$child" 2>/dev/null || true
    wait "$child" 2>/dev/null || true
  fi
}
trap stop_child EXIT
trap 'log "terminated"; exit 143' TERM
trap 'log "interrupted"; exit 130' INT

# Runs a command bounded by the time left, in the background so the traps above can fire meanwhile.
run_bounded() {
  local seconds
  seconds=$(remaining)
  [ "$seconds" -gt 0 ] || return 124
  timeout --kill-after=15 "$seconds" "$@" &
  child=$!
  local status=0
  wait "$child" || status=$?
  child=""
  return "$status"
}

# --- The guest image: cached under the build tree, keyed on everything that goes into it. ---

# What the guest runs besides binaries built here.
guest_tools=(
  linux-image-amd64 kmod procps iproute2 iputils-ping iperf3 ethtool nftables iptables
  containernetworking-plugins)
# EAL loads its drivers with dlopen from its driver directory, which ldd cannot see. Our DPDK's are
# in its prefix (shared with the guest, and scanned below for their libraries like any other ELF
# file there); Debian's DPDK needs its driver packages in the image.
[ -n "$dpdk_prefix" ] || guest_tools+=(librte-mempool-ring23 librte-net-virtio23 librte-net-tap23
  librte-net-af-packet23 librte-net-af-xdp23)
# The PCI uplinks' NICs beyond virtio (--pci-uplinks, below).
[ -n "$dpdk_prefix" ] || [ "$pci_uplinks" = false ] ||
  guest_tools+=(librte-net-e1000-23 librte-net-vmxnet3-23)
readonly guest_tools
# The smoke's forwarder goes into the run's share like the project's binaries: Debian ships its own
# in dpdk-dev, which would pull every DPDK development package into the guest.

# The trees the guest sees at their host paths: the build tree, the source tree, our DPDK.
candidate_trees=("$build_dir")
[ -z "$source_dir" ] || candidate_trees+=("$source_dir")
[ -z "$dpdk_prefix" ] || candidate_trees+=("$dpdk_prefix")

project_elf_files() {
  local file
  find "${candidate_trees[@]}" -path "$work_dir" -prune -o -path '*/CMakeFiles' -prune -o \
    -type f -perm -u+x -print | while read -r file; do
    [ "$(head -c 4 "$file" | tail -c 3)" = ELF ] && echo "$file"
  done | sort -u
}

mapfile -t elf_files < <(project_elf_files; echo "$testpmd")
log "deriving the guest's packages from the libraries of ${#elf_files[@]} ELF files"
skip_args=()
for tree in "${candidate_trees[@]}"; do skip_args+=(--skip-under "$tree"); done
library_packages=$("$here/guest-packages.sh" "${skip_args[@]}" "${elf_files[@]}") ||
  fail "cannot map the binaries' libraries to Debian packages"
mapfile -t packages < <({ printf '%s\n' "${guest_tools[@]}"; echo "$library_packages"; } | grep . | sort -u)

image_key=$( {
  printf '%s\n' "${packages[@]}"
  dpkg-query -W -f='${Package}=${Version}\n' "${packages[@]}" 2>/dev/null || true
  echo "mirror=${DPCNI_VM_MIRROR:-}"
  cat /etc/os-release "$here/build-image.sh" "$here/guest/init"
} | sha256sum | cut -c1-16)
image_dir=$work_dir/image/$image_key

exec {image_lock}>"$work_dir/image.lock"
flock -w "$(remaining)" "$image_lock" || fail "another run holds $work_dir/image.lock"
if [ -f "$image_dir/rootfs.img" ]; then
  log "guest image $image_key is cached"
else
  find "$work_dir/image" -mindepth 1 -maxdepth 1 -exec rm -rf {} + 2>/dev/null || true
  log "building guest image $image_key (${#packages[@]} packages)"
  run_bounded "$here/build-image.sh" "$image_dir" "$work_dir/debs" "${packages[@]}" ||
    fail "building the guest image (status $?; past the budget of $budget s if 124)"
  log "guest image built"
fi
flock -u "$image_lock"

# --- The run: a fresh share for the payload and its results, then the guest. ---

run_dir=$work_dir/run
rm -rf "$run_dir"
mkdir -p "$run_dir"
cp "$here/guest/payload.sh" "$here/guest/vhost-net-smoke.sh" "$testpmd" "$run_dir/"

# Share each tree once: one nested in another is reached through that one's mount.
trees=()
for tree in "${candidate_trees[@]}"; do
  for other in "${candidate_trees[@]}"; do
    [ "$tree" != "$other" ] && [[ "$tree/" == "$other"/* ]] && continue 2
  done
  [[ " ${trees[*]} " == *" $tree "* ]] || trees+=("$tree")
done
shares=() virtfs_args=()
for i in "${!trees[@]}"; do
  shares+=("dpcni_tree$i=${trees[$i]}")
  virtfs_args+=(-virtfs "local,path=${trees[$i]},mount_tag=dpcni_tree$i,security_model=none,readonly=on,multidevs=remap")
done

# The PCI uplinks: for each PMD, its NIC and an e1000 for the guest's kernel on a hub of their own
# (a hub repeats each frame to its other ports, and has no way out of qemu), at fixed guest
# addresses. The emulated IOMMU gives each device a group for vfio-pci (the guest kernel has no
# vfio no-IOMMU mode); virtio-net-pci goes through it only with iommu_platform.
# shellcheck disable=SC2054  # commas inside qemu's option values
pci_uplink_nics=(
  "virtio-net-pci,disable-legacy=on,iommu_platform=on,ats=on"
  e1000
  vmxnet3
)
machine_args=() nic_args=() pci_uplinks_in_guest=() kernel_args=""
if [ "$pci_uplinks" = true ]; then
  machine_args=(-machine q35 -device intel-iommu)
  kernel_args=" intel_iommu=on"
  for i in "${!pci_uplink_nics[@]}"; do
    dpdk_slot=$(printf '%02x' $((0x10 + i))) kernel_slot=$(printf '%02x' $((0x18 + i)))
    nic_args+=(
      -netdev "hubport,id=uplink$i,hubid=$i" -netdev "hubport,id=outside$i,hubid=$i"
      -device "${pci_uplink_nics[$i]},netdev=uplink$i,addr=$dpdk_slot.0,mac=52:54:00:dc:0$i:01"
      -device "e1000,netdev=outside$i,addr=$kernel_slot.0,mac=52:54:00:dc:0$i:02")
    pci_uplinks_in_guest+=("0000:00:$dpdk_slot.0=0000:00:$kernel_slot.0")
  done
fi

{
  echo "DPCNI_VM_SHARES=($(printf '%q ' "${shares[@]}"))"
  # Empty without --e2e: printf would make one empty element of no argument.
  echo "DPCNI_VM_E2E=(${e2e[*]:+$(printf '%q ' "${e2e[@]}")})"
  echo "DPCNI_VM_BENCH=$(printf '%q' "$bench")"
  echo "DPCNI_VM_SOURCE_DIR=$(printf '%q' "$source_dir")"
  # "<DPDK's NIC>=<the kernel's NIC on its wire>", PCI addresses in the guest (nic_args).
  echo "DPCNI_VM_PCI_UPLINKS=(${pci_uplinks_in_guest[*]:+$(printf '%q ' "${pci_uplinks_in_guest[@]}")})"
  for name in GTEST_FILTER ${!DPCNI_E2E_@} ${!DPCNI_BENCH_@} DPCNI_BACKEND; do
    [ -n "${!name:-}" ] && echo "export $name=$(printf '%q' "${!name}")"
  done
} >"$run_dir/run.env"

# shellcheck disable=SC2054  # commas inside qemu's option values
# TCG: this machine kind's KVM cannot run a stock guest kernel. No network card but the hubs' above:
# nothing leaves.
qemu_args=(
  -nodefaults -no-user-config -no-reboot -display none -nic none
  "${machine_args[@]}"
  -accel tcg,thread=multi -cpu max -smp 2 -m 3072
  -kernel "$image_dir/vmlinuz" -initrd "$image_dir/initrd.img"
  -append "console=ttyS0 root=/dev/vda rw init=/sbin/dpcni-vm-init panic=-1 loglevel=4$kernel_args"
  -drive "file=$image_dir/rootfs.img,format=raw,if=virtio,snapshot=on"
  -device virtio-rng-pci
  -chardev "stdio,id=console,signal=off,logfile=$run_dir/console.log"
  -serial chardev:console
  -virtfs "local,path=$run_dir,mount_tag=dpcni_run,security_model=none"
  "${virtfs_args[@]}"
  "${nic_args[@]}"
)
log "booting the guest (${trees[*]} shared; $(remaining) s left of the budget)"
guest_started=$SECONDS
qemu_status=0
run_bounded qemu-system-x86_64 "${qemu_args[@]}" </dev/null || qemu_status=$?
log "guest ran $((SECONDS - guest_started)) s"

[ "$qemu_status" -ne 124 ] || fail "the guest did not finish within the budget of $budget s"
[ "$qemu_status" -eq 0 ] || fail "qemu exited with status $qemu_status"
status=$(cat "$run_dir/status" 2>/dev/null || echo "no status: the payload did not finish")
[ "$status" = ok ] || fail "guest: $status"

# Each suite's report, and the backend it names for every test: in this lane nothing may have run on
# another one than vhost-net.
check_suite() {
  local name=$1 xml=$run_dir/$1.xml log_file=$run_dir/$1.log
  [ -f "$xml" ] || fail "$name wrote no $xml"
  read -r tests failures errors skipped < <(grep -m1 '<testsuites ' "$xml" |
    sed -E 's/.* tests="([0-9]+)".* failures="([0-9]+)".* disabled="([0-9]+)".* errors="([0-9]+)".*/\1 \2 \4 \3/')
  log "$name: $tests tests, $failures failures, $errors errors, $skipped disabled"
  [ "${tests:-0}" -gt 0 ] || fail "$name ran no test"
  [ "$failures" -eq 0 ] && [ "$errors" -eq 0 ] || fail "$name reported failures"
  backends=$(grep -oE '(^|[^_[:alnum:]])backend=[[:alnum:]-]+' "$log_file" | sed 's/.*backend=//' |
    sort | uniq -c)
  log "$name: backends reported (count, name): $(tr -s ' \n' ' ' <<<"$backends")"
  grep -q 'vhost-net' <<<"$backends" || fail "$name never reported backend=vhost-net"
  ! grep -vq ' vhost-net$' <<<"$backends" || fail "$name ran on a backend other than vhost-net"
}
[ -z "$bench" ] || log "bench: its output is in $run_dir/bench.log"
for binary in "${e2e[@]}"; do
  check_suite "$(basename "$binary")"
done
# Every NIC's PMD ran the uplink tests (the suites print the uplink's driver once it started).
if [ "$pci_uplinks" = true ] && [ ${#e2e[@]} -gt 0 ]; then
  for driver in net_virtio net_e1000_em net_vmxnet3; do
    runs=$(for binary in "${e2e[@]}"; do cat "$run_dir/$(basename "$binary").log"; done |
      grep -c "^uplink_driver=$driver link up" || true)
    log "PCI uplink on $driver: $runs tests"
    [ "$runs" -gt 0 ] || fail "no test ran with a PCI uplink on $driver"
  done
fi
log "passed (results in $run_dir)"
