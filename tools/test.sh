#!/usr/bin/env bash
# Every test: installs what is missing, builds, and runs the whole ctest suite (unit, plugin exec,
# end-to-end pods on the tap backend, and the vhost-net lane in a qemu guest). Needs root.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${DPCNI_BUILD_DIR:-build}

bash tools/install-deps.sh
cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
ninja -C "$build_dir"
ctest --test-dir "$build_dir" --output-on-failure -j2 "$@"
