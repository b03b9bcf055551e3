#include "tests/dataplane/engine/engine_fixture.h"

namespace dpcni::dataplane {
namespace testing {

TrafficGenerator::TrafficGenerator(rte_mempool* pool, RingPort& port, const Ipv4Frame& frame)
    : thread_([this, pool, &port, frame] {
        while (!stop_.load()) {
          rte_mbuf* burst[32];
          unsigned built = 0;
          while (built < 32 && (burst[built] = BuildIpv4(pool, frame)) != nullptr) {
            ++built;
          }
          unsigned queued = port.Receive(burst, built);
          for (unsigned i = queued; i < built; ++i) {
            rte_pktmbuf_free(burst[i]);
          }
          if (queued < built || built < 32) {
            std::this_thread::yield();
          }
        }
      }) {}

void TrafficGenerator::Stop() {
  stop_.store(true);
  if (thread_.joinable()) {
    thread_.join();
  }
}

}  // namespace testing

void EngineTest::SetUp() {
  pool_ = rte_pktmbuf_pool_create(testing::UniqueName("engine_pool").c_str(), 8191, 256, 0,
                                  RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  ASSERT_NE(pool_, nullptr);
}

void EngineTest::TearDown() {
  // The order the engine asks for: stop it, close the ports, then destroy it.
  if (engine_ != nullptr) {
    engine_->Stop();
  }
  ports_.clear();
  engine_.reset();
  rte_mempool_free(pool_);
}

EngineConfig EngineTest::Config(std::vector<unsigned> lcores,
                                std::chrono::microseconds idle_sleep_max) const {
  return EngineConfig{.worker_lcores = std::move(lcores),
                      .max_ports = 8,
                      .burst_size = 32,
                      .idle_sleep_max = idle_sleep_max,
                      .gateway_ip = testing::kGatewayIp,
                      .gateway_mac = testing::kGatewayMac,
                      // A small table: each test makes an engine in the test EAL's 256 MB.
                      .flows = FlowTableConfig{.capacity = 1024}};
}

void EngineTest::MakeEngine(const EngineConfig& config) {
  absl::StatusOr<std::unique_ptr<ForwardingEngine>> engine = ForwardingEngine::Create(config);
  ASSERT_TRUE(engine.ok()) << engine.status();
  engine_ = std::move(*engine);
  workers_ = config.worker_lcores.size();
}

void EngineTest::StartEngine(const EngineConfig& config) {
  MakeEngine(config);
  ASSERT_NE(engine_, nullptr);
  ASSERT_TRUE(engine_->Start().ok());
}

testing::RingPort& EngineTest::AddPort(uint16_t tx_queues) {
  ports_.push_back(testing::RingPort::Create(pool_, tx_queues != 0 ? tx_queues : workers_));
  EXPECT_NE(ports_.back(), nullptr);
  return *ports_.back();
}

PodEndpoint EngineTest::Pod(const testing::RingPort& port, uint32_t ip, const rte_ether_addr& mac,
                            const std::string& name) {
  return PodEndpoint{.port_id = port.port_id(), .ip = ip, .mac = mac, .name = name};
}

void EngineTest::AttachPodsAAndB() {
  port_a_ = &AddPort();
  port_b_ = &AddPort();
  ASSERT_TRUE(engine_->AttachPod(Pod(*port_a_, kPodAIp, kPodAMac, "default/a")).ok());
  ASSERT_TRUE(engine_->AttachPod(Pod(*port_b_, kPodBIp, kPodBMac, "default/b")).ok());
}

std::vector<testing::RingPort*> EngineTest::AttachQuietPods(int count) {
  std::vector<testing::RingPort*> quiet;
  for (int i = 0; i < count; ++i) {
    testing::RingPort& port = AddPort();
    absl::Status attached = engine_->AttachPod(
        Pod(port, QuietPodIp(i), QuietPodMac(i), "default/quiet-" + std::to_string(i)));
    EXPECT_TRUE(attached.ok()) << attached;
    quiet.push_back(&port);
  }
  return quiet;
}

testing::Ipv4Frame EngineTest::FromAToB() {
  return testing::Ipv4Frame{.src_mac = kPodAMac, .src_ip = kPodAIp, .dst_ip = kPodBIp};
}

PortCounters EngineTest::CountersOf(const testing::RingPort& port) const {
  absl::StatusOr<PortCounters> counters = engine_->Counters(port.port_id());
  EXPECT_TRUE(counters.ok()) << counters.status();
  return counters.ok() ? *counters : PortCounters{};
}

uint64_t EngineTest::Dropped(const testing::RingPort& port, const std::string& reason) const {
  PortCounters counters = CountersOf(port);
  auto found = counters.drops.find(reason);
  return found == counters.drops.end() ? 0 : found->second;
}

uint64_t EngineTest::Events(const testing::RingPort& port, const std::string& event) const {
  PortCounters counters = CountersOf(port);
  auto found = counters.events.find(event);
  return found == counters.events.end() ? 0 : found->second;
}

}  // namespace dpcni::dataplane
