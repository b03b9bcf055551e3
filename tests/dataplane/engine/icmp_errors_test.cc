// ICMP errors about dropped packets: the frames BuildIcmpError makes, which packets may be answered
// at all, and the running engine answering on the port a packet came in on, within its rate limit.
#include <rte_icmp.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

#include "dataplane/engine/icmp_error.h"
#include "gtest/gtest.h"
#include "tests/dataplane/engine/engine_fixture.h"
#include "tests/dataplane/engine/test_packets.h"
#include "tests/dataplane/engine/test_ports.h"

namespace dpcni::dataplane {
namespace {

using testing::Ethernet;
using testing::Ipv4;
using testing::Ipv4Frame;
using testing::kGatewayIp;
using testing::kGatewayMac;
using testing::kKernelMac;
using testing::kNeighbourIp;
using testing::kNeighbourMac;
using testing::kNodeIp;
using testing::kUplinkMac;
using testing::RingPort;
using testing::WaitUntil;

// The IPv4 header of a frame and the 8 bytes after it: what an ICMP error about it must quote.
std::vector<uint8_t> QuoteOf(rte_mbuf* packet) {
  const rte_ipv4_hdr* ip = Ipv4(packet);
  const size_t length =
      std::min<size_t>(rte_ipv4_hdr_len(ip) + 8, rte_be_to_cpu_16(ip->total_length));
  const auto* start = reinterpret_cast<const uint8_t*>(ip);
  return std::vector<uint8_t>(start, start + length);
}

// Rewrites a frame's IPv4 flags and fragment offset word (host order), keeping its checksum valid.
void SetFragmentWord(rte_mbuf* packet, uint16_t word) {
  Ipv4(packet)->fragment_offset = rte_cpu_to_be_16(word);
  Ipv4(packet)->hdr_checksum = 0;
  Ipv4(packet)->hdr_checksum = rte_ipv4_cksum(Ipv4(packet));
}

struct ExpectedError {
  uint8_t type = kIcmpTimeExceeded;
  uint8_t code = kIcmpCodeTtlExceeded;
  uint16_t mtu = 0;  // the last 16 bits of the ICMP header's second word
  rte_ether_addr src_mac{};
  rte_ether_addr dst_mac{};
  uint32_t src_ip = 0;  // host byte order
  uint32_t dst_ip = 0;
  std::vector<uint8_t> quote;
};

void ExpectIcmpError(rte_mbuf* reply, const ExpectedError& expected) {
  ASSERT_NE(reply, nullptr);
  ASSERT_EQ(reply->nb_segs, 1);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(reply)->dst_addr, &expected.dst_mac));
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(reply)->src_addr, &expected.src_mac));
  ASSERT_EQ(Ethernet(reply)->ether_type, RTE_BE16(RTE_ETHER_TYPE_IPV4));
  const rte_ipv4_hdr* ip = Ipv4(reply);
  EXPECT_EQ(ip->version_ihl, RTE_IPV4_VHL_DEF);
  EXPECT_TRUE(testing::Ipv4ChecksumValid(reply));
  EXPECT_EQ(ip->next_proto_id, IPPROTO_ICMP);
  EXPECT_EQ(ip->time_to_live, 64);
  EXPECT_EQ(rte_be_to_cpu_32(ip->src_addr), expected.src_ip);
  EXPECT_EQ(rte_be_to_cpu_32(ip->dst_addr), expected.dst_ip);
  const size_t icmp_length = sizeof(rte_icmp_hdr) + expected.quote.size();
  ASSERT_EQ(rte_be_to_cpu_16(ip->total_length), sizeof(rte_ipv4_hdr) + icmp_length);
  ASSERT_EQ(reply->pkt_len, sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr) + icmp_length);
  const auto* icmp = reinterpret_cast<const rte_icmp_hdr*>(ip + 1);
  EXPECT_EQ(icmp->icmp_type, expected.type);
  EXPECT_EQ(icmp->icmp_code, expected.code);
  EXPECT_EQ(icmp->icmp_ident, 0);
  EXPECT_EQ(rte_be_to_cpu_16(icmp->icmp_seq_nb), expected.mtu);
  // A valid one's complement checksum sums to all ones over the message.
  EXPECT_EQ(rte_raw_cksum(icmp, icmp_length), 0xffff);
  const auto* quote = reinterpret_cast<const uint8_t*>(icmp + 1);
  EXPECT_EQ(std::vector<uint8_t>(quote, quote + expected.quote.size()), expected.quote);
}

// BuildIcmpError and MayAnswerWithIcmpError on single frames.
class IcmpErrorFrameTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = rte_pktmbuf_pool_create(testing::UniqueName("icmp_pool").c_str(), 63, 0, 0,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    ASSERT_NE(pool_, nullptr);
  }
  void TearDown() override {
    for (rte_mbuf* packet : packets_) rte_pktmbuf_free(packet);
    rte_mempool_free(pool_);
  }

  rte_mbuf* Keep(rte_mbuf* packet) {
    EXPECT_NE(packet, nullptr);
    packets_.push_back(packet);
    return packet;
  }
  bool MayAnswer(rte_mbuf* packet) {
    Keep(packet);
    return MayAnswerWithIcmpError(packet, Ethernet(packet), Ipv4(packet));
  }
  static Ipv4Frame FromA(uint32_t destination = kPodBIp) {
    return Ipv4Frame{.src_mac = kPodAMac, .src_ip = kPodAIp, .dst_ip = destination, .ttl = 1};
  }

  rte_mempool* pool_ = nullptr;
  std::vector<rte_mbuf*> packets_;
};

TEST_F(IcmpErrorFrameTest, BuildsTimeExceededQuotingTheHeaderAndEightBytes) {
  Ipv4Frame frame = FromA();
  frame.protocol = IPPROTO_TCP;
  frame.payload_size = 100;
  rte_mbuf* offending = Keep(testing::BuildIpv4(pool_, frame));
  rte_mbuf* reply = Keep(BuildIcmpError(offending, IcmpError::kTimeExceeded, 0, kGatewayMac,
                                        rte_cpu_to_be_32(kGatewayIp), pool_));
  const std::vector<uint8_t> quote = QuoteOf(offending);
  ASSERT_EQ(quote.size(), 28u);  // 20 bytes of IPv4, the TCP ports and sequence number
  ExpectIcmpError(reply, ExpectedError{.src_mac = kGatewayMac,
                                       .dst_mac = kPodAMac,
                                       .src_ip = kGatewayIp,
                                       .dst_ip = kPodAIp,
                                       .quote = quote});
  EXPECT_EQ(Ipv4(reply)->fragment_offset, RTE_BE16(RTE_IPV4_HDR_DF_FLAG));
  EXPECT_EQ(reply->ol_flags, 0u);
}

TEST_F(IcmpErrorFrameTest, BuildsFragmentationNeededWithTheNextHopsMtu) {
  Ipv4Frame frame = FromA(kNeighbourIp);
  frame.ttl = 64;
  frame.payload_size = 1480;
  rte_mbuf* offending = Keep(testing::BuildIpv4(pool_, frame));
  SetFragmentWord(offending, RTE_IPV4_HDR_DF_FLAG);
  rte_mbuf* reply = Keep(BuildIcmpError(offending, IcmpError::kFragmentationNeeded, 1450,
                                        kGatewayMac, rte_cpu_to_be_32(kGatewayIp), pool_));
  ExpectIcmpError(reply, ExpectedError{.type = kIcmpDestinationUnreachable,
                                       .code = kIcmpCodeFragmentationNeeded,
                                       .mtu = 1450,
                                       .src_mac = kGatewayMac,
                                       .dst_mac = kPodAMac,
                                       .src_ip = kGatewayIp,
                                       .dst_ip = kPodAIp,
                                       .quote = QuoteOf(offending)});
}

TEST_F(IcmpErrorFrameTest, QuotesAShortPacketWhole) {
  Ipv4Frame frame = FromA();
  frame.payload_size = 0;  // 20 bytes of IPv4 and 8 of UDP: 28, all of it quoted
  rte_mbuf* offending = Keep(testing::BuildIpv4(pool_, frame));
  // A packet of just an IPv4 header: the quote is those 20 bytes.
  rte_mbuf* bare = Keep(testing::BuildIpv4(pool_, frame));
  Ipv4(bare)->total_length = RTE_BE16(20);
  Ipv4(bare)->hdr_checksum = 0;
  Ipv4(bare)->hdr_checksum = rte_ipv4_cksum(Ipv4(bare));
  for (rte_mbuf* packet : {offending, bare}) {
    rte_mbuf* reply = Keep(BuildIcmpError(packet, IcmpError::kTimeExceeded, 0, kUplinkMac,
                                          rte_cpu_to_be_32(kNodeIp), pool_));
    ExpectIcmpError(reply, ExpectedError{.src_mac = kUplinkMac,
                                         .dst_mac = kPodAMac,
                                         .src_ip = kNodeIp,
                                         .dst_ip = kPodAIp,
                                         .quote = QuoteOf(packet)});
  }
  EXPECT_EQ(QuoteOf(bare).size(), 20u);
}

TEST_F(IcmpErrorFrameTest, ReturnsNothingWhenThePoolIsEmpty) {
  rte_mempool* empty = rte_pktmbuf_pool_create(testing::UniqueName("icmp_empty").c_str(), 1, 0, 0,
                                               RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  ASSERT_NE(empty, nullptr);
  rte_mbuf* only = rte_pktmbuf_alloc(empty);
  ASSERT_NE(only, nullptr);
  rte_mbuf* offending = Keep(testing::BuildIpv4(pool_, FromA()));
  EXPECT_EQ(BuildIcmpError(offending, IcmpError::kTimeExceeded, 0, kGatewayMac,
                           rte_cpu_to_be_32(kGatewayIp), empty),
            nullptr);
  rte_pktmbuf_free(only);
  rte_mempool_free(empty);
}

TEST_F(IcmpErrorFrameTest, AnswersUnicastTcpUdpAndIcmpQueries) {
  Ipv4Frame tcp = FromA();
  tcp.protocol = IPPROTO_TCP;
  EXPECT_TRUE(MayAnswer(testing::BuildIpv4(pool_, tcp)));
  EXPECT_TRUE(MayAnswer(testing::BuildIpv4(pool_, FromA())));
  EXPECT_TRUE(MayAnswer(testing::BuildIcmpEcho(pool_, FromA(), RTE_IP_ICMP_ECHO_REQUEST, 1)));
  EXPECT_TRUE(MayAnswer(testing::BuildIcmpEcho(pool_, FromA(), RTE_IP_ICMP_ECHO_REPLY, 1)));
  // DF, or the first fragment of several: answered.
  rte_mbuf* first_fragment = testing::BuildIpv4(pool_, FromA());
  SetFragmentWord(first_fragment, RTE_IPV4_HDR_MF_FLAG);
  EXPECT_TRUE(MayAnswer(first_fragment));
}

TEST_F(IcmpErrorFrameTest, NeverAnswersAnIcmpError) {
  rte_mbuf* quoted = Keep(testing::BuildIpv4(pool_, FromA()));
  EXPECT_FALSE(MayAnswer(testing::BuildIcmpError(pool_, FromA(), quoted)));
  // Nor an ICMP message whose type is not in the packet.
  rte_mbuf* empty_icmp = testing::BuildIcmpEcho(pool_, FromA(), RTE_IP_ICMP_ECHO_REQUEST, 1);
  Ipv4(empty_icmp)->total_length = RTE_BE16(20);
  EXPECT_FALSE(MayAnswer(empty_icmp));
}

TEST_F(IcmpErrorFrameTest, NeverAnswersBroadcastMulticastOrALaterFragment) {
  Ipv4Frame broadcast_frame = FromA();
  broadcast_frame.dst_mac = rte_ether_addr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  EXPECT_FALSE(MayAnswer(testing::BuildIpv4(pool_, broadcast_frame)));
  Ipv4Frame multicast_frame = FromA();
  multicast_frame.dst_mac = rte_ether_addr{{0x01, 0x00, 0x5e, 0x00, 0x00, 0xfb}};
  EXPECT_FALSE(MayAnswer(testing::BuildIpv4(pool_, multicast_frame)));
  EXPECT_FALSE(MayAnswer(testing::BuildIpv4(pool_, FromA(RTE_IPV4(224, 0, 0, 251)))));
  EXPECT_FALSE(MayAnswer(testing::BuildIpv4(pool_, FromA(RTE_IPV4(255, 255, 255, 255)))));
  EXPECT_FALSE(MayAnswer(testing::BuildIpv4(pool_, FromA(RTE_IPV4(240, 0, 0, 1)))));
  rte_mbuf* later_fragment = testing::BuildIpv4(pool_, FromA());
  SetFragmentWord(later_fragment, 185);  // offset 1480 bytes
  EXPECT_FALSE(MayAnswer(later_fragment));
}

TEST_F(IcmpErrorFrameTest, NeverAnswersASourceThatNamesNoSingleHost) {
  for (uint32_t source : {RTE_IPV4(0, 0, 0, 0), RTE_IPV4(127, 0, 0, 1), RTE_IPV4(224, 1, 2, 3),
                          RTE_IPV4(255, 255, 255, 255)}) {
    Ipv4Frame frame = FromA();
    frame.src_ip = source;
    EXPECT_FALSE(MayAnswer(testing::BuildIpv4(pool_, frame))) << source;
  }
}

// The running engine.
class IcmpErrorsTest : public EngineTest {
 protected:
  void AttachHostAndUplink() {
    host_ = &AddPort();
    ASSERT_TRUE(
        engine_->AttachHostPort(HostEndpoint{.port_id = host_->port_id(), .kernel_mac = kKernelMac})
            .ok());
    uplink_ = &AddPort();
    absl::Status attached =
        engine_->AttachUplink(UplinkEndpoint{.port_id = uplink_->port_id(),
                                             .mac = kUplinkMac,
                                             .ip = kNodeIp,
                                             .prefix_length = testing::kUplinkPrefixLength});
    ASSERT_TRUE(attached.ok()) << attached;
  }

  static Ipv4Frame ExpiringFromA() {
    Ipv4Frame frame = FromAToB();
    frame.ttl = 1;
    return frame;
  }

  RingPort* host_ = nullptr;
  RingPort* uplink_ = nullptr;
};

TEST_F(IcmpErrorsTest, AnswersAPodsExpiringPacketWithTimeExceededFromTheGateway) {
  StartEngine(Config());
  AttachPodsAAndB();
  rte_mbuf* packet = testing::BuildIpv4(pool_, ExpiringFromA());
  const std::vector<uint8_t> quote = QuoteOf(packet);
  port_a_->Receive(packet);

  std::vector<rte_mbuf*> sent = port_a_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  ExpectIcmpError(sent[0], ExpectedError{.src_mac = kGatewayMac,
                                         .dst_mac = kPodAMac,
                                         .src_ip = kGatewayIp,
                                         .dst_ip = kPodAIp,
                                         .quote = quote});
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return Events(*port_a_, "icmp_errors_sent") == 1; }));
  EXPECT_EQ(Dropped(*port_a_, "ttl_exceeded"), 1u);
  EXPECT_EQ(CountersOf(*port_a_).tx_packets, 1u);
  EXPECT_TRUE(port_b_->TakeAllSent().empty());
}

TEST_F(IcmpErrorsTest, AnswersAnExpiringPacketFromTheUplinkFromTheNodesAddress) {
  StartEngine(Config());
  AttachPodsAAndB();
  AttachHostAndUplink();
  Ipv4Frame frame{.src_mac = kNeighbourMac,
                  .dst_mac = kUplinkMac,
                  .src_ip = kNeighbourIp,
                  .dst_ip = kPodAIp,
                  .ttl = 1,
                  .protocol = IPPROTO_TCP};
  rte_mbuf* packet = testing::BuildIpv4(pool_, frame);
  const std::vector<uint8_t> quote = QuoteOf(packet);
  uplink_->Receive(packet);

  // Straight back to the frame's sender: no ARP needed, nothing for the pod or the kernel.
  std::vector<rte_mbuf*> sent = uplink_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  ExpectIcmpError(sent[0], ExpectedError{.src_mac = kUplinkMac,
                                         .dst_mac = kNeighbourMac,
                                         .src_ip = kNodeIp,
                                         .dst_ip = kNeighbourIp,
                                         .quote = quote});
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return Events(*uplink_, "icmp_errors_sent") == 1; }));
  EXPECT_EQ(Dropped(*uplink_, "ttl_exceeded"), 1u);
  EXPECT_EQ(Events(*uplink_, "arp_requests"), 0u);
  EXPECT_TRUE(port_a_->TakeAllSent().empty());
  EXPECT_TRUE(host_->TakeAllSent().empty());
}

TEST_F(IcmpErrorsTest, AnswersTheKernelsExpiringPacketFromTheGateway) {
  StartEngine(Config());
  AttachPodsAAndB();
  AttachHostAndUplink();
  Ipv4Frame frame{
      .src_mac = kKernelMac, .src_ip = RTE_IPV4(203, 0, 113, 9), .dst_ip = kPodBIp, .ttl = 1};
  rte_mbuf* packet = testing::BuildIpv4(pool_, frame);
  const std::vector<uint8_t> quote = QuoteOf(packet);
  host_->Receive(packet);

  std::vector<rte_mbuf*> sent = host_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  ExpectIcmpError(sent[0], ExpectedError{.src_mac = kGatewayMac,
                                         .dst_mac = kKernelMac,
                                         .src_ip = kGatewayIp,
                                         .dst_ip = RTE_IPV4(203, 0, 113, 9),
                                         .quote = quote});
  testing::FreeAll(sent);
  EXPECT_TRUE(port_b_->TakeAllSent().empty());
}

TEST_F(IcmpErrorsTest, TellsAPodTheMtuOfTheUplinkForAnOversizedPacketWithDf) {
  StartEngine(Config());
  AttachPodsAAndB();
  AttachHostAndUplink();
  Ipv4Frame frame = FromAToB();
  frame.dst_ip = kNeighbourIp;
  frame.protocol = IPPROTO_TCP;
  frame.payload_size = 1500 - 20 - 20 + 1;  // one byte over the uplink's MTU
  rte_mbuf* too_big = testing::BuildIpv4(pool_, frame);
  SetFragmentWord(too_big, RTE_IPV4_HDR_DF_FLAG);
  const std::vector<uint8_t> quote = QuoteOf(too_big);
  // The same without DF: dropped too, but nobody is told (the engine does not fragment).
  rte_mbuf* without_df = testing::BuildIpv4(pool_, frame);
  rte_mbuf* burst[] = {without_df, too_big};
  ASSERT_EQ(port_a_->Receive(burst, 2), 2u);

  std::vector<rte_mbuf*> sent = port_a_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  ExpectIcmpError(sent[0], ExpectedError{.type = kIcmpDestinationUnreachable,
                                         .code = kIcmpCodeFragmentationNeeded,
                                         .mtu = 1500,
                                         .src_mac = kGatewayMac,
                                         .dst_mac = kPodAMac,
                                         .src_ip = kGatewayIp,
                                         .dst_ip = kPodAIp,
                                         .quote = quote});
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return Dropped(*port_a_, "mtu_exceeded") == 2; }));
  EXPECT_EQ(Events(*port_a_, "icmp_errors_sent"), 1u);
  EXPECT_TRUE(port_a_->TakeAllSent().empty());
  EXPECT_TRUE(uplink_->TakeAllSent().empty());
  // What fits still leaves.
  frame.payload_size -= 1;
  rte_mbuf* fits = testing::BuildIpv4(pool_, frame);
  SetFragmentWord(fits, RTE_IPV4_HDR_DF_FLAG);
  port_a_->Receive(fits);
  std::vector<rte_mbuf*> arp = uplink_->WaitForSent(1);  // it waits for the neighbour's MAC
  ASSERT_EQ(arp.size(), 1u);
  EXPECT_EQ(Ethernet(arp[0])->ether_type, RTE_BE16(RTE_ETHER_TYPE_ARP));
  testing::FreeAll(arp);
}

TEST_F(IcmpErrorsTest, TellsTheUplinksSenderThePodsMtu) {
  StartEngine(Config());
  AttachPodsAAndB();
  AttachHostAndUplink();
  Ipv4Frame frame{.src_mac = kNeighbourMac,
                  .dst_mac = kUplinkMac,
                  .src_ip = kNeighbourIp,
                  .dst_ip = kPodAIp,
                  .payload_size = 1500 - 20 - 8 + 1};
  rte_mbuf* too_big = testing::BuildIpv4(pool_, frame);
  SetFragmentWord(too_big, RTE_IPV4_HDR_DF_FLAG);
  const std::vector<uint8_t> quote = QuoteOf(too_big);
  uplink_->Receive(too_big);

  std::vector<rte_mbuf*> sent = uplink_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  ExpectIcmpError(sent[0], ExpectedError{.type = kIcmpDestinationUnreachable,
                                         .code = kIcmpCodeFragmentationNeeded,
                                         .mtu = 1500,
                                         .src_mac = kUplinkMac,
                                         .dst_mac = kNeighbourMac,
                                         .src_ip = kNodeIp,
                                         .dst_ip = kNeighbourIp,
                                         .quote = quote});
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return Dropped(*uplink_, "mtu_exceeded") == 1; }));
  EXPECT_TRUE(port_a_->TakeAllSent().empty());
}

TEST_F(IcmpErrorsTest, SendsNoIcmpErrorAboutAnIcmpErrorABroadcastOrALaterFragment) {
  StartEngine(Config());
  AttachPodsAAndB();
  rte_mbuf* quoted = testing::BuildIpv4(
      pool_, Ipv4Frame{.src_mac = kPodBMac, .src_ip = kPodBIp, .dst_ip = kPodAIp});
  rte_mbuf* error = testing::BuildIcmpError(pool_, ExpiringFromA(), quoted);
  rte_pktmbuf_free(quoted);
  Ipv4Frame broadcast = ExpiringFromA();
  broadcast.dst_mac = rte_ether_addr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  rte_mbuf* later_fragment = testing::BuildIpv4(pool_, ExpiringFromA());
  SetFragmentWord(later_fragment, 185);
  // Last, in the same burst: an echo request that is answered, so that by the time its answer is
  // out the three before it were decided.
  rte_mbuf* echo =
      testing::BuildIcmpEcho(pool_, ExpiringFromA(), RTE_IP_ICMP_ECHO_REQUEST, /*ident=*/9);
  const std::vector<uint8_t> echo_quote = QuoteOf(echo);
  rte_mbuf* burst[] = {error, testing::BuildIpv4(pool_, broadcast), later_fragment, echo};
  ASSERT_EQ(port_a_->Receive(burst, 4), 4u);

  std::vector<rte_mbuf*> sent = port_a_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  ExpectIcmpError(sent[0], ExpectedError{.src_mac = kGatewayMac,
                                         .dst_mac = kPodAMac,
                                         .src_ip = kGatewayIp,
                                         .dst_ip = kPodAIp,
                                         .quote = echo_quote});
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return Dropped(*port_a_, "ttl_exceeded") == 4; }));
  EXPECT_EQ(Events(*port_a_, "icmp_errors_sent"), 1u);
  EXPECT_TRUE(port_a_->TakeAllSent().empty());
  EXPECT_TRUE(port_b_->TakeAllSent().empty());
}

TEST_F(IcmpErrorsTest, LimitsTheRateOfIcmpErrorsPerWorker) {
  EngineConfig config = Config();
  config.icmp_errors = IcmpErrorConfig{.per_second = 1, .burst = 5};
  StartEngine(config);
  AttachPodsAAndB();
  // One ring enqueue, one Rx burst: the worker decides all 20 at one instant.
  constexpr unsigned kFlood = 20;
  rte_mbuf* flood[kFlood];
  for (rte_mbuf*& packet : flood) {
    packet = testing::BuildIpv4(pool_, ExpiringFromA());
  }
  ASSERT_EQ(port_a_->Receive(flood, kFlood), kFlood);
  ASSERT_TRUE(WaitUntil([&] { return Dropped(*port_a_, "ttl_exceeded") == kFlood; }));
  ASSERT_TRUE(WaitUntil([&] { return CountersOf(*port_a_).tx_packets == 5; }));
  testing::FreeAll(port_a_->TakeAllSent());
  EXPECT_EQ(Events(*port_a_, "icmp_errors_sent"), 5u);
  EXPECT_EQ(Events(*port_a_, "icmp_errors_rate_limited"), kFlood - 5);

  // A second later the bucket holds a token again.
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  port_a_->Receive(testing::BuildIpv4(pool_, ExpiringFromA()));
  std::vector<rte_mbuf*> sent = port_a_->WaitForSent(1);
  EXPECT_EQ(sent.size(), 1u);
  testing::FreeAll(sent);
  EXPECT_EQ(Events(*port_a_, "icmp_errors_sent"), 6u);
}

TEST_F(IcmpErrorsTest, SendsNoneWhenTurnedOff) {
  EngineConfig config = Config();
  config.icmp_errors.per_second = 0;
  StartEngine(config);
  AttachPodsAAndB();
  port_a_->Receive(testing::BuildIpv4(pool_, ExpiringFromA()));
  ASSERT_TRUE(WaitUntil([&] { return Events(*port_a_, "icmp_errors_rate_limited") == 1; }));
  EXPECT_EQ(Dropped(*port_a_, "ttl_exceeded"), 1u);
  EXPECT_TRUE(port_a_->TakeAllSent().empty());
}

TEST_F(IcmpErrorsTest, RefusesABurstOfZero) {
  EngineConfig config = Config();
  config.icmp_errors = IcmpErrorConfig{.per_second = 10, .burst = 0};
  absl::StatusOr<std::unique_ptr<ForwardingEngine>> engine = ForwardingEngine::Create(config);
  ASSERT_FALSE(engine.ok());
  EXPECT_EQ(engine.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(engine.status().message().find("icmp_errors.burst"), std::string::npos);
}

}  // namespace
}  // namespace dpcni::dataplane
