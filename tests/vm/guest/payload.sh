#!/bin/bash
# Runs inside the vhost-net lane's guest, from the per-run share the host made (run.sh copies it there
# with run.env beside it). Mounts the project's trees at their host paths, makes /dev/vhost-net, proves
# DPDK's virtio-user ports work on it, then runs the bench command if any (run.sh --bench) and the
# end-to-end suites with DPCNI_E2E_BACKEND=vhost-net, on the PCI uplinks too when run.sh gave the guest
# NICs for them (--pci-uplinks).
# The outcome goes to "status" in the share: "ok", or "failed: <why>". The console is the guest's log.
set -uo pipefail

run_dir=$(dirname "$(readlink -f "$0")")
# shellcheck source=/dev/null
. "$run_dir/run.env"  # DPCNI_VM_SHARES (tag=path...), DPCNI_VM_E2E, and the e2e's own variables

step() { echo "== dpcni-vm: $* (guest uptime $(cut -d' ' -f1 /proc/uptime) s)"; }
fail() {
  step "FAILED: $*"
  echo "failed: $*" >"$run_dir/status"
  sync
  exit 1
}

prepare_system() {
  mountpoint -q /run || mount -t tmpfs -o mode=755 tmpfs /run
  mount -t tmpfs -o mode=1777 tmpfs /tmp
  mkdir -p /dev/pts /dev/shm /dev/hugepages
  mount -t devpts devpts /dev/pts
  mount -t tmpfs -o mode=1777 tmpfs /dev/shm
  mount -t hugetlbfs hugetlbfs /dev/hugepages
  ip link set lo up
  hostname dpcni-vm
}

# The source and build trees, read-only, at the absolute paths compiled into the test binaries.
mount_project_trees() {
  local share
  for share in "${DPCNI_VM_SHARES[@]}"; do
    mkdir -p "${share#*=}"
    mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro "${share%%=*}" "${share#*=}" ||
      return 1
  done
}

# The primary pod port needs the kernel's vhost-net; a guest without it must fail the lane rather
# than let anything fall back to tap.
load_vhost_net() {
  modprobe tun && modprobe vhost_net && [ -c /dev/vhost-net ] && [ -c /dev/net/tun ]
}

# Each PCI uplink NIC to vfio-pci, its kernel peer to the kernel's driver; then the suites learn them
# as "<DPDK's NIC>=<the peer's interface>" (DPCNI_E2E_PCI_UPLINKS). No udev runs here to load the
# NICs' kernel drivers: e1000 for the peers (and for DPDK's e1000, which is taken from it again).
bind_to_vfio() {
  local device=/sys/bus/pci/devices/$1
  [ -e "$device/driver" ] && { echo "$1" >"$device/driver/unbind" || return 1; }
  echo vfio-pci >"$device/driver_override" && echo "$1" >/sys/bus/pci/drivers_probe || return 1
  [ "$(basename "$(readlink "$device/driver")")" = vfio-pci ] &&
    [ -c "/dev/vfio/$(basename "$(readlink "$device/iommu_group")")" ]
}

prepare_pci_uplinks() {
  [ "${#DPCNI_VM_PCI_UPLINKS[@]}" -gt 0 ] || return 0
  modprobe e1000 && modprobe vfio-pci || return 1
  local pair nic peer interface uplinks=()
  for pair in "${DPCNI_VM_PCI_UPLINKS[@]}"; do
    nic=${pair%%=*} peer=${pair#*=}
    bind_to_vfio "$nic" || { echo "cannot bind $nic to vfio-pci"; return 1; }
    interface=$(ls "/sys/bus/pci/devices/$peer/net" 2>/dev/null)
    [ -n "$interface" ] || { echo "$peer has no kernel interface"; return 1; }
    uplinks+=("$nic=$interface")
    step "PCI uplink $nic ($(cat "/sys/bus/pci/devices/$nic/vendor"):$(cat "/sys/bus/pci/devices/$nic/device")) on vfio-pci, its wire's other end $interface ($peer)"
  done
  export DPCNI_E2E_PCI_UPLINKS="${uplinks[*]}"
}

# One suite; its report and output go to the share as <binary>.xml and <binary>.log.
run_e2e() {
  local name
  name=$(basename "$1")
  export DPCNI_E2E_BACKEND=vhost-net
  cd /tmp || return 1
  "$1" --gtest_output="xml:$run_dir/$name.xml" 2>&1 | tee "$run_dir/$name.log"
}

step "payload started, kernel $(uname -r)"
prepare_system || fail "mounting the guest's file systems"
mount_project_trees || fail "mounting the project's trees (${DPCNI_VM_SHARES[*]})"
load_vhost_net || fail "/dev/vhost-net is missing after modprobe tun vhost_net"
step "/dev/vhost-net is present"

step "vhost-net smoke: dpdk-testpmd with two virtio-user ports on /dev/vhost-net"
bash "$run_dir/vhost-net-smoke.sh" || fail "vhost-net smoke"
step "vhost-net smoke passed"

prepare_pci_uplinks || fail "binding the PCI uplinks (${DPCNI_VM_PCI_UPLINKS[*]})"

if [ -n "${DPCNI_VM_BENCH:-}" ]; then
  step "bench: $DPCNI_VM_BENCH"
  (cd "$DPCNI_VM_SOURCE_DIR" && bash -c "$DPCNI_VM_BENCH") 2>&1 |
    tee "$run_dir/bench.log"
  bench_status=${PIPESTATUS[0]}
  [ "$bench_status" -eq 0 ] || fail "bench (exit status $bench_status)"
  step "bench done"
fi

for suite in "${DPCNI_VM_E2E[@]}"; do
  step "end-to-end suite: $suite with DPCNI_E2E_BACKEND=vhost-net"
  run_e2e "$suite"
  e2e_status=$?
  [ "$e2e_status" -eq 0 ] || fail "end-to-end suite $suite (exit status $e2e_status)"
  step "end-to-end suite passed: $suite"
done

echo ok >"$run_dir/status"
sync
step "payload done"
