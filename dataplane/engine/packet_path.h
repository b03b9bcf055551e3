// The per-packet forwarding decision, free of workers, queues and threads so that it can be tested
// packet by packet: parse Ethernet, answer ARP (the gateway for pods, routed addresses for the host
// port), check a pod's source addresses, look the destination up, resolve an uplink neighbour and
// rewrite the packet for its next hop.
#pragma once

#include <rte_arp.h>
#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_lpm.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <vector>

#include "dataplane/engine/counters.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/flow_table.h"
#include "dataplane/engine/icmp_error.h"
#include "dataplane/engine/neighbour_table.h"
#include "dataplane/engine/next_hop_table.h"

namespace dpcni::dataplane {

// Outer Ethernet (14) + IPv4 (20) + UDP (8) + VXLAN (8): what encapsulation adds to a frame.
inline constexpr uint16_t kVxlanOverhead = 50;

// The addresses of the remote nodes reached in VXLAN, sorted: the decapsulation path tells a
// packet from an unknown node from a spoofed one with it. Immutable once published.
struct VxlanNodes {
  std::vector<rte_be32_t> addresses;  // network byte order, sorted as numbers in that order
  bool Contains(rte_be32_t address) const {
    return std::binary_search(addresses.begin(), addresses.end(), address);
  }
};

// The IPv4 sources no packet from the uplink may carry: the node's pod CIDRs and the pods' gateway
// address, the way Linux's strict reverse-path filter would refuse them on that interface. Filled
// once, before the uplink is polled (the poll list that adds it is published with release
// semantics), and never changed after, so workers read it without RCU.
struct UplinkSourceFilter {
  static constexpr size_t kMaxPrefixes = 9;  // kMaxUplinkPodCidrs and the gateway's /32
  struct Prefix {
    rte_be32_t network = 0;  // network byte order, like the addresses it is compared with
    rte_be32_t mask = 0;
  };
  std::array<Prefix, kMaxPrefixes> prefixes{};
  size_t count = 0;

  bool Denies(rte_be32_t source) const {
    for (size_t i = 0; i < count; ++i) {
      if ((source & prefixes[i].mask) == prefixes[i].network) {
        return true;
      }
    }
    return false;
  }
};

// What workers route with; the pointers stay valid for the engine's life, their contents change
// under RCU.
struct RoutingView {
  rte_lpm* lpm = nullptr;
  // The default route lives outside the LPM, which takes prefix lengths 1..32 only: the next hop
  // of addresses it does not match, or kNoNextHop.
  const std::atomic<uint32_t>* default_next_hop = nullptr;
  const NextHop* next_hops = nullptr;
  NeighbourTable* neighbours = nullptr;
  rte_be32_t gateway_ip = 0;
  rte_ether_addr gateway_mac{};
  // Flows the node's kernel forwarded from the host port (nullptr: none are tracked), and the next
  // hop that takes their replies back to it: the host port, for pods and the uplink (kNoNextHop
  // while there is no host port).
  FlowTable* flows = nullptr;
  const std::atomic<uint32_t>* kernel_next_hop = nullptr;
  // The cluster's VXLAN network: the UDP port (network byte order) and the VXLAN header's VNI word
  // (VNI << 8, network byte order), and the nodes it reaches (nullptr: none yet).
  rte_be16_t vxlan_port = 0;
  rte_be32_t vxlan_vni_word = 0;
  const std::atomic<const VxlanNodes*>* vxlan_nodes = nullptr;
  // Sources refused on the uplink (nullptr: none).
  const UplinkSourceFilter* uplink_denied_sources = nullptr;
};

// A port the workers poll, and what its role asks of its traffic.
struct IngressPort {
  uint16_t port_id = 0;
  PortRole role = PortRole::kPod;
  rte_be32_t ip = 0;     // pod: its address (the only source it may use); uplink: the node's
  rte_ether_addr mac{};  // pod: its MAC (the only source it may use); uplink: the port's own
};

enum class Action : uint8_t {
  kForward,        // rewritten for next_hop, send it on next_hop->port_id
  kEncapsulate,    // next_hop is kVxlan: the inner packet is rewritten (TTL, inner MACs); finish
                   // its offloads with next_hop->caps, then EncapsulateVxlan each packet
  kToNode,         // for the node's uplink address: as kForward, and counted as such
  kToKernel,       // a reply of a flow the node's kernel forwarded: as kForward (to the host
                   // port), and counted as a flow-table hit
  kResolve,        // routed to the uplink, but neighbour_ip has no MAC yet: hold it until it does
  kReplyToSender,  // an ARP request turned into its reply, send it back on the ingress port
  kNeighbourArp,   // ARP from the uplink: learn from its sender, then AnswerNodeArp
  kDrop,           // count drop_reason on the ingress port and free it
};

struct Verdict {
  Action action = Action::kDrop;
  DropReason drop_reason = DropReason::kMalformed;
  rte_be32_t neighbour_ip = 0;  // kResolve
  const NextHop* next_hop = nullptr;
  // A VXLAN packet from a remote node was taken apart: the action is about its inner packet, which
  // now starts at the mbuf's data (count vxlan_decapsulated on the uplink).
  bool decapsulated = false;
  // kDrop: the ICMP error its sender may be told about (MayAnswerWithIcmpError held), sent back on
  // the ingress port unless the rate limit says otherwise. The packet's Ethernet and IPv4 headers
  // are as they came in, to quote and to answer.
  IcmpError icmp_error = IcmpError::kNone;
  uint16_t icmp_mtu = 0;  // kFragmentationNeeded: the next hop's MTU, to put in the error
};

// Decides what to do with a packet received from `ingress` and rewrites it accordingly. A routed
// packet (kForward, kToNode, kToKernel, kResolve, kEncapsulate) leaves with l2_len and l3_len set,
// ready for PrepareForEgress, and with its source MAC written; kResolve still lacks its destination
// MAC. A packet from a pod or the uplink that answers a flow the kernel forwarded is kToKernel
// whatever its route, and refreshes that flow at `now` (TSC).
//
// A packet from the uplink whose source is one routing.uplink_denied_sources refuses (the node's
// pod CIDRs, the gateway) is dropped kUplinkSpoofedSource before anything else looks at it.
//
// A VXLAN packet for the node's uplink address (UDP to routing.vxlan_port) is decapsulated: its
// header must carry the I flag and the cluster's VNI (else kVxlanBadHeader), its outer source must
// be a remote VXLAN node (else kVxlanUnknownNode) and its inner source must fall in a prefix routed
// in VXLAN to that node (else kVxlanSpoofedSource). The inner packet is then routed as if it came
// in on the uplink, but to local pods only (or back to the kernel for a flow it forwarded): never
// to the node, the host port or out again.
//
// A routed packet whose TTL would reach zero is dropped kTtlExceeded with icmp_error kTimeExceeded,
// one with DF set that exceeds the next hop's MTU (and is no GSO packet) kMtuExceeded with
// kFragmentationNeeded and icmp_mtu, when its sender may be told (never for the inner packet of
// VXLAN: the answer would have to go back in a tunnel). A packet without DF that does not fit is
// dropped kMtuExceeded without an error: the engine does not fragment.
Verdict DecidePacket(const RoutingView& routing, const IngressPort& ingress, rte_mbuf* packet,
                     uint64_t now);

// The common case of a whole burst, decided the way DecidePacket would but with the burst's route
// lookups done together (rte_lpm_lookupx4: four tbl24 reads in flight at once) and without a
// Verdict per packet: an IPv4 packet without options, well formed, from a pod (its own MAC and
// address) or the uplink (to its MAC, not for the node's address, from no denied source), routed
// directly (a pod, the kernel) or to an uplink neighbour whose MAC is known, that fits the next
// hop's MTU and has TTL to spare. Such a packet is rewritten exactly as DecidePacket rewrites it
// for kForward, and routed[i] is its next hop. Every other packet is left untouched with routed[i]
// null, for DecidePacket to decide: ARP, drops, ICMP errors, VXLAN, the node's address, neighbours
// to resolve, and a TCP SYN while flows are tracked (FlowTable::NoteDirectOpening).
//
// A burst from the host port while flows are tracked (the worker keeps the kernel's flows), or from
// a port that a tracked flow is answered on (FlowTable::Watched), is left to DecidePacket whole.
// `count` is at most kMaxBurstSize.
void RouteBurst(const RoutingView& routing, const IngressPort& ingress, rte_mbuf* const* packets,
                uint16_t count, const NextHop** routed);

// The flow an IPv4 packet belongs to, in the direction it travels: its own addresses and ports, or
// for an ICMP error, the reverse of the packet it quotes (the error travels back along that flow).
// False when it has none to use: a non-first fragment, or headers cut short. `ip` is the packet's
// IPv4 header, whose length and total length DecidePacket has checked.
struct PacketFlow {
  FlowKey key{};
  uint8_t tcp_flags = 0;
  bool icmp_error = false;
};
bool FlowOf(const rte_mbuf* packet, const rte_ipv4_hdr* ip, PacketFlow* flow);

// For a packet from the host port that DecidePacket routed toward `next_hop` (kForward or
// kResolve): whether its replies would bypass the kernel, which forwarded it, and if so the flow to
// keep so that they do not. Replies already routed to the host port need no entry.
bool KernelFlowOf(const RoutingView& routing, const rte_mbuf* packet, const NextHop& next_hop,
                  KernelFlow* flow);

// The same for a connection the kernel NATs already, known by its reply 5-tuple (conntrack's):
// the replies come in where their source is routed (a pod's port, or the uplink), and need the
// entry unless their destination is routed to the kernel anyway.
bool KernelFlowOfReply(const RoutingView& routing, const FlowKey& reply, KernelFlow* flow);

// The outer UDP source port for an inner IPv4 packet whose l2_len is set: a hash of its flow (the
// RSS hash when the driver gave one), in 49152..65535, so that the network's ECMP spreads flows
// while each flow keeps one path (RFC 7348 section 5).
uint16_t VxlanSourcePort(const rte_mbuf* packet);

// Wraps an inner frame (its checksums complete, no offload requests) in VXLAN for `next_hop`
// (kVxlan): outer Ethernet, IPv4 (DF, TTL 64) and UDP (checksum 0, which RFC 7348 allows over
// IPv4) from `source_port`. The headers go into the packet's headroom when it owns its buffer and
// has room, else into a new first segment from `header_pool`, so `*packet` may change. Returns
// kForward with the outer destination MAC written, kResolve for the outer next hop (neighbour_ip),
// or kDrop (kOffloadFailed: no mbuf for the headers) with `*packet` still the caller's to free.
Verdict EncapsulateVxlan(const RoutingView& routing, const NextHop& next_hop, rte_mbuf** packet,
                         uint16_t source_port, rte_mempool* header_pool);

// The ARP header of a packet DecidePacket returned kNeighbourArp for (it checked the lengths).
inline rte_arp_hdr* ArpHeader(rte_mbuf* packet) {
  return rte_pktmbuf_mtod_offset(packet, rte_arp_hdr*, sizeof(rte_ether_hdr));
}

// After learning from it: turns an ARP request for the node's address on the uplink into the reply
// (kReplyToSender); anything else is kDrop with arp_ignored.
Verdict AnswerNodeArp(const IngressPort& uplink, rte_mbuf* packet);

// Decrements the TTL and patches the header checksum (RFC 1624) for the (TTL, protocol) word, which
// drops by 0x0100: the checksum, its complement, rises by as much. One's complement sums come out
// the same in either byte order (RFC 1071, section 2(B)), so the addition is done on the stored
// bytes as they are, with the network-order constant and an end-around carry: no byte swaps.
inline void DecrementTtl(rte_ipv4_hdr* ip) {
  uint32_t sum = uint32_t{ip->hdr_checksum} + RTE_BE16(0x0100);
  sum = (sum & 0xffff) + (sum >> 16);
  ip->hdr_checksum = static_cast<rte_be16_t>(sum);
  --ip->time_to_live;
}

}  // namespace dpcni::dataplane
