#!/usr/bin/env bash
# Runs one libFuzzer target for a bounded time from a copy of its seed corpus, as the `fuzz` ctest
# label does (tests/fuzz/CMakeLists.txt). Fails when the target crashes, hangs or breaks an
# invariant, and then prints the input that did it and the command that replays it.
#   run_fuzz.sh TARGET SEED_DIR WORK_DIR SECONDS
# WORK_DIR (in the build tree) gets the growing corpus, the crashing inputs and the target's
# scratch files; the source tree is never written.
set -euo pipefail
target=$1 seeds=$2 work=$3 seconds=$4
name=$(basename "$target")

rm -rf "$work"
mkdir -p "$work/corpus" "$work/crashes" "$work/tmp"
cp "$seeds"/* "$work/corpus/"

# The state-file targets write below TMPDIR; the packet target's EAL gets a file prefix of this run,
# so that its runtime directory (EAL makes one even with --no-shconf) goes too when it crashes.
export TMPDIR=$work/tmp
export DPCNI_FUZZ_EAL_PREFIX=$name-$$
# The plugin logs every error it returns; the CNI targets send those lines to /dev/null (quiet_log.h).
export DPCNI_FUZZ_QUIET_LOG=1
if [ "$(id -u)" = 0 ]; then
  eal_runtime=/var/run/dpdk/$DPCNI_FUZZ_EAL_PREFIX
else
  eal_runtime=${XDG_RUNTIME_DIR:-/tmp}/dpdk/$DPCNI_FUZZ_EAL_PREFIX
fi
trap 'rm -rf "$work/tmp" "$eal_runtime"' EXIT

# -timeout: an input that takes 10 s is a hang; -rss_limit_mb: the default, said aloud.
status=0
"$target" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/crashes/" "$work/corpus" || status=$?

if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/crashes")" ]; then
  echo "run_fuzz.sh: $name failed (exit $status); the input(s) that did it:" >&2
  for input in "$work"/crashes/*; do
    [ -e "$input" ] || continue
    echo "  $input" >&2
    echo "    replay: $target $input" >&2
  done
  exit 1
fi
echo "run_fuzz.sh: $name ran ${seconds}s from $(ls "$seeds" | wc -l) seeds; corpus now $(ls "$work/corpus" | wc -l) inputs"
