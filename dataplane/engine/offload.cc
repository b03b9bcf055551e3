#include "dataplane/engine/offload.h"

#include <rte_ethdev.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>

#include <algorithm>

namespace dpcni::dataplane {
namespace {

constexpr uint64_t kRxOffloadFlags = RTE_MBUF_F_RX_LRO | RTE_MBUF_F_RX_L4_CKSUM_MASK;

// The flags that say how an mbuf's buffer is attached (a clone of another mbuf's, or an external
// buffer): they outlive any Tx request written over ol_flags. Without them rte_pktmbuf_free takes
// the mbuf for a direct one and neither detaches it nor releases the buffer it shares.
constexpr uint64_t kAttachmentFlags = RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL;

void SetTxFlags(rte_mbuf* packet, uint64_t tx_flags) {
  packet->ol_flags = (packet->ol_flags & kAttachmentFlags) | tx_flags;
}

rte_ipv4_hdr* Ipv4Header(rte_mbuf* packet) {
  return rte_pktmbuf_mtod_offset(packet, rte_ipv4_hdr*, packet->l2_len);
}

uint16_t L4Offset(const rte_mbuf* packet) { return packet->l2_len + packet->l3_len; }

// Writes the TCP or UDP checksum field of a packet whose l2/l3 lengths are set.
void SetL4Checksum(rte_mbuf* packet, uint8_t protocol, rte_be16_t checksum) {
  if (protocol == IPPROTO_TCP) {
    rte_pktmbuf_mtod_offset(packet, rte_tcp_hdr*, L4Offset(packet))->cksum = checksum;
  } else {
    rte_pktmbuf_mtod_offset(packet, rte_udp_hdr*, L4Offset(packet))->dgram_cksum = checksum;
  }
}

// Sets l4_len from the TCP or UDP header; false if the protocol is neither or the header does not
// sit whole in the first segment (virtio-user always puts the headers there).
bool ReadL4Length(rte_mbuf* packet, uint8_t protocol) {
  uint32_t l4_offset = L4Offset(packet);
  if (protocol == IPPROTO_TCP) {
    if (packet->data_len < l4_offset + sizeof(rte_tcp_hdr)) {
      return false;
    }
    const auto* tcp = rte_pktmbuf_mtod_offset(packet, const rte_tcp_hdr*, l4_offset);
    packet->l4_len = static_cast<uint64_t>(tcp->data_off >> 4) * 4;
    return packet->l4_len >= sizeof(rte_tcp_hdr) && packet->data_len >= l4_offset + packet->l4_len;
  }
  if (protocol == IPPROTO_UDP) {
    packet->l4_len = sizeof(rte_udp_hdr);
    return packet->data_len >= l4_offset + packet->l4_len;
  }
  return false;
}

// Leaves a (non-segmentation) packet with valid checksums: offloaded to the egress port where it
// can, computed here where it cannot. `ip_header_changed` is set for GSO segments, whose total
// length and id were rewritten.
void CompleteChecksums(rte_mbuf* packet, const EgressCaps& caps, bool ip_header_changed) {
  rte_ipv4_hdr* ip = Ipv4Header(packet);
  uint8_t protocol = ip->next_proto_id;
  uint64_t tx_flags = 0;
  if (ip_header_changed) {
    ip->hdr_checksum = 0;
    if (caps.ipv4_checksum) {
      tx_flags |= RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_IP_CKSUM;
    } else {
      ip->hdr_checksum = rte_ipv4_cksum(ip);
    }
  }
  bool offload_l4 = protocol == IPPROTO_TCP ? caps.tcp_checksum : caps.udp_checksum;
  if (offload_l4) {
    tx_flags |= RTE_MBUF_F_TX_IPV4 |
                (protocol == IPPROTO_TCP ? RTE_MBUF_F_TX_TCP_CKSUM : RTE_MBUF_F_TX_UDP_CKSUM);
    // Drivers finish from the pseudo-header sum; we write it ourselves rather than trust what the
    // sender left there (Linux and DPDK disagree on it for GSO packets).
    SetL4Checksum(packet, protocol, rte_ipv4_phdr_cksum(ip, tx_flags));
  } else {
    SetL4Checksum(packet, protocol, 0);
    SetL4Checksum(packet, protocol, rte_ipv4_udptcp_cksum_mbuf(packet, ip, L4Offset(packet)));
  }
  SetTxFlags(packet, tx_flags);
}

// Hands the whole GSO packet to an egress port that segments TCP itself.
void RequestSegmentation(rte_mbuf* packet, const EgressCaps& caps, uint16_t mss) {
  rte_ipv4_hdr* ip = Ipv4Header(packet);
  uint64_t tx_flags = RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_TCP_CKSUM;
  if (caps.ipv4_checksum) {
    tx_flags |= RTE_MBUF_F_TX_IP_CKSUM;
    ip->hdr_checksum = 0;
  }
  packet->tso_segsz = mss;
  SetTxFlags(packet, tx_flags);
  SetL4Checksum(packet, IPPROTO_TCP, rte_ipv4_phdr_cksum(ip, tx_flags));
}

// Splits a GSO packet into MSS-sized segments with rte_gso and finishes each one's checksums.
EgressPackets SegmentInSoftware(rte_mbuf* packet, const EgressCaps& caps, uint16_t mss,
                                rte_gso_ctx& gso, rte_mbuf** out, uint16_t out_capacity) {
  // Only a packet in a buffer of its own: rte_gso (DPDK 22.11, hdr_segment_init) copies the
  // packet's ol_flags into the header mbuf it allocates for each segment, how the packet's buffer
  // is attached included, and frees those headers as such attached mbufs when it fails partway
  // (found by tests/fuzz/engine/decide_packet_fuzz.cc, a crash in gso_do_segment). The ports we
  // poll deliver direct mbufs; a clone or an external buffer is dropped rather than risked.
  if (!RTE_MBUF_DIRECT(packet)) {
    return {};
  }
  SetTxFlags(packet, RTE_MBUF_F_TX_IPV4 | RTE_MBUF_F_TX_TCP_SEG);
  gso.gso_size = packet->l2_len + packet->l3_len + packet->l4_len + mss;
  int segments = rte_gso_segment(packet, &gso, out, out_capacity);
  if (segments < 0) {
    return {};
  }
  if (segments == 0) {  // nothing to split after all (payload fits one segment)
    CompleteChecksums(packet, caps, /*ip_header_changed=*/false);
    out[0] = packet;
    return {.count = 1};
  }
  // The segments reference the payload through indirect mbufs; drop our own reference.
  rte_pktmbuf_free(packet);
  for (int i = 0; i < segments; ++i) {
    CompleteChecksums(out[i], caps, /*ip_header_changed=*/true);
  }
  return {.count = static_cast<uint16_t>(segments)};
}

}  // namespace

EgressCaps EgressCapsFromTxOffloads(uint64_t tx_offloads, uint16_t mtu) {
  return {
      .tcp_segmentation = (tx_offloads & RTE_ETH_TX_OFFLOAD_TCP_TSO) != 0,
      .ipv4_checksum = (tx_offloads & RTE_ETH_TX_OFFLOAD_IPV4_CKSUM) != 0,
      .tcp_checksum = (tx_offloads & RTE_ETH_TX_OFFLOAD_TCP_CKSUM) != 0,
      .udp_checksum = (tx_offloads & RTE_ETH_TX_OFFLOAD_UDP_CKSUM) != 0,
      .mtu = mtu,
  };
}

EgressPackets PrepareForEgress(rte_mbuf* packet, const EgressCaps& caps, rte_gso_ctx& gso,
                               rte_mbuf** out, uint16_t out_capacity) {
  const uint64_t rx_flags = packet->ol_flags & kRxOffloadFlags;
  rte_ipv4_hdr* ip = Ipv4Header(packet);
  // A fragment carries no offload state worth keeping (Linux never sends partial fragments).
  if ((ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
    packet->ol_flags &= ~kRxOffloadFlags;
    out[0] = packet;
    return {.count = 1};
  }
  uint8_t protocol = ip->next_proto_id;
  if (!ReadL4Length(packet, protocol)) {
    return {.drop_reason = protocol == IPPROTO_TCP || protocol == IPPROTO_UDP
                               ? DropReason::kMalformed
                               : DropReason::kOffloadFailed};
  }
  const uint32_t headers = packet->l3_len + packet->l4_len;
  if (rte_be_to_cpu_16(ip->total_length) < headers) {
    return {.drop_reason = DropReason::kMalformed};
  }
  const uint32_t payload = rte_be_to_cpu_16(ip->total_length) - headers;
  if ((rx_flags & RTE_MBUF_F_RX_LRO) != 0 && protocol == IPPROTO_TCP) {
    // The sender's MSS, unless the egress MTU carries less (a pod's MTU may exceed the uplink's).
    const auto mtu_mss = static_cast<uint16_t>(caps.mtu - headers);
    const uint16_t mss =
        packet->tso_segsz != 0 ? std::min<uint16_t>(packet->tso_segsz, mtu_mss) : mtu_mss;
    if (payload > mss) {
      if (caps.tcp_segmentation) {
        RequestSegmentation(packet, caps, mss);
        out[0] = packet;
        return {.count = 1};
      }
      return SegmentInSoftware(packet, caps, mss, gso, out, out_capacity);
    }
  }
  // What is not cut into segments must fit the egress port as it is.
  if (rte_be_to_cpu_16(ip->total_length) > caps.mtu) {
    return {.drop_reason = DropReason::kMtuExceeded};
  }
  // A coalesced packet's checksum is not trustworthy either, so LRO also lands here.
  CompleteChecksums(packet, caps, /*ip_header_changed=*/false);
  out[0] = packet;
  return {.count = 1};
}

}  // namespace dpcni::dataplane
