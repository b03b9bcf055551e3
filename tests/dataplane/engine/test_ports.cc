#include "tests/dataplane/engine/test_ports.h"

#include <rte_eth_ring.h>
#include <rte_ethdev.h>

#include <atomic>
#include <thread>

#include "gtest/gtest.h"

namespace dpcni::dataplane::testing {
namespace {

constexpr unsigned kRingSize = 4096;

void DrainAndFree(rte_ring* ring) {
  void* packet;
  while (rte_ring_dequeue(ring, &packet) == 0) {
    rte_pktmbuf_free(static_cast<rte_mbuf*>(packet));
  }
}

}  // namespace

std::string UniqueName(const std::string& stem) {
  static std::atomic<unsigned> next{0};
  return stem + std::to_string(next.fetch_add(1));
}

bool WaitUntil(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::unique_ptr<RingPort> RingPort::Create(rte_mempool* pool, uint16_t tx_queues) {
  std::unique_ptr<RingPort> port(new RingPort());
  port->rx_ring_ = rte_ring_create(UniqueName("rx").c_str(), kRingSize, SOCKET_ID_ANY, 0);
  EXPECT_NE(port->rx_ring_, nullptr);
  for (uint16_t i = 0; i < tx_queues; ++i) {
    port->tx_rings_.push_back(
        rte_ring_create(UniqueName("tx").c_str(), kRingSize, SOCKET_ID_ANY, 0));
    EXPECT_NE(port->tx_rings_.back(), nullptr);
  }
  int port_id = rte_eth_from_rings(UniqueName("net_ring_pod").c_str(), &port->rx_ring_, 1,
                                   port->tx_rings_.data(), tx_queues, SOCKET_ID_ANY);
  EXPECT_GE(port_id, 0) << "rte_eth_from_rings: " << rte_strerror(rte_errno);
  if (port_id < 0) {
    return nullptr;
  }
  port->port_id_ = static_cast<uint16_t>(port_id);
  rte_eth_conf conf{};
  EXPECT_EQ(rte_eth_dev_configure(port->port_id_, 1, tx_queues, &conf), 0);
  EXPECT_EQ(rte_eth_rx_queue_setup(port->port_id_, 0, kRingSize, SOCKET_ID_ANY, nullptr, pool), 0);
  for (uint16_t i = 0; i < tx_queues; ++i) {
    EXPECT_EQ(rte_eth_tx_queue_setup(port->port_id_, i, kRingSize, SOCKET_ID_ANY, nullptr), 0);
  }
  EXPECT_EQ(rte_eth_dev_start(port->port_id_), 0);
  return port;
}

RingPort::~RingPort() {
  rte_eth_dev_stop(port_id_);
  rte_eth_dev_close(port_id_);
  DrainAndFree(rx_ring_);
  rte_ring_free(rx_ring_);
  for (rte_ring* ring : tx_rings_) {
    DrainAndFree(ring);
    rte_ring_free(ring);
  }
}

unsigned RingPort::Receive(rte_mbuf* const* packets, unsigned count) {
  return rte_ring_enqueue_burst(rx_ring_, reinterpret_cast<void* const*>(packets), count, nullptr);
}

void RingPort::Receive(rte_mbuf* packet) {
  ASSERT_NE(packet, nullptr);
  ASSERT_EQ(Receive(&packet, 1), 1u);
}

std::vector<rte_mbuf*> RingPort::TakeSent(uint16_t queue) {
  std::vector<rte_mbuf*> sent;
  void* packet;
  while (rte_ring_dequeue(tx_rings_.at(queue), &packet) == 0) {
    sent.push_back(static_cast<rte_mbuf*>(packet));
  }
  return sent;
}

std::vector<rte_mbuf*> RingPort::TakeAllSent() {
  std::vector<rte_mbuf*> sent;
  for (uint16_t queue = 0; queue < tx_rings_.size(); ++queue) {
    std::vector<rte_mbuf*> from_queue = TakeSent(queue);
    sent.insert(sent.end(), from_queue.begin(), from_queue.end());
  }
  return sent;
}

std::vector<rte_mbuf*> RingPort::WaitForSent(size_t count) {
  std::vector<rte_mbuf*> sent;
  WaitUntil([&] {
    std::vector<rte_mbuf*> more = TakeAllSent();
    sent.insert(sent.end(), more.begin(), more.end());
    return sent.size() >= count;
  });
  return sent;
}

void FreeAll(const std::vector<rte_mbuf*>& packets) {
  for (rte_mbuf* packet : packets) {
    rte_pktmbuf_free(packet);
  }
}

}  // namespace dpcni::dataplane::testing
