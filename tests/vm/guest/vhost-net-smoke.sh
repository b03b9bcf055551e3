#!/bin/bash
# Runs inside the guest: proves that the guest gives DPDK what the product's primary pod port needs.
# dpdk-testpmd opens two virtio-user ports on /dev/vhost-net and forwards between them; the kernel taps
# behind them (made by vhost-net, with a virtio-net header) go into two network namespaces, which must
# then reach each other with ping and TCP through DPDK. Prints what it checks; exits non-zero on failure.
set -euo pipefail

readonly tap_a=smoke0 tap_b=smoke1
readonly ns_a=smoke-a ns_b=smoke-b
# Link-local addresses, inside namespaces of a guest that has no network card.
readonly addr_a=169.254.100.1 addr_b=169.254.100.2
readonly testpmd_log=/tmp/testpmd.log
testpmd_pid=""

cleanup() {
  if [ -n "$testpmd_pid" ]; then
    kill -INT "$testpmd_pid" 2>/dev/null || true
    wait "$testpmd_pid" 2>/dev/null || true
  fi
  ip netns del "$ns_a" 2>/dev/null || true
  ip netns del "$ns_b" 2>/dev/null || true
}
trap cleanup EXIT

fail() {
  echo "vhost-net smoke: $*" >&2
  echo "--- dpdk-testpmd output:" >&2
  cat "$testpmd_log" >&2 || true
  exit 1
}

# run.sh puts this host's dpdk-testpmd beside this script. Without --stats-period, a non-interactive
# testpmd exits as soon as stdin reaches its end; stdbuf keeps its log current.
stdbuf -oL "$(dirname "$0")/dpdk-testpmd" -l 0,1 --no-huge -m 512 --no-shconf --no-pci \
  --vdev="net_virtio_user0,path=/dev/vhost-net,iface=$tap_a" \
  --vdev="net_virtio_user1,path=/dev/vhost-net,iface=$tap_b" \
  -- --forward-mode=io --nb-cores=1 --total-num-mbufs=8192 --auto-start --stats-period=3600 \
  </dev/null >"$testpmd_log" 2>&1 &
testpmd_pid=$!

# Waits up to 60 s (EAL start-up under emulation takes seconds) for a condition while testpmd runs.
wait_for() {
  local what=$1
  shift
  for _ in $(seq 120); do
    "$@" && return 0
    kill -0 "$testpmd_pid" 2>/dev/null || fail "dpdk-testpmd exited before $what"
    sleep 0.5
  done
  fail "no $what within 60 s"
}
taps_exist() { ip link show "$tap_a" >/dev/null 2>&1 && ip link show "$tap_b" >/dev/null 2>&1; }
forwarding() { grep -q "packet forwarding - ports=2" "$testpmd_log"; }

# The taps appear when the ports are probed; testpmd then waits for their links before forwarding.
wait_for "taps $tap_a and $tap_b" taps_exist

# They must be vhost-net's taps: a virtio-net header on the tap, and /dev/vhost-net held by testpmd.
for tap in "$tap_a" "$tap_b"; do
  details=$(ip -d link show "$tap")
  echo "$details"
  grep -q 'tun type tap .*vnet_hdr on' <<<"$details" || fail "$tap is not a tap with a vnet header"
done
vhost_fds=$(find "/proc/$testpmd_pid/fd" -lname /dev/vhost-net | wc -l)
echo "dpdk-testpmd holds $vhost_fds /dev/vhost-net descriptors"
[ "$vhost_fds" -ge 2 ] || fail "dpdk-testpmd does not hold /dev/vhost-net for both ports"

ip netns add "$ns_a"
ip netns add "$ns_b"
ip link set "$tap_a" netns "$ns_a"
ip link set "$tap_b" netns "$ns_b"
ip -n "$ns_a" addr add "$addr_a/24" dev "$tap_a"
ip -n "$ns_b" addr add "$addr_b/24" dev "$tap_b"
ip -n "$ns_a" link set "$tap_a" up
ip -n "$ns_b" link set "$tap_b" up
wait_for "packet forwarding" forwarding

ip netns exec "$ns_a" ping -c 3 -W 10 "$addr_b" || fail "no ping from $ns_a to $ns_b through DPDK"

ip netns exec "$ns_b" iperf3 --server --one-off --bind "$addr_b" >/tmp/iperf3-server.log 2>&1 &
iperf_server_pid=$!
client_ok=false
for _ in $(seq 20); do
  if ip netns exec "$ns_a" iperf3 --client "$addr_b" --time 2 --connect-timeout 2000; then
    client_ok=true
    break
  fi
  sleep 0.5
done
kill "$iperf_server_pid" 2>/dev/null || true
wait "$iperf_server_pid" 2>/dev/null || true
$client_ok || fail "no TCP from $ns_a to $ns_b through DPDK"
echo "vhost-net smoke: ping and TCP passed through virtio-user ports on /dev/vhost-net"
