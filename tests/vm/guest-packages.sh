#!/usr/bin/env bash
# Prints, one per line and sorted, the Debian packages that provide the shared libraries the given
# ELF files load, so a guest built from the same Debian release can run binaries built on this host.
# Libraries under --skip-under (the project's own build tree) are not looked up.
# Fails, naming the library, when one is not found or belongs to no installed package.
#
#   guest-packages.sh [--skip-under DIR]... ELF...
set -euo pipefail

skip_dirs=()
while [ $# -gt 0 ]; do
  case "$1" in
    --skip-under) skip_dirs+=("${2%/}/"); shift 2 ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "usage: guest-packages.sh [--skip-under DIR]... ELF..." >&2; exit 2; }

# The libraries the ELFs need, as absolute paths, less the skipped ones (the vDSO has no path).
library_paths() {
  local elf ldd_output library dir
  for elf in "$@"; do
    # A static ELF (Go programs, the CNI plugin's kind) loads nothing: ldd says so and exits 1.
    if ldd_output=$(ldd "$elf" 2>&1); then
      :
    elif grep -q 'not a dynamic executable' <<<"$ldd_output"; then
      continue
    else
      echo "guest-packages: ldd failed on $elf: $ldd_output" >&2
      return 1
    fi
    if grep -q 'not found' <<<"$ldd_output"; then
      echo "guest-packages: $elf needs a library that is not installed:" >&2
      grep 'not found' <<<"$ldd_output" >&2
      return 1
    fi
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' <<<"$ldd_output"
  done | sort -u | while read -r library; do
    for dir in "${skip_dirs[@]}"; do
      [[ "$library" == "$dir"* ]] && continue 2
    done
    echo "$library"
  done
}

library_list=$(library_paths "$@")
[ -n "$library_list" ] || exit 0
mapfile -t libraries <<<"$library_list"
mapfile -t resolved < <(readlink -f -- "${libraries[@]}")

# The spellings of each library's path that dpkg's database may hold: with a merged /usr the loader
# may report /usr/lib/... for a file a package shipped as /lib/... (or the reverse), or a symlink's
# target. Library paths hold no spaces.
declare -A spellings_of=()
queries=()
for i in "${!libraries[@]}"; do
  library=${libraries[$i]}
  spellings=("$library" "${resolved[$i]}" "${library#/usr}" "/usr$library")
  spellings_of[$library]=${spellings[*]}
  queries+=("${spellings[@]}")
done

# One dpkg query for all paths, as dpkg reads its whole database on every call. It prints
# "pkg[:arch][, pkg...]: /path" for each path it knows and exits non-zero when any is unknown.
declare -A owner_of=()
while IFS= read -r line; do
  [[ "$line" == "diversion by"* ]] && continue
  package=${line%%: /*}
  package=${package%%,*}
  owner_of[${line#*: }]=${package%%:*}
done < <(dpkg -S "${queries[@]}" 2>/dev/null || true)

packages=()
for library in "${libraries[@]}"; do
  package=""
  for spelling in ${spellings_of[$library]}; do
    package=${owner_of[$spelling]:-}
    [ -n "$package" ] && break
  done
  [ -n "$package" ] || { echo "guest-packages: no installed Debian package provides $library" >&2; exit 1; }
  packages+=("$package")
done
printf '%s\n' "${packages[@]}" | sort -u
