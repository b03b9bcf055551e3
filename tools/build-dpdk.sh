#!/usr/bin/env bash
# Builds the DPDK that dpcni runs on, from Debian's own source package, and installs it into PREFIX.
# Debian's binary DPDK allows 32 ethdevs per process and the agent needs one per pod; this build
# allows 1024 and holds only the drivers and libraries dpcni uses (docs/dpdk-build.md).
#
#   build-dpdk.sh PREFIX
#
# PREFIX must be an absolute path: it is compiled into the build (EAL's driver directory, the
# libraries' run path), so the binaries load this build's libraries and drivers, never Debian's.
# A stamp in PREFIX records the inputs of the build in it; with the same inputs this script does
# nothing. Otherwise it downloads the source (apt-get source, with its own apt lists and sources
# under PREFIX.work, so the machine's apt configuration is left as it is), builds it with meson and
# ninja, installs it and removes PREFIX.work again.
set -euo pipefail

# The Debian source package: the same version as the dpdk binary packages of Debian 12.
readonly source_version=22.11.11-0+deb12u1

# Drivers: pod ports (virtio-user on vhost-net, tap), uplinks (af_packet, af_xdp, and the PCI NICs
# of docs/dpdk-build.md's table), test and benchmark ports (null, ring), and the mempool drivers.
# Driver directories are listed with what they need: the iavf common code (i40e's VFs, ice, iavf),
# the auxiliary bus and mlx5's common code (mlx5).
readonly pod_and_test_drivers=net/virtio,net/tap,net/af_packet,net/af_xdp,net/null,net/ring
readonly nic_drivers=net/ixgbe,net/i40e,net/ice,net/e1000,net/igc,net/iavf,net/mlx5,net/bnxt,net/ena,net/gve,net/vmxnet3
readonly drivers=bus/vdev,bus/pci,bus/auxiliary,common/iavf,common/mlx5,$pod_and_test_drivers,$nic_drivers,mempool/ring,mempool/stack
# Libraries nothing of ours (nor testpmd) uses. DPDK 22.11 leaves out only libraries on its
# optional_libs list; the mandatory ones among these are added to that list in the unpacked source
# before configuring (prepare_source): the build then takes some 40 % less CPU time.
# security and cryptodev (ixgbe and iavf need them for their inline IPsec) and timer (ena's watchdog)
# stay in.
readonly unused_mandatory_libs=(
  acl bbdev bpf compressdev distributor dmadev efd eventdev fib graph ip_frag ipsec member pcapng
  rawdev regexdev reorder rib sched)
readonly unused_optional_libs=(
  bitratestats cfgfile flow_classify gpudev gro jobstats kni latencystats metrics node pdump pipeline
  port power table vhost)
disabled_libs=$(IFS=,; echo "${unused_mandatory_libs[*]},${unused_optional_libs[*]}")
readonly disabled_libs
# platform=generic is Debian's baseline ISA (corei7): the build also runs in the qemu guest of the
# vhost-net test lane, whose CPU model need not have every instruction of the build machine.
# enable_driver_sdk installs the drivers' headers (ethdev_driver.h, ethdev_vdev.h,
# bus_vdev_driver.h): the agent registers a vdev driver of its own, the tap backend's vnet_tap
# (dataplane/port/vnet_tap.h).
# ibverbs_link=dlopen: mlx5 loads rdma-core (libibverbs, libmlx5) through a glue library when it
# starts, so a node without rdma-core installed runs every other driver; linked directly, EAL could
# not load the mlx5 driver there, and EAL refuses to start when one driver fails to load.
readonly meson_options=(
  --buildtype=release --default-library=shared --libdir=lib
  -Dplatform=generic -Dmax_ethports=1024 -Denable_driver_sdk=true -Dibverbs_link=dlopen
  -Denable_drivers="$drivers" -Ddisable_libs="$disabled_libs"
  -Denable_apps=test-pmd -Dtests=false -Dexamples= -Denable_docs=false
)

log() { echo "build-dpdk: $*" >&2; }
fail() { log "FAILED: $*"; exit 1; }

[ $# -eq 1 ] || { echo "usage: build-dpdk.sh PREFIX" >&2; exit 2; }
case "$1" in
  /*) prefix=${1%/} ;;
  *) fail "PREFIX must be an absolute path, not $1" ;;
esac
work=$prefix.work
stamp=$prefix/.dpcni-build-stamp

# Our fixes to DPDK's own code, applied in name order (tools/dpdk-patches, docs/dpdk-build.md).
patch_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/dpdk-patches
patches=("$patch_dir"/*.patch)

# Everything the installed files depend on. The prefix is among them: it is compiled in.
build_key() {
  {
    echo "source=$source_version prefix=$prefix"
    printf '%s\n' "${meson_options[@]}"
    sha256sum <"${BASH_SOURCE[0]}"
    cat "${patches[@]}" | sha256sum
    cc --version | head -n1
    meson --version
  } | sha256sum | cut -c1-32
}

# Sources of Debian's source packages from the mirrors this machine installs Debian's packages from.
write_source_list() {
  apt-get indextargets --format 'deb-src $(REPO_URI) $(RELEASE) $(COMPONENT)' \
    'Identifier: Packages' 'Origin: Debian' | sort -u >"$1"
  [ -s "$1" ] || fail "no Debian package source is configured in apt"
}

fetch_source() {
  local apt_dir=$work/apt
  mkdir -p "$apt_dir/sources.list.d" "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
  write_source_list "$apt_dir/sources.list"
  local apt_options=(
    -o Dir::Etc::SourceList="$apt_dir/sources.list" -o Dir::Etc::SourceParts="$apt_dir/sources.list.d"
    -o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
    -o APT::Sandbox::User=root)
  apt-get -q "${apt_options[@]}" update
  (cd "$work" && apt-get -q "${apt_options[@]}" source --only-source "dpdk=$source_version")
  local upstream=${source_version%%-*}
  [ -d "$work/dpdk-$upstream" ] || fail "apt-get source did not unpack dpdk-$upstream into $work"
  mv "$work/dpdk-$upstream" "$work/src"
}

prepare_source() {
  local quoted
  quoted=$(printf "'%s', " "${unused_mandatory_libs[@]}")
  sed -i "s/^optional_libs = \[\$/optional_libs = [ $quoted/" "$work/src/lib/meson.build"
  grep -q "^optional_libs = \[ $quoted" "$work/src/lib/meson.build" ||
    fail "$work/src/lib/meson.build has no optional_libs list to extend"
  local fix
  for fix in "${patches[@]}"; do
    patch -d "$work/src" -p1 --forward --quiet <"$fix" || fail "$fix does not apply to DPDK $source_version"
  done
}

build_and_install() {
  meson setup "$work/build" "$work/src" --prefix="$prefix" "${meson_options[@]}" \
    -Dc_link_args="-Wl,-rpath,$prefix/lib"
  ninja -C "$work/build" -j"$(nproc)"
  meson install -C "$work/build" --quiet
}

# The point of this build, checked where the compiler will read it.
check_max_ethports() {
  grep -qx '#define RTE_MAX_ETHPORTS 1024' "$prefix/include/rte_build_config.h" ||
    fail "$prefix/include/rte_build_config.h does not set RTE_MAX_ETHPORTS to 1024"
}

mkdir -p "$(dirname "$prefix")"
exec {lock}>"$prefix.lock"
flock "$lock"

key=$(build_key)
if [ "$(cat "$stamp" 2>/dev/null)" = "$key" ]; then
  log "$prefix is up to date (build $key)"
  exit 0
fi

started=$SECONDS
log "building DPDK $source_version into $prefix (build $key)"
rm -rf "$prefix" "$work"
mkdir -p "$work"
fetch_source
prepare_source
build_and_install
check_max_ethports
echo "$key" >"$stamp"
rm -rf "$work"
log "built and installed in $((SECONDS - started)) s"
