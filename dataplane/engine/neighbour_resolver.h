// Resolving neighbours on the uplink network with ARP: the owner side of the neighbour table.
//
// All of it runs on one thread, the worker that polls the uplink (it receives the ARP answers), so
// none of it needs a lock. Other workers hand over packets whose neighbour has no MAC yet through
// an rte_ring (multi-producer, single consumer); the owner holds them, a few per neighbour and a
// bounded number in all, sends ARP requests (at most one per neighbour per retry interval), and
// when an answer comes, writes the MAC into the table and sends what it held. Timers age reachable
// entries to stale, re-confirm stale ones that are in use, give up on neighbours that do not answer
// and forget unused ones. Time is the TSC, passed in by the caller.
#pragma once

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_ring.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/engine/counters.h"
#include "dataplane/engine/neighbour_table.h"
#include "dataplane/engine/offload.h"

namespace dpcni::dataplane {

// The node on the uplink network: the source of ARP requests and the egress of resolved packets.
struct UplinkAddress {
  uint16_t port_id = 0;
  rte_ether_addr mac{};
  rte_be32_t ip = 0;
  EgressCaps caps{};
};

struct NeighbourTiming {
  uint64_t reachable_cycles = 0;  // a confirmed MAC goes stale after this long
  uint64_t retry_cycles = 0;      // least time between two ARP requests for one neighbour
};

// Where the resolver's output goes: the owner worker's Tx buffers and counters.
class NeighbourSink {
 public:
  // A held packet whose neighbour answered; its destination MAC is written.
  virtual void ForwardResolved(rte_mbuf* packet, uint16_t ingress_port) = 0;
  // An ARP request to send on the uplink.
  virtual void SendArpRequest(rte_mbuf* request) = 0;
  // A packet that will not be sent: count `reason` on its ingress port and free it.
  virtual void DropHeld(rte_mbuf* packet, uint16_t ingress_port, DropReason reason) = 0;

 protected:
  ~NeighbourSink() = default;
};

class NeighbourResolver {
 public:
  static constexpr uint8_t kHeldPerNeighbour = 4;
  static constexpr uint32_t kHeldInAll = 256;
  // Unanswered ARP requests after which a neighbour is given up (incomplete) or forgotten (stale).
  static constexpr uint8_t kMaxProbes = 3;
  static constexpr unsigned kHandOverRingSize = 1024;

  // `arp_pool` supplies ARP requests; it must outlive the Tx rings they are sent on.
  static absl::StatusOr<std::unique_ptr<NeighbourResolver>> Create(const std::string& name,
                                                                   NeighbourTable& table,
                                                                   rte_mempool* arp_pool,
                                                                   const NeighbourTiming& timing);
  // Frees every packet still held or handed over.
  ~NeighbourResolver();
  NeighbourResolver(const NeighbourResolver&) = delete;
  NeighbourResolver& operator=(const NeighbourResolver&) = delete;

  // Control plane, before any worker polls the uplink or routes to it.
  void SetUplink(const UplinkAddress& uplink) { uplink_ = uplink; }
  const UplinkAddress& uplink() const { return uplink_; }

  // Any worker: hands over a routed packet (destination MAC still to be written) whose neighbour
  // `neighbour_ip` has no MAC yet. False if the hand-over ring is full: the packet stays the
  // caller's.
  bool HandOver(rte_mbuf* packet, rte_be32_t neighbour_ip, uint16_t ingress_port);

  // The owner, every poll round: takes in handed-over packets and runs the timers.
  void Service(uint64_t now, NeighbourSink& sink);
  // The owner: an ARP packet from `sender_ip`/`sender_mac` arrived on the uplink. Refreshes the
  // sender if it is tracked (and sends what waited for it); returns whether it was.
  bool Learn(rte_be32_t sender_ip, const rte_ether_addr& sender_mac, uint64_t now,
             NeighbourSink& sink);

  uint32_t held() const { return held_in_all_; }

 private:
  struct HandedOver {
    rte_mbuf* packet;
    rte_be32_t neighbour_ip;
    uint16_t ingress_port;
    uint16_t unused;
  };
  static_assert(sizeof(HandedOver) % 4 == 0, "rte_ring elements are multiples of 4 bytes");

  struct HeldPacket {
    rte_mbuf* packet = nullptr;
    uint16_t ingress_port = 0;
  };

  // What the owner keeps per table position.
  struct Pending {
    uint64_t last_probe = 0;
    uint64_t last_used = 0;  // while stale: the last scan that found the entry used
    bool used_since_probe = false;
    uint8_t probes = 0;  // ARP requests since the MAC was last confirmed
    uint8_t held = 0;
    std::array<HeldPacket, kHeldPerNeighbour> packets;
  };

  struct RingDeleter {
    void operator()(rte_ring* ring) const { rte_ring_free(ring); }
  };

  NeighbourResolver(NeighbourTable& table, rte_mempool* arp_pool, const NeighbourTiming& timing);

  void Hold(const HandedOver& handed, uint64_t now, NeighbourSink& sink);
  // Runs one neighbour's timers; returns false if it was removed.
  bool Age(uint32_t position, uint64_t now, NeighbourSink& sink);
  void Probe(uint32_t position, uint64_t now, NeighbourSink& sink);
  void SendHeld(uint32_t position, const rte_ether_addr& mac, NeighbourSink& sink);
  void DropHeld(uint32_t position, DropReason reason, NeighbourSink& sink);
  // Removes the neighbour at live_[live_index], dropping what it held.
  void Forget(size_t live_index, NeighbourSink& sink);
  rte_mbuf* BuildArpRequest(rte_be32_t target) const;

  NeighbourTable& table_;
  rte_mempool* const arp_pool_;
  const NeighbourTiming timing_;
  const uint64_t scan_interval_;
  UplinkAddress uplink_;
  std::unique_ptr<rte_ring, RingDeleter> hand_over_;
  // Owner only.
  std::vector<Pending> pending_;  // indexed by table position
  std::vector<uint32_t> live_;    // positions in use, for the timers
  uint32_t held_in_all_ = 0;
  uint64_t next_scan_ = 0;
};

}  // namespace dpcni::dataplane
