// net_ring ports for engine tests: the test holds both ends, so it enqueues what the port
// "receives" and dequeues what the engine transmitted, per Tx queue.
#pragma once

#include <rte_mbuf.h>
#include <rte_ring.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace dpcni::dataplane::testing {

// A DPDK object name not yet used in this process.
std::string UniqueName(const std::string& stem);

// Polls `condition` until it holds or `timeout` passes; returns whether it held. For waiting on
// workers, never for asserting how fast they are.
bool WaitUntil(const std::function<bool()>& condition,
               std::chrono::milliseconds timeout = std::chrono::seconds(10));

class RingPort {
 public:
  // A started port with one Rx queue and `tx_queues` Tx queues (one per engine worker).
  static std::unique_ptr<RingPort> Create(rte_mempool* pool, uint16_t tx_queues);
  ~RingPort();
  RingPort(const RingPort&) = delete;
  RingPort& operator=(const RingPort&) = delete;

  uint16_t port_id() const { return port_id_; }

  // Puts packets on the port's Rx ring; returns how many fit (the rest stay the caller's).
  unsigned Receive(rte_mbuf* const* packets, unsigned count);
  void Receive(rte_mbuf* packet);
  unsigned WaitingForRx() const { return rte_ring_count(rx_ring_); }

  // Takes what the engine sent on one Tx queue, or on all of them.
  std::vector<rte_mbuf*> TakeSent(uint16_t queue);
  std::vector<rte_mbuf*> TakeAllSent();
  // Waits until `count` packets were sent in total (across queues) and takes them.
  std::vector<rte_mbuf*> WaitForSent(size_t count);

 private:
  RingPort() = default;

  uint16_t port_id_ = 0;
  rte_ring* rx_ring_ = nullptr;
  std::vector<rte_ring*> tx_rings_;
};

void FreeAll(const std::vector<rte_mbuf*>& packets);

}  // namespace dpcni::dataplane::testing
