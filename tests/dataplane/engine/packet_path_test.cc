// The per-packet decision, one packet at a time, without workers or ports.
#include "dataplane/engine/packet_path.h"

#include <rte_arp.h>
#include <rte_icmp.h>
#include <rte_lpm.h>
#include <rte_malloc.h>
#include <rte_rcu_qsbr.h>

#include <array>
#include <functional>
#include <memory>
#include <vector>

#include "gtest/gtest.h"
#include "tests/dataplane/engine/test_packets.h"
#include "tests/dataplane/engine/test_ports.h"

namespace dpcni::dataplane {
namespace {

using testing::BuildArpReply;
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
constexpr uint16_t kHostPort = 7;
constexpr uint16_t kUplinkPort = 8;
constexpr uint32_t kPodAIp = RTE_IPV4(10, 244, 0, 10);
constexpr uint32_t kPodBIp = RTE_IPV4(10, 244, 0, 11);
constexpr rte_ether_addr kPodAMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0a}};
constexpr rte_ether_addr kPodBMac = {{0x02, 0x00, 0x00, 0x00, 0x00, 0x0b}};
constexpr uint32_t kRemotePrefix = RTE_IPV4(10, 50, 0, 0);  // /16 via the router
constexpr uint32_t kInternetIp = RTE_IPV4(8, 8, 8, 8);
constexpr uint16_t kIcmpIdent = 77;

class PacketPathTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = rte_pktmbuf_pool_create(testing::UniqueName("path_pool").c_str(), 255, 0, 0,
                                    RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
    ASSERT_NE(pool_, nullptr);
    rte_lpm_config config{.max_rules = 16, .number_tbl8s = 16, .flags = 0};
    lpm_ = rte_lpm_create(testing::UniqueName("path_lpm").c_str(), SOCKET_ID_ANY, &config);
    ASSERT_NE(lpm_, nullptr);
    rcu_ = static_cast<rte_rcu_qsbr*>(
        rte_zmalloc("path_rcu", rte_rcu_qsbr_get_memsize(1), RTE_CACHE_LINE_SIZE));
    ASSERT_EQ(rte_rcu_qsbr_init(rcu_, 1), 0);
    absl::StatusOr<std::unique_ptr<NeighbourTable>> neighbours =
        NeighbourTable::Create(testing::UniqueName("path_neigh"), 8, rcu_);
    ASSERT_TRUE(neighbours.ok()) << neighbours.status();
    neighbours_ = std::move(*neighbours);
    absl::StatusOr<std::unique_ptr<FlowTable>> flows =
        FlowTable::Create(testing::UniqueName("path_flows"), FlowTableConfig{.capacity = 16},
                          /*workers=*/1, rcu_);
    ASSERT_TRUE(flows.ok()) << flows.status();
    flows_ = std::move(*flows);

    // The routes ForwardingEngine sets up with pod B, a host port and an uplink attached.
    const NextHop to_host{.port_id = kHostPort,
                          .allowed_ingress = RoleMask(PortRole::kPod),
                          .dst_mac = testing::kKernelMac,
                          .src_mac = kGatewayMac};
    NextHop to_node = to_host;
    to_node.kind = NextHopKind::kLocal;
    to_node.allowed_ingress = RoleMask(PortRole::kPod, PortRole::kUplink);
    const NextHop on_link{.port_id = kUplinkPort,
                          .kind = NextHopKind::kNeighbour,
                          .allowed_ingress = RoleMask(PortRole::kPod, PortRole::kHost),
                          .src_mac = testing::kUplinkMac,
                          .caps = EgressCaps{.mtu = 1500}};
    NextHop via_router = on_link;
    via_router.via = rte_cpu_to_be_32(testing::kRouterIp);
    AddRoute(
        kPodBIp, 32,
        NextHop{.port_id = kPortB,
                .allowed_ingress = RoleMask(PortRole::kPod, PortRole::kHost, PortRole::kUplink),
                .dst_mac = kPodBMac,
                .src_mac = kGatewayMac});
    AddRoute(
        kPodAIp, 32,
        NextHop{.port_id = kPortA,
                .allowed_ingress = RoleMask(PortRole::kPod, PortRole::kHost, PortRole::kUplink),
                .dst_mac = kPodAMac,
                .src_mac = kGatewayMac});
    AddRoute(0, 0, to_host);
    AddRoute(testing::kNodeIp, 32, to_node);
    AddRoute(testing::kNodeIp & 0xffffff00, testing::kUplinkPrefixLength, on_link);
    AddRoute(kRemotePrefix, 16, via_router);
    NextHop to_kernel = to_host;
    to_kernel.allowed_ingress = RoleMask(PortRole::kPod, PortRole::kUplink);
    absl::StatusOr<uint32_t> kernel_id = next_hops_.Allocate(to_kernel);
    ASSERT_TRUE(kernel_id.ok());
    kernel_next_hop_ = *kernel_id;
    routing_ = RoutingView{.lpm = lpm_,
                           .default_next_hop = &default_next_hop_,
                           .next_hops = next_hops_.entries(),
                           .neighbours = neighbours_.get(),
                           .gateway_ip = rte_cpu_to_be_32(kGatewayIp),
                           .gateway_mac = kGatewayMac,
                           .flows = flows_.get(),
                           .kernel_next_hop = &kernel_next_hop_};
  }

  void TearDown() override {
    rte_pktmbuf_free(packet_);
    flows_.reset();
    neighbours_.reset();
    rte_free(rcu_);
    rte_lpm_free(lpm_);
    rte_mempool_free(pool_);
  }

  void AddRoute(uint32_t prefix, uint8_t length, const NextHop& hop) {
    absl::StatusOr<uint32_t> id = next_hops_.Allocate(hop);
    ASSERT_TRUE(id.ok());
    if (length == 0) {
      default_next_hop_ = *id;
    } else {
      ASSERT_EQ(rte_lpm_add(lpm_, prefix, length, *id), 0);
    }
  }

  // Decides for a packet from `ingress` (pod A unless given); the fixture frees the packet.
  Verdict Decide(rte_mbuf* packet) { return Decide(packet, pod_a_); }
  Verdict Decide(rte_mbuf* packet, const IngressPort& ingress) {
    EXPECT_NE(packet, nullptr);
    packet_ = packet;
    return DecidePacket(routing_, ingress, packet, /*now=*/0);
  }

  // Makes `ip` a reachable neighbour with `mac`; returns its table position.
  uint32_t Learn(uint32_t ip, const rte_ether_addr& mac) {
    absl::StatusOr<uint32_t> position = neighbours_->Add(rte_cpu_to_be_32(ip), /*now=*/1);
    EXPECT_TRUE(position.ok());
    neighbours_->Confirm(*position, mac, /*now=*/1);
    return *position;
  }

  Ipv4Frame FromAToB() const {
    return Ipv4Frame{.src_mac = kPodAMac, .src_ip = kPodAIp, .dst_ip = kPodBIp};
  }
  Ipv4Frame FromA(uint32_t destination) const {
    Ipv4Frame frame = FromAToB();
    frame.dst_ip = destination;
    return frame;
  }
  // What the kernel sends through the host port: any source address.
  Ipv4Frame FromKernel(uint32_t source, uint32_t destination) const {
    return Ipv4Frame{.src_mac = testing::kKernelMac, .src_ip = source, .dst_ip = destination};
  }
  // What a neighbour on the uplink network sends to the node.
  Ipv4Frame FromNeighbour(uint32_t destination) const {
    return Ipv4Frame{.src_mac = testing::kNeighbourMac,
                     .dst_mac = testing::kUplinkMac,
                     .src_ip = testing::kNeighbourIp,
                     .dst_ip = destination};
  }

  // What the kernel forwards to pod B after a DNAT, and the table keeps: the flow of `frame`,
  // routed from the host port as the worker routes it.
  bool KernelForwards(const Ipv4Frame& frame, uint8_t icmp_echo_type = 0) {
    rte_mbuf* packet = icmp_echo_type != 0
                           ? testing::BuildIcmpEcho(pool_, frame, icmp_echo_type, kIcmpIdent)
                           : BuildIpv4(pool_, frame);
    const Verdict verdict = DecidePacket(routing_, host_, packet, /*now=*/1);
    bool tracked = false;
    if (verdict.action == Action::kForward || verdict.action == Action::kResolve) {
      KernelFlow flow;
      tracked = KernelFlowOf(routing_, packet, *verdict.next_hop, &flow);
      if (tracked) flows_->Track(flow, /*now=*/1);
    }
    rte_pktmbuf_free(packet);
    return tracked;
  }

  // Pod B's side: its address and MAC, toward `destination`.
  IngressPort PodB() const {
    return IngressPort{.port_id = kPortB,
                       .role = PortRole::kPod,
                       .ip = rte_cpu_to_be_32(kPodBIp),
                       .mac = kPodBMac};
  }
  Ipv4Frame FromB(uint32_t destination, uint8_t protocol = IPPROTO_TCP) const {
    return Ipv4Frame{.src_mac = kPodBMac,
                     .src_ip = kPodBIp,
                     .dst_ip = destination,
                     .protocol = protocol,
                     .src_port = 8080,
                     .dst_port = 40000};
  }

  void ExpectToKernel(const Verdict& verdict) {
    ASSERT_EQ(verdict.action, Action::kToKernel);
    EXPECT_EQ(verdict.next_hop->port_id, kHostPort);
    EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->dst_addr, &testing::kKernelMac));
    EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->src_addr, &kGatewayMac));
  }

  void ExpectDrop(const Verdict& verdict, DropReason reason) {
    EXPECT_EQ(verdict.action, Action::kDrop);
    EXPECT_EQ(DropReasonName(verdict.drop_reason), DropReasonName(reason));
  }

  rte_mempool* pool_ = nullptr;
  rte_lpm* lpm_ = nullptr;
  std::atomic<uint32_t> default_next_hop_{kNoNextHop};
  std::atomic<uint32_t> kernel_next_hop_{kNoNextHop};
  rte_rcu_qsbr* rcu_ = nullptr;
  std::unique_ptr<NeighbourTable> neighbours_;
  std::unique_ptr<FlowTable> flows_;
  NextHopTable next_hops_{8};
  RoutingView routing_;
  const IngressPort pod_a_{
      .port_id = kPortA, .role = PortRole::kPod, .ip = rte_cpu_to_be_32(kPodAIp), .mac = kPodAMac};
  const IngressPort host_{
      .port_id = kHostPort, .role = PortRole::kHost, .mac = testing::kKernelMac};
  const IngressPort uplink_{.port_id = kUplinkPort,
                            .role = PortRole::kUplink,
                            .ip = rte_cpu_to_be_32(testing::kNodeIp),
                            .mac = testing::kUplinkMac};
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
  default_next_hop_ = kNoNextHop;  // no host port: no default route
  ExpectDrop(Decide(BuildIpv4(pool_, FromA(RTE_IPV4(10, 244, 1, 1)))), DropReason::kNoRoute);
}

TEST_F(PacketPathTest, DropsWhenTtlWouldExpire) {
  for (uint8_t ttl : {0, 1}) {
    Ipv4Frame frame = FromAToB();
    frame.ttl = ttl;
    const Verdict verdict = Decide(BuildIpv4(pool_, frame));
    ExpectDrop(verdict, DropReason::kTtlExceeded);
    // The sender is told, and the frame is left as it came for the answer to use.
    EXPECT_EQ(verdict.icmp_error, IcmpError::kTimeExceeded);
    EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->src_addr, &kPodAMac));
    EXPECT_EQ(Ipv4(packet_)->time_to_live, ttl);
    EXPECT_TRUE(testing::Ipv4ChecksumValid(packet_));
    rte_pktmbuf_free(packet_);
    packet_ = nullptr;
  }
}

TEST_F(PacketPathTest, DropsOtherPacketsWithoutAnIcmpError) {
  default_next_hop_ = kNoNextHop;
  Ipv4Frame unroutable = FromA(RTE_IPV4(10, 244, 1, 1));
  unroutable.ttl = 1;
  const Verdict no_route = Decide(BuildIpv4(pool_, unroutable));
  ExpectDrop(no_route, DropReason::kNoRoute);
  EXPECT_EQ(no_route.icmp_error, IcmpError::kNone);
  rte_pktmbuf_free(packet_);
  Ipv4Frame spoofed = FromAToB();
  spoofed.src_ip = kPodBIp;
  spoofed.ttl = 1;
  EXPECT_EQ(Decide(BuildIpv4(pool_, spoofed)).icmp_error, IcmpError::kNone);
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

TEST_F(PacketPathTest, SendsWhatNoOtherRouteTakesToTheNodesKernel) {
  Verdict verdict = Decide(BuildIpv4(pool_, FromA(kInternetIp)));

  ASSERT_EQ(verdict.action, Action::kForward);
  EXPECT_EQ(verdict.next_hop->port_id, kHostPort);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->dst_addr, &testing::kKernelMac));
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->src_addr, &kGatewayMac));
  EXPECT_EQ(Ipv4(packet_)->time_to_live, 63);
}

TEST_F(PacketPathTest, RoutesTheKernelsPacketsToPodsWithoutSourceChecks) {
  Verdict verdict = Decide(BuildIpv4(pool_, FromKernel(RTE_IPV4(172, 16, 0, 9), kPodBIp)), host_);

  ASSERT_EQ(verdict.action, Action::kForward);
  EXPECT_EQ(verdict.next_hop->port_id, kPortB);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->dst_addr, &kPodBMac));
  EXPECT_EQ(Ipv4(packet_)->time_to_live, 63);
}

TEST_F(PacketPathTest, NeverSendsTheKernelsPacketsBackToIt) {
  ExpectDrop(Decide(BuildIpv4(pool_, FromKernel(RTE_IPV4(172, 16, 0, 9), kInternetIp)), host_),
             DropReason::kNoRoute);
}

TEST_F(PacketPathTest, AnswersTheKernelsArpForAPodWithTheGatewayMac) {
  Verdict verdict =
      Decide(BuildArpRequest(pool_, testing::kKernelMac, RTE_IPV4(169, 254, 1, 2), kPodBIp), host_);

  ASSERT_EQ(verdict.action, Action::kReplyToSender);
  rte_arp_hdr* arp = testing::Arp(packet_);
  EXPECT_EQ(arp->arp_opcode, RTE_BE16(RTE_ARP_OP_REPLY));
  rte_ether_addr sender_mac = arp->arp_data.arp_sha;
  EXPECT_TRUE(rte_is_same_ether_addr(&sender_mac, &kGatewayMac));
  EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_sip), kPodBIp);
  EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_tip), RTE_IPV4(169, 254, 1, 2));
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->dst_addr, &testing::kKernelMac));
}

TEST_F(PacketPathTest, IgnoresTheKernelsArpForAddressesRoutedBackToIt) {
  ExpectDrop(
      Decide(BuildArpRequest(pool_, testing::kKernelMac, RTE_IPV4(169, 254, 1, 2), kInternetIp),
             host_),
      DropReason::kArpIgnored);
}

TEST_F(PacketPathTest, HoldsAPacketForAnUnresolvedNeighbourOnTheUplinkNetwork) {
  Verdict verdict = Decide(BuildIpv4(pool_, FromA(testing::kNeighbourIp)));

  ASSERT_EQ(verdict.action, Action::kResolve);
  EXPECT_EQ(verdict.neighbour_ip, rte_cpu_to_be_32(testing::kNeighbourIp));
  EXPECT_EQ(verdict.next_hop->port_id, kUplinkPort);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->src_addr, &testing::kUplinkMac));
  EXPECT_EQ(Ipv4(packet_)->time_to_live, 63);
}

TEST_F(PacketPathTest, SendsToAResolvedNeighbourWithItsMac) {
  Learn(testing::kNeighbourIp, testing::kNeighbourMac);
  Verdict verdict = Decide(BuildIpv4(pool_, FromA(testing::kNeighbourIp)));

  ASSERT_EQ(verdict.action, Action::kForward);
  EXPECT_EQ(verdict.next_hop->port_id, kUplinkPort);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->dst_addr, &testing::kNeighbourMac));
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->src_addr, &testing::kUplinkMac));
  EXPECT_TRUE(testing::Ipv4ChecksumValid(packet_));
}

TEST_F(PacketPathTest, ResolvesTheNextHopOfARouteRatherThanTheDestination) {
  Verdict unresolved = Decide(BuildIpv4(pool_, FromA(RTE_IPV4(10, 50, 3, 4))));
  ASSERT_EQ(unresolved.action, Action::kResolve);
  EXPECT_EQ(unresolved.neighbour_ip, rte_cpu_to_be_32(testing::kRouterIp));

  Learn(testing::kRouterIp, testing::kRouterMac);
  rte_pktmbuf_free(packet_);
  ASSERT_EQ(Decide(BuildIpv4(pool_, FromA(RTE_IPV4(10, 50, 3, 4)))).action, Action::kForward);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->dst_addr, &testing::kRouterMac));
}

TEST_F(PacketPathTest, KeepsUsingAStaleNeighbourAndMarksItWanted) {
  uint32_t position = Learn(testing::kNeighbourIp, testing::kNeighbourMac);
  neighbours_->MarkStale(position);
  ASSERT_FALSE(neighbours_->TakeWanted(position));

  ASSERT_EQ(Decide(BuildIpv4(pool_, FromA(testing::kNeighbourIp))).action, Action::kForward);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->dst_addr, &testing::kNeighbourMac));
  EXPECT_TRUE(neighbours_->TakeWanted(position));
}

TEST_F(PacketPathTest, DropsAPlainFrameLargerThanTheEgressMtu) {
  Learn(testing::kNeighbourIp, testing::kNeighbourMac);
  Ipv4Frame frame = FromA(testing::kNeighbourIp);
  frame.payload_size = 1500 - 20 - 8 + 1;
  // Without DF nobody is told.
  const Verdict without_df = Decide(BuildIpv4(pool_, frame));
  ExpectDrop(without_df, DropReason::kMtuExceeded);
  EXPECT_EQ(without_df.icmp_error, IcmpError::kNone);
  rte_pktmbuf_free(packet_);
  // With DF the sender learns the next hop's MTU.
  rte_mbuf* with_df = BuildIpv4(pool_, frame);
  Ipv4(with_df)->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
  Ipv4(with_df)->hdr_checksum = 0;
  Ipv4(with_df)->hdr_checksum = rte_ipv4_cksum(Ipv4(with_df));
  const Verdict verdict = Decide(with_df);
  ExpectDrop(verdict, DropReason::kMtuExceeded);
  EXPECT_EQ(verdict.icmp_error, IcmpError::kFragmentationNeeded);
  EXPECT_EQ(verdict.icmp_mtu, 1500);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->src_addr, &kPodAMac));
}

TEST_F(PacketPathTest, LeavesAGsoPacketLargerThanTheMtuToSegmentation) {
  Learn(testing::kNeighbourIp, testing::kNeighbourMac);
  Ipv4Frame frame = FromA(testing::kNeighbourIp);
  frame.protocol = IPPROTO_TCP;
  frame.payload_size = 1800;
  rte_mbuf* packet = BuildIpv4(pool_, frame);
  testing::MarkAsGsoFromVirtio(packet, 1448);
  EXPECT_EQ(Decide(packet).action, Action::kForward);
}

TEST_F(PacketPathTest, DropsUplinkFramesFromThePodCidrOrTheGateway) {
  UplinkSourceFilter denied;
  denied.prefixes[0] = {.network = rte_cpu_to_be_32(RTE_IPV4(10, 244, 0, 0)),
                        .mask = rte_cpu_to_be_32(0xffffff00)};
  denied.prefixes[1] = {.network = rte_cpu_to_be_32(kGatewayIp), .mask = RTE_BE32(0xffffffff)};
  denied.count = 2;
  routing_.uplink_denied_sources = &denied;
  for (uint32_t source : {kPodAIp, RTE_IPV4(10, 244, 0, 200), kGatewayIp}) {
    Ipv4Frame frame = FromNeighbour(kPodBIp);
    frame.src_ip = source;
    ExpectDrop(Decide(BuildIpv4(pool_, frame), uplink_), DropReason::kUplinkSpoofedSource);
    rte_pktmbuf_free(packet_);
    packet_ = nullptr;
  }
  // Next to the pod CIDR, and from the neighbour itself: routed.
  Ipv4Frame next_door = FromNeighbour(kPodBIp);
  next_door.src_ip = RTE_IPV4(10, 244, 1, 1);
  EXPECT_EQ(Decide(BuildIpv4(pool_, next_door), uplink_).action, Action::kForward);
  rte_pktmbuf_free(packet_);
  EXPECT_EQ(Decide(BuildIpv4(pool_, FromNeighbour(kPodBIp)), uplink_).action, Action::kForward);
  rte_pktmbuf_free(packet_);
  // Pods and the kernel are not subject to it.
  EXPECT_EQ(Decide(BuildIpv4(pool_, FromAToB())).action, Action::kForward);
  rte_pktmbuf_free(packet_);
  packet_ = nullptr;
  EXPECT_EQ(Decide(BuildIpv4(pool_, FromKernel(kGatewayIp, kPodBIp)), host_).action,
            Action::kForward);
}

TEST_F(PacketPathTest, RoutesUplinkFramesToPods) {
  Verdict verdict = Decide(BuildIpv4(pool_, FromNeighbour(kPodBIp)), uplink_);

  ASSERT_EQ(verdict.action, Action::kForward);
  EXPECT_EQ(verdict.next_hop->port_id, kPortB);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->dst_addr, &kPodBMac));
  EXPECT_EQ(Ipv4(packet_)->time_to_live, 63);
}

TEST_F(PacketPathTest, HandsUplinkFramesForTheNodeToTheKernelWithTheirTtl) {
  Ipv4Frame frame = FromNeighbour(testing::kNodeIp);
  frame.ttl = 1;
  Verdict verdict = Decide(BuildIpv4(pool_, frame), uplink_);

  ASSERT_EQ(verdict.action, Action::kToNode);
  EXPECT_EQ(verdict.next_hop->port_id, kHostPort);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->dst_addr, &testing::kKernelMac));
  EXPECT_EQ(Ipv4(packet_)->time_to_live, 1);
  EXPECT_TRUE(testing::Ipv4ChecksumValid(packet_));
}

TEST_F(PacketPathTest, RoutesUplinkFramesOnlyToPodsAndTheNode) {
  for (uint32_t destination : {kInternetIp, RTE_IPV4(192, 168, 1, 30), RTE_IPV4(10, 50, 3, 4)}) {
    SCOPED_TRACE(destination);
    ExpectDrop(Decide(BuildIpv4(pool_, FromNeighbour(destination)), uplink_), DropReason::kNoRoute);
    rte_pktmbuf_free(packet_);
    packet_ = nullptr;
  }
}

TEST_F(PacketPathTest, IgnoresUplinkFramesForOtherMacs) {
  Ipv4Frame frame = FromNeighbour(kPodBIp);
  frame.dst_mac = testing::kRouterMac;
  ExpectDrop(Decide(BuildIpv4(pool_, frame), uplink_), DropReason::kNotForUs);
}

TEST_F(PacketPathTest, LeavesUplinkArpToTheNeighbourTableThenAnswersForTheNode) {
  rte_mbuf* request =
      BuildArpRequest(pool_, testing::kNeighbourMac, testing::kNeighbourIp, testing::kNodeIp);
  ASSERT_EQ(Decide(request, uplink_).action, Action::kNeighbourArp);
  EXPECT_EQ(testing::Arp(packet_)->arp_opcode, RTE_BE16(RTE_ARP_OP_REQUEST));  // untouched

  ASSERT_EQ(AnswerNodeArp(uplink_, packet_).action, Action::kReplyToSender);
  rte_arp_hdr* arp = testing::Arp(packet_);
  EXPECT_EQ(arp->arp_opcode, RTE_BE16(RTE_ARP_OP_REPLY));
  rte_ether_addr sender_mac = arp->arp_data.arp_sha;
  EXPECT_TRUE(rte_is_same_ether_addr(&sender_mac, &testing::kUplinkMac));
  EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_sip), testing::kNodeIp);
  EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_tip), testing::kNeighbourIp);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->dst_addr, &testing::kNeighbourMac));
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet_)->src_addr, &testing::kUplinkMac));
}

TEST_F(PacketPathTest, AnswersNoUplinkArpButRequestsForTheNode) {
  rte_mbuf* for_other =
      BuildArpRequest(pool_, testing::kNeighbourMac, testing::kNeighbourIp, testing::kRouterIp);
  rte_mbuf* reply = BuildArpReply(pool_, testing::kNeighbourMac, testing::kNeighbourIp,
                                  testing::kUplinkMac, testing::kNodeIp);
  rte_mbuf* claiming_ours =
      BuildArpRequest(pool_, testing::kNeighbourMac, testing::kNodeIp, testing::kNodeIp);
  for (rte_mbuf* packet : {for_other, reply, claiming_ours}) {
    ExpectDrop(AnswerNodeArp(uplink_, packet), DropReason::kArpIgnored);
    rte_pktmbuf_free(packet);
  }
}

// Services: the kernel DNATs a ClusterIP to pod B and forwards the flow through the host port; B's
// replies must go back through the kernel, which un-NATs them, not straight to the client.
TEST_F(PacketPathTest, SteersAPodsReplyToAKernelForwardedFlowBackToTheKernel) {
  Ipv4Frame forwarded = FromKernel(kPodAIp, kPodBIp);
  forwarded.protocol = IPPROTO_TCP;
  forwarded.src_port = 40000;
  forwarded.dst_port = 8080;
  forwarded.tcp_flags = RTE_TCP_SYN_FLAG;
  ASSERT_TRUE(KernelForwards(forwarded));

  const uint8_t ttl = 64;
  Verdict verdict = Decide(BuildIpv4(pool_, FromB(kPodAIp)), PodB());
  ExpectToKernel(verdict);
  EXPECT_EQ(Ipv4(packet_)->time_to_live, ttl - 1);
  EXPECT_TRUE(testing::Ipv4ChecksumValid(packet_));
}

TEST_F(PacketPathTest, LeavesPodToPodTrafficOnItsDirectRoute) {
  Ipv4Frame forwarded = FromKernel(kPodAIp, kPodBIp);
  forwarded.protocol = IPPROTO_TCP;
  forwarded.dst_port = 8080;
  ASSERT_TRUE(KernelForwards(forwarded));
  // Another connection between the same pods, which the kernel never saw.
  Ipv4Frame direct = FromB(kPodAIp);
  direct.src_port = 9090;
  EXPECT_EQ(Decide(BuildIpv4(pool_, direct), PodB()).action, Action::kForward);
  // And a pod that answers no kernel-forwarded flow is not looked up at all.
  EXPECT_FALSE(flows_->Watched(kPortA));
}

TEST_F(PacketPathTest, SteersUdpAndIcmpEchoRepliesAndIcmpErrorsOfKernelFlows) {
  Ipv4Frame dns = FromKernel(kPodAIp, kPodBIp);
  dns.dst_port = 5353;
  ASSERT_TRUE(KernelForwards(dns));
  Ipv4Frame answer = FromB(kPodAIp, IPPROTO_UDP);
  answer.src_port = 5353;
  ExpectToKernel(Decide(BuildIpv4(pool_, answer), PodB()));

  ASSERT_TRUE(KernelForwards(FromKernel(kPodAIp, kPodBIp), RTE_IP_ICMP_ECHO_REQUEST));
  ExpectToKernel(Decide(
      testing::BuildIcmpEcho(pool_, FromB(kPodAIp), RTE_IP_ICMP_ECHO_REPLY, kIcmpIdent), PodB()));

  // B has nothing on the port the kernel sent to: its "port unreachable" goes back the same way.
  rte_mbuf* quoted = BuildIpv4(pool_, dns);
  ExpectToKernel(Decide(testing::BuildIcmpError(pool_, FromB(kPodAIp), quoted), PodB()));
  rte_pktmbuf_free(quoted);
}

TEST_F(PacketPathTest, SteersRepliesToAClientBeyondTheUplinkBackToTheKernel) {
  // A NodePort from a host on the uplink network, DNATed by the kernel to B, client kept.
  ASSERT_TRUE(KernelForwards(FromKernel(testing::kNeighbourIp, kPodBIp)));
  Learn(testing::kNeighbourIp, testing::kNeighbourMac);
  Ipv4Frame reply = FromB(testing::kNeighbourIp, IPPROTO_UDP);
  reply.src_port = 53;
  ExpectToKernel(Decide(BuildIpv4(pool_, reply), PodB()));
}

TEST_F(PacketPathTest, KeepsNoFlowWhoseRepliesReachTheKernelAnyway) {
  // Masqueraded to the node (hairpin), or from an address only the kernel routes: the replies'
  // own route is the host port.
  EXPECT_FALSE(KernelForwards(FromKernel(kInternetIp, kPodBIp)));
  EXPECT_FALSE(KernelForwards(FromKernel(testing::kNodeIp, kPodBIp)));
  EXPECT_EQ(flows_->Stats().entries, 0u);
}

TEST_F(PacketPathTest, SteersUplinkRepliesToAFlowTheKernelSentOutOfTheUplink) {
  // The kernel sends pod A's flow (a ClusterIP whose endpoint is beyond the uplink) out there.
  Learn(testing::kNeighbourIp, testing::kNeighbourMac);
  ASSERT_TRUE(KernelForwards(FromKernel(kPodBIp, testing::kNeighbourIp)));
  Ipv4Frame reply = FromNeighbour(kPodBIp);
  reply.src_port = 53;
  reply.dst_port = 40000;
  ExpectToKernel(Decide(BuildIpv4(pool_, reply), uplink_));
}

TEST_F(PacketPathTest, LeavesNonFirstFragmentsOnTheirDirectRoute) {
  ASSERT_TRUE(KernelForwards(FromKernel(kPodAIp, kPodBIp)));
  Ipv4Frame reply = FromB(kPodAIp, IPPROTO_UDP);
  reply.src_port = 53;
  rte_mbuf* fragment = BuildIpv4(pool_, reply);
  Ipv4(fragment)->fragment_offset = RTE_BE16(100);
  Ipv4(fragment)->hdr_checksum = 0;
  Ipv4(fragment)->hdr_checksum = rte_ipv4_cksum(Ipv4(fragment));
  EXPECT_EQ(Decide(fragment, PodB()).action, Action::kForward);
}

// After an agent restart: connections the kernel NATs already, known by conntrack's reply tuple.
FlowKey Reply(uint32_t source, uint16_t source_port, uint32_t destination,
              uint16_t destination_port) {
  return FlowKey{.source = rte_cpu_to_be_32(source),
                 .destination = rte_cpu_to_be_32(destination),
                 .source_port = rte_cpu_to_be_16(source_port),
                 .destination_port = rte_cpu_to_be_16(destination_port),
                 .protocol = IPPROTO_TCP};
}

TEST_F(PacketPathTest, AConntrackReplyFromAPodToAPodOrBeyondTheUplinkIsKept) {
  KernelFlow flow;
  ASSERT_TRUE(KernelFlowOfReply(routing_, Reply(kPodBIp, 8080, kPodAIp, 40000), &flow));
  EXPECT_EQ(flow.reply_port, kPortB);
  EXPECT_EQ(flow.reply, Reply(kPodBIp, 8080, kPodAIp, 40000));
  // A NodePort client on the uplink network: B's replies would leave by the uplink.
  ASSERT_TRUE(
      KernelFlowOfReply(routing_, Reply(kPodBIp, 8080, testing::kNeighbourIp, 40000), &flow));
  EXPECT_EQ(flow.reply_port, kPortB);
  // An endpoint beyond the uplink answering pod A: its replies come in on the uplink.
  ASSERT_TRUE(KernelFlowOfReply(routing_, Reply(testing::kNeighbourIp, 53, kPodAIp, 40000), &flow));
  EXPECT_EQ(flow.reply_port, kUplinkPort);
}

TEST_F(PacketPathTest, AConntrackReplyThatReachesTheKernelAnywayIsLeftOut) {
  KernelFlow flow;
  // Masqueraded to the node, or answered by something only the kernel routes to.
  EXPECT_FALSE(KernelFlowOfReply(routing_, Reply(kPodBIp, 8080, testing::kNodeIp, 40000), &flow));
  EXPECT_FALSE(KernelFlowOfReply(routing_, Reply(kInternetIp, 443, kPodAIp, 40000), &flow));
}

// A packet whose buffer is shared (a clone, as GSO payload segments are) must not have the outer
// headers written into its headroom: they go into a segment of their own.
TEST_F(PacketPathTest, EncapsulatesASharedBufferInANewFirstSegment) {
  routing_.vxlan_port = RTE_BE16(4789);
  routing_.vxlan_vni_word = rte_cpu_to_be_32(7 << 8);
  Learn(testing::kNeighbourIp, testing::kNeighbourMac);
  const NextHop hop{.port_id = kUplinkPort,
                    .kind = NextHopKind::kVxlan,
                    .via = rte_cpu_to_be_32(testing::kNeighbourIp),
                    .tunnel_source = rte_cpu_to_be_32(testing::kNodeIp),
                    .tunnel_destination = rte_cpu_to_be_32(testing::kNeighbourIp),
                    .outer_src_mac = testing::kUplinkMac};
  rte_mbuf* original = BuildIpv4(pool_, FromAToB());
  ASSERT_NE(original, nullptr);
  const uint32_t inner_length = original->pkt_len;
  rte_mbuf* clone = rte_pktmbuf_clone(original, pool_);
  ASSERT_NE(clone, nullptr);
  rte_mbuf* packet = clone;
  const Verdict verdict = EncapsulateVxlan(routing_, hop, &packet, 50000, pool_);
  ASSERT_EQ(verdict.action, Action::kForward);
  EXPECT_NE(packet, clone);
  EXPECT_EQ(packet->nb_segs, 2);
  EXPECT_EQ(packet->pkt_len, 50 + inner_length);
  EXPECT_EQ(packet->data_len, 50);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(packet)->dst_addr, &testing::kNeighbourMac));
  auto* outer_ip = rte_pktmbuf_mtod_offset(packet, rte_ipv4_hdr*, sizeof(rte_ether_hdr));
  EXPECT_EQ(rte_be_to_cpu_16(outer_ip->total_length), 36 + inner_length);
  EXPECT_EQ(rte_ipv4_cksum(outer_ip), 0);
  // The shared buffer is as it was.
  EXPECT_EQ(rte_pktmbuf_headroom(original), RTE_PKTMBUF_HEADROOM);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(original)->dst_addr, &kGatewayMac));
  rte_pktmbuf_free(packet);
  rte_pktmbuf_free(original);
}

TEST_F(PacketPathTest, KeepsAFlowsVxlanSourcePortWithinTheEphemeralRange) {
  rte_mbuf* packet = BuildIpv4(pool_, FromAToB());
  ASSERT_NE(packet, nullptr);
  packet->l2_len = sizeof(rte_ether_hdr);
  const uint16_t port = VxlanSourcePort(packet);
  EXPECT_GE(port, 49152);
  EXPECT_EQ(VxlanSourcePort(packet), port);
  // The driver's RSS hash, when there is one, decides.
  packet->ol_flags |= RTE_MBUF_F_RX_RSS_HASH;
  packet->hash.rss = 0;
  EXPECT_EQ(VxlanSourcePort(packet), 49152);
  packet->hash.rss = UINT32_MAX;
  EXPECT_EQ(VxlanSourcePort(packet), 65535);
  rte_pktmbuf_free(packet);
}

// RouteBurst: a burst's common case, which must come out exactly as DecidePacket makes it, and
// everything else left untouched for DecidePacket.
class RouteBurstTest : public PacketPathTest {
 protected:
  using Build = std::function<rte_mbuf*()>;

  static std::vector<uint8_t> Bytes(const rte_mbuf* packet) {
    const auto* data = rte_pktmbuf_mtod(packet, const uint8_t*);
    return std::vector<uint8_t>(data, data + packet->data_len);
  }

  // Routes the frames as one burst from `ingress`, then each again on its own with DecidePacket,
  // and checks RouteBurst against it: a routed packet is DecidePacket's kForward to the same next
  // hop, byte for byte, and a packet left alone is as it came. Returns which were routed.
  std::vector<bool> RouteAndCompare(const IngressPort& ingress, const std::vector<Build>& frames) {
    std::vector<rte_mbuf*> burst;
    std::vector<rte_mbuf*> alone;
    std::vector<std::vector<uint8_t>> received;
    for (const Build& build : frames) {
      burst.push_back(build());
      alone.push_back(build());
      received.push_back(Bytes(burst.back()));
    }
    std::array<const NextHop*, kMaxBurstSize> routed{};
    RouteBurst(routing_, ingress, burst.data(), static_cast<uint16_t>(burst.size()), routed.data());
    std::vector<bool> taken;
    for (size_t i = 0; i < burst.size(); ++i) {
      const Verdict verdict = DecidePacket(routing_, ingress, alone[i], /*now=*/0);
      if (routed[i] != nullptr) {
        EXPECT_EQ(verdict.action, Action::kForward) << "frame " << i;
        EXPECT_EQ(verdict.next_hop, routed[i]) << "frame " << i;
        EXPECT_EQ(Bytes(burst[i]), Bytes(alone[i])) << "frame " << i;
        EXPECT_EQ(burst[i]->l2_len, alone[i]->l2_len) << "frame " << i;
        EXPECT_EQ(burst[i]->l3_len, alone[i]->l3_len) << "frame " << i;
      } else {
        EXPECT_EQ(Bytes(burst[i]), received[i]) << "frame " << i << " changed, yet left alone";
      }
      taken.push_back(routed[i] != nullptr);
      rte_pktmbuf_free(burst[i]);
      rte_pktmbuf_free(alone[i]);
    }
    return taken;
  }

  Build Frame(const Ipv4Frame& frame) {
    return [this, frame] { return BuildIpv4(pool_, frame); };
  }
};

TEST_F(RouteBurstTest, RoutesTheCommonCaseAsDecidePacketDoesAndLeavesTheRest) {
  Learn(testing::kRouterIp, testing::kRouterMac);
  Ipv4Frame tcp = FromAToB();
  tcp.protocol = IPPROTO_TCP;
  Ipv4Frame last_hop = FromAToB();
  last_hop.ttl = 1;
  Ipv4Frame spoofed = FromAToB();
  spoofed.src_ip = RTE_IPV4(10, 244, 0, 99);
  Ipv4Frame too_big = FromA(RTE_IPV4(10, 50, 3, 4));  // the uplink's MTU is 1500
  too_big.payload_size = 1500;
  const std::vector<bool> routed = RouteAndCompare(
      pod_a_,
      {Frame(FromAToB()), Frame(tcp), Frame(FromA(RTE_IPV4(10, 50, 3, 4))),
       Frame(FromA(kInternetIp)), Frame(FromA(RTE_IPV4(10, 50, 9, 9))),
       Frame(FromA(testing::kNeighbourIp)), Frame(FromA(testing::kNodeIp)), Frame(last_hop),
       Frame(spoofed), [this] { return BuildArpRequest(pool_, kPodAMac, kPodAIp, kGatewayIp); },
       Frame(too_big)});
  // A pod, TCP to it, a routed prefix through the resolved router, the default route to the
  // kernel, the router again (its MAC from the burst's last resolution); then the neighbour not yet
  // resolved, the node's address, TTL 1, a spoofed source, ARP, a frame over the MTU.
  EXPECT_EQ(routed, (std::vector<bool>{true, true, true, true, true, false, false, false, false,
                                       false, false}));
}

TEST_F(RouteBurstTest, LeavesWhatNoRouteTakes) {
  default_next_hop_ = kNoNextHop;
  EXPECT_EQ(RouteAndCompare(pod_a_, {Frame(FromA(kInternetIp)), Frame(FromAToB())}),
            (std::vector<bool>{false, true}));
}

TEST_F(RouteBurstTest, LeavesATcpSynToDecidePacketWhileFlowsAreTracked) {
  Ipv4Frame syn = FromAToB();
  syn.protocol = IPPROTO_TCP;
  syn.tcp_flags = RTE_TCP_SYN_FLAG;
  Ipv4Frame ack = syn;
  ack.tcp_flags = RTE_TCP_ACK_FLAG;
  EXPECT_EQ(RouteAndCompare(pod_a_, {Frame(syn), Frame(ack)}), (std::vector<bool>{true, true}));

  Ipv4Frame forwarded = FromKernel(kPodAIp, kPodBIp);
  forwarded.protocol = IPPROTO_TCP;
  forwarded.dst_port = 8080;
  ASSERT_TRUE(KernelForwards(forwarded));
  // The table holds a flow now: a SYN may end one of its closing flows (NoteDirectOpening).
  EXPECT_EQ(RouteAndCompare(pod_a_, {Frame(syn), Frame(ack)}), (std::vector<bool>{false, true}));
}

TEST_F(RouteBurstTest, LeavesAWatchedPortsBurstToDecidePacket) {
  Ipv4Frame forwarded = FromKernel(kPodAIp, kPodBIp);
  forwarded.protocol = IPPROTO_TCP;
  forwarded.dst_port = 8080;
  ASSERT_TRUE(KernelForwards(forwarded));
  ASSERT_TRUE(flows_->Watched(kPortB));
  // Pod B answers the kernel's flow on one connection and talks directly on another: both are
  // DecidePacket's (the first goes back to the kernel).
  Ipv4Frame direct = FromB(kPodAIp);
  direct.src_port = 9090;
  EXPECT_EQ(RouteAndCompare(PodB(), {Frame(FromB(kPodAIp)), Frame(direct)}),
            (std::vector<bool>{false, false}));
}

TEST_F(RouteBurstTest, LeavesTheHostPortToDecidePacketWhileFlowsAreTracked) {
  // The worker keeps the flows the kernel forwards, which only DecidePacket's path does.
  EXPECT_EQ(RouteAndCompare(host_, {Frame(FromKernel(kGatewayIp, kPodBIp))}),
            std::vector<bool>{false});
  routing_.flows = nullptr;
  EXPECT_EQ(RouteAndCompare(host_, {Frame(FromKernel(kGatewayIp, kPodBIp))}),
            std::vector<bool>{true});
}

TEST_F(RouteBurstTest, RoutesUplinkFramesForPodsAndLeavesTheRest) {
  UplinkSourceFilter denied;
  denied.prefixes[0] = {.network = rte_cpu_to_be_32(RTE_IPV4(10, 244, 0, 0)),
                        .mask = rte_cpu_to_be_32(0xffffff00)};
  denied.count = 1;
  routing_.uplink_denied_sources = &denied;
  Ipv4Frame forged = FromNeighbour(kPodBIp);
  forged.src_ip = kPodAIp;
  Ipv4Frame broadcast = FromNeighbour(kPodBIp);
  broadcast.dst_mac = rte_ether_addr{{0xff, 0xff, 0xff, 0xff, 0xff, 0xff}};
  Ipv4Frame elsewhere = FromNeighbour(kPodBIp);
  elsewhere.dst_mac = testing::kRouterMac;
  EXPECT_EQ(RouteAndCompare(
                uplink_, {Frame(FromNeighbour(kPodBIp)), Frame(FromNeighbour(kPodAIp)),
                          Frame(FromNeighbour(testing::kNodeIp)), Frame(forged), Frame(broadcast),
                          Frame(elsewhere), Frame(FromNeighbour(kInternetIp))}),
            (std::vector<bool>{true, true, false, false, false, false, false}));
}

}  // namespace
}  // namespace dpcni::dataplane
