// The neighbour resolver on its own, with time passed in: holding packets, ARP requests and their
// rate, learning, aging to stale and re-confirmation, giving up and forgetting.
#include "dataplane/engine/neighbour_resolver.h"

#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "tests/dataplane/engine/test_packets.h"
#include "tests/dataplane/engine/test_ports.h"

namespace dpcni::dataplane {
namespace {

using testing::kNeighbourIp;
using testing::kNeighbourMac;
using testing::kNodeIp;
using testing::kUplinkMac;

constexpr uint16_t kUplinkPort = 8;
constexpr uint16_t kPodPort = 3;
constexpr uint64_t kReachable = 10'000;  // TSC cycles; the tests choose every `now`
constexpr uint64_t kRetry = 1'000;
constexpr rte_ether_addr kMovedMac = {{0x02, 0x11, 0x00, 0x00, 0x00, 0x99}};

// Records what the resolver asks of its worker.
class RecordingSink final : public NeighbourSink {
 public:
  ~RecordingSink() {
    testing::FreeAll(forwarded);
    testing::FreeAll(arp_requests);
  }

  void ForwardResolved(rte_mbuf* packet, uint16_t ingress_port) override {
    EXPECT_EQ(ingress_port, kPodPort);
    forwarded.push_back(packet);
  }
  void SendArpRequest(rte_mbuf* request) override { arp_requests.push_back(request); }
  void DropHeld(rte_mbuf* packet, uint16_t ingress_port, DropReason reason) override {
    EXPECT_EQ(ingress_port, kPodPort);
    drops.push_back(reason);
    rte_pktmbuf_free(packet);
  }

  std::vector<rte_mbuf*> forwarded;
  std::vector<rte_mbuf*> arp_requests;
  std::vector<DropReason> drops;
};

class NeighbourResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = rte_pktmbuf_pool_create(testing::UniqueName("resolver_pool").c_str(), 1023, 0, 0,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    arp_pool_ = rte_pktmbuf_pool_create(testing::UniqueName("resolver_arp").c_str(), 255, 0, 0,
                                        RTE_PKTMBUF_HEADROOM + 64, SOCKET_ID_ANY);
    ASSERT_NE(pool_, nullptr);
    ASSERT_NE(arp_pool_, nullptr);
    rcu_ = static_cast<rte_rcu_qsbr*>(
        rte_zmalloc("resolver_rcu", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE));
    ASSERT_EQ(rte_rcu_qsbr_init(rcu_, 1), 0);
    CreateResolver(/*capacity=*/128);
  }

  void TearDown() override {
    resolver_.reset();
    table_.reset();
    rte_free(rcu_);
    rte_mempool_free(arp_pool_);
    rte_mempool_free(pool_);
  }

  void CreateResolver(uint32_t capacity) {
    resolver_.reset();
    absl::StatusOr<std::unique_ptr<NeighbourTable>> table =
        NeighbourTable::Create(testing::UniqueName("resolver_table"), capacity, rcu_);
    ASSERT_TRUE(table.ok()) << table.status();
    table_ = std::move(*table);
    absl::StatusOr<std::unique_ptr<NeighbourResolver>> resolver = NeighbourResolver::Create(
        testing::UniqueName("resolver_ring"), *table_, arp_pool_,
        NeighbourTiming{.reachable_cycles = kReachable, .retry_cycles = kRetry});
    ASSERT_TRUE(resolver.ok()) << resolver.status();
    resolver_ = std::move(*resolver);
    resolver_->SetUplink(
        UplinkAddress{.port_id = kUplinkPort, .mac = kUplinkMac, .ip = rte_cpu_to_be_32(kNodeIp)});
  }

  // A routed packet from the pod to `neighbour`, handed over and taken in at `now`.
  void Send(uint32_t neighbour, uint64_t now) {
    rte_mbuf* packet = testing::BuildIpv4(
        pool_, testing::Ipv4Frame{.src_ip = RTE_IPV4(10, 244, 0, 10), .dst_ip = neighbour});
    ASSERT_NE(packet, nullptr);
    ASSERT_TRUE(resolver_->HandOver(packet, rte_cpu_to_be_32(neighbour), kPodPort));
    resolver_->Service(now, sink_);
  }

  bool Answer(uint32_t neighbour, const rte_ether_addr& mac, uint64_t now) {
    return resolver_->Learn(rte_cpu_to_be_32(neighbour), mac, now, sink_);
  }

  std::vector<NeighbourInfo> Listed(uint64_t now) const {
    return table_->List(now, /*tsc_hz=*/1000);  // one cycle is a millisecond
  }

  rte_mempool* pool_ = nullptr;
  rte_mempool* arp_pool_ = nullptr;
  rte_rcu_qsbr* rcu_ = nullptr;
  std::unique_ptr<NeighbourTable> table_;
  std::unique_ptr<NeighbourResolver> resolver_;
  RecordingSink sink_;
};

TEST_F(NeighbourResolverTest, AsksForAnUnknownNeighbourAndHoldsThePacket) {
  Send(kNeighbourIp, 100);

  EXPECT_TRUE(sink_.forwarded.empty());
  EXPECT_EQ(resolver_->held(), 1u);
  ASSERT_EQ(sink_.arp_requests.size(), 1u);
  rte_mbuf* request = sink_.arp_requests[0];
  EXPECT_EQ(request->pkt_len, RTE_ETHER_MIN_LEN - RTE_ETHER_CRC_LEN);
  EXPECT_TRUE(rte_is_broadcast_ether_addr(&testing::Ethernet(request)->dst_addr));
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(request)->src_addr, &kUplinkMac));
  rte_arp_hdr* arp = testing::Arp(request);
  EXPECT_EQ(arp->arp_opcode, RTE_BE16(RTE_ARP_OP_REQUEST));
  rte_ether_addr sender_mac = arp->arp_data.arp_sha;
  EXPECT_TRUE(rte_is_same_ether_addr(&sender_mac, &kUplinkMac));
  EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_sip), kNodeIp);
  EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_tip), kNeighbourIp);

  std::vector<NeighbourInfo> listed = Listed(130);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].ip, "192.168.1.20");
  EXPECT_EQ(listed[0].state, "incomplete");
  EXPECT_EQ(listed[0].mac, "");
  EXPECT_EQ(listed[0].age_ms, 30u);
}

TEST_F(NeighbourResolverTest, SendsWhatItHeldOnceTheNeighbourAnswers) {
  Send(kNeighbourIp, 100);
  Send(kNeighbourIp, 110);
  ASSERT_EQ(sink_.arp_requests.size(), 1u);  // one question for both packets

  EXPECT_TRUE(Answer(kNeighbourIp, kNeighbourMac, 120));

  ASSERT_EQ(sink_.forwarded.size(), 2u);
  for (rte_mbuf* packet : sink_.forwarded) {
    EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(packet)->dst_addr, &kNeighbourMac));
  }
  EXPECT_EQ(resolver_->held(), 0u);
  rte_ether_addr mac;
  EXPECT_TRUE(table_->Resolve(rte_cpu_to_be_32(kNeighbourIp), &mac));
  EXPECT_TRUE(rte_is_same_ether_addr(&mac, &kNeighbourMac));
  std::vector<NeighbourInfo> listed = Listed(125);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, "reachable");
  EXPECT_EQ(listed[0].mac, "02:11:00:00:00:20");
  EXPECT_EQ(listed[0].age_ms, 5u);

  // Resolved by now: the next packet handed over goes straight through.
  Send(kNeighbourIp, 130);
  EXPECT_EQ(sink_.forwarded.size(), 3u);
  EXPECT_EQ(sink_.arp_requests.size(), 1u);
}

TEST_F(NeighbourResolverTest, HoldsAFewPacketsPerNeighbourAndDropsTheRest) {
  for (int i = 0; i < NeighbourResolver::kHeldPerNeighbour + 2; ++i) {
    Send(kNeighbourIp, 100);
  }
  EXPECT_EQ(resolver_->held(), NeighbourResolver::kHeldPerNeighbour);
  EXPECT_EQ(sink_.drops, std::vector<DropReason>(2, DropReason::kNeighbourQueueFull));

  Answer(kNeighbourIp, kNeighbourMac, 120);
  EXPECT_EQ(sink_.forwarded.size(), NeighbourResolver::kHeldPerNeighbour);
}

TEST_F(NeighbourResolverTest, HoldsABoundedNumberOfPacketsInAll) {
  const uint32_t neighbours = NeighbourResolver::kHeldInAll / NeighbourResolver::kHeldPerNeighbour;
  for (uint32_t n = 0; n < neighbours; ++n) {
    for (int i = 0; i < NeighbourResolver::kHeldPerNeighbour; ++i) {
      Send(RTE_IPV4(192, 168, 1, 30) + n, 100);
    }
  }
  ASSERT_EQ(resolver_->held(), NeighbourResolver::kHeldInAll);
  EXPECT_TRUE(sink_.drops.empty());

  Send(RTE_IPV4(192, 168, 1, 30) + neighbours, 100);  // a neighbour that holds nothing yet
  EXPECT_EQ(sink_.drops, std::vector<DropReason>{DropReason::kNeighbourQueueFull});
  EXPECT_EQ(sink_.arp_requests.size(), neighbours + 1);  // still asked for
}

TEST_F(NeighbourResolverTest, AsksAgainOncePerRetryIntervalThenGivesUp) {
  Send(kNeighbourIp, 0);
  resolver_->Service(kRetry - 1, sink_);
  EXPECT_EQ(sink_.arp_requests.size(), 1u);
  resolver_->Service(kRetry, sink_);
  EXPECT_EQ(sink_.arp_requests.size(), 2u);
  resolver_->Service(kRetry + kRetry / 2, sink_);
  EXPECT_EQ(sink_.arp_requests.size(), 2u);
  resolver_->Service(2 * kRetry, sink_);
  EXPECT_EQ(sink_.arp_requests.size(), NeighbourResolver::kMaxProbes);
  EXPECT_TRUE(sink_.drops.empty());

  resolver_->Service(3 * kRetry, sink_);
  EXPECT_EQ(sink_.arp_requests.size(), NeighbourResolver::kMaxProbes);
  EXPECT_EQ(sink_.drops, std::vector<DropReason>{DropReason::kNeighbourUnresolved});
  EXPECT_EQ(resolver_->held(), 0u);
  EXPECT_TRUE(Listed(3 * kRetry).empty());

  // A later packet starts over.
  Send(kNeighbourIp, 3 * kRetry + 1);
  EXPECT_EQ(sink_.arp_requests.size(), NeighbourResolver::kMaxProbes + 1u);
}

TEST_F(NeighbourResolverTest, AgesToStaleAndReconfirmsAStaleNeighbourInUse) {
  Send(kNeighbourIp, 0);
  Answer(kNeighbourIp, kNeighbourMac, 0);
  resolver_->Service(kReachable - 1, sink_);
  EXPECT_EQ(Listed(kReachable - 1)[0].state, "reachable");
  resolver_->Service(kReachable, sink_);
  EXPECT_EQ(Listed(kReachable)[0].state, "stale");
  EXPECT_EQ(sink_.arp_requests.size(), 1u);  // nobody used it: nothing asked

  // A worker sends with the stale MAC, which asks the resolver to confirm it.
  rte_ether_addr mac;
  ASSERT_TRUE(table_->Resolve(rte_cpu_to_be_32(kNeighbourIp), &mac));
  EXPECT_TRUE(rte_is_same_ether_addr(&mac, &kNeighbourMac));
  resolver_->Service(kReachable + 200, sink_);
  ASSERT_EQ(sink_.arp_requests.size(), 2u);
  EXPECT_EQ(rte_be_to_cpu_32(testing::Arp(sink_.arp_requests[1])->arp_data.arp_tip), kNeighbourIp);

  // The neighbour answers from a new MAC, which is used from then on.
  EXPECT_TRUE(Answer(kNeighbourIp, kMovedMac, kReachable + 300));
  ASSERT_TRUE(table_->Resolve(rte_cpu_to_be_32(kNeighbourIp), &mac));
  EXPECT_TRUE(rte_is_same_ether_addr(&mac, &kMovedMac));
  EXPECT_EQ(Listed(kReachable + 300)[0].state, "reachable");
}

TEST_F(NeighbourResolverTest, ForgetsAStaleNeighbourThatStopsAnswering) {
  Send(kNeighbourIp, 0);
  Answer(kNeighbourIp, kNeighbourMac, 0);
  resolver_->Service(kReachable, sink_);  // stale
  rte_ether_addr mac;
  uint64_t now = kReachable;
  for (int probe = 0; probe < NeighbourResolver::kMaxProbes; ++probe) {
    ASSERT_TRUE(table_->Resolve(rte_cpu_to_be_32(kNeighbourIp), &mac));  // still in use
    now += kRetry;
    resolver_->Service(now, sink_);
  }
  EXPECT_EQ(sink_.arp_requests.size(), 1u + NeighbourResolver::kMaxProbes);
  ASSERT_TRUE(table_->Resolve(rte_cpu_to_be_32(kNeighbourIp), &mac));
  resolver_->Service(now + kRetry, sink_);
  EXPECT_TRUE(Listed(now + kRetry).empty());
  EXPECT_FALSE(table_->Resolve(rte_cpu_to_be_32(kNeighbourIp), &mac));
}

TEST_F(NeighbourResolverTest, ForgetsAStaleNeighbourNobodyUses) {
  Send(kNeighbourIp, 0);
  Answer(kNeighbourIp, kNeighbourMac, 0);
  resolver_->Service(kReachable, sink_);
  resolver_->Service(2 * kReachable - 1, sink_);
  EXPECT_EQ(Listed(2 * kReachable - 1).size(), 1u);
  resolver_->Service(2 * kReachable, sink_);
  EXPECT_TRUE(Listed(2 * kReachable).empty());
  EXPECT_EQ(sink_.arp_requests.size(), 1u);
}

TEST_F(NeighbourResolverTest, LearnsOnlyNeighboursItTracks) {
  // A gratuitous ARP from a host nobody asked for is not taken in.
  EXPECT_FALSE(Answer(kNeighbourIp, kNeighbourMac, 0));
  EXPECT_TRUE(Listed(0).empty());

  // One from a tracked neighbour updates it, whatever its state.
  Send(kNeighbourIp, 0);
  Answer(kNeighbourIp, kNeighbourMac, 0);
  EXPECT_TRUE(Answer(kNeighbourIp, kMovedMac, 10));
  rte_ether_addr mac;
  ASSERT_TRUE(table_->Resolve(rte_cpu_to_be_32(kNeighbourIp), &mac));
  EXPECT_TRUE(rte_is_same_ether_addr(&mac, &kMovedMac));

  // Nor are the node's own address or a multicast sender MAC.
  EXPECT_FALSE(Answer(kNodeIp, kMovedMac, 20));
  EXPECT_FALSE(Answer(kNeighbourIp, rte_ether_addr{{0x01, 0, 0x5e, 0, 0, 1}}, 20));
}

TEST_F(NeighbourResolverTest, DropsWhatItCannotTrackWhenTheTableIsFull) {
  CreateResolver(/*capacity=*/2);
  Send(RTE_IPV4(192, 168, 1, 30), 0);
  Send(RTE_IPV4(192, 168, 1, 31), 0);
  Send(RTE_IPV4(192, 168, 1, 32), 0);
  EXPECT_EQ(sink_.drops, std::vector<DropReason>{DropReason::kNeighbourTableFull});
  EXPECT_EQ(Listed(0).size(), 2u);
}

TEST_F(NeighbourResolverTest, ReusesTheRoomOfForgottenNeighbours) {
  CreateResolver(/*capacity=*/2);
  uint64_t now = 0;
  for (uint32_t round = 0; round < 20; ++round) {
    Send(RTE_IPV4(192, 168, 1, 30) + round, now);
    for (int retry = 0; retry < NeighbourResolver::kMaxProbes; ++retry) {
      now += kRetry;
      resolver_->Service(now, sink_);  // asks again, and at last gives up
    }
  }
  EXPECT_EQ(sink_.drops, std::vector<DropReason>(20, DropReason::kNeighbourUnresolved));
}

TEST_F(NeighbourResolverTest, FreesWhatItHoldsWhenDestroyed) {
  const unsigned available = rte_mempool_avail_count(pool_);
  Send(kNeighbourIp, 0);
  rte_mbuf* packet = testing::BuildIpv4(pool_, testing::Ipv4Frame{.dst_ip = kNeighbourIp});
  ASSERT_TRUE(resolver_->HandOver(packet, rte_cpu_to_be_32(kNeighbourIp), kPodPort));
  EXPECT_EQ(rte_mempool_avail_count(pool_), available - 2);

  resolver_.reset();
  EXPECT_EQ(rte_mempool_avail_count(pool_), available);
}

}  // namespace
}  // namespace dpcni::dataplane
