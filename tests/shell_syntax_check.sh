#!/usr/bin/env bash
# Fails when a tracked shell script does not parse (bash -n), and names it: the benchmarks, the VM
# lane and the tools run only by hand or in long lanes, so a syntax slip there would otherwise wait
# for the next person to run them.
#   shell_syntax_check.sh SOURCE_DIR
set -euo pipefail
cd "$1"
mapfile -t files < <(git ls-files '*.sh' 'tests/vm/guest/init' |
  while read -r file; do head -c 64 "$file" | grep -q '^#!.*\(ba\)\?sh' && echo "$file"; done)
broken=()
for file in "${files[@]}"; do
  bash -n "$file" 2>/dev/null || broken+=("$file")
done
if [ ${#broken[@]} -gt 0 ]; then
  echo "shell_syntax_check: ${#broken[@]} of ${#files[@]} scripts do not parse:" >&2
  for file in "${broken[@]}"; do bash -n "$file" 2>&1 | sed 's/^/  /' >&2 || true; done
  exit 1
fi
echo "shell_syntax_check: all ${#files[@]} shell scripts parse"
