// The virtio-net header a tap opened with IFF_VNET_HDR puts before every frame, and the mbuf
// offload metadata it stands for. Pure functions (no EAL, no device), so that the conversions the
// tap backend's port (vnet_tap.h) makes on every packet are unit-tested on their own.
//
// Rx (the kernel wrote the frame): the header says how the pod's kernel left it. gso_type TCPV4 or
// TCPV6 with gso_size: a whole GSO packet, up to 64 KB, still to be cut into gso_size segments;
// NEEDS_CSUM: the L4 checksum field holds only the pseudo-header sum, the rest of the sum is ours
// to finish from csum_start, into csum_start + csum_offset; DATA_VALID: the checksum was verified.
// They become what DPDK's virtio PMD makes of the same header on vhost-net (RTE_MBUF_F_RX_LRO with
// tso_segsz, RTE_MBUF_F_RX_L4_CKSUM_NONE, RTE_MBUF_F_RX_L4_CKSUM_GOOD), so that the engine's
// offload path (engine/offload.h) treats both backends alike.
//
// Tx (we write the frame): the mbuf's Tx offload requests become the header that asks the pod's
// kernel to finish the packet: RTE_MBUF_F_TX_TCP_SEG a GSO packet the kernel segments (or, as the
// receiving end of a local TCP connection, takes whole), an L4 checksum request NEEDS_CSUM.
#pragma once

#include <cstdint>

namespace dpcni::dataplane {

// The kernel's struct virtio_net_hdr, byte for byte: linux/virtio_net.h is no C++ header (a field
// of its control-queue header is named `class`). The legacy 10 bytes, without num_buffers, which
// only mergeable Rx buffers use (tun never merges): the size a vnet tap is set to
// (TUNSETVNETHDRSZ).
struct virtio_net_hdr {
  uint8_t flags = 0;
  uint8_t gso_type = 0;
  uint16_t hdr_len = 0;      // Ethernet, IP and TCP headers of a GSO packet
  uint16_t gso_size = 0;     // payload bytes per segment
  uint16_t csum_start = 0;   // where the checksum to finish starts
  uint16_t csum_offset = 0;  // where, from csum_start, it goes
};
inline constexpr uint32_t kVnetHeaderSize = sizeof(virtio_net_hdr);
static_assert(kVnetHeaderSize == 10);

// Its flags and GSO types (the virtio specification's, as linux/virtio_net.h names them).
inline constexpr uint8_t VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
inline constexpr uint8_t VIRTIO_NET_HDR_F_DATA_VALID = 2;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_NONE = 0;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV4 = 1;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_UDP = 3;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_TCPV6 = 4;
inline constexpr uint8_t VIRTIO_NET_HDR_GSO_ECN = 0x80;

// Whether the header asks for nothing: most frames of a quiet pod (ARP, ICMP, ACKs whose checksum
// the kernel computed), which skip parsing altogether.
inline bool VnetHeaderIsPlain(const virtio_net_hdr& header) {
  return header.flags == 0 && header.gso_type == VIRTIO_NET_HDR_GSO_NONE;
}

// Where a frame's headers are, as rte_net_get_ptype finds them (VLAN tags and IPv6 extension
// headers included in l2_len and l3_len).
struct FrameLayout {
  enum class L3 : uint8_t { kOther, kIpv4, kIpv6 };
  enum class L4 : uint8_t { kOther, kTcp, kUdp };
  L3 l3 = L3::kOther;
  L4 l4 = L4::kOther;
  uint16_t l2_len = 0;
  uint16_t l3_len = 0;
};

struct RxOffload {
  // False: a header the kernel only sends to a reader that announced more offloads than we do
  // (UDP fragmentation offload, TCP with ECN, a GSO packet that is not TCP): the frame is dropped.
  bool valid = true;
  uint64_t ol_flags = 0;
  uint16_t tso_segsz = 0;
  // The partial checksum sits where the engine does not finish one (another protocol, a tunnel's
  // inner header): the Rx side completes it in software, from csum_start into csum_start +
  // csum_offset, as the kernel would have.
  bool finish_checksum_here = false;
};

// The mbuf metadata for a frame read with `header`, whose layout is `layout`.
RxOffload RxOffloadFromVnetHeader(const virtio_net_hdr& header, const FrameLayout& layout);

// What a Tx request needs of an mbuf.
struct TxRequest {
  uint64_t ol_flags = 0;
  uint16_t l2_len = 0;
  uint16_t l3_len = 0;
  uint16_t l4_len = 0;
  uint16_t tso_segsz = 0;
};

struct TxHeader {
  // False: a request the port never advertised (SCTP checksum, segmentation without MSS or TCP
  // header length): the packet is dropped rather than handed over half-done.
  bool valid = true;
  virtio_net_hdr header{};
};

// The header to write before a frame whose mbuf asks for `request`. The IPv4 header checksum is not
// among them: the port does not offer it (the kernel never computes one for a frame it receives).
TxHeader VnetHeaderFromTxRequest(const TxRequest& request);

}  // namespace dpcni::dataplane
