// The per-packet decision, one packet at a time, without workers or ports.
#include "dataplane/engine/packet_path.h"

#include <rte_arp.h>
#include <rte_lpm.h>

#include "gtest/gtest.h"
#include "tests/dataplane/engine/test_packets.h"
#include "tests/dataplane/engine/test_ports.h"

namespace dpcni::dataplane {
namespace {

using testing::BuildArpRequest;
using testing::BuildIpv4;
using testing::BuildIpv6;
using testing::Ethernet;
using testing::Ipv4;
using testing::Ipv4Frame;
using testing::kGatewayIp;
using testing::kGatewayMac;

constexpr uint16_t kPortA = 3;
constexpr uint16_t kPortB = 5;
constexpr uint32_t kPodAIp = RTE_IPV4(10, 244, 0, 10);
constexpr uint32_t kPodBIp = RTE_IPV4(10, 244, 0, 11);
constexpr rte_ether_addr kPodAMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}};
constexpr rte_ether_addr kPodBMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}};

class PacketPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = rte_pktmbuf_pool_create(testing::UniqueName("path_pool").c_str(), 255, 0, 0,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    ASSERT_NE(pool_, nullptr);
    rte_lpm_config config{.max_rules = 16, .number_tbl8s = 16, .flags = 0};
    lpm_ = rte_lpm_create(testing::UniqueName("path_lpm").c_str(), SOCKET_ID_ANY, &config);
    ASSERT_NE(lpm_, nullptr);
    absl::StatusOr<uint32_t> to_b = next_hops_.Allocate(
        NextHop{.port_id = kPortB, .dst_mac = kPodBMac, .src_mac = kGatewayMac});
    ASSERT_TRUE(to_b.ok());
    ASSERT_EQ(rte_lpm_add(lpm_, kPodBIp, 32, *to_b), 0);
    routing_ = RoutingView{.lpm = lpm_,
                           .next_hops = next_hops_.entries(),
                           .gateway_ip = rte_cpu_to_be_32(kGatewayIp),
                           .gateway_mac = kGatewayMac};
  }

  void TearDown() override {
    rte_pktmbuf_free(packet_);
    rte_lpm_free(lpm_);
    rte_mempool_free(pool_);
  }

  // Decides for a packet from pod A; the fixture frees the packet.
  Verdict Decide(rte_mbuf* packet) {
    EXPECT_NE(packet, nullptr);
    packet_ = packet;
    return DecidePacket(routing_, pod_a_, packet);
  }

  Ipv4Frame FromAToB() const {
    return Ipv4Frame{.src_mac = kPodAMac, .src_ip = kPodAIp, .dst_ip = kPodBIp};
  }

  void ExpectDrop(const Verdict& verdict, DropReason reason) {
    EXPECT_EQ(verdict.action, Action::kDrop);
    EXPECT_EQ(DropReasonName(verdict.drop_reason), DropReasonName(reason));
  }

  rte_mempool* pool_ = nullptr;
  rte_lpm* lpm_ = nullptr;
  NextHopTable next_hops_{8};
  RoutingView routing_;
  const IngressPod pod_a_{.port_id = kPortA, .ip = rte_cpu_to_be_32(kPodAIp), .mac = kPodAMac};
  rte_mbuf* packet_ = nullptr;
};

TEST_F(PacketPathTest, AnswersArpForTheGatewayWithTheGatewayMac) {
  Verdict verdict = Decide(BuildArpRequest(pool_, kPodAMac, kPodAIp, kGatewayIp));

  ASSERT_EQ(verdict.action, Action::kReplyToSender);
  rte_ether_hdr* ethernet = Ethernet(packet_);
  EXPECT_TRUE(rte_is_same_ether_addr(&ethernet->dst_addr, &kPodAMac));
  EXPECT_TRUE(rte_is_same_ether_addr(&ethernet->src_addr, &kGatewayMac));
  EXPECT_EQ(ethernet->ether_type, RTE_BE16(RTE_ETHER_TYPE_ARP));
  auto* arp = reinterpret_cast<rte_arp_hdr*>(ethernet + 1);
  EXPECT_EQ(arp->arp_opcode, RTE_BE16(RTE_ARP_OP_REPLY));
  EXPECT_EQ(arp->arp_hardware, RTE_BE16(RTE_ARP_HRD_ETHER));
  EXPECT_EQ(arp->arp_protocol, RTE_BE16(RTE_ETHER_TYPE_IPV4));
  rte_ether_addr sender_mac = arp->arp_data.arp_sha;
  rte_ether_addr target_mac = arp->arp_data.arp_tha;
  EXPECT_TRUE(rte_is_same_ether_addr(&sender_mac, &kGatewayMac));
  EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_sip), kGatewayIp);
  EXPECT_TRUE(rte_is_same_ether_addr(&target_mac, &kPodAMac));
  EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_tip), kPodAIp);
}

TEST_F(PacketPathTest, IgnoresArpForOtherAddresses) {
  ExpectDrop(Decide(BuildArpRequest(pool_, kPodAMac, kPodAIp, kPodBIp)), DropReason::kArpIgnored);
}

TEST_F(PacketPathTest, IgnoresArpReplies) {
  rte_mbuf* reply = BuildArpRequest(pool_, kPodAMac, kPodAIp, kGatewayIp);
  reinterpret_cast<rte_arp_hdr*>(Ethernet(reply) + 1)->arp_opcode = RTE_BE16(RTE_ARP_OP_REPLY);
  ExpectDrop(Decide(reply), DropReason::kArpIgnored);
}

TEST_F(PacketPathTest, DropsArpFromAnotherSenderIp) {
  ExpectDrop(Decide(BuildArpRequest(pool_, kPodAMac, kPodBIp, kGatewayIp)),
             DropReason::kSpoofedSource);
}

TEST_F(PacketPathTest, ForwardsToALocalPodRewritingMacsAndTtl) {
  Verdict verdict = Decide(BuildIpv4(pool_, FromAToB()));

  ASSERT_EQ(verdict.action, Action::kForward);
  ASSERT_NE(verdict.next_hop, nullptr);
  EXPECT_EQ(verdict.next_hop->port_id, kPortB);
  rte_ether_hdr* ethernet = Ethernet(packet_);
  EXPECT_TRUE(rte_is_same_ether_addr(&ethernet->dst_addr, &kPodBMac));
  EXPECT_TRUE(rte_is_same_ether_addr(&ethernet->src_addr, &kGatewayMac));
  EXPECT_EQ(Ipv4(packet_)->time_to_live, 63);
  EXPECT_TRUE(testing::Ipv4ChecksumValid(packet_));
  EXPECT_TRUE(testing::L4ChecksumValid(packet_));
  EXPECT_EQ(packet_->l2_len, sizeof(rte_ether_hdr));
  EXPECT_EQ(packet_->l3_len, sizeof(rte_ipv4_hdr));
}

TEST_F(PacketPathTest, DropsASpoofedSourceIp) {
  Ipv4Frame frame = FromAToB();
  frame.src_ip = RTE_IPV4(10, 244, 0, 99);
  ExpectDrop(Decide(BuildIpv4(pool_, frame)), DropReason::kSpoofedSource);
}

TEST_F(PacketPathTest, DropsASpoofedSourceMac) {
  Ipv4Frame frame = FromAToB();
  frame.src_mac = kPodBMac;
  ExpectDrop(Decide(BuildIpv4(pool_, frame)), DropReason::kSpoofedSource);
}

TEST_F(PacketPathTest, DropsWithoutRoute) {
  Ipv4Frame frame = FromAToB();
  frame.dst_ip = RTE_IPV4(10, 244, 1, 1);
  ExpectDrop(Decide(BuildIpv4(pool_, frame)), DropReason::kNoRoute);
}

TEST_F(PacketPathTest, DropsWhenTtlWouldExpire) {
  for (uint8_t ttl : {0, 1}) {
    Ipv4Frame frame = FromAToB();
    frame.ttl = ttl;
    ExpectDrop(Decide(BuildIpv4(pool_, frame)), DropReason::kTtlExceeded);
    rte_pktmbuf_free(packet_);
    packet_ = nullptr;
  }
}

TEST_F(PacketPathTest, ForwardsWithTtlTwo) {
  Ipv4Frame frame = FromAToB();
  frame.ttl = 2;
  ASSERT_EQ(Decide(BuildIpv4(pool_, frame)).action, Action::kForward);
  EXPECT_EQ(Ipv4(packet_)->time_to_live, 1);
  EXPECT_TRUE(testing::Ipv4ChecksumValid(packet_));
}

TEST_F(PacketPathTest, DropsIpv6) {
  ExpectDrop(Decide(BuildIpv6(pool_, kPodAMac)), DropReason::kNotIpv4);
}

TEST_F(PacketPathTest, DropsTruncatedIpv4) {
  rte_mbuf* packet = BuildIpv4(pool_, FromAToB());
  rte_pktmbuf_trim(packet, packet->pkt_len - sizeof(rte_ether_hdr) - 10);
  ExpectDrop(Decide(packet), DropReason::kMalformed);
}

TEST_F(PacketPathTest, DropsIpv4WhoseTotalLengthExceedsTheFrame) {
  rte_mbuf* packet = BuildIpv4(pool_, FromAToB());
  Ipv4(packet)->total_length = rte_cpu_to_be_16(1400);
  ExpectDrop(Decide(packet), DropReason::kMalformed);
}

}  // namespace
}  // namespace dpcni::dataplane
