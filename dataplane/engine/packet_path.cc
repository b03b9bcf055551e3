#include "dataplane/engine/packet_path.h"

#include <rte_hash_crc.h>
#include <rte_icmp.h>
#include <rte_ip.h>
#include <rte_tcp.h>
#include <rte_udp.h>
#include <rte_vect.h>
#include <rte_vxlan.h>

#include <cstring>
#include <optional>

namespace dpcni::dataplane {
namespace {

constexpr uint32_t kL2Length = sizeof(rte_ether_hdr);

constexpr Verdict Drop(DropReason reason) {
  return {.action = Action::kDrop, .drop_reason = reason};
}

bool AllowedFrom(const NextHop& next_hop, const IngressPort& ingress) {
  return (next_hop.allowed_ingress & RoleMask(ingress.role)) != 0;
}

// The next hop for `destination` (network byte order) that a packet from `ingress` may take.
const NextHop* Lookup(const RoutingView& routing, const IngressPort& ingress,
                      rte_be32_t destination) {
  uint32_t next_hop_id;
  if (rte_lpm_lookup(routing.lpm, rte_be_to_cpu_32(destination), &next_hop_id) != 0) {
    next_hop_id = routing.default_next_hop->load(std::memory_order_acquire);
    if (next_hop_id == kNoNextHop) {
      return nullptr;
    }
  }
  const NextHop* next_hop = &routing.next_hops[next_hop_id];
  return AllowedFrom(*next_hop, ingress) ? next_hop : nullptr;
}

// The next hop back to the node's kernel for replies of the flows it forwarded, or nullptr.
const NextHop* KernelNextHop(const RoutingView& routing) {
  const uint32_t id = routing.kernel_next_hop->load(std::memory_order_acquire);
  return id == kNoNextHop ? nullptr : &routing.next_hops[id];
}

// Where a packet from a pod or the uplink goes instead of its route when it answers a flow the
// kernel forwarded: back to the kernel; nullptr when it answers none. Only ports that such flows
// are answered on pay for the lookup.
const NextHop* KernelReturn(const RoutingView& routing, const IngressPort& ingress,
                            const rte_mbuf* packet, const rte_ipv4_hdr* ip, uint64_t now) {
  if (routing.flows == nullptr || !routing.flows->Watched(ingress.port_id)) {
    return nullptr;
  }
  PacketFlow flow;
  if (!FlowOf(packet, ip, &flow) || !routing.flows->MatchReply(flow.key, flow.tcp_flags, now)) {
    return nullptr;
  }
  return KernelNextHop(routing);
}

// A TCP SYN from a pod or the uplink opens a connection outside the kernel; a closing flow the
// kernel forwarded with the same tuple after its DNAT is over (FlowTable::NoteDirectOpening). Only
// SYNs pay for the lookup, and only while the table holds flows.
void NoteDirectOpening(const RoutingView& routing, const rte_mbuf* packet, const rte_ipv4_hdr* ip) {
  if (ip->next_proto_id != IPPROTO_TCP || routing.flows == nullptr || routing.flows->Empty()) {
    return;
  }
  PacketFlow flow;
  if (FlowOf(packet, ip, &flow) && (flow.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn) {
    routing.flows->NoteDirectOpening(flow.key.Reversed());
  }
}

// Headers must be consistent: version, header length, total length within the frame, and the
// driver's verdict on the header checksum.
bool WellFormed(const rte_mbuf* packet, const rte_ipv4_hdr* ip) {
  const uint32_t l3_length = rte_ipv4_hdr_len(ip);
  const uint32_t total_length = rte_be_to_cpu_16(ip->total_length);
  return (ip->version_ihl >> 4) == 4 && l3_length >= sizeof(rte_ipv4_hdr) &&
         packet->data_len >= kL2Length + l3_length && total_length >= l3_length &&
         total_length <= packet->pkt_len - kL2Length &&
         (packet->ol_flags & RTE_MBUF_F_RX_IP_CKSUM_MASK) != RTE_MBUF_F_RX_IP_CKSUM_BAD;
}

// The source address check of an IPv4 packet from `ingress`: a pod may send from its own address
// only. The uplink may not carry the node's pod CIDRs or the gateway: only this node's pods have
// those addresses, and they never come in on the uplink, so someone on the uplink network is
// forging them (to reach a pod as its neighbour, or to make a pod answer another). VXLAN from a
// node carries that node's address outside; its inner source has a check of its own
// (kVxlanSpoofedSource). Returns the drop reason of a refused source, nothing when it passes.
std::optional<DropReason> RefusedSource(const RoutingView& routing, const IngressPort& ingress,
                                        const rte_ipv4_hdr* ip) {
  if (ingress.role == PortRole::kPod && ip->src_addr != ingress.ip) {
    return DropReason::kSpoofedSource;
  }
  if (ingress.role == PortRole::kUplink && routing.uplink_denied_sources != nullptr &&
      routing.uplink_denied_sources->Denies(ip->src_addr)) {
    return DropReason::kUplinkSpoofedSource;
  }
  return std::nullopt;
}

// Whether a packet fits its next hop: GSO packets are cut to the egress MTU later
// (PrepareForEgress); any other frame must fit.
bool FitsNextHop(const rte_mbuf* packet, const rte_ipv4_hdr* ip, const NextHop& next_hop) {
  return rte_be_to_cpu_16(ip->total_length) <= next_hop.caps.mtu ||
         (packet->ol_flags & RTE_MBUF_F_RX_LRO) != 0;
}

// The uplink neighbour whose MAC a packet for a kNeighbour next hop takes: the route's next hop, or
// the destination itself on the uplink network.
rte_be32_t NeighbourFor(const NextHop& next_hop, const rte_ipv4_hdr* ip) {
  return next_hop.via != 0 ? next_hop.via : ip->dst_addr;
}

// Routes an IPv4 packet whose headers WellFormed accepted. `decapsulated`: the inner packet of
// VXLAN from a remote node, which may only reach local pods (or the kernel, for a flow it
// forwarded).
Verdict RouteChecked(const RoutingView& routing, const IngressPort& ingress, rte_mbuf* packet,
                     rte_ether_hdr* ethernet, rte_ipv4_hdr* ip, uint64_t now, bool decapsulated) {
  const NextHop* next_hop = nullptr;
  bool to_kernel = false;
  if (ingress.role != PortRole::kHost) {
    next_hop = KernelReturn(routing, ingress, packet, ip, now);
    to_kernel = next_hop != nullptr;
  }
  if (!to_kernel) {
    next_hop = Lookup(routing, ingress, ip->dst_addr);
    if (ingress.role != PortRole::kHost && next_hop != nullptr) {
      NoteDirectOpening(routing, packet, ip);
    }
  }
  // Pods' next hops are the only direct ones the uplink may take (the host port's is for pods
  // only): nothing that came out of a tunnel goes to the node, back out or into another tunnel.
  if (next_hop == nullptr || (decapsulated && next_hop->kind != NextHopKind::kDirect)) {
    return {.drop_reason = DropReason::kNoRoute, .decapsulated = decapsulated};
  }
  if (!FitsNextHop(packet, ip, *next_hop)) {
    // With DF the sender does path MTU discovery (RFC 1191) and is told the MTU that fits. Without
    // it a router would fragment; the engine does not, and drops the packet silently.
    const bool dont_fragment = (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_DF_FLAG)) != 0;
    const bool answer =
        dont_fragment && !decapsulated && MayAnswerWithIcmpError(packet, ethernet, ip);
    return {.drop_reason = DropReason::kMtuExceeded,
            .decapsulated = decapsulated,
            .icmp_error = answer ? IcmpError::kFragmentationNeeded : IcmpError::kNone,
            .icmp_mtu = next_hop->caps.mtu};
  }
  packet->l2_len = kL2Length;
  packet->l3_len = rte_ipv4_hdr_len(ip);
  if (next_hop->kind == NextHopKind::kLocal) {
    // Delivered to the node rather than routed through it: the TTL stays as it came.
    ethernet->src_addr = next_hop->src_mac;
    ethernet->dst_addr = next_hop->dst_mac;
    return {.action = Action::kToNode, .next_hop = next_hop};
  }
  if (ip->time_to_live <= 1) {
    // Checked before any rewrite: the answer goes to the frame's Ethernet source and quotes the
    // header as it came.
    return {.drop_reason = DropReason::kTtlExceeded,
            .decapsulated = decapsulated,
            .icmp_error = !decapsulated && MayAnswerWithIcmpError(packet, ethernet, ip)
                              ? IcmpError::kTimeExceeded
                              : IcmpError::kNone};
  }
  ethernet->src_addr = next_hop->src_mac;
  DecrementTtl(ip);
  if (next_hop->kind == NextHopKind::kDirect) {
    ethernet->dst_addr = next_hop->dst_mac;
    return {.action = to_kernel ? Action::kToKernel : Action::kForward,
            .next_hop = next_hop,
            .decapsulated = decapsulated};
  }
  if (next_hop->kind == NextHopKind::kVxlan) {
    ethernet->dst_addr = next_hop->dst_mac;
    return {.action = Action::kEncapsulate, .next_hop = next_hop};
  }
  const rte_be32_t neighbour = NeighbourFor(*next_hop, ip);
  if (routing.neighbours->Resolve(neighbour, &ethernet->dst_addr)) {
    return {.action = Action::kForward, .next_hop = next_hop};
  }
  return {.action = Action::kResolve, .neighbour_ip = neighbour, .next_hop = next_hop};
}

// RFC 7348 section 5: the I flag says the VNI is valid; the other flag bits are reserved, and
// ignored on receipt.
constexpr rte_be32_t kVxlanFlagI = RTE_BE32(0x08000000);
constexpr rte_be32_t kVxlanVniMask = RTE_BE32(0xffffff00);

// A VXLAN packet for the node's uplink address, whose UDP header starts at `udp_offset`: checks it,
// strips the outer headers and routes the inner packet to a local pod.
Verdict Decapsulate(const RoutingView& routing, const IngressPort& ingress, rte_mbuf* packet,
                    const rte_ipv4_hdr* outer_ip, uint32_t udp_offset, uint64_t now) {
  constexpr Verdict kBadHeader{.drop_reason = DropReason::kVxlanBadHeader};
  const uint32_t inner_offset = udp_offset + sizeof(rte_udp_hdr) + sizeof(rte_vxlan_hdr);
  // The inner Ethernet and IPv4 headers must sit in the first segment with the outer ones, as the
  // rest of the path reads them there (every driver we take VXLAN from puts them there).
  if (packet->data_len < inner_offset + kL2Length + sizeof(rte_ipv4_hdr)) {
    return kBadHeader;
  }
  // We send with DF; a fragmented tunnel packet is not ours to reassemble.
  if ((outer_ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_MF_FLAG | RTE_IPV4_HDR_OFFSET_MASK)) !=
      0) {
    return kBadHeader;
  }
  const auto* udp = rte_pktmbuf_mtod_offset(packet, const rte_udp_hdr*, udp_offset);
  const uint32_t udp_length = rte_be_to_cpu_16(udp->dgram_len);
  if (udp_length + rte_ipv4_hdr_len(outer_ip) != rte_be_to_cpu_16(outer_ip->total_length) ||
      udp_length < sizeof(rte_udp_hdr) + sizeof(rte_vxlan_hdr) + kL2Length + sizeof(rte_ipv4_hdr)) {
    return kBadHeader;
  }
  // A zero checksum is the usual case; a driver that checked a non-zero one and found it wrong
  // has seen a damaged packet. (Without such a driver the inner checksums still protect the data.)
  if (udp->dgram_cksum != 0 &&
      (packet->ol_flags & RTE_MBUF_F_RX_L4_CKSUM_MASK) == RTE_MBUF_F_RX_L4_CKSUM_BAD) {
    return kBadHeader;
  }
  const auto* vxlan = reinterpret_cast<const rte_vxlan_hdr*>(udp + 1);
  if ((vxlan->vx_flags & kVxlanFlagI) == 0 ||
      (vxlan->vx_vni & kVxlanVniMask) != routing.vxlan_vni_word) {
    return kBadHeader;
  }
  const auto* inner_ethernet = reinterpret_cast<const rte_ether_hdr*>(vxlan + 1);
  if (inner_ethernet->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4)) {
    return kBadHeader;  // dpcni nodes tunnel IPv4 only (no ARP: the inner MACs are fixed)
  }
  const auto* inner_ip = reinterpret_cast<const rte_ipv4_hdr*>(inner_ethernet + 1);
  // The inner source names the node that may send it: its prefix must be routed in VXLAN to the
  // outer source. One LPM lookup; the node list is read only to name the drop.
  uint32_t next_hop_id;
  if (rte_lpm_lookup(routing.lpm, rte_be_to_cpu_32(inner_ip->src_addr), &next_hop_id) != 0 ||
      routing.next_hops[next_hop_id].kind != NextHopKind::kVxlan ||
      routing.next_hops[next_hop_id].tunnel_destination != outer_ip->src_addr) {
    const VxlanNodes* nodes = routing.vxlan_nodes == nullptr
                                  ? nullptr
                                  : routing.vxlan_nodes->load(std::memory_order_acquire);
    const bool known = nodes != nullptr && nodes->Contains(outer_ip->src_addr);
    return {.drop_reason = known ? DropReason::kVxlanSpoofedSource : DropReason::kVxlanUnknownNode};
  }
  // Ethernet padding of a short outer frame would trail the inner one: cut it first.
  const uint32_t inner_length = udp_length - sizeof(rte_udp_hdr) - sizeof(rte_vxlan_hdr);
  const uint32_t excess = packet->pkt_len - inner_offset - inner_length;
  if (excess != 0 && rte_pktmbuf_trim(packet, static_cast<uint16_t>(excess)) != 0) {
    return kBadHeader;
  }
  rte_pktmbuf_adj(packet, static_cast<uint16_t>(inner_offset));
  // The driver's checksum verdicts were about the outer headers.
  packet->ol_flags &= ~(RTE_MBUF_F_RX_IP_CKSUM_MASK | RTE_MBUF_F_RX_L4_CKSUM_MASK |
                        RTE_MBUF_F_RX_OUTER_L4_CKSUM_MASK | RTE_MBUF_F_RX_OUTER_IP_CKSUM_BAD);
  auto* ethernet = rte_pktmbuf_mtod(packet, rte_ether_hdr*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(ethernet + 1);
  if (!WellFormed(packet, ip)) {
    return {.drop_reason = DropReason::kMalformed, .decapsulated = true};
  }
  return RouteChecked(routing, ingress, packet, ethernet, ip, now, /*decapsulated=*/true);
}

// For the node's uplink address: whether it is VXLAN (a UDP packet to the VXLAN port, or the first
// fragment of one), and where its UDP header starts.
bool IsVxlan(const RoutingView& routing, const rte_mbuf* packet, const rte_ipv4_hdr* ip,
             uint32_t* udp_offset) {
  if (ip->next_proto_id != IPPROTO_UDP || routing.vxlan_port == 0 ||
      (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
    return false;
  }
  *udp_offset = kL2Length + rte_ipv4_hdr_len(ip);
  if (packet->data_len < *udp_offset + sizeof(rte_udp_hdr)) {
    return false;
  }
  return rte_pktmbuf_mtod_offset(packet, const rte_udp_hdr*, *udp_offset)->dst_port ==
         routing.vxlan_port;
}

Verdict RouteIpv4(const RoutingView& routing, const IngressPort& ingress, rte_mbuf* packet,
                  rte_ether_hdr* ethernet, uint64_t now) {
  if (packet->data_len < kL2Length + sizeof(rte_ipv4_hdr)) {
    return Drop(DropReason::kMalformed);
  }
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(ethernet + 1);
  if (!WellFormed(packet, ip)) {
    return Drop(DropReason::kMalformed);
  }
  if (const std::optional<DropReason> refused = RefusedSource(routing, ingress, ip)) {
    return Drop(*refused);
  }
  if (uint32_t udp_offset; ingress.role == PortRole::kUplink && ip->dst_addr == ingress.ip &&
                           IsVxlan(routing, packet, ip, &udp_offset)) {
    return Decapsulate(routing, ingress, packet, ip, udp_offset, now);
  }
  return RouteChecked(routing, ingress, packet, ethernet, ip, now, /*decapsulated=*/false);
}

// Turns an ARP request into the reply that `mac` has the address asked for.
Verdict ReplyToArp(rte_ether_hdr* ethernet, rte_arp_hdr* arp, const rte_ether_addr& mac) {
  rte_arp_ipv4& body = arp->arp_data;
  const rte_be32_t asked_for = body.arp_tip;
  arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
  body.arp_tha = body.arp_sha;
  body.arp_tip = body.arp_sip;
  body.arp_sha = mac;
  body.arp_sip = asked_for;
  ethernet->dst_addr = ethernet->src_addr;
  ethernet->src_addr = mac;
  return {.action = Action::kReplyToSender};
}

bool IsRequest(const rte_arp_hdr* arp) { return arp->arp_opcode == RTE_BE16(RTE_ARP_OP_REQUEST); }

// Proxy ARP for a pod: it resolves the gateway to the one gateway MAC; nothing else is answered.
Verdict AnswerPodArp(const RoutingView& routing, const IngressPort& pod, rte_ether_hdr* ethernet,
                     rte_arp_hdr* arp) {
  const rte_arp_ipv4& body = arp->arp_data;
  if (!IsRequest(arp) || body.arp_tip != routing.gateway_ip) {
    return Drop(DropReason::kArpIgnored);
  }
  // A probe (sender IP 0) is fine; any other sender IP must be the pod's own.
  if (body.arp_sip != 0 && body.arp_sip != pod.ip) {
    return Drop(DropReason::kSpoofedSource);
  }
  return ReplyToArp(ethernet, arp, routing.gateway_mac);
}

// The kernel routes the pod CIDR on-link through the host port and so asks for each address it
// sends to: answered with the gateway MAC for every address the engine would forward the kernel's
// packets to.
Verdict AnswerHostArp(const RoutingView& routing, const IngressPort& host, rte_ether_hdr* ethernet,
                      rte_arp_hdr* arp) {
  if (!IsRequest(arp) || Lookup(routing, host, arp->arp_data.arp_tip) == nullptr) {
    return Drop(DropReason::kArpIgnored);
  }
  return ReplyToArp(ethernet, arp, routing.gateway_mac);
}

Verdict DecideArp(const RoutingView& routing, const IngressPort& ingress, rte_mbuf* packet,
                  rte_ether_hdr* ethernet) {
  if (packet->data_len < kL2Length + sizeof(rte_arp_hdr)) {
    return Drop(DropReason::kMalformed);
  }
  auto* arp = reinterpret_cast<rte_arp_hdr*>(ethernet + 1);
  if (arp->arp_hardware != RTE_BE16(RTE_ARP_HRD_ETHER) ||
      arp->arp_protocol != RTE_BE16(RTE_ETHER_TYPE_IPV4) || arp->arp_hlen != RTE_ETHER_ADDR_LEN ||
      arp->arp_plen != sizeof(rte_be32_t)) {
    return Drop(DropReason::kMalformed);
  }
  switch (ingress.role) {
    case PortRole::kPod:
      return AnswerPodArp(routing, ingress, ethernet, arp);
    case PortRole::kHost:
      return AnswerHostArp(routing, ingress, ethernet, arp);
    case PortRole::kUplink:
      return {.action = Action::kNeighbourArp};
  }
  return Drop(DropReason::kArpIgnored);
}

}  // namespace

Verdict DecidePacket(const RoutingView& routing, const IngressPort& ingress, rte_mbuf* packet,
                     uint64_t now) {
  if (packet->data_len < kL2Length) {
    return Drop(DropReason::kMalformed);
  }
  auto* ethernet = rte_pktmbuf_mtod(packet, rte_ether_hdr*);
  if (ingress.role == PortRole::kPod) {
    if (!rte_is_same_ether_addr(&ethernet->src_addr, &ingress.mac)) {
      return Drop(DropReason::kSpoofedSource);
    }
  } else if (ingress.role == PortRole::kUplink) {
    // The uplink may be promiscuous (af_packet): frames between other hosts are none of ours.
    if (!rte_is_same_ether_addr(&ethernet->dst_addr, &ingress.mac) &&
        !rte_is_multicast_ether_addr(&ethernet->dst_addr)) {
      return Drop(DropReason::kNotForUs);
    }
  }
  switch (ethernet->ether_type) {
    case RTE_BE16(RTE_ETHER_TYPE_IPV4):
      return RouteIpv4(routing, ingress, packet, ethernet, now);
    case RTE_BE16(RTE_ETHER_TYPE_ARP):
      return DecideArp(routing, ingress, packet, ethernet);
    default:
      return Drop(DropReason::kNotIpv4);
  }
}

namespace {

// The first bytes of an options-free IPv4 packet's TCP header, up to its flags.
constexpr uint32_t kTcpFlagsEnd = kL2Length + sizeof(rte_ipv4_hdr) + 14;

// RouteBurst's first pass over one packet: whether it may take the common case, judged from its
// headers alone (the route comes later), and if so its destination in host byte order. Every check
// here is one DecidePacket makes on the way to kForward; a packet failing one goes to DecidePacket,
// which names the drop or takes the rarer path.
bool CommonCaseHeaders(const RoutingView& routing, const IngressPort& ingress,
                       const rte_mbuf* packet, bool syn_needs_lookup, uint32_t* destination) {
  if (packet->data_len < kL2Length + sizeof(rte_ipv4_hdr)) {
    return false;
  }
  const auto* ethernet = rte_pktmbuf_mtod(packet, const rte_ether_hdr*);
  const auto* ip = reinterpret_cast<const rte_ipv4_hdr*>(ethernet + 1);
  // No IPv4 options: the rewrite sets l3_len to the bare header.
  if (ethernet->ether_type != RTE_BE16(RTE_ETHER_TYPE_IPV4) ||
      ip->version_ihl != RTE_IPV4_VHL_DEF || !WellFormed(packet, ip) ||
      RefusedSource(routing, ingress, ip).has_value()) {
    return false;
  }
  switch (ingress.role) {
    case PortRole::kPod:
      if (!rte_is_same_ether_addr(&ethernet->src_addr, &ingress.mac)) {
        return false;
      }
      break;
    case PortRole::kUplink:
      // Multicast (which DecidePacket takes) and the node's own address (VXLAN, or handed to the
      // kernel) are not the common case.
      if (!rte_is_same_ether_addr(&ethernet->dst_addr, &ingress.mac) ||
          ip->dst_addr == ingress.ip) {
        return false;
      }
      break;
    case PortRole::kHost:
      break;
  }
  // A SYN may end a closing flow of the kernel's (NoteDirectOpening): DecidePacket looks it up.
  // So does a TCP header cut short, to keep this check simple.
  if (syn_needs_lookup && ip->next_proto_id == IPPROTO_TCP &&
      (ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK)) == 0 &&
      (packet->data_len < kTcpFlagsEnd ||
       (rte_pktmbuf_mtod_offset(packet, const rte_tcp_hdr*, kL2Length + sizeof(rte_ipv4_hdr))
            ->tcp_flags &
        kTcpSyn) != 0)) {
    return false;
  }
  *destination = rte_be_to_cpu_32(ip->dst_addr);
  return true;
}

// The last neighbour RouteBurst resolved: a burst to the uplink usually goes to one router.
struct ResolvedNeighbour {
  rte_be32_t ip = 0;
  rte_ether_addr mac{};
  bool valid = false;
};

// RouteBurst's second pass over a packet whose headers passed, with its next hop id: rewrites it
// and returns the next hop, or returns nullptr with the packet untouched.
const NextHop* RouteCommonCase(const RoutingView& routing, const IngressPort& ingress,
                               rte_mbuf* packet, uint32_t next_hop_id, ResolvedNeighbour* last) {
  if (next_hop_id == kNoNextHop) {
    return nullptr;
  }
  const NextHop* next_hop = &routing.next_hops[next_hop_id];
  auto* ethernet = rte_pktmbuf_mtod(packet, rte_ether_hdr*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(ethernet + 1);
  if (!AllowedFrom(*next_hop, ingress) || ip->time_to_live <= 1 ||
      !FitsNextHop(packet, ip, *next_hop)) {
    return nullptr;
  }
  if (next_hop->kind == NextHopKind::kDirect) {
    // dst_mac and src_mac lie next to each other, as in the Ethernet header: one copy of 12 bytes.
    constexpr size_t kMacs = size_t{2} * RTE_ETHER_ADDR_LEN;
    static_assert(offsetof(NextHop, src_mac) == offsetof(NextHop, dst_mac) + RTE_ETHER_ADDR_LEN);
    static_assert(offsetof(rte_ether_hdr, src_addr) == RTE_ETHER_ADDR_LEN);
    std::memcpy(ethernet, &next_hop->dst_mac, kMacs);
  } else if (next_hop->kind == NextHopKind::kNeighbour) {
    const rte_be32_t neighbour = NeighbourFor(*next_hop, ip);
    if (!last->valid || last->ip != neighbour) {
      last->valid = routing.neighbours->Resolve(neighbour, &last->mac);
      last->ip = neighbour;
      if (!last->valid) {
        return nullptr;
      }
    }
    ethernet->dst_addr = last->mac;
    ethernet->src_addr = next_hop->src_mac;
  } else {
    return nullptr;  // the node's address, VXLAN
  }
  DecrementTtl(ip);
  packet->l2_len = kL2Length;
  packet->l3_len = sizeof(rte_ipv4_hdr);
  return next_hop;
}

}  // namespace

void RouteBurst(const RoutingView& routing, const IngressPort& ingress, rte_mbuf* const* packets,
                uint16_t count, const NextHop** routed) {
  std::fill_n(routed, count, nullptr);
  bool syn_needs_lookup = false;
  if (routing.flows != nullptr) {
    if (ingress.role == PortRole::kHost || routing.flows->Watched(ingress.port_id)) {
      return;
    }
    syn_needs_lookup = !routing.flows->Empty();
  }
  // First pass: the headers, gathering the destinations of the packets that passed.
  uint32_t destinations[kMaxBurstSize + 3];
  uint16_t positions[kMaxBurstSize];
  uint16_t candidates = 0;
  for (uint16_t i = 0; i < count; ++i) {
    if (CommonCaseHeaders(routing, ingress, packets[i], syn_needs_lookup,
                          &destinations[candidates])) {
      positions[candidates++] = i;
    }
  }
  // The lookups, four at a time; a miss takes the default route (kNoNextHop: none). The last
  // group is padded with 0.0.0.0, whose result is ignored.
  std::fill_n(&destinations[candidates], 3, 0);
  const uint32_t default_next_hop = routing.default_next_hop->load(std::memory_order_acquire);
  uint32_t next_hop_ids[kMaxBurstSize + 3];
  for (uint16_t k = 0; k < candidates; k += 4) {
    rte_xmm_t group;
    std::memcpy(group.u32, &destinations[k], sizeof(group.u32));
    rte_lpm_lookupx4(routing.lpm, group.x, &next_hop_ids[k], default_next_hop);
  }
  // Second pass: the next hops, and the rewrite.
  ResolvedNeighbour last;
  for (uint16_t k = 0; k < candidates; ++k) {
    const uint16_t i = positions[k];
    routed[i] = RouteCommonCase(routing, ingress, packets[i], next_hop_ids[k], &last);
  }
}

namespace {

// Reads the first `length` bytes of the L4 header at `offset` in the first segment, or nullptr.
template <typename Header>
const Header* L4Header(const rte_mbuf* packet, uint32_t offset, uint32_t length = sizeof(Header)) {
  if (packet->data_len < offset + length) {
    return nullptr;
  }
  return rte_pktmbuf_mtod_offset(packet, const Header*, offset);
}

// Ports of TCP, UDP and SCTP sit in the first four bytes of their headers, in the same order.
bool HasPorts(uint8_t protocol) {
  return protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_SCTP;
}

// ICMP errors (RFC 792) that quote the packet they are about.
bool IsIcmpError(uint8_t type) {
  return type == kIcmpDestinationUnreachable || type == kIcmpTimeExceeded ||
         type == kIcmpParameterProblem;
}

// The flow an ICMP error quotes: the quoted packet's own key, reversed.
bool QuotedFlow(const rte_mbuf* packet, uint32_t offset, FlowKey* key) {
  const auto* quoted = L4Header<rte_ipv4_hdr>(packet, offset);
  if (quoted == nullptr || (quoted->version_ihl >> 4) != 4) {
    return false;
  }
  const uint32_t quoted_l4 = offset + rte_ipv4_hdr_len(quoted);
  *key = FlowKey{.source = quoted->dst_addr,
                 .destination = quoted->src_addr,
                 .protocol = quoted->next_proto_id};
  if (HasPorts(quoted->next_proto_id)) {
    const auto* ports = L4Header<rte_udp_hdr>(packet, quoted_l4, 4);
    if (ports == nullptr) {
      return false;
    }
    key->source_port = ports->dst_port;
    key->destination_port = ports->src_port;
  }
  return true;
}

}  // namespace

bool FlowOf(const rte_mbuf* packet, const rte_ipv4_hdr* ip, PacketFlow* flow) {
  if ((ip->fragment_offset & RTE_BE16(RTE_IPV4_HDR_OFFSET_MASK)) != 0) {
    return false;  // no L4 header: the flow's first fragment carried it
  }
  const uint32_t l4 = static_cast<uint32_t>(reinterpret_cast<const uint8_t*>(ip) -
                                            rte_pktmbuf_mtod(packet, const uint8_t*)) +
                      rte_ipv4_hdr_len(ip);
  *flow = PacketFlow{.key = FlowKey{.source = ip->src_addr,
                                    .destination = ip->dst_addr,
                                    .protocol = ip->next_proto_id}};
  switch (ip->next_proto_id) {
    case IPPROTO_TCP: {
      const auto* tcp = L4Header<rte_tcp_hdr>(packet, l4);
      if (tcp == nullptr) return false;
      flow->key.source_port = tcp->src_port;
      flow->key.destination_port = tcp->dst_port;
      flow->tcp_flags = tcp->tcp_flags;
      return true;
    }
    case IPPROTO_UDP:
    case IPPROTO_SCTP: {
      const auto* ports = L4Header<rte_udp_hdr>(packet, l4, 4);
      if (ports == nullptr) return false;
      flow->key.source_port = ports->src_port;
      flow->key.destination_port = ports->dst_port;
      return true;
    }
    case IPPROTO_ICMP: {
      const auto* icmp = L4Header<rte_icmp_hdr>(packet, l4);
      if (icmp == nullptr) return false;
      if (icmp->icmp_type == RTE_IP_ICMP_ECHO_REQUEST ||
          icmp->icmp_type == RTE_IP_ICMP_ECHO_REPLY) {
        // The identifier names the exchange in both directions.
        flow->key.source_port = icmp->icmp_ident;
        flow->key.destination_port = icmp->icmp_ident;
        return true;
      }
      if (IsIcmpError(icmp->icmp_type)) {
        flow->icmp_error = true;
        return QuotedFlow(packet, l4 + sizeof(rte_icmp_hdr), &flow->key);
      }
      return true;
    }
    default:
      return true;
  }
}

namespace {

// Whether replies that come in through `toward_source` (the hop the forward direction leaves by:
// a pod's port, or the uplink) would be routed to `destination` on a way other than the kernel's.
bool RepliesBypassKernel(const RoutingView& routing, const NextHop& kernel,
                         const NextHop& toward_source, rte_be32_t destination) {
  const IngressPort reply_ingress{.port_id = toward_source.port_id,
                                  .role = toward_source.kind == NextHopKind::kNeighbour ||
                                                  toward_source.kind == NextHopKind::kVxlan
                                              ? PortRole::kUplink
                                              : PortRole::kPod};
  const NextHop* reply_route = Lookup(routing, reply_ingress, destination);
  return reply_route == nullptr || reply_route->port_id != kernel.port_id;
}

}  // namespace

bool KernelFlowOf(const RoutingView& routing, const rte_mbuf* packet, const NextHop& next_hop,
                  KernelFlow* flow) {
  const NextHop* kernel = KernelNextHop(routing);
  if (routing.flows == nullptr || kernel == nullptr) {
    return false;
  }
  const auto* ip = rte_pktmbuf_mtod_offset(packet, const rte_ipv4_hdr*, packet->l2_len);
  PacketFlow forward;
  // An ICMP error the kernel forwards belongs to a flow it tracks already.
  if (!FlowOf(packet, ip, &forward) || forward.icmp_error) {
    return false;
  }
  // The replies come in where this packet goes out, and are routed to its source from there.
  if (!RepliesBypassKernel(routing, *kernel, next_hop, ip->src_addr)) {
    return false;
  }
  *flow = KernelFlow{.reply = forward.key.Reversed(),
                     .reply_port = next_hop.port_id,
                     .tcp_flags = forward.tcp_flags};
  return true;
}

bool KernelFlowOfReply(const RoutingView& routing, const FlowKey& reply, KernelFlow* flow) {
  const NextHop* kernel = KernelNextHop(routing);
  if (routing.flows == nullptr || kernel == nullptr) {
    return false;
  }
  // Where the replies come from: the route toward their source, as the kernel's packets take it.
  const NextHop* source = Lookup(routing, IngressPort{.role = PortRole::kHost}, reply.source);
  if (source == nullptr || source->port_id == kernel->port_id ||
      !RepliesBypassKernel(routing, *kernel, *source, reply.destination)) {
    return false;
  }
  // A connection the kernel tracks is past its opening: an ACK, as a forwarded packet would show.
  *flow = KernelFlow{.reply = reply, .reply_port = source->port_id, .tcp_flags = kTcpAck};
  return true;
}

Verdict AnswerNodeArp(const IngressPort& uplink, rte_mbuf* packet) {
  rte_arp_hdr* arp = ArpHeader(packet);
  const rte_arp_ipv4& body = arp->arp_data;
  // A request from the node's own address is another host claiming it (gratuitous), not a question.
  if (!IsRequest(arp) || body.arp_tip != uplink.ip || body.arp_sip == uplink.ip) {
    return Drop(DropReason::kArpIgnored);
  }
  return ReplyToArp(rte_pktmbuf_mtod(packet, rte_ether_hdr*), arp, uplink.mac);
}

}  // namespace dpcni::dataplane

namespace dpcni::dataplane {

uint16_t VxlanSourcePort(const rte_mbuf* packet) {
  // Linux's udp_flow_src_port does the same with the skb hash: scale a 32-bit hash into the range.
  constexpr uint32_t kLowest = 49152;
  constexpr uint32_t kCount = 65536 - kLowest;
  uint32_t hash;
  if ((packet->ol_flags & RTE_MBUF_F_RX_RSS_HASH) != 0) {
    hash = packet->hash.rss;
  } else {
    const auto* ip = rte_pktmbuf_mtod_offset(packet, const rte_ipv4_hdr*, packet->l2_len);
    PacketFlow flow;
    if (!FlowOf(packet, ip, &flow)) {
      // A later fragment: the addresses alone (its first fragment may take another path, as on
      // Linux).
      flow.key = FlowKey{
          .source = ip->src_addr, .destination = ip->dst_addr, .protocol = ip->next_proto_id};
    }
    hash = rte_hash_crc(&flow.key, sizeof(flow.key), 0);
  }
  return static_cast<uint16_t>(kLowest + ((static_cast<uint64_t>(hash) * kCount) >> 32));
}

Verdict EncapsulateVxlan(const RoutingView& routing, const NextHop& next_hop, rte_mbuf** packet,
                         uint16_t source_port, rte_mempool* header_pool) {
  rte_mbuf* inner = *packet;
  const uint32_t inner_length = inner->pkt_len;
  // Read before the headers go in front: the inner IPv4 header may then be in another segment.
  const uint8_t tos =
      rte_pktmbuf_mtod_offset(inner, const rte_ipv4_hdr*, kL2Length)->type_of_service;
  char* front = nullptr;
  // Only a buffer that is ours alone may be written in front of the data: a clone (indirect mbuf,
  // as GSO payload segments are) or an external buffer shares its headroom with others.
  if (RTE_MBUF_DIRECT(inner) && rte_mbuf_refcnt_read(inner) == 1) {
    front = rte_pktmbuf_prepend(inner, kVxlanOverhead);
  }
  rte_mbuf* head = inner;
  if (front == nullptr) {
    head = rte_pktmbuf_alloc(header_pool);
    if (head == nullptr) {
      return Drop(DropReason::kOffloadFailed);
    }
    front = rte_pktmbuf_append(head, kVxlanOverhead);
    if (front == nullptr || rte_pktmbuf_chain(head, inner) != 0) {
      rte_pktmbuf_free(head);  // chain failed: `inner` is not linked to it
      return Drop(DropReason::kOffloadFailed);
    }
    head->port = inner->port;
  }
  // Nothing is left for the driver to do: the inner checksums are complete, the outer one is
  // computed here (20 bytes), and UDP goes without one. Keep only the flags that say how the
  // buffer is attached.
  head->ol_flags &= RTE_MBUF_F_INDIRECT | RTE_MBUF_F_EXTERNAL;
  head->l2_len = kL2Length;
  head->l3_len = sizeof(rte_ipv4_hdr);

  auto* ethernet = reinterpret_cast<rte_ether_hdr*>(front);
  ethernet->src_addr = next_hop.outer_src_mac;
  ethernet->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(ethernet + 1);
  ip->version_ihl = RTE_IPV4_VHL_DEF;
  ip->type_of_service = tos;  // DSCP and ECN follow the inner packet (RFC 6040's normal mode)
  ip->total_length = rte_cpu_to_be_16(static_cast<uint16_t>(
      inner_length + sizeof(rte_ipv4_hdr) + sizeof(rte_udp_hdr) + sizeof(rte_vxlan_hdr)));
  ip->packet_id = 0;  // DF is set: an atomic datagram needs no unique id (RFC 6864)
  ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
  ip->time_to_live = 64;
  ip->next_proto_id = IPPROTO_UDP;
  ip->hdr_checksum = 0;
  ip->src_addr = next_hop.tunnel_source;
  ip->dst_addr = next_hop.tunnel_destination;
  ip->hdr_checksum = rte_ipv4_cksum(ip);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  udp->src_port = rte_cpu_to_be_16(source_port);
  udp->dst_port = routing.vxlan_port;
  udp->dgram_len = rte_cpu_to_be_16(
      static_cast<uint16_t>(inner_length + sizeof(rte_udp_hdr) + sizeof(rte_vxlan_hdr)));
  udp->dgram_cksum = 0;
  auto* vxlan = reinterpret_cast<rte_vxlan_hdr*>(udp + 1);
  vxlan->vx_flags = kVxlanFlagI;
  vxlan->vx_vni = routing.vxlan_vni_word;
  *packet = head;
  if (routing.neighbours->Resolve(next_hop.via, &ethernet->dst_addr)) {
    return {.action = Action::kForward, .next_hop = &next_hop};
  }
  return {.action = Action::kResolve, .neighbour_ip = next_hop.via, .next_hop = &next_hop};
}

}  // namespace dpcni::dataplane
