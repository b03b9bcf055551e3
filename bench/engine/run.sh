#!/usr/bin/env bash
# Engine forwarding rate next to dpdk-testpmd's io forwarding, in one run, on the same kind of ports
# (two net_null vdevs), the same EAL memory setup and the same forwarding core (lcore 1 on CPU 1,
# main lcore on CPU 0). The contenders run one after another, never two pollers at once, alternating
# for ROUNDS rounds so that a noisy neighbour hurts both alike. Each run samples its transmitted
# packets per second (both ports, both directions) after a warm-up and reports the median sample
# (SAMPLE=best: the best one, the second least disturbed by whatever else runs on a shared machine).
#
#   testpmd io        net_null Rx hands out mbufs untouched: the floor of what forwarding costs
#   testpmd io copy   net_null copy=1: its Rx and Tx each copy the 64-byte packet
#   testpmd mac       mac forwarding: testpmd writes both MAC addresses of each packet, the least
#                     an L2/L3 forwarder does to a packet (io never touches the packet's data)
#   testpmd io, framed    testpmd io on ports fed as engine_bench feeds the engine: a callback
#                     writes a valid 64-byte IPv4/UDP frame into each mbuf it receives
#                     (libframed_ports.so, preloaded): the floor of any forwarder that needs frames
#   l3fwd, framed     DPDK's l3fwd example (LPM lookups, its SSE path) on the same framed ports:
#                     DPDK's own router, next to ours. It is built from the examples our DPDK build
#                     installs, against Debian's libdpdk-dev of the same release: our build leaves
#                     out libraries l3fwd links (acl, eventdev, fib). net_null lacks the Rx checksum
#                     offloads l3fwd asks for, so libframed_ports.so drops them from its request
#                     (l3fwd never reads those flags when it forwards), and l3fwd parses packet types
#                     in software (--parse-ptype)
#   debian testpmd io, framed     testpmd io, framed with Debian's testpmd and DPDK libraries: the
#                     two DPDK builds compared, to read l3fwd's row against the engine's
#   engine pods       net_null Rx plus a callback writing a routable 64-byte IPv4/UDP frame into
#                     each mbuf (see engine_bench.cc), two pods sending to each other; the engine
#                     parses, checks the source, looks up the /32, rewrites MACs and TTL, and
#                     transmits in buffered bursts
#   engine uplink     the same with a pod and the uplink: pod -> a resolved neighbour on the uplink
#                     network (LPM on-link prefix, then the neighbour table for its MAC), and that
#                     neighbour -> the pod
#   engine vxlan      the uplink's topology with the neighbour as a remote node reached in VXLAN:
#                     pod -> remote pod routed and encapsulated (64 bytes in, 114 out), remote node
#                     -> pod checked, decapsulated and routed (114 in, 64 out)
#   ..., one way      one direction alone (the other port sends nothing): engine vxlan's are the
#                     encapsulation and the decapsulation rate, engine uplink's the same paths
#                     routed plainly
#   engine pods, no flow table    engine pods with flow_table.size 0: the engine as it was before
#                     it kept the flows the node's kernel forwards (Services)
#   engine pods, watched          engine pods with both pods answering a kernel-forwarded flow:
#                     every packet is looked up in the flow table (and misses)
#   engine pods +N idle   engine pods with N more pods on the same worker that never send (a
#                     net_ring port each, empty): what polling quiet pods costs the busy ones, for
#                     each N in IDLE_PODS
#
# HUGEPAGES=N reserves N 2 MiB hugepages for the run (nr_hugepages is put back on exit) and runs
# every contender on them (--in-memory) instead of --no-huge, whose 4 KiB pages give each mbuf a page
# and a TLB entry of its own.
#
# BASELINE_BENCH names an engine_bench built from another commit: every engine row gets a
# `baseline ...` twin measured with it right after, in the same rounds, to compare two versions of
# the engine under the same load (ROWS='^(baseline )?engine (pods|uplink)$', say).
# ROWS, a bash regex, measures only the rows it matches (ROWS=idle: the idle-pod rows).
#
# Usage: bench/engine/run.sh   (env: BUILD_DIR, ROUNDS=3, SECONDS_PER_RUN=10, WARMUP=2,
#                               IDLE_PODS="10 500", BASELINE_BENCH, ROWS, SAMPLE=median, TESTPMD,
#                               HUGEPAGES)
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
build_dir=${BUILD_DIR:-$repo/build-bench}
rounds=${ROUNDS:-3}
seconds=${SECONDS_PER_RUN:-10}
warmup=${WARMUP:-2}
read -r -a idle_counts <<<"${IDLE_PODS:-10 500}"
baseline=${BASELINE_BENCH:-}
row_filter=${ROWS:-}
sample=${SAMPLE:-median}
hugepages=${HUGEPAGES:-0}
scratch=$(mktemp -d)
hugepages_before=$(cat /proc/sys/vm/nr_hugepages)
cleanup() {
  rm -rf "$scratch"
  [[ $hugepages == 0 ]] || echo "$hugepages_before" >/proc/sys/vm/nr_hugepages
}
trap cleanup EXIT
if [[ $hugepages != 0 ]]; then
  echo "$hugepages" >/proc/sys/vm/nr_hugepages
  free=$(awk '/^HugePages_Free:/ { print $2 }' /proc/meminfo)
  ((free >= hugepages)) || { echo "only $free of $hugepages hugepages could be reserved" >&2; exit 1; }
  memory_args="--in-memory -m 512"
else
  # --no-huge implies legacy memory; --no-shconf leaves no runtime files behind.
  memory_args="--no-huge -m 512 --no-shconf"
fi

# 512 MB: the engine's route table alone takes 64 MB, and testpmd built for 1024 ports needs 384 MB.
eal_args() {  # $1: what runs (for the file prefix), $2: extra net_null devargs
  echo "$memory_args --no-pci --file-prefix dpcni-bench-$1-$$ -l 0,1" \
       "--vdev net_null0$2 --vdev net_null1$2"
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) exit 1; print v[int((NR + 1) / 2)] }'; }
# What a run reports of its per-second samples.
pick_sample() {
  case $sample in
    median) median ;;
    best) sort -g | awk '{ v = $1 } END { if (NR == 0) exit 1; print v }' ;;
    *) echo "SAMPLE must be median or best, not $sample" >&2; exit 1 ;;
  esac
}

# testpmd prints each port's Tx-pps every stats period; a sample is the sum over the two ports.
# The first period precedes forwarding and the next $warmup ones are warm-up: both are skipped.
# $4: a library to preload (libframed_ports.so), $5: another testpmd
run_testpmd() {  # $1: label, $2: net_null devargs, $3: forward mode (default io)
  local log=$scratch/testpmd.log
  # shellcheck disable=SC2046
  timeout -s INT $((seconds + warmup + 4)) env ${4:+LD_PRELOAD="$4"} "${5:-$testpmd}" \
    $(eal_args testpmd "$2") -- \
    --forward-mode="${3:-io}" --stats-period 1 --total-num-mbufs=32768 >"$log" 2>&1 || true
  grep -a 'Tx-pps:' "$log" | awk '{ print $2 }' | paste -d' ' - - |
    awk -v skip=$((warmup + 1)) -v keep="$seconds" \
      'NF == 2 && NR > skip && NR <= skip + keep { printf "%.2f\n", ($1 + $2) / 1e6 }' |
    pick_sample || { echo "testpmd ($1) produced no samples; log:" >&2; cat "$log" >&2; exit 1; }
}

# DPDK's l3fwd, built once per run (see "l3fwd, framed" above).
l3fwd=""
build_l3fwd() {
  [[ -z $l3fwd ]] || return 0
  local examples=$build_dir/dpdk/share/dpdk/examples
  [[ -d $examples/l3fwd ]] ||
    { echo "no DPDK examples under $examples: l3fwd comes from our DPDK build's" >&2; exit 1; }
  cp -r "$examples/l3fwd" "$examples/common" "$scratch/"
  # Debian's libdpdk.pc, not the prefix's.
  env -u PKG_CONFIG_PATH make -C "$scratch/l3fwd" >"$scratch/l3fwd-build.log" 2>&1 ||
    { echo "building l3fwd failed:" >&2; tail -n 20 "$scratch/l3fwd-build.log" >&2; exit 1; }
  l3fwd=$scratch/l3fwd/build/l3fwd
}

# l3fwd forwarding between the two framed ports on lcore 1; libframed_ports.so samples its rate.
run_l3fwd() {
  local log=$scratch/l3fwd.log
  build_l3fwd
  # shellcheck disable=SC2046
  timeout -s INT $((seconds + warmup + 6)) env FRAMED_PORTS_SAMPLES="$seconds" \
    FRAMED_PORTS_WARMUP="$warmup" LD_PRELOAD="$framed_ports" "$l3fwd" $(eal_args l3fwd "") -- \
    -p 0x3 --config="(0,0,1),(1,0,1)" --parse-ptype >"$log" 2>&1 || true
  sed -n 's/^framed_ports sample [0-9]*: \([0-9.]*\) Mpps$/\1/p' "$log" | pick_sample ||
    { echo "l3fwd produced no samples; log:" >&2; cat "$log" >&2; exit 1; }
}

# $1: engine_bench binary, $2: topology, $3: idle pods, $4: flows (default on), $5: senders (pod,
# other; default both)
run_engine() {
  local log=$scratch/engine.log
  # shellcheck disable=SC2046
  "$1" $(eal_args engine "") -- --topology="$2" --idle_pods="$3" --flows="${4:-on}" \
    --senders="${5:-both}" \
    --seconds="$seconds" --warmup_seconds="$warmup" >"$log" 2>&1 ||
    { echo "engine_bench failed; log:" >&2; cat "$log" >&2; exit 1; }
  if grep -q 'drop\[' "$log"; then
    echo "engine_bench dropped packets, the rate is not forwarding only:" >&2
    grep 'drop\[' "$log" >&2
    exit 1
  fi
  sed -n 's/^sample [0-9]*: \([0-9.]*\) Mpps.*$/\1/p' "$log" | pick_sample ||
    { echo "engine_bench produced no samples; log:" >&2; cat "$log" >&2; exit 1; }
}

cmake -S "$repo" -B "$build_dir" -G Ninja >/dev/null
ninja -C "$build_dir" engine_bench framed_ports >/dev/null
bench=$build_dir/bench/engine/engine_bench
framed_ports=$build_dir/bench/engine/libframed_ports.so
# The testpmd of the DPDK the engine is built with (cmake/Dpdk.cmake), unless TESTPMD is set.
testpmd=${TESTPMD:-$(cat "$build_dir/bench/engine/testpmd-path")}

# One sample of a row of the table. "baseline <engine row>" measures that row with BASELINE_BENCH.
measure() {  # $1: row
  local idle
  if [[ $1 == "baseline engine "* ]]; then
    bench=$baseline measure "${1#baseline }"
    return
  fi
  case $1 in
    "testpmd io") run_testpmd "io" "" ;;
    "testpmd io copy") run_testpmd "io copy" ",copy=1" ;;
    "testpmd mac") run_testpmd "mac" "" mac ;;
    "testpmd io, framed") run_testpmd "io, framed" "" io "$framed_ports" ;;
    "debian testpmd io, framed")
      run_testpmd "debian io, framed" "" io "$framed_ports" /usr/bin/dpdk-testpmd ;;
    "l3fwd, framed") run_l3fwd ;;
    "engine pods") run_engine "$bench" pods 0 ;;
    "engine uplink") run_engine "$bench" uplink 0 ;;
    "engine uplink, pod -> uplink one way") run_engine "$bench" uplink 0 on pod ;;
    "engine uplink, uplink -> pod one way") run_engine "$bench" uplink 0 on other ;;
    "engine vxlan") run_engine "$bench" vxlan 0 ;;
    "engine vxlan, encap one way") run_engine "$bench" vxlan 0 on pod ;;
    "engine vxlan, decap one way") run_engine "$bench" vxlan 0 on other ;;
    "engine pods, no flow table") run_engine "$bench" pods 0 off ;;
    "engine pods, watched") run_engine "$bench" pods 0 watched ;;
    "engine pods +"*) idle=${1#engine pods +}
      run_engine "$bench" pods "${idle% idle}" ;;
    *) echo "no such row: $1" >&2; exit 1 ;;
  esac
}

rows=("testpmd io" "testpmd io copy" "testpmd mac" "testpmd io, framed" "l3fwd, framed"
      "debian testpmd io, framed" "engine pods" "engine uplink" "engine vxlan"
      "engine uplink, pod -> uplink one way" "engine vxlan, encap one way"
      "engine uplink, uplink -> pod one way" "engine vxlan, decap one way"
      "engine pods, no flow table" "engine pods, watched")
for idle in "${idle_counts[@]}"; do
  rows+=("engine pods +$idle idle")
done
# With BASELINE_BENCH every engine row is measured with both binaries, each after the other.
if [[ -n $baseline ]]; then
  paired=()
  for row in "${rows[@]}"; do
    paired+=("$row")
    [[ $row != "engine "* ]] || paired+=("baseline $row")
  done
  rows=("${paired[@]}")
fi
contenders=()
for row in "${rows[@]}"; do
  if [[ -z $row_filter || $row =~ $row_filter ]]; then
    contenders+=("$row")
  fi
done
declare -A results
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$rounds"); do
  for what in "${contenders[@]}"; do
    results[$what,$round]=$(measure "$what")
  done
done

printf '%s, %s rounds of %ss (after %ss warm-up), %s second, Mpps (both directions summed)\n' \
  "$(date -u +%Y-%m-%d)" "$rounds" "$seconds" "$warmup" "$sample"
printf 'testpmd: %s; load average %s before, %s after\n' \
  "$testpmd" "$load_before" "$(cut -d' ' -f1-3 /proc/loadavg)"
[[ -z $baseline ]] || printf 'baseline: %s\n' "$baseline"
printf '| what | %s | median |\n' "$(seq -s ' | ' -f 'round %g' "$rounds")"
printf '|---|%s---|\n' "$(printf -- '---|%.0s' $(seq "$rounds"))"
for what in "${contenders[@]}"; do
  row=()
  for round in $(seq "$rounds"); do
    row+=("${results[$what,$round]}")
  done
  cells=$(printf ' | %s' "${row[@]}")
  printf '| %s%s | %s |\n' "$what" "$cells" "$(printf '%s\n' "${row[@]}" | median)"
done
