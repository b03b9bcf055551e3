#include "dataplane/engine/neighbour_resolver.h"

#include <rte_arp.h>
#include <rte_errno.h>
#include <rte_ring_elem.h>

#include <algorithm>
#include <cstring>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace dpcni::dataplane {
namespace {

constexpr unsigned kHandOverBurst = 32;
// Scans per timer period: how finely timers are checked, against how often the live entries are
// walked.
constexpr uint64_t kScansPerPeriod = 8;
// The shortest Ethernet frame without its FCS; ARP requests are padded to it.
constexpr uint16_t kMinimumFrame = RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN;

void WriteDestination(rte_mbuf* packet, const rte_ether_addr& mac) {
  rte_pktmbuf_mtod(packet, rte_ether_hdr*)->dst_addr = mac;
}

}  // namespace

NeighbourResolver::NeighbourResolver(NeighbourTable& table, rte_mempool* arp_pool,
                                     const NeighbourTiming& timing)
    : table_(table),
      arp_pool_(arp_pool),
      timing_(timing),
      scan_interval_(std::max<uint64_t>(
          1, std::min(timing.reachable_cycles, timing.retry_cycles) / kScansPerPeriod)),
      pending_(table.positions()) {}

absl::StatusOr<std::unique_ptr<NeighbourResolver>> NeighbourResolver::Create(
    const std::string& name, NeighbourTable& table, rte_mempool* arp_pool,
    const NeighbourTiming& timing) {
  std::unique_ptr<NeighbourResolver> resolver(new NeighbourResolver(table, arp_pool, timing));
  resolver->hand_over_.reset(rte_ring_create_elem(name.c_str(), sizeof(HandedOver),
                                                  kHandOverRingSize, SOCKET_ID_ANY, RING_F_SC_DEQ));
  if (resolver->hand_over_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("engine: creating ring ", name, " failed: ", rte_strerror(rte_errno)));
  }
  resolver->live_.reserve(table.positions());
  return resolver;
}

NeighbourResolver::~NeighbourResolver() {
  for (uint32_t position : live_) {
    Pending& pending = pending_[position];
    for (uint8_t i = 0; i < pending.held; ++i) {
      rte_pktmbuf_free(pending.packets[i].packet);
    }
  }
  HandedOver handed;
  while (rte_ring_sc_dequeue_elem(hand_over_.get(), &handed, sizeof(handed)) == 0) {
    rte_pktmbuf_free(handed.packet);
  }
}

bool NeighbourResolver::HandOver(rte_mbuf* packet, rte_be32_t neighbour_ip, uint16_t ingress_port) {
  HandedOver handed{
      .packet = packet, .neighbour_ip = neighbour_ip, .ingress_port = ingress_port, .unused = 0};
  return rte_ring_mp_enqueue_elem(hand_over_.get(), &handed, sizeof(handed)) == 0;
}

void NeighbourResolver::Service(uint64_t now, NeighbourSink& sink) {
  HandedOver batch[kHandOverBurst];
  // Bounded, so that workers handing over without pause cannot keep the owner here.
  for (unsigned taken = 0; taken < kHandOverRingSize;) {
    unsigned count = rte_ring_sc_dequeue_burst_elem(hand_over_.get(), batch, sizeof(HandedOver),
                                                    kHandOverBurst, nullptr);
    if (count == 0) {
      break;
    }
    for (unsigned i = 0; i < count; ++i) {
      Hold(batch[i], now, sink);
    }
    taken += count;
  }
  if (now < next_scan_) {
    return;
  }
  // On a fixed grid, so that a deadline on it is checked exactly when it falls due.
  next_scan_ = now - now % scan_interval_ + scan_interval_;
  for (size_t i = 0; i < live_.size();) {
    if (Age(live_[i], now, sink)) {
      ++i;
    } else {
      Forget(i, sink);  // moves the last live entry to i
    }
  }
}

void NeighbourResolver::Hold(const HandedOver& handed, uint64_t now, NeighbourSink& sink) {
  // Answered since the worker looked: send at once.
  rte_ether_addr mac;
  if (table_.Resolve(handed.neighbour_ip, &mac)) {
    WriteDestination(handed.packet, mac);
    sink.ForwardResolved(handed.packet, handed.ingress_port);
    return;
  }
  int32_t position = table_.Find(handed.neighbour_ip);
  if (position < 0) {
    absl::StatusOr<uint32_t> added = table_.Add(handed.neighbour_ip, now);
    if (!added.ok()) {
      sink.DropHeld(handed.packet, handed.ingress_port, DropReason::kNeighbourTableFull);
      return;
    }
    position = static_cast<int32_t>(*added);
    pending_[position] = Pending{};
    live_.push_back(position);
    Probe(position, now, sink);
  }
  Pending& pending = pending_[position];
  if (pending.held == kHeldPerNeighbour || held_in_all_ == kHeldInAll) {
    sink.DropHeld(handed.packet, handed.ingress_port, DropReason::kNeighbourQueueFull);
    return;
  }
  pending.packets[pending.held++] = {.packet = handed.packet, .ingress_port = handed.ingress_port};
  ++held_in_all_;
}

bool NeighbourResolver::Learn(rte_be32_t sender_ip, const rte_ether_addr& sender_mac, uint64_t now,
                              NeighbourSink& sink) {
  if (sender_ip == 0 || sender_ip == uplink_.ip || !rte_is_valid_assigned_ether_addr(&sender_mac)) {
    return false;
  }
  int32_t position = table_.Find(sender_ip);
  if (position < 0) {
    return false;  // only neighbours we asked for are tracked (no table flooding from the wire)
  }
  table_.Confirm(position, sender_mac, now);
  Pending& pending = pending_[position];
  pending.probes = 0;
  pending.used_since_probe = false;
  pending.last_used = 0;
  SendHeld(position, sender_mac, sink);
  return true;
}

bool NeighbourResolver::Age(uint32_t position, uint64_t now, NeighbourSink& sink) {
  Pending& pending = pending_[position];
  const bool retry_due = now - pending.last_probe >= timing_.retry_cycles;
  switch (table_.State(position)) {
    case NeighbourState::kIncomplete:
      if (retry_due) {
        if (pending.probes >= kMaxProbes) {
          return false;
        }
        Probe(position, now, sink);
      }
      return true;
    case NeighbourState::kReachable:
      if (now - table_.ConfirmedAt(position) >= timing_.reachable_cycles) {
        table_.MarkStale(position);
      }
      return true;
    case NeighbourState::kStale:
      if (table_.TakeWanted(position)) {
        pending.used_since_probe = true;
        pending.last_used = now;
      }
      if (pending.used_since_probe && retry_due) {
        if (pending.probes >= kMaxProbes) {
          return false;  // in use, but no longer answering
        }
        pending.used_since_probe = false;
        Probe(position, now, sink);
        return true;
      }
      // Unused for a whole timeout after going stale: forget it.
      return now - std::max(pending.last_used, table_.ConfirmedAt(position)) <
             2 * timing_.reachable_cycles;
  }
  return true;
}

void NeighbourResolver::Probe(uint32_t position, uint64_t now, NeighbourSink& sink) {
  Pending& pending = pending_[position];
  pending.last_probe = now;
  ++pending.probes;
  // Without an mbuf this request is skipped; the next one is due after the retry interval.
  if (rte_mbuf* request = BuildArpRequest(table_.Address(position)); request != nullptr) {
    sink.SendArpRequest(request);
  }
}

void NeighbourResolver::SendHeld(uint32_t position, const rte_ether_addr& mac,
                                 NeighbourSink& sink) {
  Pending& pending = pending_[position];
  for (uint8_t i = 0; i < pending.held; ++i) {
    WriteDestination(pending.packets[i].packet, mac);
    sink.ForwardResolved(pending.packets[i].packet, pending.packets[i].ingress_port);
  }
  held_in_all_ -= pending.held;
  pending.held = 0;
}

void NeighbourResolver::DropHeld(uint32_t position, DropReason reason, NeighbourSink& sink) {
  Pending& pending = pending_[position];
  for (uint8_t i = 0; i < pending.held; ++i) {
    sink.DropHeld(pending.packets[i].packet, pending.packets[i].ingress_port, reason);
  }
  held_in_all_ -= pending.held;
  pending.held = 0;
}

void NeighbourResolver::Forget(size_t live_index, NeighbourSink& sink) {
  uint32_t position = live_[live_index];
  DropHeld(position, DropReason::kNeighbourUnresolved, sink);
  table_.Remove(position);
  live_[live_index] = live_.back();
  live_.pop_back();
}

rte_mbuf* NeighbourResolver::BuildArpRequest(rte_be32_t target) const {
  rte_mbuf* request = rte_pktmbuf_alloc(arp_pool_);
  if (request == nullptr) {
    return nullptr;
  }
  char* frame = rte_pktmbuf_append(request, kMinimumFrame);
  if (frame == nullptr) {  // a pool whose mbufs are too small for a frame
    rte_pktmbuf_free(request);
    return nullptr;
  }
  std::memset(frame, 0, kMinimumFrame);
  auto* ethernet = reinterpret_cast<rte_ether_hdr*>(frame);
  std::memset(&ethernet->dst_addr, 0xff, sizeof(ethernet->dst_addr));
  ethernet->src_addr = uplink_.mac;
  ethernet->ether_type = RTE_BE16(RTE_ETHER_TYPE_ARP);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(ethernet + 1);
  arp->arp_hardware = RTE_BE16(RTE_ARP_HRD_ETHER);
  arp->arp_protocol = RTE_BE16(RTE_ETHER_TYPE_IPV4);
  arp->arp_hlen = RTE_ETHER_ADDR_LEN;
  arp->arp_plen = sizeof(rte_be32_t);
  arp->arp_opcode = RTE_BE16(RTE_ARP_OP_REQUEST);
  arp->arp_data.arp_sha = uplink_.mac;
  arp->arp_data.arp_sip = uplink_.ip;
  arp->arp_data.arp_tip = target;
  return request;
}

}  // namespace dpcni::dataplane
