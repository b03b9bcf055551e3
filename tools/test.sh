#!/usr/bin/env bash
# Every test: installs what is missing, builds, and runs the whole ctest suite (unit, plugin exec,
# end-to-end pods on the tap backend, the vhost-net lane in a qemu guest, and the cluster lane on a
# one-node Kubernetes cluster), the sanitizer tree's tests and clang-tidy. Needs root. Extra
# arguments go to ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${DPCNI_BUILD_DIR:-build}

bash tools/install-deps.sh
mkdir -p "$build_dir"

# The Kubernetes programs (tools/k8s/build.sh) are a long, CPU-bound Go build when Go's caches are
# cold and a minute of linking when warm. It runs beside the C++ build and the tests at the lowest
# priority, so it takes only the CPU they leave (the vhost-net lane keeps one core of two busy), and
# only the tests that need those programs (labels k8s and helm) wait for it.
k8s_log="$build_dir/k8s-build.log"
nice -n 19 bash tools/k8s/build.sh "$build_dir/k8s/bin" >"$k8s_log" 2>&1 &
k8s_build=$!
trap 'kill $k8s_build 2>/dev/null || true' EXIT

# Release (-O3), the build a user picks for a dataplane and the one the image (images_containerd) is
# made from: the suite tests what ships. It also catches what only -O3 shows, such as GCC 12's false
# -Wrestrict on inlined string concatenation, which RelWithDebInfo (-O2, the CMake default here, for
# debugging) does not.
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null
ninja -C "$build_dir"

# The sanitizer lane (docs/testing.md): a second tree built with clang under AddressSanitizer and
# UndefinedBehaviorSanitizer, holding only what the unit, dpdk and fuzz labels need, on the DPDK
# the build above made (DPDK itself is not rebuilt with ASan). Like the Kubernetes programs it
# builds beside the tests at the lowest priority; its tests run after the first group.
asan_dir=${build_dir%/}-asan
asan_log="$build_dir/asan-build.log"
dpdk_prefix=$(sed -n 's/^DPCNI_DPDK_PREFIX:PATH=//p' "$build_dir/CMakeCache.txt")
CC=clang-14 CXX=clang++-14 nice -n 19 bash -c 'cmake -S . -B "$1" -G Ninja -DDPCNI_SANITIZE=ON \
  -DDPCNI_DPDK_PREFIX="$2" && ninja -C "$1"' asan-build "$asan_dir" "$dpdk_prefix" \
  >"$asan_log" 2>&1 &
asan_build=$!
trap 'kill $k8s_build $asan_build 2>/dev/null || true' EXIT

# clang-tidy (tools/tidy.sh, .clang-tidy) on the Release tree's compile commands: about 5 minutes
# of CPU, so it too runs beside the tests at the lowest priority, and any finding fails the run.
tidy_log="$build_dir/tidy.log"
BUILD_DIR="$build_dir" nice -n 19 bash tools/tidy.sh >"$tidy_log" 2>&1 &
tidy=$!
trap 'kill $k8s_build $asan_build $tidy 2>/dev/null || true' EXIT

status=0
ctest --test-dir "$build_dir" --output-on-failure -j2 -LE '^(k8s|helm)$' "$@" || status=$?
if wait $asan_build; then
  ctest --test-dir "$asan_dir" --output-on-failure -j2 -L '^(unit|dpdk|fuzz)$' "$@" || status=$?
else
  echo "tools/test.sh: building the sanitizer tree failed; the end of $asan_log:" >&2
  tail -n 30 "$asan_log" >&2
  status=1
fi
if wait $tidy; then
  tail -n 1 "$tidy_log" >&2
else
  echo "tools/test.sh: clang-tidy has findings (or could not run); $tidy_log:" >&2
  tail -n 30 "$tidy_log" >&2
  status=1
fi
if ! wait $k8s_build; then
  echo "tools/test.sh: building the Kubernetes programs failed; the end of $k8s_log:" >&2
  tail -n 30 "$k8s_log" >&2
  exit 1
fi
tail -n 1 "$k8s_log" >&2
ctest --test-dir "$build_dir" --output-on-failure -j2 -L '^(k8s|helm)$' "$@" || status=$?
exit $status
