// The flow table on its own: what a forwarded flow leaves, which replies match it, and when it
// goes, with time given as TSC values by the test.
#include "dataplane/engine/flow_table.h"

#include <rte_cycles.h>
#include <rte_ip.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <memory>

#include "gtest/gtest.h"
#include "tests/dataplane/engine/test_ports.h"

namespace dpcni::dataplane {
namespace {

using namespace std::chrono_literals;

constexpr uint16_t kClientPort = 3;
constexpr uint16_t kServerPort = 5;

// A TCP or UDP flow from a client to a server as the kernel forwards it, after its DNAT.
KernelFlow Forwarded(uint8_t protocol, uint16_t client_port, uint8_t tcp_flags = 0,
                     uint16_t reply_port = kServerPort) {
  const FlowKey forward{.source = rte_cpu_to_be_32(RTE_IPV4(10, 244, 0, 10)),
                        .destination = rte_cpu_to_be_32(RTE_IPV4(10, 244, 0, 11)),
                        .source_port = rte_cpu_to_be_16(client_port),
                        .destination_port = RTE_BE16(8080),
                        .protocol = protocol};
  return KernelFlow{.reply = forward.Reversed(), .reply_port = reply_port, .tcp_flags = tcp_flags};
}

class FlowTableTest : public ::testing::Test {
 protected:
  void SetUp() override {
    rcu_ = static_cast<rte_rcu_qsbr*>(
        rte_zmalloc("flow_rcu", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE));
    ASSERT_EQ(rte_rcu_qsbr_init(rcu_, 1), 0);
    Make(FlowTableConfig{.capacity = 64,
                         .timeouts = {.tcp_established = 1000s,
                                      .tcp_transitory = 10s,
                                      .udp = 3s,
                                      .udp_stream = 20s,
                                      .icmp = 4s,
                                      .other = 5s}});
  }

  void TearDown() override {
    table_.reset();
    rte_free(rcu_);
  }

  void Make(const FlowTableConfig& config) {
    table_.reset();
    absl::StatusOr<std::unique_ptr<FlowTable>> table =
        FlowTable::Create(testing::UniqueName("flows"), config, /*workers=*/1, rcu_);
    ASSERT_TRUE(table.ok()) << table.status();
    table_ = std::move(*table);
  }

  // The TSC `seconds` after the test's start.
  uint64_t At(double seconds) const {
    return start_ + static_cast<uint64_t>(seconds * static_cast<double>(rte_get_tsc_hz()));
  }

  // The sweep at `now`: every test calls it at least a sweep period after the last call, by when
  // every position is due (the tables here have fewer positions than a call may visit).
  void SweepAll(uint64_t now) { table_->Sweep(now); }

  bool Replies(const KernelFlow& flow, uint64_t now, uint8_t tcp_flags = 0) {
    return table_->MatchReply(flow.reply, tcp_flags, now);
  }

  const uint64_t start_ = 1'000'000'000;
  rte_rcu_qsbr* rcu_ = nullptr;
  std::unique_ptr<FlowTable> table_;
};

TEST_F(FlowTableTest, RepliesOfAForwardedFlowMatchAndNothingElseDoes) {
  const KernelFlow flow = Forwarded(IPPROTO_TCP, 41000, kTcpSyn);
  EXPECT_FALSE(table_->Watched(kServerPort));
  table_->Track(flow, At(0));
  EXPECT_TRUE(table_->Watched(kServerPort));
  EXPECT_FALSE(table_->Watched(kClientPort));

  EXPECT_TRUE(Replies(flow, At(0.1)));
  // The forward direction, another client port and another protocol are other flows.
  EXPECT_FALSE(table_->MatchReply(flow.reply.Reversed(), 0, At(0.1)));
  EXPECT_FALSE(Replies(Forwarded(IPPROTO_TCP, 41001), At(0.1)));
  EXPECT_FALSE(Replies(Forwarded(IPPROTO_UDP, 41000), At(0.1)));

  const FlowTableStats stats = table_->Stats();
  EXPECT_EQ(stats.entries, 1u);
  EXPECT_EQ(stats.capacity, 64u);
  EXPECT_EQ(stats.inserts, 1u);
}

TEST_F(FlowTableTest, ForwardPacketsOfAKnownFlowDoNotAddAnother) {
  const KernelFlow syn = Forwarded(IPPROTO_TCP, 41000, kTcpSyn);
  table_->Track(syn, At(0));
  table_->Track(Forwarded(IPPROTO_TCP, 41000, kTcpAck), At(1));
  table_->Track(Forwarded(IPPROTO_TCP, 41000, kTcpAck), At(2));
  EXPECT_EQ(table_->Stats().entries, 1u);
  EXPECT_EQ(table_->Stats().inserts, 1u);
}

TEST_F(FlowTableTest, HitsAreCountedPerWorkerAndSummed) {
  table_->CountHit(0);
  table_->CountHit(0);
  EXPECT_EQ(table_->Stats().hits, 2u);
}

TEST_F(FlowTableTest, AnUnansweredTcpOpeningExpiresAfterTheTransitoryTimeout) {
  const KernelFlow syn = Forwarded(IPPROTO_TCP, 41000, kTcpSyn);
  table_->Track(syn, At(0));
  SweepAll(At(9));
  EXPECT_EQ(table_->Stats().entries, 1u);
  SweepAll(At(11));
  EXPECT_EQ(table_->Stats().entries, 0u);
  EXPECT_EQ(table_->Stats().expiries, 1u);
  EXPECT_FALSE(table_->Watched(kServerPort));
  EXPECT_FALSE(Replies(syn, At(11)));
}

TEST_F(FlowTableTest, AnEstablishedTcpFlowOutlivesTheTransitoryTimeoutUntilItCloses) {
  const KernelFlow syn = Forwarded(IPPROTO_TCP, 41000, kTcpSyn);
  table_->Track(syn, At(0));
  EXPECT_TRUE(Replies(syn, At(0.001), kTcpSyn | kTcpAck));
  table_->Track(Forwarded(IPPROTO_TCP, 41000, kTcpAck), At(0.002));
  SweepAll(At(500));
  ASSERT_EQ(table_->Stats().entries, 1u);
  std::vector<FlowInfo> listed = table_->List(At(500), rte_get_tsc_hz(), 0);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0].state, "established");
  EXPECT_EQ(listed[0].timeout_ms, 1'000'000u);
  EXPECT_EQ(listed[0].reply, syn.reply);
  EXPECT_EQ(listed[0].reply_port, kServerPort);

  // The server closes: from then on the flow goes after the transitory timeout.
  EXPECT_TRUE(Replies(syn, At(500), kTcpFin | kTcpAck));
  EXPECT_EQ(table_->List(At(500), rte_get_tsc_hz(), 0)[0].state, "closing");
  SweepAll(At(511));
  EXPECT_EQ(table_->Stats().entries, 0u);
}

TEST_F(FlowTableTest, RepliesKeepAFlowAliveWhileTheForwardDirectionIsQuiet) {
  const KernelFlow request = Forwarded(IPPROTO_UDP, 5353);
  table_->Track(request, At(0));
  // Answered: the stream timeout (20 s) applies, and every reply refreshes it.
  for (int second = 1; second <= 60; ++second) {
    EXPECT_TRUE(Replies(request, At(second))) << second;
    SweepAll(At(second));
  }
  EXPECT_EQ(table_->Stats().entries, 1u);
  SweepAll(At(81));
  EXPECT_EQ(table_->Stats().entries, 0u);
}

TEST_F(FlowTableTest, AnUnansweredUdpFlowGoesAfterTheShortTimeout) {
  table_->Track(Forwarded(IPPROTO_UDP, 5353), At(0));
  SweepAll(At(4));
  EXPECT_EQ(table_->Stats().entries, 0u);
}

TEST_F(FlowTableTest, AFullTableEvictsAFlowThatIsNotEstablished) {
  Make(FlowTableConfig{.capacity = 8});
  for (uint16_t client = 1; client <= 8; ++client) {
    table_->Track(Forwarded(IPPROTO_UDP, client), At(client));
  }
  EXPECT_EQ(table_->Stats().entries, 8u);
  const KernelFlow newest = Forwarded(IPPROTO_UDP, 100);
  table_->Track(newest, At(10));
  const FlowTableStats stats = table_->Stats();
  EXPECT_EQ(stats.entries, 8u);
  EXPECT_EQ(stats.evictions, 1u);
  EXPECT_EQ(stats.insert_failures, 0u);
  EXPECT_TRUE(Replies(newest, At(10)));
  // The oldest, nearest its expiry, made room.
  EXPECT_FALSE(Replies(Forwarded(IPPROTO_UDP, 1), At(10)));
}

TEST_F(FlowTableTest, AFullTableOfEstablishedFlowsKeepsThemAndCountsTheNewFlow) {
  Make(FlowTableConfig{.capacity = 8});
  for (uint16_t client = 1; client <= 8; ++client) {
    const KernelFlow flow = Forwarded(IPPROTO_TCP, client, kTcpSyn);
    table_->Track(flow, At(0));
    ASSERT_TRUE(Replies(flow, At(0), kTcpSyn | kTcpAck));
    table_->Track(Forwarded(IPPROTO_TCP, client, kTcpAck), At(0));
  }
  const KernelFlow refused = Forwarded(IPPROTO_TCP, 100, kTcpSyn);
  table_->Track(refused, At(1));
  const FlowTableStats stats = table_->Stats();
  EXPECT_EQ(stats.entries, 8u);
  EXPECT_EQ(stats.evictions, 0u);
  EXPECT_EQ(stats.insert_failures, 1u);
  EXPECT_FALSE(Replies(refused, At(1)));
  EXPECT_TRUE(Replies(Forwarded(IPPROTO_TCP, 1), At(1)));
}

TEST_F(FlowTableTest, AFlowWhoseRepliesMoveToAnotherPortIsWatchedThere) {
  table_->Track(Forwarded(IPPROTO_UDP, 5353), At(0));
  table_->Track(Forwarded(IPPROTO_UDP, 5353, 0, /*reply_port=*/9), At(1));
  EXPECT_FALSE(table_->Watched(kServerPort));
  EXPECT_TRUE(table_->Watched(9));
  EXPECT_EQ(table_->Stats().entries, 1u);
}

TEST_F(FlowTableTest, TheSweepAdvancesWithTimeNotWithCalls) {
  table_->Track(Forwarded(IPPROTO_UDP, 5353), At(0));
  const uint64_t expiry = At(3);  // the UDP timeout
  SweepAll(expiry - 1);
  // Expired from now on, but a thousand calls within a microsecond visit no position: a busy
  // worker's rounds do not each walk the table.
  for (uint64_t cycle = 1; cycle <= 1000; ++cycle) {
    table_->Sweep(expiry + cycle);
  }
  EXPECT_EQ(table_->Stats().entries, 1u);
  SweepAll(At(4));
  EXPECT_EQ(table_->Stats().entries, 0u);
}

TEST_F(FlowTableTest, OfferedFlowsAreTrackedByTheWriterAnsweredOnesAsEstablished) {
  KernelFlow seeded = Forwarded(IPPROTO_TCP, 41000, kTcpAck);
  seeded.answered = true;
  ASSERT_TRUE(table_->Offer(seeded));
  ASSERT_TRUE(table_->Offer(Forwarded(IPPROTO_UDP, 5353)));
  EXPECT_EQ(table_->Stats().entries, 0u);  // until the writer takes them
  table_->TakeOffered(At(0));
  EXPECT_EQ(table_->Stats().entries, 2u);
  EXPECT_TRUE(table_->Watched(kServerPort));
  SweepAll(At(500));  // past the transitory timeout: the answered connection stays
  std::vector<FlowInfo> kept = table_->List(At(500), rte_get_tsc_hz(), 0);
  ASSERT_EQ(kept.size(), 1u);
  EXPECT_EQ(kept[0].state, "established");
}

// A client reuses the port of a closed Service connection for a direct one to the same endpoint:
// after the DNAT the tuples are the same, and the new connection's replies are its own.
TEST_F(FlowTableTest, ADirectOpeningTakesTheKeyOfAClosingFlowOnly) {
  const KernelFlow syn = Forwarded(IPPROTO_TCP, 41000, kTcpSyn);
  table_->Track(syn, At(0));
  EXPECT_TRUE(Replies(syn, At(0.001), kTcpSyn | kTcpAck));
  table_->Track(Forwarded(IPPROTO_TCP, 41000, kTcpAck), At(0.002));
  // Still open: the key stays with the NATed connection.
  table_->NoteDirectOpening(syn.reply);
  EXPECT_TRUE(Replies(syn, At(1), kTcpAck));
  EXPECT_EQ(table_->List(At(1), rte_get_tsc_hz(), 0)[0].state, "established");

  table_->Track(Forwarded(IPPROTO_TCP, 41000, kTcpFin | kTcpAck), At(2));
  EXPECT_TRUE(Replies(syn, At(2), kTcpFin | kTcpAck));
  table_->NoteDirectOpening(syn.reply);
  EXPECT_FALSE(Replies(syn, At(3), kTcpSyn | kTcpAck)) << "the direct connection's SYN-ACK";
  EXPECT_FALSE(Replies(syn, At(3), kTcpAck));
  EXPECT_EQ(table_->List(At(3), rte_get_tsc_hz(), 0)[0].state, "superseded");
  EXPECT_FALSE(table_->Watched(kClientPort));
  // Gone at the next sweep, long before the transitory timeout.
  SweepAll(At(4.5));
  EXPECT_EQ(table_->Stats().entries, 0u);
  EXPECT_FALSE(table_->Watched(kServerPort));
}

TEST_F(FlowTableTest, AKernelForwardedSynTakesASupersededKeyBack) {
  const KernelFlow syn = Forwarded(IPPROTO_TCP, 41000, kTcpSyn);
  table_->Track(syn, At(0));
  table_->Track(Forwarded(IPPROTO_TCP, 41000, kTcpRst), At(0.1));
  table_->NoteDirectOpening(syn.reply);
  EXPECT_FALSE(Replies(syn, At(0.2), kTcpSyn | kTcpAck));
  // The client opens through the Service again, on the same tuple.
  table_->Track(syn, At(0.3));
  EXPECT_TRUE(Replies(syn, At(0.4), kTcpSyn | kTcpAck));
  EXPECT_EQ(table_->List(At(0.4), rte_get_tsc_hz(), 0)[0].state, "replied");
}

// After a restart the table learns conntrack's closed connections as closing ones.
TEST_F(FlowTableTest, ASeededClosedConnectionIsClosingAndMayBeSuperseded) {
  KernelFlow seeded = Forwarded(IPPROTO_TCP, 41000, kTcpAck | kTcpFin);
  seeded.answered = true;
  ASSERT_TRUE(table_->Offer(seeded));
  table_->TakeOffered(At(0));
  EXPECT_EQ(table_->List(At(0), rte_get_tsc_hz(), 0)[0].state, "closing");
  table_->NoteDirectOpening(seeded.reply);
  EXPECT_FALSE(Replies(seeded, At(0.1), kTcpSyn | kTcpAck));
}

TEST_F(FlowTableTest, ListingHonoursItsLimit) {
  for (uint16_t client = 1; client <= 5; ++client) {
    table_->Track(Forwarded(IPPROTO_UDP, client), At(0));
  }
  EXPECT_EQ(table_->List(At(1), rte_get_tsc_hz(), 0).size(), 5u);
  EXPECT_EQ(table_->List(At(1), rte_get_tsc_hz(), 2).size(), 2u);
}

TEST_F(FlowTableTest, PositionsOfExpiredFlowsAreReusedAfterAGracePeriod) {
  Make(FlowTableConfig{.capacity = 8, .timeouts = {.udp = 1s}});
  // Many more flows than slots, each expired before the next batch: the table never runs dry.
  rte_rcu_qsbr_thread_register(rcu_, 0);
  rte_rcu_qsbr_thread_online(rcu_, 0);
  for (int round = 0; round < 50; ++round) {
    for (uint16_t client = 1; client <= 8; ++client) {
      table_->Track(Forwarded(IPPROTO_UDP, static_cast<uint16_t>(round * 8 + client)),
                    At(round * 2));
    }
    // The table holds this round's flows (listing them leaves them as they are; a reply would
    // make them answered, with a longer timeout).
    std::vector<FlowInfo> kept = table_->List(At(round * 2), rte_get_tsc_hz(), 0);
    ASSERT_EQ(kept.size(), 8u) << "round " << round;
    for (const FlowInfo& flow : kept) {
      const uint16_t client = rte_be_to_cpu_16(flow.reply.destination_port);
      EXPECT_GT(client, round * 8);
      EXPECT_LE(client, round * 8 + 8);
    }
    SweepAll(At(round * 2 + 1.5));
    // Gone, and matched by nothing: the hash and the filter both forgot them.
    for (uint16_t client = 1; client <= 8; ++client) {
      EXPECT_FALSE(Replies(Forwarded(IPPROTO_UDP, static_cast<uint16_t>(round * 8 + client)),
                           At(round * 2 + 1.5)));
    }
    rte_rcu_qsbr_quiescent(rcu_, 0);
  }
  rte_rcu_qsbr_thread_offline(rcu_, 0);
  rte_rcu_qsbr_thread_unregister(rcu_, 0);
  const FlowTableStats stats = table_->Stats();
  EXPECT_EQ(stats.inserts, 400u);
  EXPECT_EQ(stats.expiries, 400u);
  EXPECT_EQ(stats.insert_failures, 0u);
}

}  // namespace
}  // namespace dpcni::dataplane
