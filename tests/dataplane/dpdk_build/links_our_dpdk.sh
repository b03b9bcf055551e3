#!/usr/bin/env bash
# Checks that each ELF resolves every DPDK library it loads, directly or through another library,
# into our DPDK build under PREFIX, none into Debian's DPDK of the same sonames.
#
#   links_our_dpdk.sh PREFIX ELF...
set -euo pipefail

prefix=$1
shift
for elf in "$@"; do
  libraries=$(ldd "$elf" | awk '$1 ~ /^librte_/ { print $1, $3 }')
  if [ -z "$libraries" ]; then
    echo "FAILED: $elf loads no DPDK library" >&2
    exit 1
  fi
  foreign=$(awk -v ours="$prefix/lib/" 'index($2, ours) != 1' <<<"$libraries")
  if [ -n "$foreign" ]; then
    echo "FAILED: $elf resolves DPDK libraries outside $prefix/lib:" >&2
    echo "$foreign" >&2
    exit 1
  fi
  echo "$elf: $(wc -l <<<"$libraries") DPDK libraries, all from $prefix/lib"
done
