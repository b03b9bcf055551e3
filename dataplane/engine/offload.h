// Carries a packet's Rx offload metadata over to its egress port. A virtio-user port on vhost-net
// hands over whole GSO packets (RTE_MBUF_F_RX_LRO with tso_segsz) and packets whose L4 checksum is
// only partial (RTE_MBUF_F_RX_L4_CKSUM_NONE: the checksum field holds just the pseudo-header sum).
// Such a packet leaves either with Tx offload requests the egress port accepts, or segmented and
// checksummed in software, so nothing oversized or half-checksummed reaches a port that cannot
// finish it.
#pragma once

#include <rte_gso.h>
#include <rte_mbuf.h>

#include <cstdint>

#include "dataplane/engine/counters.h"

namespace dpcni::dataplane {

// What an egress port was configured to do on Tx, read once when the port is attached.
struct EgressCaps {
  bool tcp_segmentation = false;
  bool ipv4_checksum = false;
  bool tcp_checksum = false;
  bool udp_checksum = false;
  uint16_t mtu = RTE_ETHER_MTU;
};

EgressCaps EgressCapsFromTxOffloads(uint64_t tx_offloads, uint16_t mtu);

// True when the packet carries metadata that PrepareForEgress must act on. Cheap enough to test per
// packet so that plain packets skip the offload path entirely.
inline bool HasOffloadMetadata(const rte_mbuf* packet) {
  return (packet->ol_flags & RTE_MBUF_F_RX_LRO) != 0 ||
         (packet->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_NONE;
}

// True when the packet asks the driver for a Tx offload, so rte_eth_tx_prepare must see it.
inline bool RequestsTxOffload(const rte_mbuf* packet) {
  return (packet->ol_flags &
          (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_L4_MASK | RTE_MBUF_F_TX_IP_CKSUM)) != 0;
}

struct EgressPackets {
  uint16_t count = 0;  // packets written to `out`; zero means the packet must be dropped
  DropReason drop_reason = DropReason::kOffloadFailed;
};

// Turns the Rx offload metadata of an IPv4 packet whose l2_len and l3_len are set (DecidePacket
// sets them) into what `caps` can take. On success the packets in `out` replace `packet`: either
// `packet` itself with Tx offload flags and lengths set, or its software GSO segments (then
// `packet` has been released). On failure `packet` is left to the caller to free. `gso` supplies
// the segment pools; its gso_size is overwritten per packet.
EgressPackets PrepareForEgress(rte_mbuf* packet, const EgressCaps& caps, rte_gso_ctx& gso,
                               rte_mbuf** out, uint16_t out_capacity);

}  // namespace dpcni::dataplane
