#!/usr/bin/env bash
# bench/pods/run.sh inside the vhost-net lane's qemu guest: dpcni with its primary pod port
# (virtio-user on the guest kernel's /dev/vhost-net) next to the reference bridge plugin, in the same
# guest run, with the bytes per packet the sending pod's port hands the engine (GSO passthrough shows
# as tens of KB) and where the guest's CPU time goes during dpcni's pod->pod TCP. The guest runs under
# TCG on this machine (no KVM for a stock kernel): every figure is emulated and weak evidence; the
# ratios within one run say more than the rates.
# Usage: bench/pods/vm.sh [build-dir]   (root; env DPCNI_BENCH_SECONDS, default 10, and
#        DPCNI_BENCH_PODS, default 10, as in run.sh)
set -euo pipefail
cd "$(dirname "$0")/../.."
build=$(realpath "${1:-build}")
prefix=$(sed -n 's/^DPCNI_DPDK_PREFIX:PATH=//p' "$build/CMakeCache.txt")
dpdk_args=()
[ -z "$prefix" ] || dpdk_args=(--dpdk-prefix "$prefix")
DPCNI_BACKEND=vhost-net DPCNI_BENCH_PROFILE=1 DPCNI_BENCH_SECONDS=${DPCNI_BENCH_SECONDS:-10} \
  DPCNI_BENCH_PODS=${DPCNI_BENCH_PODS:-10} \
  tests/vm/run.sh --build-dir "$build" --source-dir "$PWD" "${dpdk_args[@]}" \
  --bench "bench/pods/run.sh $build"
