// Per-worker packet counters. Each worker owns its cells and is their only writer, so the fast path
// bumps them with a relaxed load and store (no read-modify-write); readers sum every worker's
// cells.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "dataplane/engine/engine.h"

namespace dpcni::dataplane {

enum class DropReason : uint8_t {
  kSpoofedSource,        // a pod sent with a source IP or MAC that is not its own
  kNoRoute,              // no route to the destination
  kTtlExceeded,          // TTL would reach zero
  kNotIpv4,              // neither IPv4 nor ARP (IPv6, VLAN, ...)
  kArpIgnored,           // ARP that is not a request for the gateway
  kMalformed,            // truncated or inconsistent headers
  kTxFull,               // the egress Tx ring was full
  kOffloadFailed,        // segmentation or checksum preparation failed
  kMtuExceeded,          // a frame (not a GSO packet) larger than the egress port's MTU
  kNotForUs,             // a unicast frame on the uplink for another MAC
  kNeighbourQueueFull,   // no room left to hold the packet while its neighbour is resolved
  kNeighbourUnresolved,  // the neighbour never answered ARP; the packets held for it are dropped
  kNeighbourTableFull,   // no room for another neighbour
  kVxlanSpoofedSource,   // VXLAN from a node whose inner source is not in that node's pod CIDRs
  kVxlanUnknownNode,     // VXLAN from an address that is no remote node in VXLAN mode
  kVxlanBadHeader,       // VXLAN with a wrong VNI or flags, a bad length, or fragmented
  kUplinkSpoofedSource,  // from the uplink with a source in the node's pod CIDRs or the gateway's
  kCount,
};

inline constexpr size_t kDropReasonCount = static_cast<size_t>(DropReason::kCount);

constexpr std::string_view DropReasonName(DropReason reason) {
  switch (reason) {
    case DropReason::kSpoofedSource:
      return "spoofed_source";
    case DropReason::kNoRoute:
      return "no_route";
    case DropReason::kTtlExceeded:
      return "ttl_exceeded";
    case DropReason::kNotIpv4:
      return "not_ipv4";
    case DropReason::kArpIgnored:
      return "arp_ignored";
    case DropReason::kMalformed:
      return "malformed";
    case DropReason::kTxFull:
      return "tx_full";
    case DropReason::kOffloadFailed:
      return "offload_failed";
    case DropReason::kMtuExceeded:
      return "mtu_exceeded";
    case DropReason::kNotForUs:
      return "not_for_us";
    case DropReason::kNeighbourQueueFull:
      return "neighbour_queue_full";
    case DropReason::kNeighbourUnresolved:
      return "neighbour_unresolved";
    case DropReason::kNeighbourTableFull:
      return "neighbour_table_full";
    case DropReason::kVxlanSpoofedSource:
      return "vxlan_spoofed_source";
    case DropReason::kVxlanUnknownNode:
      return "vxlan_unknown_node";
    case DropReason::kVxlanBadHeader:
      return "vxlan_bad_header";
    case DropReason::kUplinkSpoofedSource:
      return "uplink_spoofed_source";
    case DropReason::kCount:
      break;
  }
  return "unknown";
}

// Things a port saw that are neither forwarding nor drops (PortCounters::events).
enum class PortEvent : uint8_t {
  kArpReplied,            // an ARP request answered on this port
  kArpRequested,          // an ARP request sent on this port
  kToNode,                // a packet for the node's uplink address, handed to the host port
  kVxlanEncapsulated,     // a packet (or GSO segment) sent in VXLAN to a remote node on this port
  kVxlanDecapsulated,     // a VXLAN packet from a remote node whose inner packet was taken in
  kIcmpErrorSent,         // an ICMP error sent back on this port about a packet dropped here
  kIcmpErrorRateLimited,  // an ICMP error not sent: the worker's rate limit was spent
  kCount,
};

inline constexpr size_t kPortEventCount = static_cast<size_t>(PortEvent::kCount);

constexpr std::string_view PortEventName(PortEvent event) {
  switch (event) {
    case PortEvent::kArpReplied:
      return "arp_replies";
    case PortEvent::kArpRequested:
      return "arp_requests";
    case PortEvent::kToNode:
      return "to_node";
    case PortEvent::kVxlanEncapsulated:
      return "vxlan_encapsulated";
    case PortEvent::kVxlanDecapsulated:
      return "vxlan_decapsulated";
    case PortEvent::kIcmpErrorSent:
      return "icmp_errors_sent";
    case PortEvent::kIcmpErrorRateLimited:
      return "icmp_errors_rate_limited";
    case PortEvent::kCount:
      break;
  }
  return "unknown";
}

// A counter with exactly one writing thread; any thread may read it.
class SingleWriterCounter {
 public:
  void Add(uint64_t amount) {
    value_.store(value_.load(std::memory_order_relaxed) + amount, std::memory_order_relaxed);
  }
  void Subtract(uint64_t amount) {
    value_.store(value_.load(std::memory_order_relaxed) - amount, std::memory_order_relaxed);
  }
  uint64_t Read() const { return value_.load(std::memory_order_relaxed); }
  // Only while the writer cannot touch the counter (its port is not attached).
  void Reset() { value_.store(0, std::memory_order_relaxed); }

 private:
  std::atomic<uint64_t> value_{0};
};

// One worker's view of one port.
struct PortCounterCells {
  SingleWriterCounter rx_packets;
  SingleWriterCounter rx_bytes;
  SingleWriterCounter tx_packets;
  SingleWriterCounter tx_bytes;
  std::array<SingleWriterCounter, kDropReasonCount> drops;
  std::array<SingleWriterCounter, kPortEventCount> events;

  void CountDrop(DropReason reason, uint64_t packets = 1) {
    drops[static_cast<size_t>(reason)].Add(packets);
  }
  void CountEvent(PortEvent event) { events[static_cast<size_t>(event)].Add(1); }

  void Reset() {
    for (SingleWriterCounter* counter : {&rx_packets, &rx_bytes, &tx_packets, &tx_bytes}) {
      counter->Reset();
    }
    for (SingleWriterCounter& drop : drops) {
      drop.Reset();
    }
    for (SingleWriterCounter& event : events) {
      event.Reset();
    }
  }

  // Adds these cells to `total`; drop reasons and events that never happened are left out of the
  // maps.
  void AddTo(PortCounters& total) const {
    total.rx_packets += rx_packets.Read();
    total.rx_bytes += rx_bytes.Read();
    total.tx_packets += tx_packets.Read();
    total.tx_bytes += tx_bytes.Read();
    for (size_t i = 0; i < kDropReasonCount; ++i) {
      if (uint64_t dropped = drops[i].Read(); dropped != 0) {
        total.drops[std::string(DropReasonName(static_cast<DropReason>(i)))] += dropped;
      }
    }
    for (size_t i = 0; i < kPortEventCount; ++i) {
      if (uint64_t seen = events[i].Read(); seen != 0) {
        total.events[std::string(PortEventName(static_cast<PortEvent>(i)))] += seen;
      }
    }
  }
};

}  // namespace dpcni::dataplane
