// vnet_tap: the tap backend's ethdev, a DPDK vdev driver of our own (registered by vnet_tap.cc when
// the agent starts). It opens a persistent tap with IFF_VNET_HDR and TUNSETOFFLOAD (checksum, TSO4,
// TSO6) and reads and writes it with the virtio-net header (vnet_header.h), so that a TCP stream
// crosses the agent as 64 KB GSO packets in multi-segment mbufs, one syscall each, with the same
// offload metadata as on vhost-net, instead of DPDK's net_tap's one syscall and one software
// segmentation per MTU-sized frame.
//
// Devargs: iface=<tap name>,mac=<xx:xx:xx:xx:xx:xx>. The tap is made when it is missing and made
// persistent; an existing one (a pod's eth0 an earlier agent made, with net_tap or with this) is
// attached to. Probe runs in the calling thread's netns, where the tap is looked up and made.
//
// One Rx queue and any number of Tx queues (one per worker) share the tap's one fd: tun hands the
// frames its interface sends to its attached queues by flow hash, so a second attached fd would
// take frames nobody reads. Rx interrupts: the fd itself (readable whenever a frame waits).
#pragma once

#include <cstdint>
#include <string>

namespace dpcni::dataplane {

// The vdev driver's name; device names start with it ("vnet_tap3").
inline constexpr char kVnetTapDriver[] = "vnet_tap";

// The largest frame the kernel hands a tap reader: a GSO packet is at most 64 KiB (the tap's
// tso_max_size, which bounds gso_max_size), plus a VLAN tag.
inline constexpr uint32_t kVnetTapMaxFrame = 65536 + 4;

// Mbufs an Rx queue keeps posted for the next read: enough for the largest frame in mbufs of
// `data_room` bytes (RTE_MBUF_DEFAULT_DATAROOM: 33). A read takes as many as the frame fills and
// the queue replaces exactly those, so this is what a port holds of the pool while it exists.
constexpr uint32_t VnetTapRxHeldMbufs(uint32_t data_room) {
  return (kVnetTapMaxFrame + data_room - 1) / data_room;
}

// The devargs of a vnet_tap device for the tap `ifname` whose MAC (ours and the kernel
// interface's) is `mac`.
std::string VnetTapDevargs(const std::string& ifname, const std::string& mac);

// Why the last vnet_tap probe on this thread failed ("" if it did not): rte_eal_hotplug_add only
// returns an errno.
std::string VnetTapLastProbeError();

}  // namespace dpcni::dataplane
