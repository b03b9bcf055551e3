#!/usr/bin/env bash
# Builds the guest for the vhost-net lane: a Debian root filesystem of this host's release (so binaries
# built here run there) holding the given packages, as an ext4 image, plus the kernel and initrd from it.
#
#   build-image.sh OUT_DIR DEB_CACHE_DIR PACKAGE...
#
# Writes OUT_DIR/rootfs.img, OUT_DIR/vmlinuz and OUT_DIR/initrd.img; OUT_DIR appears only when complete.
# Downloaded packages are kept in DEB_CACHE_DIR for the next build. Needs root, debootstrap and the
# Debian mirror this host's apt uses (DPCNI_VM_MIRROR overrides it).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: build-image.sh OUT_DIR DEB_CACHE_DIR PACKAGE...}
deb_cache=${2:?usage: build-image.sh OUT_DIR DEB_CACHE_DIR PACKAGE...}
shift 2
[ $# -gt 0 ] || { echo "build-image: no packages given" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || { echo "build-image: debootstrap needs root" >&2; exit 1; }

release=$(. /etc/os-release && echo "$VERSION_CODENAME")

# The first mirror apt is configured with for $release, from deb822 .sources or one-line .list files.
apt_mirror() {
  local sources=(/etc/apt/sources.list.d/*.sources) lists=(/etc/apt/sources.list /etc/apt/sources.list.d/*.list)
  awk -v release="$release" 'BEGIN { RS = "" }
    $0 ~ "(^|\n)Suites:[^\n]*[ \t]" release "([ \t]|\n|$)" && match($0, /(^|\n)URIs:[ \t]*[^ \t\n]+/) {
      uri = substr($0, RSTART, RLENGTH); sub(/.*URIs:[ \t]*/, "", uri); print uri; exit }' \
    "${sources[@]}" /dev/null 2>/dev/null | grep . ||
    awk -v release="$release" '$1 == "deb" && $3 == release { print $2; exit }' \
      "${lists[@]}" /dev/null 2>/dev/null | grep . ||
    { echo "build-image: no apt source for $release found; set DPCNI_VM_MIRROR" >&2; return 1; }
}
mirror=${DPCNI_VM_MIRROR:-$(apt_mirror)}

mkdir -p "$(dirname "$out")" "$deb_cache"
staging=$(mktemp -d "$out.staging.XXXXXX")
rootfs=$staging/rootfs

cleanup() {
  # debootstrap mounts proc, sys and devpts inside the target; an interrupted run can leave them.
  local mount_point
  findmnt -rn -o TARGET | { grep -F "$rootfs" || true; } | sort -r | while read -r mount_point; do
    umount -l "$mount_point" || true
  done
  rm -rf "$staging"
}
trap cleanup EXIT

started=$SECONDS
elapsed() { echo "$((SECONDS - started)) s"; }

# debootstrap's log, on failure: its own output and the detailed log it keeps inside the target.
fail_with_log() {
  echo "build-image: $1 failed; the end of its log:" >&2
  tail -n 40 "$staging/debootstrap.log" >&2
  if [ -f "$rootfs/debootstrap/debootstrap.log" ]; then tail -n 40 "$rootfs/debootstrap/debootstrap.log" >&2; fi
  exit 1
}

# Two stages, so that the guest's dpkg and initramfs-tools are configured before anything is installed:
# the first only downloads and unpacks.
echo "build-image: debootstrap $release from $mirror with $# packages" >&2
packages=$(printf '%s,' "$@")
debootstrap --foreign --variant=minbase --components=main --include="${packages%,}" \
  --cache-dir="$deb_cache" "$release" "$rootfs" "$mirror" >"$staging/debootstrap.log" 2>&1 ||
  fail_with_log "debootstrap (download and unpack)"
echo "build-image: packages downloaded and unpacked after $(elapsed)" >&2

# The image is built once and thrown away on any failure: dpkg need not sync every file it writes.
echo force-unsafe-io >"$rootfs/etc/dpkg/dpkg.cfg.d/dpcni-vm-unsafe-io"
# A small initrd, made in seconds: by default initramfs-tools packs most of the kernel's modules and
# compresses them with zstd, which took minutes here, twice (kernel install, then initramfs-tools).
# The guest only needs to find its root file system on the virtio disk.
mkdir -p "$rootfs/etc/initramfs-tools/conf.d" "$rootfs/usr/share/initramfs-tools/modules.d"
cat >"$rootfs/etc/initramfs-tools/conf.d/dpcni-vm" <<'EOF'
MODULES=list
COMPRESS=gzip
EOF
printf '%s\n' virtio_pci virtio_blk ext4 crc32c_generic >"$rootfs/usr/share/initramfs-tools/modules.d/dpcni-vm"

chroot "$rootfs" /debootstrap/debootstrap --second-stage >>"$staging/debootstrap.log" 2>&1 ||
  fail_with_log "debootstrap (install)"
rm "$rootfs/etc/dpkg/dpkg.cfg.d/dpcni-vm-unsafe-io"
echo "build-image: packages installed after $(elapsed)" >&2

# Boot files: exactly one kernel and its initrd (linux-image-amd64's postinst made it).
kernels=("$rootfs"/boot/vmlinuz-*)
if [ ${#kernels[@]} -ne 1 ] || [ ! -f "${kernels[0]}" ]; then
  echo "build-image: expected one kernel in the guest's /boot, found: ${kernels[*]}" >&2
  exit 1
fi
kernel_version=${kernels[0]##*/vmlinuz-}
initrd=$rootfs/boot/initrd.img-$kernel_version
[ -f "$initrd" ] || { echo "build-image: no initrd for kernel $kernel_version" >&2; exit 1; }
mkdir "$staging/out"
cp "${kernels[0]}" "$staging/out/vmlinuz"
cp "$initrd" "$staging/out/initrd.img"

# The guest's init, and the mount point of the per-run share it hands over to.
install -m 0755 "$here/guest/init" "$rootfs/sbin/dpcni-vm-init"
mkdir -p "$rootfs/mnt/dpcni-run"
# Packages are not needed once installed (the cache keeps them for the next build).
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs/debootstrap"

# Room for the files plus a quarter, and 256 MiB for what tests write to the root filesystem.
used_mib=$(du -sm "$rootfs" | cut -f1)
truncate -s "$((used_mib * 5 / 4 + 256))M" "$staging/out/rootfs.img"
mkfs.ext4 -q -F -L dpcni-vm -d "$rootfs" "$staging/out/rootfs.img"

mv -T "$staging/out" "$out"
echo "build-image: $out ready after $(elapsed) (kernel $kernel_version, ${used_mib} MiB of files)" >&2
