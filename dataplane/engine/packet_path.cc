#include "dataplane/engine/packet_path.h"

#include <rte_arp.h>
#include <rte_ip.h>


namespace dpcni::dataplane {
namespace {

constexpr Verdict Drop(DropReason reason) { return {.action = Action::kDrop, .drop_reason = reason}; }

// Decrements the TTL and patches the header checksum for the changed (TTL, protocol) word. The old
// word is assembled from the two bytes rather than reloaded after the byte store, which would stall
// on store forwarding.
void DecrementTtl(rte_ipv4_hdr* ip) {
  const uint16_t old_word = static_cast<uint16_t>(ip->time_to_live << 8 | ip->next_proto_id);
  const uint16_t new_word = old_word - 0x100;
  --ip->time_to_live;
  ip->hdr_checksum =
      UpdateChecksum(ip->hdr_checksum, rte_cpu_to_be_16(old_word), rte_cpu_to_be_16(new_word));
}

Verdict RouteIpv4(const RoutingView& routing, const IngressPod& ingress, rte_mbuf* packet,
                  rte_ether_hdr* ethernet) {
  constexpr uint32_t kL2Length = sizeof(rte_ether_hdr);
  if (packet->data_len < kL2Length + sizeof(rte_ipv4_hdr)) {
    return Drop(DropReason::kMalformed);
  }
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(ethernet + 1);
  const uint32_t l3_length = rte_ipv4_hdr_len(ip);
  const uint32_t total_length = rte_be_to_cpu_16(ip->total_length);
  if ((ip->version_ihl >> 4) != 4 || l3_length < sizeof(rte_ipv4_hdr) ||
      packet->data_len < kL2Length + l3_length || total_length < l3_length ||
      total_length > packet->pkt_len - kL2Length ||
      (packet->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) == RTE_MBUF_F_RX_IP_CKSUM_BAD) {
    return Drop(DropReason::kMalformed);
  }
  if (ip->src_addr != ingress.ip) {
    return Drop(DropReason::kSpoofedSource);
  }
  if (ip->time_to_live <= 1) {
    return Drop(DropReason::kTtlExceeded);
  }
  uint32_t next_hop_id;
  if (rte_lpm_lookup(routing.lpm, rte_be_to_cpu_32(ip->dst_addr), &next_hop_id) != 0) {
    return Drop(DropReason::kNoRoute);
  }
  const NextHop* next_hop = &routing.next_hops[next_hop_id];
  DecrementTtl(ip);
  ethernet->dst_addr = next_hop->dst_mac;
  ethernet->src_addr = next_hop->src_mac;
  packet->l2_len = kL2Length;
  packet->l3_len = l3_length;
  return {.action = Action::kForward, .next_hop = next_hop};
}

// Proxy ARP: every pod resolves the gateway to the one gateway MAC; nothing else is answered.
Verdict AnswerArp(const RoutingView& routing, const IngressPod& ingress, rte_mbuf* packet,
                  rte_ether_hdr* ethernet) {
  if (packet->data_len < sizeof(rte_ether_hdr) + sizeof(rte_arp_hdr)) {
    return Drop(DropReason::kMalformed);
  }
  auto* arp = reinterpret_cast<rte_arp_hdr*>(ethernet + 1);
  if (arp->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) ||
      arp->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != RTE_ETHER_ADDR_LEN ||
      arp->arp_plen != sizeof(rte_be32_t)) {
    return Drop(DropReason::kMalformed);
  }
  rte_arp_ipv4& body = arp->arp_data;
  if (arp->arp_opcode != RTE_BE16(RTE_ARP_OP_REQUEST) || body.arp_tip != routing.gateway_ip) {
    return Drop(DropReason::kArpIgnored);
  }
  // A probe (sender IP 0) is fine; any other sender IP must be the pod's own.
  if (body.arp_sip != 0 && body.arp_sip != ingress.ip) {
    return Drop(DropReason::kSpoofedSource);
  }
  arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
  body.arp_tha = body.arp_sha;
  body.arp_tip = body.arp_sip;
  body.arp_sha = routing.gateway_mac;
  body.arp_sip = routing.gateway_ip;
  ethernet->dst_addr = ethernet->src_addr;
  ethernet->src_addr = routing.gateway_mac;
  return {.action = Action::kReplyToSender};
}

}  // namespace

Verdict DecidePacket(const RoutingView& routing, const IngressPod& ingress, rte_mbuf* packet) {
  if (packet->data_len < sizeof(rte_ether_hdr)) {
    return Drop(DropReason::kMalformed);
  }
  auto* ethernet = rte_pktmbuf_mtod(packet, rte_ether_hdr*);
  if (!rte_is_same_ether_addr(&ethernet->src_addr, &ingress.mac)) {
    return Drop(DropReason::kSpoofedSource);
  }
  switch (ethernet->ether_type) {
    case RTE_BE16(RTE_ETHER_TYPE_IPV4):
      return RouteIpv4(routing, ingress, packet, ethernet);
    case RTE_BE16(RTE_ETHER_TYPE_ARP):
      return AnswerArp(routing, ingress, packet, ethernet);
    default:
      return Drop(DropReason::kNotIpv4);
  }
}

}  // namespace dpcni::dataplane
