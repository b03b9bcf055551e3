#include "port/vnet_header.h"

#include <rte_mbuf_core.h>

namespace dpcni::dataplane {
namespace {

// Byte offsets of the checksum field in the TCP and UDP headers: where the kernel points
// csum_offset for them, and where we point it.
constexpr uint16_t kTcpChecksumOffset = 16;
constexpr uint16_t kUdpChecksumOffset = 6;
constexpr uint16_t kTcpMinHeader = 20;

// The header's 16-bit fields are in the host's byte order: a tap speaks legacy virtio (no
// VIRTIO_F_VERSION_1), whose fields are native-endian unless TUNSETVNETBE/LE says otherwise, and
// we set neither.

// Whether a partial checksum is the TCP or UDP checksum right behind the IP header, the one the
// engine finishes when it forwards the packet (CompleteChecksums in engine/offload.cc).
bool IsL4ChecksumTheEngineFinishes(const virtio_net_hdr& header, const FrameLayout& layout) {
  if (layout.l3 == FrameLayout::L3::kOther) return false;
  if (header.csum_start != layout.l2_len + layout.l3_len) return false;
  switch (layout.l4) {
    case FrameLayout::L4::kTcp:
      return header.csum_offset == kTcpChecksumOffset;
    case FrameLayout::L4::kUdp:
      return header.csum_offset == kUdpChecksumOffset;
    case FrameLayout::L4::kOther:
      return false;
  }
  return false;
}

}  // namespace

RxOffload RxOffloadFromVnetHeader(const virtio_net_hdr& header, const FrameLayout& layout) {
  RxOffload offload;
  if (VnetHeaderIsPlain(header)) return offload;
  const bool tcp_or_udp =
      layout.l3 != FrameLayout::L3::kOther &&
      (layout.l4 == FrameLayout::L4::kTcp || layout.l4 == FrameLayout::L4::kUdp);
  if ((header.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) != 0) {
    if (IsL4ChecksumTheEngineFinishes(header, layout)) {
      offload.ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_NONE;
    } else {
      offload.finish_checksum_here = true;
    }
  } else if ((header.flags & VIRTIO_NET_HDR_F_DATA_VALID) != 0 && tcp_or_udp) {
    offload.ol_flags |= RTE_MBUF_F_RX_L4_CKSUM_GOOD;
  }
  if (header.gso_type == VIRTIO_NET_HDR_GSO_NONE) return offload;

  // We announce TSO4 and TSO6 only (TUNSETOFFLOAD): no TSO_ECN, UFO or USO, so the kernel segments
  // those itself before they reach us. Anything else, or a GSO packet without a segment size, or
  // one whose checksum is not the partial TCP one that segmentation rewrites per segment, is not a
  // packet the pod's kernel made.
  const bool v4 =
      header.gso_type == VIRTIO_NET_HDR_GSO_TCPV4 && layout.l3 == FrameLayout::L3::kIpv4;
  const bool v6 =
      header.gso_type == VIRTIO_NET_HDR_GSO_TCPV6 && layout.l3 == FrameLayout::L3::kIpv6;
  if ((!v4 && !v6) || layout.l4 != FrameLayout::L4::kTcp || header.gso_size == 0 ||
      (offload.ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) != RTE_MBUF_F_RX_L4_CKSUM_NONE) {
    return {.valid = false};
  }
  offload.ol_flags |= RTE_MBUF_F_RX_LRO;
  offload.tso_segsz = header.gso_size;
  return offload;
}

TxHeader VnetHeaderFromTxRequest(const TxRequest& request) {
  TxHeader out;
  virtio_net_hdr& header = out.header;
  const uint64_t l4_request = request.ol_flags & RTE_MBUF_F_TX_L4_MASK;
  const bool segment = (request.ol_flags & RTE_MBUF_F_TX_TCP_SEG) != 0;
  const auto csum_start = static_cast<uint16_t>(request.l2_len + request.l3_len);
  if (segment) {
    // A GSO packet must carry the partial TCP checksum: the kernel's segmentation (tcp_gso_segment)
    // rewrites it per segment, and virtio_net_hdr_to_skb refuses TCPV4 without NEEDS_CSUM on the
    // paths that cannot guess where the transport header is.
    if (request.tso_segsz == 0 || request.l4_len < kTcpMinHeader ||
        (l4_request != RTE_MBUF_F_TX_L4_NO_CKSUM && l4_request != RTE_MBUF_F_TX_TCP_CKSUM)) {
      return {.valid = false};
    }
    header.gso_type = (request.ol_flags & RTE_MBUF_F_TX_IPV6) != 0 ? VIRTIO_NET_HDR_GSO_TCPV6
                                                                   : VIRTIO_NET_HDR_GSO_TCPV4;
    header.gso_size = request.tso_segsz;
    header.hdr_len = static_cast<uint16_t>(csum_start + request.l4_len);
    header.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
    header.csum_start = csum_start;
    header.csum_offset = kTcpChecksumOffset;
    return out;
  }
  switch (l4_request) {
    case RTE_MBUF_F_TX_L4_NO_CKSUM:
      return out;
    case RTE_MBUF_F_TX_TCP_CKSUM:
      header.csum_offset = kTcpChecksumOffset;
      break;
    case RTE_MBUF_F_TX_UDP_CKSUM:
      header.csum_offset = kUdpChecksumOffset;
      break;
    default:  // SCTP's CRC is no ones' complement sum: NEEDS_CSUM cannot ask for it
      return {.valid = false};
  }
  header.flags = VIRTIO_NET_HDR_F_NEEDS_CSUM;
  header.csum_start = csum_start;
  return out;
}

}  // namespace dpcni::dataplane
