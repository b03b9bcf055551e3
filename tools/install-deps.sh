#!/usr/bin/env bash
# Installs everything dpcni needs to build, test and benchmark, from Debian's packages only.
# Used by the README's commands and by CI; safe to run again (apt skips what is present).
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  clang-14 libclang-rt-14-dev llvm-14 clang-format-14 clang-tidy-14
  dpdk dpdk-dev libdpdk-dev
  meson patch python3-pyelftools libnuma-dev libxdp-dev libbpf-dev libibverbs-dev
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  libyaml-cpp-dev libnl-3-dev libnl-route-3-dev libnl-nf-3-dev nlohmann-json3-dev prometheus-cpp-dev
  libnftables-dev nftables iptables conntrack
  libgtest-dev libgmock-dev googletest
  iproute2 iputils-ping iperf3 ethtool procps kmod
  containernetworking-plugins
  qemu-system-x86 debootstrap
  umoci containerd
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
