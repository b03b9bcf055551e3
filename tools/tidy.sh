#!/usr/bin/env bash
# clang-tidy 14 with the committed .clang-tidy over our C++ files (or the files given), on the
# compile commands of a configured build tree (BUILD_DIR, default build). Prints the findings;
# exits non-zero when there is one.
#   tools/tidy.sh [FILE...]
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir=${BUILD_DIR:-build}
# Without the tool every file would pass unread: findings are counted in clang-tidy's output.
command -v clang-tidy-14 >/dev/null ||
  { echo "tidy: clang-tidy-14 is missing: run tools/install-deps.sh" >&2; exit 2; }
[ -f "$build_dir/compile_commands.json" ] ||
  { echo "tidy: no $build_dir/compile_commands.json: configure the build first" >&2; exit 2; }
if [ $# -eq 0 ]; then
  mapfile -t files < <(git ls-files 'bench/*.cc' 'cni/*.cc' 'common/*.cc' 'dataplane/*.cc' 'tools/*.cc')
else
  files=("$@")
fi
out=$(mktemp)
trap 'rm -f "$out"' EXIT
printf '%s\0' "${files[@]}" |
  xargs -0 -P "$(nproc)" -n 4 clang-tidy-14 -p "$build_dir" --quiet >"$out" 2>/dev/null || true
grep -E '^/.*: (warning|error):' "$out" | sort -u || true
count=$(grep -cE '^/.*: (warning|error):' "$out" || true)
echo "tidy: $count findings in ${#files[@]} files" >&2
[ "$count" -eq 0 ]
