// The table that LPM results index into. An LPM entry holds only a 24-bit next-hop id; the id names
// a slot here that says where and how to send: today a local pod's port and MACs, later a host port
// or an uplink neighbour whose MAC came from ARP.
#pragma once

#include <rte_ether.h>

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/engine/offload.h"

namespace dpcni::dataplane {

struct NextHop {
  uint16_t port_id = 0;
  rte_ether_addr dst_mac{};
  rte_ether_addr src_mac{};
  EgressCaps caps{};
};

// Owned by the control plane, read by workers without locks: a slot is written before any route
// refers to it and released only after an RCU grace period following the route's removal.
class NextHopTable {
 public:
  explicit NextHopTable(uint32_t capacity);

  absl::StatusOr<uint32_t> Allocate(const NextHop& hop);
  void Release(uint32_t id);

  const NextHop* entries() const { return entries_.get(); }
  const NextHop& at(uint32_t id) const { return entries_[id]; }

 private:
  std::unique_ptr<NextHop[]> entries_;
  std::vector<uint32_t> free_ids_;  // a stack: the lowest ids are handed out first
};

}  // namespace dpcni::dataplane
