// The running engine between net_ring ports whose both ends the test holds: the fixture shared by
// the engine's end-to-end tests, and a traffic generator that keeps a port busy.
#pragma once

#include <rte_ether.h>
#include <rte_ip.h>
#include <rte_mempool.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "dataplane/engine/forwarding_engine.h"
#include "gtest/gtest.h"
#include "tests/dataplane/engine/test_packets.h"
#include "tests/dataplane/engine/test_ports.h"

namespace dpcni::dataplane {

inline constexpr uint32_t kPodAIp = RTE_IPV4(10, 244, 0, 10);
inline constexpr uint32_t kPodBIp = RTE_IPV4(10, 244, 0, 11);
inline constexpr rte_ether_addr kPodAMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}};
inline constexpr rte_ether_addr kPodBMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}};

namespace testing {

// Keeps a port's Rx ring fed with copies of one frame until stopped, from its own thread.
class TrafficGenerator {
 public:
  TrafficGenerator(rte_mempool* pool, RingPort& port, const Ipv4Frame& frame);
  ~TrafficGenerator() { Stop(); }

  void Stop();

 private:
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace testing

class EngineTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  EngineConfig Config(std::vector<unsigned> lcores = {1}, std::chrono::microseconds idle_sleep_max =
                                                              std::chrono::microseconds(100)) const;
  // The engine, not started yet.
  void MakeEngine(const EngineConfig& config);
  void StartEngine(const EngineConfig& config);
  testing::RingPort& AddPort(uint16_t tx_queues = 0);

  static PodEndpoint Pod(const testing::RingPort& port, uint32_t ip, const rte_ether_addr& mac,
                         const std::string& name);
  // Pods A and B on two fresh ports.
  void AttachPodsAAndB();
  // `count` more pods on fresh ports, 10.244.2.1 onwards, that send nothing unless told to.
  std::vector<testing::RingPort*> AttachQuietPods(int count);
  static uint32_t QuietPodIp(int index) { return RTE_IPV4(10, 244, 2, 1 + index); }
  static rte_ether_addr QuietPodMac(int index) {
    return {{0x02, 0x00, 0x00, 0x00, 0x02, static_cast<uint8_t>(index)}};
  }
  static testing::Ipv4Frame FromAToB();

  PortCounters CountersOf(const testing::RingPort& port) const;
  uint64_t Dropped(const testing::RingPort& port, const std::string& reason) const;
  uint64_t Events(const testing::RingPort& port, const std::string& event) const;

  rte_mempool* pool_ = nullptr;
  size_t workers_ = 1;
  std::vector<std::unique_ptr<testing::RingPort>> ports_;
  std::unique_ptr<ForwardingEngine> engine_;
  testing::RingPort* port_a_ = nullptr;
  testing::RingPort* port_b_ = nullptr;
};

}  // namespace dpcni::dataplane
