#!/usr/bin/env bash
# Fails when a tracked C++ file differs from what clang-format makes of it with the committed
# .clang-format, and names the files. To fix: tools/format.sh (or clang-format-14 -i FILE).
#   format_check.sh SOURCE_DIR
set -euo pipefail
cd "$1"
clang_format=$(command -v clang-format-14 || command -v clang-format || true)
if [ -z "$clang_format" ]; then
  echo "format_check: clang-format-14 is not installed (tools/install-deps.sh installs it)" >&2
  exit 1
fi
mapfile -t files < <(git ls-files '*.cc' '*.h' '*.c')
unformatted=()
for file in "${files[@]}"; do
  "$clang_format" --dry-run -Werror "$file" >/dev/null 2>&1 || unformatted+=("$file")
done
if [ ${#unformatted[@]} -gt 0 ]; then
  echo "format_check: ${#unformatted[@]} of ${#files[@]} files are not formatted; run tools/format.sh:" >&2
  printf '  %s\n' "${unformatted[@]}" >&2
  exit 1
fi
echo "format_check: all ${#files[@]} C++ files formatted ($("$clang_format" --version))"
