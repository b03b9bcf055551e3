#!/usr/bin/env bash
# Builds dpcni's container images with umoci, as OCI archives that containerd imports with no
# registry (`ctr -n k8s.io images import ARCHIVE`), under exactly the names listed here:
#
#   tools/image/build.sh --build-dir DIR [--version VERSION] [--cache-dir DIR] OUT_DIR
#
#   OUT_DIR/dpcni.tar  dpcni.dev/dpcni:VERSION and dpcni.dev/dpcni:APP_VERSION, the DaemonSet's image
#                      (charts/dpcni): dpcni-agent, dpcnictl, dpcni-k8s and the CNI plugin on a
#                      minimal Debian root holding the libraries they load
#   OUT_DIR/pause.tar  dpcni.dev/pause:PAUSE_VERSION, Kubernetes' pod sandbox (build/pause/linux/pause.c
#                      of the pinned k8s.io/kubernetes module, compiled static)
#   OUT_DIR/echo.tar   dpcni.dev/echo:VERSION, a test pod: dpcni_test_echo (`http` mode: HTTP, TCP and
#                      UDP echo) and busybox (sh, ping, wget, nc, nslookup)
#   OUT_DIR/images     "NAME ARCHIVE" per line, every name the archives hold
#
# VERSION defaults to `git describe --always --dirty` of this source tree; APP_VERSION is the chart's
# appVersion, so that the chart's default image reference names this build too. --build-dir is the
# CMake build tree holding the binaries; it also says which DPDK the agent runs on. The Debian root is
# cached in --cache-dir (default /var/cache/dpcni/image), keyed by its package list, so that a second
# run only packs. Needs root (debootstrap), umoci, debootstrap, gcc and go (tools/install-deps.sh);
# downloads Debian packages (the root's, busybox-static) and, once, the Kubernetes module for pause.c.
# DPCNI_IMAGE_MIRROR overrides the Debian mirror (default: the one this host's apt uses).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
readonly registry=dpcni.dev

log() { echo "image: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }
usage() { echo "usage: tools/image/build.sh --build-dir DIR [--version VERSION] [--cache-dir DIR] OUT_DIR" >&2; exit 2; }

build_dir="" version="" cache_dir=/var/cache/dpcni/image out=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build_dir=$2; shift 2 ;;
    --version) version=$2; shift 2 ;;
    --cache-dir) cache_dir=$2; shift 2 ;;
    -*) usage ;;
    *) [ -z "$out" ] || usage; out=$1; shift ;;
  esac
done
[ -n "$build_dir" ] && [ -n "$out" ] || usage
[ -d "$build_dir" ] || fail "--build-dir $build_dir is not a directory"
build_dir=$(cd "$build_dir" && pwd)
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, and files owned by root in the images)"
for tool in umoci debootstrap gcc strip readelf ldd dpkg dpkg-deb apt-get tar flock sha256sum; do
  command -v "$tool" >/dev/null || fail "$tool is not installed: run tools/install-deps.sh"
done
go=$(command -v go || echo /usr/local/go/bin/go)
[ -x "$go" ] || fail "no go command (expected Go at /usr/local/go/bin): pause.c comes from its module"

[ -n "$version" ] || version=$(git -C "$repo" describe --always --dirty) ||
  fail "cannot derive the version with git describe: pass --version"
app_version=$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\} *$/\1/p' "$repo/charts/dpcni/Chart.yaml")
[ -n "$app_version" ] || fail "no appVersion in charts/dpcni/Chart.yaml"
revision=$(git -C "$repo" rev-parse HEAD 2>/dev/null || echo unknown)

started=$SECONDS
mkdir -p "$out" "$cache_dir"
out=$(cd "$out" && pwd)
work=$(mktemp -d "$out/.work.XXXXXX")
root_staging=""
cleanup() {
  # debootstrap mounts proc and sys inside its target; an interrupted run can leave them mounted.
  local mount_point
  if [ -n "$root_staging" ]; then
    findmnt -rn -o TARGET | { grep -F "$root_staging/" || true; } | sort -r | while read -r mount_point; do
      umount -l "$mount_point" || true
    done
    rm -rf "$root_staging"
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

# --- The binaries, from the build tree ---------------------------------------------------------

need() {  # PATH WHAT
  [ -x "$1" ] || fail "$1 is missing: $2"
}
agent=$build_dir/dataplane/dpcni-agent plugin=$build_dir/cni/dpcni
dpcnictl=$build_dir/tools/dpcnictl/dpcnictl dpcni_k8s=$build_dir/k8s/dpcni-k8s
echo_tool=$build_dir/tests/e2e/dpcni_test_echo
need "$agent" "build the tree (ninja -C $build_dir)"
need "$plugin" "build the tree (ninja -C $build_dir)"
need "$dpcnictl" "build the tree (ninja -C $build_dir)"
need "$dpcni_k8s" "build the tree (ninja -C $build_dir; k8s/ builds it with Go)"
need "$echo_tool" "build the tree (ninja -C $build_dir)"
# Whether an ELF file loads shared libraries. Not `readelf | grep -q`: grep would stop reading at the
# first match, readelf die of SIGPIPE, and pipefail turn the match into a failure.
loads_libraries() {  # FILE
  local dynamic
  dynamic=$(readelf -d "$1" 2>/dev/null) || true
  [[ "$dynamic" == *"(NEEDED)"* ]]
}
# The test image has no C library: the echo tool must be static.
! loads_libraries "$echo_tool" || fail "$echo_tool is not linked statically"

cache_value() {  # NAME: a value of the build tree's CMakeCache.txt
  sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt"
}
[ -f "$build_dir/CMakeCache.txt" ] || fail "$build_dir has no CMakeCache.txt: not a configured build tree"
dpdk_prefix=""
case "$(cache_value DPCNI_SYSTEM_DPDK)" in
  ON|TRUE|1|YES) ;;
  *) dpdk_prefix=$(cache_value DPCNI_DPDK_PREFIX)
     [ -d "$dpdk_prefix/lib/dpdk" ] || fail "the build's DPDK prefix $dpdk_prefix holds no drivers" ;;
esac

# --- The Debian root: the runtime packages of the binaries, cached by their list ---------------

release=$(. /etc/os-release && echo "$VERSION_CODENAME")
# The mirror apt uses for the release's main component, as apt itself resolved its sources.
mirror=${DPCNI_IMAGE_MIRROR:-$(apt-cache policy | awk -v suite="$release/main" '$3 == suite { print $2; exit }')}
[ -n "$mirror" ] || fail "no apt source for $release/main on this host: set DPCNI_IMAGE_MIRROR"
# The same mirrors' updates and security suites, for the upgrade after debootstrap: apt-cache policy
# prints each source as " PRIO URI SUITE/COMPONENT ARCH Packages" and, below it, its release line.
update_sources=$(apt-cache policy | awk -v release="$release" '
  $3 ~ "^" release "-(updates|security)/main$" { uri = $2; suite = $3; sub("/main$", "", suite); next }
  uri != "" && /^ *release / { if ($0 ~ /o=Debian,/) print "deb " uri " " suite " main"; uri = "" }')

# ELF files that load shared libraries (static ones, like dpcni-k8s and the plugin, load none).
dynamic_elves=()
for file in "$agent" "$dpcnictl" "$plugin" "$dpcni_k8s"; do
  if loads_libraries "$file"; then dynamic_elves+=("$file"); fi
done
skip=()
extra_packages=()
if [ -n "$dpdk_prefix" ]; then
  # EAL loads its drivers with dlopen(), which ldd cannot see: their libraries are looked up too.
  mapfile -t dpdk_libraries < <(find "$dpdk_prefix/lib" -name '*.so.*' -type f)
  dynamic_elves+=("${dpdk_libraries[@]}")
  skip=(--skip-under "$dpdk_prefix")
else
  # Debian's DPDK: its drivers are separate packages (the ones the agent uses).
  extra_packages=(librte-mempool-ring23 librte-net-virtio23 librte-net-tap23 librte-net-af-packet23
    librte-net-af-xdp23)
fi
packages_text=$("$repo/tests/vm/guest-packages.sh" "${skip[@]}" "${dynamic_elves[@]}") ||
  fail "cannot map the binaries' libraries to Debian packages"
mapfile -t packages < <({ echo "$packages_text"; printf '%s\n' "${extra_packages[@]}"; } | grep . | sort -u)


# Paths of a Debian root that nothing in a container reads: documentation, manuals, translations,
# apt's package lists and archives, logs; and /dev, which the runtime mounts.
prune_root() {  # ROOT
  local r=$1
  rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* "$r"/usr/share/lintian \
    "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/* "$r"/var/cache/debconf/*-old \
    "$r"/var/cache/ldconfig/aux-cache "$r"/var/log/* "$r"/debootstrap "$r"/dev/* "$r"/tmp/* \
    "$r"/var/tmp/* "$r"/etc/hostname "$r"/etc/resolv.conf
  # Of the documentation only the copyright files stay: the licences of what the image carries.
  find "$r/usr/share/doc" -mindepth 1 ! -type d ! -name copyright -delete
  find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
}

build_root() {  # DIR
  local staging=$1 rootfs=$1/rootfs
  log "debootstrap $release (minbase) from $mirror with ${#packages[@]} packages"
  debootstrap --variant=minbase --components=main --include="$(IFS=,; echo "${packages[*]}")" \
    --cache-dir="$cache_dir/debs" "$release" "$rootfs" "$mirror" >"$staging/debootstrap.log" 2>&1 || {
    tail -n 30 "$staging/debootstrap.log" >&2
    [ ! -f "$rootfs/debootstrap/debootstrap.log" ] || tail -n 30 "$rootfs/debootstrap/debootstrap.log" >&2
    fail "debootstrap"
  }
  # debootstrap installs from the release's suite only; the security and point updates the host's
  # apt knows come on top, so that the image is as patched as the host it is built on.
  if [ -n "$update_sources" ]; then
    echo "$update_sources" >"$rootfs/etc/apt/sources.list.d/updates.list"
    cp /etc/resolv.conf "$rootfs/etc/resolv.conf"
    chroot "$rootfs" /usr/bin/env DEBIAN_FRONTEND=noninteractive sh -ec \
      'apt-get update -qq && apt-get upgrade -y -qq -o Dpkg::Options::=--force-confold && apt-get clean' \
      >"$staging/upgrade.log" 2>&1 || { tail -n 30 "$staging/upgrade.log" >&2; fail "apt-get upgrade in the root"; }
    rm "$rootfs/etc/apt/sources.list.d/updates.list"
  fi
  prune_root "$rootfs"
}

# Everything the root is made of: the packages, the host's versions of them (a host upgrade brings a
# newer root), the sources, and the two functions above.
root_key=$( {
  printf '%s\n' "${packages[@]}"
  dpkg-query -W -f='${Package}=${Version}\n' "${packages[@]}" 2>/dev/null || true
  echo "mirror=$mirror"; echo "$update_sources"
  cat /etc/os-release
  declare -f prune_root build_root
} | sha256sum | cut -c1-16)
root=$cache_dir/root-$root_key

mkdir -p "$cache_dir/debs"
exec {root_lock}>"$cache_dir/root.lock"
flock "$root_lock"
if [ -d "$root" ]; then
  log "Debian root $root_key is cached"
else
  # One root is kept: older ones are of packages lists no build makes any more. Under the lock, a
  # staging directory is a killed build's.
  find "$cache_dir" -mindepth 1 -maxdepth 1 \( -name 'root-*' -o -name '.staging.*' \) -exec rm -rf {} +
  # Built beside its final place, so that the rename below is atomic (same file system).
  root_staging=$(mktemp -d "$cache_dir/.staging.XXXXXX")
  build_root "$root_staging"
  mv -T "$root_staging/rootfs" "$root"
  rm -rf "$root_staging"
  root_staging=""
  log "Debian root $root_key built ($(du -sm "$root" | cut -f1) MiB) after $((SECONDS - started)) s"
fi

# --- Images ------------------------------------------------------------------------------------

# A new image in its own OCI layout, one layer per directory given, then the config's options.
# GNU tar writes each layer and umoci adds it as it is: the `umoci insert` of Debian 12 (0.4.7)
# leaves out the archive's end (it never closes its tar writer, fixed in umoci 0.5.0), which Go's
# tar reader in containerd forgives but GNU tar, Python's tarfile and image scanners reject. The
# directory itself becomes the layer's "./", the image's "/": it must be 0755 like a root.
new_image() {  # LAYOUT DIR... -- UMOCI_CONFIG_OPTION...
  local layout=$1
  shift
  umoci init --layout "$layout"
  umoci new --image "$layout:build"
  while [ "$1" != -- ]; do
    chmod 0755 "$1"
    tar --create --file="$work/layer.tar" --directory="$1" --format=posix --numeric-owner \
      --sort=name --pax-option=delete=atime,delete=ctime .
    umoci raw add-layer --image "$layout:build" "$work/layer.tar"
    rm "$work/layer.tar"
    shift
  done
  shift
  umoci config --image "$layout:build" --os linux --architecture amd64 \
    --config.label "org.opencontainers.image.revision=$revision" "$@"
}

# Names the image (ref.name annotations, as full references: `ctr images import` then uses them as
# they are, where a bare tag would become import-DATE:TAG), and writes the layout as an OCI archive.
finish_image() {  # LAYOUT ARCHIVE NAME...
  local layout=$1 archive=$2 name
  shift 2
  for name in "$@"; do
    umoci tag --image "$layout:build" "$name"
    echo "$name $archive" >>"$work/images"
  done
  umoci rm --image "$layout:build"
  umoci gc --layout "$layout"
  tar -C "$layout" -cf "$work/$archive" oci-layout index.json blobs
}

: >"$work/images"

# dpcni: the Debian root, then our files. Binaries lose their debug sections (the agent's alone
# is ~20 MB of them), not their symbols.
files=$work/dpcni-files
mkdir -p "$files/usr/bin" "$files/usr/libexec/dpcni" "$files/etc/dpcni"
strip --strip-debug -o "$files/usr/bin/dpcni-agent" "$agent"
strip --strip-debug -o "$files/usr/bin/dpcnictl" "$dpcnictl"
strip --strip-debug -o "$files/usr/libexec/dpcni/dpcni" "$plugin"
cp "$dpcni_k8s" "$files/usr/bin/dpcni-k8s"
if [ -n "$dpdk_prefix" ]; then
  # Our DPDK at its own path: the binaries' run path and EAL's driver directory are compiled in.
  mkdir -p "$files$dpdk_prefix/lib"
  cp -a "$dpdk_prefix"/lib/*.so* "$files$dpdk_prefix/lib/"
  cp -a "$dpdk_prefix/lib/dpdk" "$files$dpdk_prefix/lib/"
fi
new_image "$work/dpcni" "$root" "$files" -- \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.cmd dpcni-agent --config.cmd=--config=/etc/dpcni/agent.yaml \
  --config.label "org.opencontainers.image.title=dpcni" \
  --config.label "org.opencontainers.image.version=$version" \
  --config.label "org.opencontainers.image.description=dpcni-agent, dpcnictl, dpcni-k8s and the dpcni CNI plugin"
finish_image "$work/dpcni" dpcni.tar "$registry/dpcni:$version" "$registry/dpcni:$app_version"

# pause: Kubernetes' own source at the version tools/k8s pins, built the way its Makefile does.
k8s_module=$(cd "$repo/tools/k8s/kubernetes" && "$go" mod download -json k8s.io/kubernetes) ||
  fail "cannot download the k8s.io/kubernetes module pinned in tools/k8s/kubernetes"
k8s_dir=$(sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p' <<<"$k8s_module")
k8s_version=$(sed -n 's/^[[:space:]]*"Version": "\(.*\)",$/\1/p' <<<"$k8s_module")
pause_source=$k8s_dir/build/pause/linux/pause.c
[ -f "$pause_source" ] || fail "$pause_source is missing"
pause_version=$(sed -n 's/^TAG ?= *//p' "$k8s_dir/build/pause/Makefile")
[ -n "$pause_version" ] || fail "no TAG in $k8s_dir/build/pause/Makefile"
files=$work/pause-files
mkdir -p "$files"
gcc -Os -Wall -Werror -static -DVERSION="v$pause_version-$k8s_version" -o "$files/pause" "$pause_source"
strip "$files/pause"
new_image "$work/pause" "$files" -- \
  --config.entrypoint /pause --config.user 65535:65535 \
  --config.label "org.opencontainers.image.title=pause" \
  --config.label "org.opencontainers.image.version=$pause_version"
finish_image "$work/pause" pause.tar "$registry/pause:$pause_version"

# echo: busybox-static with its applets as links, and the echo tool. busybox-static is fetched, not
# installed: installing it would replace the host's own (dynamic) busybox package.
busybox_version=$(apt-cache policy busybox-static | awk '$1 == "Candidate:" { print $2 }')
[ -n "$busybox_version" ] && [ "$busybox_version" != "(none)" ] ||
  fail "apt knows no busybox-static package: apt-get update"
busybox=$cache_dir/busybox-${busybox_version//:/_}
if [ ! -x "$busybox" ]; then
  (cd "$work" && apt-get download "busybox-static=$busybox_version") >"$work/apt.log" 2>&1 ||
    { cat "$work/apt.log" >&2; fail "apt-get download busybox-static"; }
  dpkg-deb -x "$work"/busybox-static_*.deb "$work/busybox-static"
  install -m 0755 "$work/busybox-static/bin/busybox" "$busybox.tmp"
  mv "$busybox.tmp" "$busybox"
fi
files=$work/echo-files
mkdir -p "$files/bin" "$files/usr/bin" "$files/tmp"
chmod 1777 "$files/tmp"
cp "$busybox" "$files/bin/busybox"
"$busybox" --list | while read -r applet; do
  [ "$applet" = busybox ] || ln -s busybox "$files/bin/$applet"
done
strip --strip-debug -o "$files/usr/bin/dpcni_test_echo" "$echo_tool"
new_image "$work/echo" "$files" -- \
  --config.env PATH=/usr/bin:/bin \
  --config.cmd dpcni_test_echo --config.cmd http --config.cmd=--tcp=8080 --config.cmd=--udp=8080 \
  --config.exposedports 8080/tcp --config.exposedports 8080/udp \
  --config.label "org.opencontainers.image.title=dpcni-echo" \
  --config.label "org.opencontainers.image.version=$version"
finish_image "$work/echo" echo.tar "$registry/echo:$version"

for archive in dpcni.tar pause.tar echo.tar images; do
  mv -f "$work/$archive" "$out/$archive"
done
while read -r name archive; do
  log "$name in $out/$archive ($(du -m "$out/$archive" | cut -f1) MiB)"
done <"$out/images"
log "done after $((SECONDS - started)) s"
