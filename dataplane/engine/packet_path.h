// The per-packet forwarding decision, free of workers, queues and threads so that it can be tested
// packet by packet: parse Ethernet, answer ARP for the gateway, check the pod's source addresses,
// look the destination up and rewrite the packet for its next hop.
#pragma once

#include <rte_byteorder.h>
#include <rte_ether.h>
#include <rte_lpm.h>
#include <rte_mbuf.h>

#include <cstdint>

#include "dataplane/engine/counters.h"
#include "dataplane/engine/next_hop_table.h"

namespace dpcni::dataplane {

// What workers route with; the pointers stay valid for the engine's life, their contents change
// under RCU.
struct RoutingView {
  rte_lpm* lpm = nullptr;
  const NextHop* next_hops = nullptr;
  rte_be32_t gateway_ip = 0;
  rte_ether_addr gateway_mac{};
};

// The pod behind an ingress port: the only source addresses it may use.
struct IngressPod {
  uint16_t port_id = 0;
  rte_be32_t ip = 0;
  rte_ether_addr mac{};
};

enum class Action : uint8_t {
  kForward,        // rewritten for next_hop, send it on next_hop->port_id
  kReplyToSender,  // rewritten into a reply, send it back on the ingress port
  kDrop,           // count drop_reason on the ingress port and free it
};

struct Verdict {
  Action action = Action::kDrop;
  DropReason drop_reason = DropReason::kMalformed;
  const NextHop* next_hop = nullptr;
};

// Decides what to do with a packet received from `ingress` and rewrites it accordingly. A forwarded
// packet leaves with l2_len and l3_len set, ready for PrepareForEgress.
Verdict DecidePacket(const RoutingView& routing, const IngressPod& ingress, rte_mbuf* packet);

// RFC 1624 (eqn. 3): the header checksum after one 16-bit word changed from `old_word` to
// `new_word`. All three values are in network byte order.
inline rte_be16_t UpdateChecksum(rte_be16_t checksum, rte_be16_t old_word, rte_be16_t new_word) {
  // HC' = ~(~HC + ~m + m'), in one's complement arithmetic with end-around carry.
  uint32_t sum = static_cast<uint16_t>(~rte_be_to_cpu_16(checksum)) +
                 static_cast<uint16_t>(~rte_be_to_cpu_16(old_word)) + rte_be_to_cpu_16(new_word);
  sum = (sum & 0xffff) + (sum >> 16);
  sum = (sum & 0xffff) + (sum >> 16);
  return rte_cpu_to_be_16(static_cast<uint16_t>(~sum));
}

}  // namespace dpcni::dataplane
