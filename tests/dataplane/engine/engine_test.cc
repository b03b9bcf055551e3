// The engine with real workers on EAL lcores, between net_ring ports whose both ends the test
// holds.
#include <rte_arp.h>
#include <rte_ethdev.h>
#include <rte_malloc.h>

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "gtest/gtest.h"
#include "tests/dataplane/engine/engine_fixture.h"
#include "tests/dataplane/engine/test_packets.h"
#include "tests/dataplane/engine/test_ports.h"

namespace dpcni::dataplane {
namespace {

using std::chrono::microseconds;
using testing::Ipv4;
using testing::Ipv4Frame;
using testing::RingPort;
using testing::TrafficGenerator;
using testing::WaitUntil;

TEST_F(EngineTest, ForwardsBetweenPods) {
  StartEngine(Config());
  AttachPodsAAndB();
  rte_mbuf* packet = testing::BuildIpv4(pool_, FromAToB());
  const uint32_t length = packet->pkt_len;
  port_a_->Receive(packet);

  std::vector<rte_mbuf*> sent = port_b_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  rte_ether_hdr* ethernet = testing::Ethernet(sent[0]);
  EXPECT_TRUE(rte_is_same_ether_addr(&ethernet->dst_addr, &kPodBMac));
  EXPECT_TRUE(rte_is_same_ether_addr(&ethernet->src_addr, &testing::kGatewayMac));
  EXPECT_EQ(Ipv4(sent[0])->time_to_live, 63);
  EXPECT_TRUE(testing::Ipv4ChecksumValid(sent[0]));
  testing::FreeAll(sent);

  ASSERT_TRUE(WaitUntil([&] {
    return CountersOf(*port_a_).rx_packets == 1 && CountersOf(*port_b_).tx_packets == 1;
  }));
  EXPECT_EQ(CountersOf(*port_a_).rx_bytes, length);
  EXPECT_EQ(CountersOf(*port_b_).tx_bytes, length);
  EXPECT_TRUE(port_a_->TakeAllSent().empty());
}

TEST_F(EngineTest, AnswersArpForTheGatewayOnThePodsOwnPort) {
  StartEngine(Config());
  AttachPodsAAndB();
  port_a_->Receive(testing::BuildArpRequest(pool_, kPodAMac, kPodAIp, testing::kGatewayIp));

  std::vector<rte_mbuf*> replies = port_a_->WaitForSent(1);
  ASSERT_EQ(replies.size(), 1u);
  auto* arp = reinterpret_cast<rte_arp_hdr*>(testing::Ethernet(replies[0]) + 1);
  EXPECT_EQ(arp->arp_opcode, RTE_BE16(RTE_ARP_OP_REPLY));
  rte_ether_addr sender_mac = arp->arp_data.arp_sha;
  EXPECT_TRUE(rte_is_same_ether_addr(&sender_mac, &testing::kGatewayMac));
  EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_tip), kPodAIp);
  testing::FreeAll(replies);
  EXPECT_TRUE(port_b_->TakeAllSent().empty());
  ASSERT_TRUE(WaitUntil([&] { return Events(*port_a_, "arp_replies") == 1; }));
}

TEST_F(EngineTest, CountsDropsByReasonOnTheIngressPort) {
  StartEngine(Config());
  AttachPodsAAndB();
  Ipv4Frame spoofed_ip = FromAToB();
  spoofed_ip.src_ip = kPodBIp;
  Ipv4Frame spoofed_mac = FromAToB();
  spoofed_mac.src_mac = kPodBMac;
  Ipv4Frame unroutable = FromAToB();
  unroutable.dst_ip = RTE_IPV4(10, 244, 7, 7);
  Ipv4Frame expiring = FromAToB();
  expiring.ttl = 1;
  for (const Ipv4Frame& frame : {spoofed_ip, spoofed_mac, unroutable, expiring}) {
    port_a_->Receive(testing::BuildIpv4(pool_, frame));
  }
  port_a_->Receive(testing::BuildIpv6(pool_, kPodAMac));
  port_a_->Receive(testing::BuildArpRequest(pool_, kPodAMac, kPodAIp, kPodBIp));

  const std::map<std::string, uint64_t> expected_drops = {{"spoofed_source", 2},
                                                          {"no_route", 1},
                                                          {"ttl_exceeded", 1},
                                                          {"not_ipv4", 1},
                                                          {"arp_ignored", 1}};
  WaitUntil([&] {
    PortCounters counters = CountersOf(*port_a_);
    return counters.rx_packets == 6 && counters.drops == expected_drops;
  });
  EXPECT_EQ(CountersOf(*port_a_).rx_packets, 6u);
  EXPECT_EQ(CountersOf(*port_a_).drops, expected_drops);
  EXPECT_TRUE(port_b_->TakeAllSent().empty());
  EXPECT_EQ(CountersOf(*port_b_).tx_packets, 0u);
}

TEST_F(EngineTest, SegmentsGsoPacketsForAPortWithoutTso) {
  StartEngine(Config());
  AttachPodsAAndB();
  rte_mempool* large_pool =
      rte_pktmbuf_pool_create(testing::UniqueName("engine_big").c_str(), 15, 0, 0,
                              RTE_PKTMBUF_HEADROOM + 9000, SOCKET_ID_ANY);
  ASSERT_NE(large_pool, nullptr);
  Ipv4Frame frame = FromAToB();
  frame.protocol = IPPROTO_TCP;
  frame.payload_size = 6000;
  rte_mbuf* packet = testing::BuildIpv4(large_pool, frame);
  testing::MarkAsGsoFromVirtio(packet, 1448);
  port_a_->Receive(packet);

  std::vector<rte_mbuf*> segments = port_b_->WaitForSent(5);  // 4 x 1448 + 208
  ASSERT_EQ(segments.size(), 5u);
  size_t payload = 0;
  for (rte_mbuf* segment : segments) {
    EXPECT_LE(segment->pkt_len, sizeof(rte_ether_hdr) + 40 + 1448u);
    EXPECT_TRUE(testing::Ipv4ChecksumValid(segment));
    EXPECT_TRUE(testing::L4ChecksumValid(segment));
    EXPECT_EQ(Ipv4(segment)->time_to_live, 63);
    payload += testing::L4Payload(segment).size();
  }
  EXPECT_EQ(payload, 6000u);
  testing::FreeAll(segments);
  ASSERT_TRUE(WaitUntil([&] { return CountersOf(*port_b_).tx_packets == 5; }));
  rte_mempool_free(large_pool);
}

// Counts what a worker transmits on a port once DetachPod has returned, from inside the worker's
// own rte_eth_tx_burst call, so a late packet is caught whenever it comes.
struct DetachWatch {
  std::atomic<bool> detached{false};
  std::atomic<uint64_t> sent_after_detach{0};

  static uint16_t OnTx(uint16_t, uint16_t, rte_mbuf**, uint16_t count, void* watch) {
    auto* self = static_cast<DetachWatch*>(watch);
    if (self->detached.load()) {
      self->sent_after_detach += count;
    }
    return count;
  }
};

TEST_F(EngineTest, DetachWhileTrafficFlowsLeavesNothingForTheDetachedPort) {
  StartEngine(Config());
  AttachPodsAAndB();
  DetachWatch watch;
  const rte_eth_rxtx_callback* on_tx =
      rte_eth_add_tx_callback(port_b_->port_id(), 0, &DetachWatch::OnTx, &watch);
  ASSERT_NE(on_tx, nullptr);
  TrafficGenerator generator(pool_, *port_a_, FromAToB());
  // Many cycles, as a packet that outlives DetachPod in a worker would show up only now and then.
  for (int cycle = 0; cycle < 20; ++cycle) {
    SCOPED_TRACE(cycle);
    watch.detached = false;
    if (cycle != 0) {
      ASSERT_TRUE(engine_->AttachPod(Pod(*port_b_, kPodBIp, kPodBMac, "default/b")).ok());
    }
    ASSERT_TRUE(WaitUntil([&] {
      testing::FreeAll(port_b_->TakeAllSent());
      return CountersOf(*port_b_).tx_packets >= 200;
    }));
    ASSERT_TRUE(engine_->DetachPod(port_b_->port_id()).ok());
    watch.detached = true;
    uint64_t unrouted = Dropped(*port_a_, "no_route");
    ASSERT_TRUE(WaitUntil([&] { return Dropped(*port_a_, "no_route") >= unrouted + 200; }));
    EXPECT_EQ(watch.sent_after_detach.load(), 0u);
    testing::FreeAll(port_b_->TakeAllSent());
  }

  // A closed port keeps its callbacks, and the next port to take its id would call this one with
  // a dangling `watch`: remove it first. No worker transmits on the detached port any more.
  uint16_t detached_port = port_b_->port_id();
  ASSERT_EQ(rte_eth_remove_tx_callback(detached_port, 0, on_tx), 0);
  rte_free(const_cast<rte_eth_rxtx_callback*>(on_tx));
  // The agent closes a detached port right away; so do we, with traffic for it still arriving.
  std::erase_if(ports_, [&](const auto& port) { return port.get() == port_b_; });
  port_b_ = nullptr;
  EXPECT_FALSE(engine_->Counters(detached_port).ok());

  uint64_t unrouted_before = Dropped(*port_a_, "no_route");
  ASSERT_TRUE(WaitUntil([&] { return Dropped(*port_a_, "no_route") >= unrouted_before + 1000; }));
  generator.Stop();
  // The generator may have left the Rx ring full (a slow worker: seen under ASan on a busy
  // machine), and the packet below must find room in it.
  ASSERT_TRUE(WaitUntil([&] { return port_a_->WaitingForRx() == 0; }));

  // Detaching the ingress port: once DetachPod returns its Rx ring is no longer drained.
  ASSERT_TRUE(engine_->DetachPod(port_a_->port_id()).ok());
  port_a_->Receive(testing::BuildIpv4(pool_, FromAToB()));
  unsigned waiting = port_a_->WaitingForRx();
  uint64_t rounds = engine_->Activity(0).poll_rounds;
  ASSERT_TRUE(WaitUntil([&] { return engine_->Activity(0).poll_rounds >= rounds + 20; }));
  EXPECT_EQ(port_a_->WaitingForRx(), waiting);
}

TEST_F(EngineTest, CountersStartFromZeroWhenAPortIdIsReused) {
  StartEngine(Config());
  AttachPodsAAndB();
  for (int i = 0; i < 5; ++i) {
    port_a_->Receive(testing::BuildIpv4(pool_, FromAToB()));
  }
  Ipv4Frame unroutable = FromAToB();
  unroutable.dst_ip = RTE_IPV4(10, 244, 7, 7);
  port_a_->Receive(testing::BuildIpv4(pool_, unroutable));
  testing::FreeAll(port_b_->WaitForSent(5));
  ASSERT_TRUE(WaitUntil([&] { return CountersOf(*port_b_).tx_packets == 5; }));

  // The same port id comes back for another pod: first the same ethdev re-attached...
  ASSERT_TRUE(engine_->DetachPod(port_a_->port_id()).ok());
  EXPECT_FALSE(engine_->Counters(port_a_->port_id()).ok());
  ASSERT_TRUE(engine_->AttachPod(Pod(*port_a_, kPodAIp, kPodAMac, "default/a-2")).ok());
  PortCounters reattached = CountersOf(*port_a_);
  EXPECT_EQ(reattached.rx_packets, 0u);
  EXPECT_EQ(reattached.rx_bytes, 0u);
  EXPECT_TRUE(reattached.drops.empty());

  // ...then a closed ethdev whose port id a new one takes over.
  uint16_t old_port_id = port_b_->port_id();
  ASSERT_TRUE(engine_->DetachPod(old_port_id).ok());
  std::erase_if(ports_, [&](const auto& port) { return port.get() == port_b_; });
  RingPort& successor = AddPort();
  ASSERT_EQ(successor.port_id(), old_port_id);
  ASSERT_TRUE(engine_->AttachPod(Pod(successor, kPodBIp, kPodBMac, "default/b-2")).ok());
  PortCounters fresh = CountersOf(successor);
  EXPECT_EQ(fresh.tx_packets, 0u);
  EXPECT_EQ(fresh.tx_bytes, 0u);
}

TEST_F(EngineTest, IdleWorkerSpendsItsRoundsAsleepAtTheCeiling) {
  constexpr microseconds kCeiling(1000);
  StartEngine(Config({1}, kCeiling));
  AttachPodsAAndB();
  ASSERT_TRUE(WaitUntil([&] { return engine_->Activity(0).idle_sleeps >= 30; }));
  WorkerActivity activity = engine_->Activity(0);

  // Every round that found nothing ended in a sleep...
  EXPECT_GE(activity.idle_sleeps + 1, activity.poll_rounds);
  // ...and after ten doublings (1 + 2 + ... + 512 us) each sleep asks for the whole ceiling (one
  // sleep of slack, as the counters are read while the worker runs).
  EXPECT_GE(activity.requested_sleep_us, 1023 + (activity.idle_sleeps - 11) * kCeiling.count());
}

TEST_F(EngineTest, TrafficResetsTheBackoff) {
  constexpr microseconds kCeiling(200'000);
  StartEngine(Config({1}, kCeiling));
  AttachPodsAAndB();
  // Long enough idle that every further sleep would ask for the ceiling.
  ASSERT_TRUE(WaitUntil([&] { return engine_->Activity(0).idle_sleeps >= 20; }));
  port_a_->Receive(testing::BuildIpv4(pool_, FromAToB()));
  testing::FreeAll(port_b_->WaitForSent(1));
  WorkerActivity after_traffic = engine_->Activity(0);
  ASSERT_TRUE(
      WaitUntil([&] { return engine_->Activity(0).idle_sleeps >= after_traffic.idle_sleeps + 3; }));
  WorkerActivity later = engine_->Activity(0);

  uint64_t sleeps = later.idle_sleeps - after_traffic.idle_sleeps;
  EXPECT_LT(later.requested_sleep_us - after_traffic.requested_sleep_us, sleeps * kCeiling.count());
}

TEST_F(EngineTest, BusyPollingNeverSleeps) {
  StartEngine(Config({1}, microseconds(0)));
  AttachPodsAAndB();
  ASSERT_TRUE(WaitUntil([&] { return engine_->Activity(0).poll_rounds >= 10000; }));
  EXPECT_EQ(engine_->Activity(0).idle_sleeps, 0u);
}

// Enough ports that a busy round polls only some of them (PollSchedule), and few enough for
// Debian's DPDK (32 ethdevs).
constexpr int kQuietPods = 20;

TEST_F(EngineTest, IdleWorkerPollsEveryPortEveryRound) {
  EngineConfig config = Config();
  config.max_ports = 2 + kQuietPods;
  MakeEngine(config);
  AttachPodsAAndB();
  AttachQuietPods(kQuietPods);
  ASSERT_TRUE(engine_->Start().ok());
  // The ports start active and, with no traffic, all turn idle.
  ASSERT_TRUE(WaitUntil([&] {
    WorkerActivity activity = engine_->Activity(0);
    return activity.active_ports == 0 && activity.idle_sleeps >= 20;
  }));
  engine_->Stop();

  // Nothing arrived, so no round was spent on a partial sweep: the first packet of an idle node
  // is found in the round after it arrives, whichever pod sends it.
  WorkerActivity activity = engine_->Activity(0);
  EXPECT_EQ(activity.full_poll_rounds, activity.poll_rounds);
  EXPECT_EQ(activity.port_polls, activity.poll_rounds * (2 + kQuietPods));
}

TEST_F(EngineTest, BusyWorkerStillForwardsFromEachQuietPod) {
  EngineConfig config = Config();
  config.max_ports = 2 + kQuietPods;
  StartEngine(config);
  AttachPodsAAndB();
  std::vector<RingPort*> quiet = AttachQuietPods(kQuietPods);
  TrafficGenerator generator(pool_, *port_a_, FromAToB());
  ASSERT_TRUE(WaitUntil([&] {
    testing::FreeAll(port_b_->TakeAllSent());
    return CountersOf(*port_b_).tx_packets >= 1000;
  }));
  for (int i = 0; i < kQuietPods; ++i) {
    quiet[i]->Receive(testing::BuildIpv4(
        pool_, Ipv4Frame{.src_mac = QuietPodMac(i), .src_ip = QuietPodIp(i), .dst_ip = kPodBIp}));
  }
  for (int i = 0; i < kQuietPods; ++i) {
    SCOPED_TRACE(i);
    EXPECT_TRUE(WaitUntil([&] {
      testing::FreeAll(port_b_->TakeAllSent());
      return CountersOf(*quiet[i]).rx_packets == 1;
    }));
    EXPECT_TRUE(CountersOf(*quiet[i]).drops.empty());
  }
  generator.Stop();
}

TEST_F(EngineTest, WorkersSplitThePortsAndTransmitOnTheirOwnTxQueues) {
  StartEngine(Config({1, 2}));
  AttachPodsAAndB();  // A goes to worker 0, B to worker 1 (least loaded)
  port_a_->Receive(testing::BuildIpv4(pool_, FromAToB()));
  port_b_->Receive(testing::BuildIpv4(
      pool_, Ipv4Frame{.src_mac = kPodBMac, .src_ip = kPodBIp, .dst_ip = kPodAIp}));

  std::vector<rte_mbuf*> to_b;
  std::vector<rte_mbuf*> to_a;
  ASSERT_TRUE(WaitUntil([&] {
    for (rte_mbuf* packet : port_b_->TakeSent(0)) to_b.push_back(packet);
    for (rte_mbuf* packet : port_a_->TakeSent(1)) to_a.push_back(packet);
    return to_b.size() == 1 && to_a.size() == 1;
  }));
  EXPECT_TRUE(port_b_->TakeSent(1).empty());
  EXPECT_TRUE(port_a_->TakeSent(0).empty());
  testing::FreeAll(to_b);
  testing::FreeAll(to_a);
  EXPECT_GT(engine_->Activity(0).poll_rounds, 0u);
  EXPECT_GT(engine_->Activity(1).poll_rounds, 0u);
}

TEST_F(EngineTest, ListsRoutesToAttachedPods) {
  StartEngine(Config());
  AttachPodsAAndB();
  std::vector<RouteInfo> routes = engine_->Routes();
  ASSERT_EQ(routes.size(), 2u);
  EXPECT_EQ(routes[0].prefix, "10.244.0.10/32");
  EXPECT_EQ(routes[0].next_hop, "port " + std::to_string(port_a_->port_id()) + " (default/a)");
  EXPECT_EQ(routes[1].prefix, "10.244.0.11/32");

  ASSERT_TRUE(engine_->DetachPod(port_a_->port_id()).ok());
  routes = engine_->Routes();
  ASSERT_EQ(routes.size(), 1u);
  EXPECT_EQ(routes[0].prefix, "10.244.0.11/32");
}

TEST_F(EngineTest, RejectsConflictingOrUnusableAttachments) {
  StartEngine(Config({1, 2}));
  AttachPodsAAndB();
  RingPort& other = AddPort();
  RingPort& one_tx_queue = AddPort(1);

  EXPECT_EQ(engine_->AttachPod(Pod(*port_a_, RTE_IPV4(10, 244, 0, 20), kPodAMac, "x")).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(engine_->AttachPod(Pod(other, kPodBIp, kPodBMac, "same-ip")).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(engine_->AttachPod(Pod(one_tx_queue, RTE_IPV4(10, 244, 0, 30), kPodBMac, "q")).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(
      engine_
          ->AttachPod(PodEndpoint{
              .port_id = 200, .ip = RTE_IPV4(10, 244, 0, 40), .mac = kPodBMac, .name = "gone"})
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      engine_->AttachPod(Pod(other, RTE_IPV4(10, 244, 0, 50), rte_ether_addr{}, "no-mac")).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(engine_->DetachPod(other.port_id()).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->Counters(other.port_id()).status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(engine_->Start().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(engine_->Routes().size(), 2u);
}

TEST_F(EngineTest, SerializesControlCallsFromSeveralThreadsWhileForwarding) {
  StartEngine(Config({1, 2}));
  AttachPodsAAndB();
  std::vector<RingPort*> churn_ports;
  for (int i = 0; i < 4; ++i) {
    churn_ports.push_back(&AddPort());
  }
  TrafficGenerator generator(pool_, *port_a_, FromAToB());
  ASSERT_TRUE(WaitUntil([&] {
    testing::FreeAll(port_b_->TakeAllSent());
    return CountersOf(*port_b_).tx_packets >= 1000;
  }));
  std::atomic<int> failures{0};
  std::vector<std::thread> control_threads;
  for (int i = 0; i < 4; ++i) {
    control_threads.emplace_back([&, i] {
      rte_ether_addr mac = {{0x02, 0x00, 0x00, 0x00, 0x01, static_cast<uint8_t>(i)}};
      PodEndpoint pod = Pod(*churn_ports[i], RTE_IPV4(10, 244, 1, 1 + i), mac, "churn");
      for (int round = 0; round < 50; ++round) {
        failures += !engine_->AttachPod(pod).ok();
        failures += !engine_->Counters(pod.port_id).ok();
        failures += !engine_->DetachPod(pod.port_id).ok();
      }
    });
  }
  for (std::thread& thread : control_threads) {
    thread.join();
  }
  generator.Stop();

  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(engine_->Routes().size(), 2u);
  ASSERT_TRUE(WaitUntil([&] {
    testing::FreeAll(port_b_->TakeAllSent());
    PortCounters a = CountersOf(*port_a_);
    PortCounters b = CountersOf(*port_b_);
    uint64_t dropped_at_b = b.drops.contains("tx_full") ? b.drops.at("tx_full") : 0;
    return a.rx_packets == b.tx_packets + dropped_at_b;
  }));
}

TEST(EngineConfigTest, RejectsUnusableConfigurations) {
  EngineConfig valid{
      .worker_lcores = {1}, .gateway_ip = testing::kGatewayIp, .gateway_mac = testing::kGatewayMac};
  EngineConfig main_lcore = valid;
  main_lcore.worker_lcores = {rte_get_main_lcore()};
  EngineConfig missing_lcore = valid;
  missing_lcore.worker_lcores = {7};
  EngineConfig twice = valid;
  twice.worker_lcores = {1, 1};
  EngineConfig no_burst = valid;
  no_burst.burst_size = 0;
  EngineConfig no_gateway = valid;
  no_gateway.gateway_ip = 0;
  EngineConfig no_neighbours = valid;
  no_neighbours.max_neighbours = 0;
  EngineConfig no_neighbour_timeout = valid;
  no_neighbour_timeout.neighbour_timeout = std::chrono::milliseconds(0);
  for (const EngineConfig& config : {main_lcore, missing_lcore, twice, no_burst, no_gateway,
                                     no_neighbours, no_neighbour_timeout}) {
    EXPECT_EQ(CreateEngine(config).status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_TRUE(CreateEngine(valid).ok());
}

}  // namespace
}  // namespace dpcni::dataplane
