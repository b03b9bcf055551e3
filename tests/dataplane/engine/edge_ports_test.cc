// The running engine with its edge ports: a net_ring port stands for the host port (the node's
// kernel) and another for the uplink, whose neighbours the test plays by answering ARP.
#include <rte_arp.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "tests/dataplane/engine/engine_fixture.h"
#include "tests/dataplane/engine/test_packets.h"
#include "tests/dataplane/engine/test_ports.h"

namespace dpcni::dataplane {
namespace {

using testing::Ipv4;
using testing::Ipv4Frame;
using testing::kKernelMac;
using testing::kNeighbourIp;
using testing::kNeighbourMac;
using testing::kNodeIp;
using testing::kRouterIp;
using testing::kRouterMac;
using testing::kUplinkMac;
using testing::RingPort;
using testing::WaitUntil;

constexpr uint32_t kInternetIp = RTE_IPV4(8, 8, 8, 8);
constexpr uint32_t kKernelIp = RTE_IPV4(169, 254, 1, 2);  // the kernel side's own address
constexpr rte_ether_addr kMovedMac = {{0x02, 0x11, 0x00, 0x00, 0x00, 0x99}};

class EdgePortsTest : public EngineTest {
 protected:
  // Pods A and B, and a host port.
  void StartWithHostPort(const EngineConfig& config) {
    StartEngine(config);
    AttachPodsAAndB();
    AttachHost();
  }

  void AttachHost() {
    host_ = &AddPort();
    ASSERT_TRUE(
        engine_->AttachHostPort(HostEndpoint{.port_id = host_->port_id(), .kernel_mac = kKernelMac})
            .ok());
  }

  // The uplink on 192.168.1.0/24, with 10.50.0.0/16 behind the router and `gateway`.
  void AttachUplink(uint32_t gateway = 0) {
    uplink_ = &AddPort();
    absl::Status attached = engine_->AttachUplink(Uplink(*uplink_, gateway));
    ASSERT_TRUE(attached.ok()) << attached;
  }

  static UplinkEndpoint Uplink(const RingPort& port, uint32_t gateway = 0) {
    return UplinkEndpoint{
        .port_id = port.port_id(),
        .mac = kUplinkMac,
        .ip = kNodeIp,
        .prefix_length = testing::kUplinkPrefixLength,
        .gateway = gateway,
        .routes = {Ipv4Route{.prefix = RTE_IPV4(10, 50, 0, 0), .length = 16, .via = kRouterIp}}};
  }

  static Ipv4Frame FromA(uint32_t destination) {
    Ipv4Frame frame = FromAToB();
    frame.dst_ip = destination;
    return frame;
  }

  // Waits for the uplink to send one frame, which must be an ARP request for `target`.
  void ExpectArpRequestFor(uint32_t target) {
    std::vector<rte_mbuf*> sent = uplink_->WaitForSent(1);
    ASSERT_EQ(sent.size(), 1u);
    rte_arp_hdr* arp = testing::Arp(sent[0]);
    EXPECT_EQ(testing::Ethernet(sent[0])->ether_type, RTE_BE16(RTE_ETHER_TYPE_ARP));
    EXPECT_EQ(arp->arp_opcode, RTE_BE16(RTE_ARP_OP_REQUEST));
    EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_sip), kNodeIp);
    EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_tip), target);
    testing::FreeAll(sent);
  }

  void Answer(uint32_t neighbour, const rte_ether_addr& mac) {
    uplink_->Receive(testing::BuildArpReply(pool_, mac, neighbour, kUplinkMac, kNodeIp));
  }

  // Pod A's next packet for `neighbour` resolves it.
  void Resolve(uint32_t neighbour, const rte_ether_addr& mac) {
    port_a_->Receive(testing::BuildIpv4(pool_, FromA(neighbour)));
    ExpectArpRequestFor(neighbour);
    Answer(neighbour, mac);
    testing::FreeAll(uplink_->WaitForSent(1));
  }

  std::string NeighbourState(const std::string& ip) const {
    for (const NeighbourInfo& neighbour : engine_->Neighbours()) {
      if (neighbour.ip == ip) {
        return neighbour.state;
      }
    }
    return "absent";
  }

  RingPort* host_ = nullptr;
  RingPort* uplink_ = nullptr;
};

TEST_F(EdgePortsTest, SendsPodTrafficForUnknownDestinationsToTheKernel) {
  StartWithHostPort(Config());
  port_a_->Receive(testing::BuildIpv4(pool_, FromA(kInternetIp)));

  std::vector<rte_mbuf*> sent = host_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(sent[0])->dst_addr, &kKernelMac));
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(sent[0])->src_addr, &testing::kGatewayMac));
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent[0])->dst_addr), kInternetIp);
  EXPECT_EQ(Ipv4(sent[0])->time_to_live, 63);
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return CountersOf(*host_).tx_packets == 1; }));
}

TEST_F(EdgePortsTest, AnswersTheKernelsArpForPodsOnly) {
  StartWithHostPort(Config());
  host_->Receive(testing::BuildArpRequest(pool_, kKernelMac, kKernelIp, kPodBIp));
  host_->Receive(testing::BuildArpRequest(pool_, kKernelMac, kKernelIp, kInternetIp));

  std::vector<rte_mbuf*> replies = host_->WaitForSent(1);
  ASSERT_EQ(replies.size(), 1u);
  rte_arp_hdr* arp = testing::Arp(replies[0]);
  EXPECT_EQ(arp->arp_opcode, RTE_BE16(RTE_ARP_OP_REPLY));
  rte_ether_addr sender_mac = arp->arp_data.arp_sha;
  EXPECT_TRUE(rte_is_same_ether_addr(&sender_mac, &testing::kGatewayMac));
  EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_sip), kPodBIp);
  testing::FreeAll(replies);
  ASSERT_TRUE(WaitUntil([&] { return Dropped(*host_, "arp_ignored") == 1; }));
  EXPECT_EQ(Events(*host_, "arp_replies"), 1u);
  EXPECT_TRUE(host_->TakeAllSent().empty());
}

TEST_F(EdgePortsTest, RoutesTheKernelsPacketsToPods) {
  StartWithHostPort(Config());
  host_->Receive(testing::BuildIpv4(
      pool_, Ipv4Frame{.src_mac = kKernelMac, .src_ip = kKernelIp, .dst_ip = kPodBIp}));

  std::vector<rte_mbuf*> sent = port_b_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(sent[0])->dst_addr, &kPodBMac));
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent[0])->src_addr), kKernelIp);
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return CountersOf(*host_).rx_packets == 1; }));
}

TEST_F(EdgePortsTest, ResolvesAnUplinkNeighbourAndSendsWhatWaitedForIt) {
  StartWithHostPort(Config());
  AttachUplink();
  port_a_->Receive(testing::BuildIpv4(pool_, FromA(kNeighbourIp)));
  ExpectArpRequestFor(kNeighbourIp);
  EXPECT_EQ(NeighbourState("192.168.1.20"), "incomplete");
  EXPECT_TRUE(uplink_->TakeAllSent().empty());  // the packet waits for the answer

  Answer(kNeighbourIp, kNeighbourMac);
  std::vector<rte_mbuf*> sent = uplink_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(sent[0])->dst_addr, &kNeighbourMac));
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(sent[0])->src_addr, &kUplinkMac));
  EXPECT_EQ(Ipv4(sent[0])->time_to_live, 63);
  EXPECT_TRUE(testing::Ipv4ChecksumValid(sent[0]));
  testing::FreeAll(sent);
  std::vector<NeighbourInfo> neighbours = engine_->Neighbours();
  ASSERT_EQ(neighbours.size(), 1u);
  EXPECT_EQ(neighbours[0].ip, "192.168.1.20");
  EXPECT_EQ(neighbours[0].mac, "02:11:00:00:00:20");
  EXPECT_EQ(neighbours[0].state, "reachable");

  // From now on without asking.
  port_a_->Receive(testing::BuildIpv4(pool_, FromA(kNeighbourIp)));
  sent = uplink_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(testing::Ethernet(sent[0])->ether_type, RTE_BE16(RTE_ETHER_TYPE_IPV4));
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return CountersOf(*uplink_).tx_packets == 3; }));
  EXPECT_EQ(Events(*uplink_, "arp_requests"), 1u);
  EXPECT_TRUE(CountersOf(*uplink_).drops.empty());  // the answer was used, not dropped
}

TEST_F(EdgePortsTest, DropsWhatDoesNotFitTheQueueOfAnUnresolvedNeighbour) {
  StartWithHostPort(Config());
  AttachUplink();
  const unsigned sent_before_answer = NeighbourResolver::kHeldPerNeighbour + 2;
  for (unsigned i = 0; i < sent_before_answer; ++i) {
    port_a_->Receive(testing::BuildIpv4(pool_, FromA(kNeighbourIp)));
  }
  ExpectArpRequestFor(kNeighbourIp);
  ASSERT_TRUE(WaitUntil([&] { return Dropped(*port_a_, "neighbour_queue_full") == 2; }));

  Answer(kNeighbourIp, kNeighbourMac);
  std::vector<rte_mbuf*> sent = uplink_->WaitForSent(NeighbourResolver::kHeldPerNeighbour);
  EXPECT_EQ(sent.size(), NeighbourResolver::kHeldPerNeighbour);
  testing::FreeAll(sent);
  EXPECT_EQ(CountersOf(*port_a_).rx_packets, sent_before_answer);
}

TEST_F(EdgePortsTest, GivesUpOnANeighbourThatNeverAnswers) {
  EngineConfig config = Config();
  config.arp_retry_interval = std::chrono::milliseconds(20);
  StartWithHostPort(config);
  AttachUplink();
  port_a_->Receive(testing::BuildIpv4(pool_, FromA(kNeighbourIp)));

  ASSERT_TRUE(WaitUntil([&] { return Dropped(*port_a_, "neighbour_unresolved") == 1; }));
  std::vector<rte_mbuf*> requests = uplink_->TakeAllSent();
  EXPECT_EQ(requests.size(), NeighbourResolver::kMaxProbes);
  for (rte_mbuf* request : requests) {
    EXPECT_EQ(rte_be_to_cpu_32(testing::Arp(request)->arp_data.arp_tip), kNeighbourIp);
  }
  testing::FreeAll(requests);
  EXPECT_EQ(NeighbourState("192.168.1.20"), "absent");
}

TEST_F(EdgePortsTest, AgesANeighbourAndPicksUpItsNewMac) {
  EngineConfig config = Config();
  config.neighbour_timeout = std::chrono::milliseconds(50);
  config.arp_retry_interval = std::chrono::milliseconds(10);
  StartWithHostPort(config);
  AttachUplink();
  Resolve(kNeighbourIp, kNeighbourMac);
  ASSERT_TRUE(WaitUntil([&] { return NeighbourState("192.168.1.20") == "stale"; }));

  // The neighbour now answers from a new MAC. Traffic to it has its MAC confirmed again (or, if the
  // entry sat unused long enough to be forgotten, resolved afresh): either way the engine asks, and
  // later packets go to the new MAC.
  unsigned answered = 0;
  bool moved = false;
  ASSERT_TRUE(WaitUntil([&] {
    port_a_->Receive(testing::BuildIpv4(pool_, FromA(kNeighbourIp)));
    for (rte_mbuf* packet : uplink_->TakeAllSent()) {
      if (testing::Ethernet(packet)->ether_type == RTE_BE16(RTE_ETHER_TYPE_ARP)) {
        EXPECT_EQ(rte_be_to_cpu_32(testing::Arp(packet)->arp_data.arp_tip), kNeighbourIp);
        Answer(kNeighbourIp, kMovedMac);
        ++answered;
      } else {
        moved |= rte_is_same_ether_addr(&testing::Ethernet(packet)->dst_addr, &kMovedMac);
      }
      rte_pktmbuf_free(packet);
    }
    return moved;
  }));
  EXPECT_GE(answered, 1u);
}

TEST_F(EdgePortsTest, RoutesThroughAConfiguredNextHop) {
  StartWithHostPort(Config());
  AttachUplink();
  port_a_->Receive(testing::BuildIpv4(pool_, FromA(RTE_IPV4(10, 50, 3, 4))));
  ExpectArpRequestFor(kRouterIp);
  Answer(kRouterIp, kRouterMac);

  std::vector<rte_mbuf*> sent = uplink_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(sent[0])->dst_addr, &kRouterMac));
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent[0])->dst_addr), RTE_IPV4(10, 50, 3, 4));
  testing::FreeAll(sent);
}

TEST_F(EdgePortsTest, AnswersArpForTheNodeOnTheUplink) {
  StartWithHostPort(Config());
  AttachUplink();
  uplink_->Receive(testing::BuildArpRequest(pool_, kNeighbourMac, kNeighbourIp, kNodeIp));

  std::vector<rte_mbuf*> replies = uplink_->WaitForSent(1);
  ASSERT_EQ(replies.size(), 1u);
  rte_arp_hdr* arp = testing::Arp(replies[0]);
  EXPECT_EQ(arp->arp_opcode, RTE_BE16(RTE_ARP_OP_REPLY));
  rte_ether_addr sender_mac = arp->arp_data.arp_sha;
  EXPECT_TRUE(rte_is_same_ether_addr(&sender_mac, &kUplinkMac));
  EXPECT_EQ(rte_be_to_cpu_32(arp->arp_data.arp_sip), kNodeIp);
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(replies[0])->dst_addr, &kNeighbourMac));
  testing::FreeAll(replies);
  ASSERT_TRUE(WaitUntil([&] { return Events(*uplink_, "arp_replies") == 1; }));
}

TEST_F(EdgePortsTest, HandsUplinkFramesForTheNodeToTheKernel) {
  StartWithHostPort(Config());
  AttachUplink();
  Ipv4Frame to_node{.src_mac = kNeighbourMac,
                    .dst_mac = kUplinkMac,
                    .src_ip = kNeighbourIp,
                    .dst_ip = kNodeIp,
                    .protocol = IPPROTO_TCP};
  uplink_->Receive(testing::BuildIpv4(pool_, to_node));

  std::vector<rte_mbuf*> sent = host_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(sent[0])->dst_addr, &kKernelMac));
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent[0])->dst_addr), kNodeIp);
  EXPECT_EQ(Ipv4(sent[0])->time_to_live, 64);
  EXPECT_TRUE(testing::L4ChecksumValid(sent[0]));
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return Events(*uplink_, "to_node") == 1; }));
}

TEST_F(EdgePortsTest, RoutesUplinkFramesToPodsAndNothingElse) {
  StartWithHostPort(Config());
  AttachUplink();
  Ipv4Frame to_pod{
      .src_mac = kNeighbourMac, .dst_mac = kUplinkMac, .src_ip = kNeighbourIp, .dst_ip = kPodAIp};
  Ipv4Frame to_internet = to_pod;
  to_internet.dst_ip = kInternetIp;
  uplink_->Receive(testing::BuildIpv4(pool_, to_internet));
  uplink_->Receive(testing::BuildIpv4(pool_, to_pod));

  std::vector<rte_mbuf*> sent = port_a_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(sent[0])->dst_addr, &kPodAMac));
  EXPECT_EQ(Ipv4(sent[0])->time_to_live, 63);
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return Dropped(*uplink_, "no_route") == 1; }));
  EXPECT_TRUE(host_->TakeAllSent().empty());
}

TEST_F(EdgePortsTest, CutsA64KibGsoPacketIntoMtuSizedSegmentsForTheUplink) {
  StartWithHostPort(Config());
  AttachUplink();
  Resolve(kNeighbourIp, kNeighbourMac);
  // One mbuf holds the whole packet, as far as a 16-bit data room allows.
  rte_mempool* large_pool = rte_pktmbuf_pool_create(testing::UniqueName("edge_big").c_str(), 7, 0,
                                                    0, UINT16_MAX, SOCKET_ID_ANY);
  ASSERT_NE(large_pool, nullptr);
  constexpr uint16_t kPayload = 65'000;
  Ipv4Frame frame = FromA(kNeighbourIp);
  frame.protocol = IPPROTO_TCP;
  frame.payload_size = kPayload;
  rte_mbuf* packet = testing::BuildIpv4(large_pool, frame);
  ASSERT_NE(packet, nullptr);
  testing::MarkAsGsoFromVirtio(packet, 1448);
  port_a_->Receive(packet);

  const size_t segments = (kPayload + 1447) / 1448;
  std::vector<rte_mbuf*> sent = uplink_->WaitForSent(segments);
  ASSERT_EQ(sent.size(), segments);
  std::vector<uint8_t> payload;
  for (rte_mbuf* segment : sent) {
    EXPECT_LE(rte_be_to_cpu_16(Ipv4(segment)->total_length), 1500);
    EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(segment)->dst_addr, &kNeighbourMac));
    EXPECT_TRUE(testing::Ipv4ChecksumValid(segment));
    EXPECT_TRUE(testing::L4ChecksumValid(segment));
    std::vector<uint8_t> piece = testing::L4Payload(segment);
    payload.insert(payload.end(), piece.begin(), piece.end());
  }
  ASSERT_EQ(payload.size(), kPayload);
  for (size_t i = 0; i < payload.size(); ++i) {
    ASSERT_EQ(payload[i], static_cast<uint8_t>(i)) << "payload byte " << i;
  }
  testing::FreeAll(sent);
  rte_mempool_free(large_pool);
}

TEST_F(EdgePortsTest, DropsAPlainFrameLargerThanTheUplinkMtu) {
  StartWithHostPort(Config());
  AttachUplink();
  Resolve(kNeighbourIp, kNeighbourMac);
  Ipv4Frame frame = FromA(kNeighbourIp);
  frame.payload_size = 1500;  // 1528 bytes of IPv4
  port_a_->Receive(testing::BuildIpv4(pool_, frame));

  ASSERT_TRUE(WaitUntil([&] { return Dropped(*port_a_, "mtu_exceeded") == 1; }));
  EXPECT_TRUE(uplink_->TakeAllSent().empty());
}

TEST_F(EdgePortsTest, WithoutAHostPortTheGatewayIsTheDefaultRoute) {
  StartEngine(Config());
  AttachPodsAAndB();
  AttachUplink(/*gateway=*/kRouterIp);
  port_a_->Receive(testing::BuildIpv4(pool_, FromA(kInternetIp)));
  ExpectArpRequestFor(kRouterIp);
  Answer(kRouterIp, kRouterMac);
  std::vector<rte_mbuf*> sent = uplink_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(sent[0])->dst_addr, &kRouterMac));
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent[0])->dst_addr), kInternetIp);
  testing::FreeAll(sent);

  // Once the kernel is there, it takes the default route over.
  AttachHost();
  port_a_->Receive(testing::BuildIpv4(pool_, FromA(kInternetIp)));
  sent = host_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(sent[0])->dst_addr, &kKernelMac));
  testing::FreeAll(sent);
  EXPECT_TRUE(uplink_->TakeAllSent().empty());
}

TEST_F(EdgePortsTest, DiscardsPacketsForTheNodeWhileNoHostPortIsAttached) {
  StartEngine(Config());
  AttachPodsAAndB();
  AttachUplink();
  port_a_->Receive(testing::BuildIpv4(pool_, FromA(kNodeIp)));
  ASSERT_TRUE(WaitUntil([&] { return Dropped(*port_a_, "no_route") == 1; }));
  EXPECT_TRUE(uplink_->TakeAllSent().empty());  // never asked for its own address

  AttachHost();
  port_a_->Receive(testing::BuildIpv4(pool_, FromA(kNodeIp)));
  std::vector<rte_mbuf*> sent = host_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent[0])->dst_addr), kNodeIp);
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return Events(*port_a_, "to_node") == 1; }));
}

TEST_F(EdgePortsTest, ListsEveryRoute) {
  StartWithHostPort(Config());
  AttachUplink(/*gateway=*/kRouterIp);
  const std::string host = "host port " + std::to_string(host_->port_id());
  const std::string uplink = "uplink port " + std::to_string(uplink_->port_id());

  std::vector<std::pair<std::string, std::string>> listed;
  for (const RouteInfo& route : engine_->Routes()) {
    listed.emplace_back(route.prefix, route.next_hop);
  }
  EXPECT_EQ(listed,
            (std::vector<std::pair<std::string, std::string>>{
                {"0.0.0.0/0", host},
                {"10.50.0.0/16", uplink + " via 192.168.1.254"},
                {"10.244.0.10/32", "port " + std::to_string(port_a_->port_id()) + " (default/a)"},
                {"10.244.0.11/32", "port " + std::to_string(port_b_->port_id()) + " (default/b)"},
                {"192.168.1.0/24", uplink + " (on-link)"},
                {"192.168.1.2/32", host + " (node address)"},
            }));
}

TEST_F(EdgePortsTest, DropsUplinkFramesFromThisNodesPodCidrsOrTheGateway) {
  StartWithHostPort(Config());
  uplink_ = &AddPort();
  UplinkEndpoint uplink = Uplink(*uplink_);
  uplink.pod_cidrs = {Ipv4Cidr{.prefix = RTE_IPV4(10, 244, 0, 0), .length = 24},
                      Ipv4Cidr{.prefix = RTE_IPV4(10, 245, 0, 0), .length = 16}};
  ASSERT_TRUE(engine_->AttachUplink(uplink).ok());
  auto from = [&](uint32_t source, uint32_t destination) {
    return testing::BuildIpv4(pool_, Ipv4Frame{.src_mac = kNeighbourMac,
                                               .dst_mac = kUplinkMac,
                                               .src_ip = source,
                                               .dst_ip = destination});
  };
  // Pod B's address, another in the first CIDR, one in the second, the gateway: toward pod A and
  // the node's address (a masqueraded reply's destination).
  for (uint32_t source :
       {kPodBIp, RTE_IPV4(10, 244, 0, 99), RTE_IPV4(10, 245, 3, 4), testing::kGatewayIp}) {
    uplink_->Receive(from(source, kPodAIp));
    uplink_->Receive(from(source, kNodeIp));
  }
  // What the uplink may send: a neighbour, the internet, another node's pod CIDR (10.246/16).
  uplink_->Receive(from(kNeighbourIp, kPodAIp));
  uplink_->Receive(from(kInternetIp, kPodAIp));
  uplink_->Receive(from(RTE_IPV4(10, 246, 0, 5), kPodAIp));
  uplink_->Receive(from(kInternetIp, kNodeIp));

  std::vector<rte_mbuf*> to_pod = port_a_->WaitForSent(3);
  ASSERT_EQ(to_pod.size(), 3u);
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(to_pod[0])->src_addr), kNeighbourIp);
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(to_pod[1])->src_addr), kInternetIp);
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(to_pod[2])->src_addr), RTE_IPV4(10, 246, 0, 5));
  testing::FreeAll(to_pod);
  std::vector<rte_mbuf*> to_node = host_->WaitForSent(1);
  ASSERT_EQ(to_node.size(), 1u);
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(to_node[0])->src_addr), kInternetIp);
  testing::FreeAll(to_node);
  ASSERT_TRUE(WaitUntil([&] { return CountersOf(*uplink_).rx_packets == 12; }));
  EXPECT_EQ(CountersOf(*uplink_).drops,
            (std::map<std::string, uint64_t>{{"uplink_spoofed_source", 8}}));
  EXPECT_EQ(Events(*uplink_, "to_node"), 1u);
  EXPECT_TRUE(port_a_->TakeAllSent().empty());
  EXPECT_TRUE(host_->TakeAllSent().empty());
}

TEST_F(EdgePortsTest, RefusesPodCidrsThatAreNoPrefixOrOverlapTheUplinkNetwork) {
  StartWithHostPort(Config());
  RingPort& spare = AddPort();
  UplinkEndpoint host_bits = Uplink(spare);
  host_bits.pod_cidrs = {Ipv4Cidr{.prefix = RTE_IPV4(10, 244, 0, 1), .length = 24}};
  UplinkEndpoint overlapping = Uplink(spare);
  overlapping.pod_cidrs = {Ipv4Cidr{.prefix = RTE_IPV4(192, 168, 0, 0), .length = 16}};
  UplinkEndpoint too_many = Uplink(spare);
  for (uint32_t i = 0; i <= kMaxUplinkPodCidrs; ++i) {
    too_many.pod_cidrs.push_back(Ipv4Cidr{.prefix = RTE_IPV4(10, 100, i, 0), .length = 24});
  }
  for (const UplinkEndpoint& invalid : {host_bits, overlapping, too_many}) {
    absl::Status refused = engine_->AttachUplink(invalid);
    EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << refused;
    EXPECT_NE(refused.message().find("pod CIDR"), std::string::npos) << refused;
  }
  EXPECT_TRUE(engine_->AttachUplink(Uplink(spare)).ok());
}

TEST_F(EdgePortsTest, RejectsUnusableEdgePorts) {
  StartWithHostPort(Config());
  RingPort& spare = AddPort();
  auto uplink_code = [&](const UplinkEndpoint& uplink) {
    return engine_->AttachUplink(uplink).code();
  };
  UplinkEndpoint off_net_gateway = Uplink(spare, RTE_IPV4(192, 168, 2, 1));
  UplinkEndpoint host_bits_set = Uplink(spare);
  host_bits_set.routes[0].prefix = RTE_IPV4(10, 50, 0, 1);
  UplinkEndpoint off_net_via = Uplink(spare);
  off_net_via.routes[0].via = RTE_IPV4(10, 0, 0, 1);
  UplinkEndpoint default_in_routes = Uplink(spare);
  default_in_routes.routes[0] = Ipv4Route{.prefix = 0, .length = 0, .via = kRouterIp};
  UplinkEndpoint no_prefix = Uplink(spare);
  no_prefix.prefix_length = 0;
  UplinkEndpoint pod_subnet = Uplink(spare);
  pod_subnet.routes.push_back(Ipv4Route{.prefix = kPodAIp, .length = 32, .via = kRouterIp});
  for (const UplinkEndpoint& invalid :
       {off_net_gateway, host_bits_set, off_net_via, default_in_routes, no_prefix}) {
    EXPECT_EQ(uplink_code(invalid), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(uplink_code(pod_subnet), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(uplink_code(Uplink(*port_a_)), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(
      engine_->AttachHostPort(HostEndpoint{.port_id = spare.port_id(), .kernel_mac = kKernelMac})
          .code(),
      absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(engine_->DetachPod(host_->port_id()).code(), absl::StatusCode::kNotFound);

  ASSERT_TRUE(engine_->AttachUplink(Uplink(spare)).ok());
  RingPort& another = AddPort();
  EXPECT_EQ(uplink_code(Uplink(another)), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(engine_->AttachPod(Pod(another, kNodeIp, kPodAMac, "node-ip")).code(),
            absl::StatusCode::kAlreadyExists);
  EXPECT_TRUE(engine_->Counters(spare.port_id()).ok());
  EXPECT_TRUE(engine_->Counters(host_->port_id()).ok());
}

// Services through the running engine, with two workers so that the host port and the pods may be
// polled by different lcores: the kernel forwards a DNATed flow to pod B, and B's reply to pod A
// comes back out of the host port, not out of A's port.
TEST_F(EdgePortsTest, SendsAPodsRepliesToAFlowTheKernelForwardedBackToTheKernel) {
  StartEngine(Config({1, 2}));
  AttachHost();
  AttachPodsAAndB();
  Ipv4Frame forwarded{.src_mac = kKernelMac,
                      .src_ip = kPodAIp,
                      .dst_ip = kPodBIp,
                      .protocol = IPPROTO_TCP,
                      .tcp_flags = RTE_TCP_SYN_FLAG,
                      .src_port = 40000,
                      .dst_port = 8080};
  host_->Receive(testing::BuildIpv4(pool_, forwarded));
  testing::FreeAll(port_b_->WaitForSent(1));
  ASSERT_TRUE(WaitUntil([&] { return engine_->FlowStats().entries == 1; }));

  Ipv4Frame reply{.src_mac = kPodBMac,
                  .src_ip = kPodBIp,
                  .dst_ip = kPodAIp,
                  .protocol = IPPROTO_TCP,
                  .tcp_flags = RTE_TCP_SYN_FLAG | RTE_TCP_ACK_FLAG,
                  .src_port = 8080,
                  .dst_port = 40000};
  port_b_->Receive(testing::BuildIpv4(pool_, reply));
  std::vector<rte_mbuf*> sent = host_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(rte_is_same_ether_addr(&testing::Ethernet(sent[0])->dst_addr, &kKernelMac));
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent[0])->src_addr), kPodBIp);
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent[0])->dst_addr), kPodAIp);
  testing::FreeAll(sent);
  EXPECT_TRUE(port_a_->TakeAllSent().empty());

  // Pod B talking to A on its own goes straight to A.
  reply.src_port = 9090;
  port_b_->Receive(testing::BuildIpv4(pool_, reply));
  testing::FreeAll(port_a_->WaitForSent(1));
  ASSERT_TRUE(WaitUntil([&] { return engine_->FlowStats().hits == 1; }));

  std::vector<FlowListing> flows = engine_->Flows(0);
  ASSERT_EQ(flows.size(), 1u);
  EXPECT_EQ(flows[0].protocol, "tcp");
  EXPECT_EQ(flows[0].reply_source, "10.244.0.11:8080");
  EXPECT_EQ(flows[0].reply_destination, "10.244.0.10:40000");
  EXPECT_EQ(flows[0].reply_port, "port " + std::to_string(port_b_->port_id()) + " (default/b)");
  EXPECT_EQ(flows[0].state, "replied");
}

TEST_F(EdgePortsTest, WithoutAFlowTableRepliesTakeTheirDirectRoute) {
  EngineConfig config = Config();
  config.flows.capacity = 0;
  StartWithHostPort(config);
  Ipv4Frame forwarded{.src_mac = kKernelMac, .src_ip = kPodAIp, .dst_ip = kPodBIp};
  host_->Receive(testing::BuildIpv4(pool_, forwarded));
  testing::FreeAll(port_b_->WaitForSent(1));
  Ipv4Frame reply{.src_mac = kPodBMac, .src_ip = kPodBIp, .dst_ip = kPodAIp, .dst_port = 40000};
  reply.src_port = 53;
  port_b_->Receive(testing::BuildIpv4(pool_, reply));
  testing::FreeAll(port_a_->WaitForSent(1));
  EXPECT_EQ(engine_->FlowStats().capacity, 0u);
  EXPECT_TRUE(engine_->Flows(0).empty());
}

// After a restart the agent hands the engine what conntrack NATs: replies are steered before the
// kernel forwards anything of those connections again.
TEST_F(EdgePortsTest, SeededConnectionsHaveTheirRepliesSentBackToTheKernel) {
  StartWithHostPort(Config());
  absl::StatusOr<size_t> seeded =
      engine_->SeedKernelFlows({NatedFlow{.protocol = IPPROTO_TCP,
                                          .reply_source = kPodBIp,
                                          .reply_destination = kPodAIp,
                                          .reply_source_port = 8080,
                                          .reply_destination_port = 40000,
                                          .answered = true},
                                // Masqueraded to an address the kernel routes: nothing to keep.
                                NatedFlow{.protocol = IPPROTO_UDP,
                                          .reply_source = kPodBIp,
                                          .reply_destination = kInternetIp,
                                          .reply_source_port = 53,
                                          .reply_destination_port = 5353}});
  ASSERT_TRUE(seeded.ok()) << seeded.status();
  EXPECT_EQ(*seeded, 1u);
  ASSERT_TRUE(WaitUntil([&] { return engine_->FlowStats().entries == 1; }));

  Ipv4Frame reply{.src_mac = kPodBMac,
                  .src_ip = kPodBIp,
                  .dst_ip = kPodAIp,
                  .protocol = IPPROTO_TCP,
                  .src_port = 8080,
                  .dst_port = 40000};
  port_b_->Receive(testing::BuildIpv4(pool_, reply));
  std::vector<rte_mbuf*> sent = host_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent[0])->dst_addr), kPodAIp);
  testing::FreeAll(sent);
  EXPECT_TRUE(port_a_->TakeAllSent().empty());
}

}  // namespace
}  // namespace dpcni::dataplane
