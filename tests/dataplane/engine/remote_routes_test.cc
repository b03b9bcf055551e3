// Routes to other nodes' pods (Engine::SetRemoteRoutes) on the running engine: host-gw through the
// uplink's ARP, VXLAN encapsulation and decapsulation, kernel mode, and the sets it refuses. The
// test plays the uplink's neighbours and the remote nodes on net_ring ports.
#include <rte_icmp.h>
#include <rte_udp.h>
#include <rte_vxlan.h>

#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gtest/gtest.h"
#include "tests/dataplane/engine/engine_fixture.h"
#include "tests/dataplane/engine/test_packets.h"
#include "tests/dataplane/engine/test_ports.h"

namespace dpcni::dataplane {
namespace {

using testing::Ethernet;
using testing::Ipv4;
using testing::Ipv4Frame;
using testing::kKernelMac;
using testing::kNodeIp;
using testing::kRouterIp;
using testing::kRouterMac;
using testing::kUplinkMac;
using testing::RingPort;
using testing::WaitUntil;

// Node 2 is on the uplink network, node 3 behind the router (10.50.0.0/16).
constexpr uint32_t kNode2Ip = RTE_IPV4(192, 168, 1, 30);
constexpr rte_ether_addr kNode2Mac = {{0x02, 0x11, 0x00, 0x00, 0x00, 0x30}};
constexpr uint32_t kNode3Ip = RTE_IPV4(10, 50, 3, 3);
constexpr uint32_t kStrangerIp = RTE_IPV4(192, 168, 1, 99);
constexpr uint32_t kNode2Pods = RTE_IPV4(10, 244, 5, 0);  // /24
constexpr uint32_t kNode3Pods = RTE_IPV4(10, 244, 6, 0);  // /24
constexpr uint32_t kNode2Pod = RTE_IPV4(10, 244, 5, 7);
constexpr uint32_t kNode3Pod = RTE_IPV4(10, 244, 6, 9);
// Not the defaults, so that the tests see the configuration used.
constexpr uint16_t kVxlanPort = 8472;
constexpr uint32_t kVni = 0x123456;
constexpr uint16_t kUplinkMtu = 1500;

RemoteRoute Remote(uint32_t prefix, uint8_t length, uint32_t node_ip, RemoteMode mode,
                   std::string node) {
  return RemoteRoute{.prefix = prefix,
                     .length = length,
                     .node_ip = node_ip,
                     .mode = mode,
                     .node = std::move(node)};
}

// The outer headers of a VXLAN frame as the engine writes them (no options, in the first segment).
struct Outer {
  rte_ether_hdr* ethernet;
  rte_ipv4_hdr* ip;
  rte_udp_hdr* udp;
  rte_vxlan_hdr* vxlan;
};

Outer OuterOf(rte_mbuf* packet) {
  auto* ethernet = rte_pktmbuf_mtod(packet, rte_ether_hdr*);
  auto* ip = reinterpret_cast<rte_ipv4_hdr*>(ethernet + 1);
  auto* udp = reinterpret_cast<rte_udp_hdr*>(ip + 1);
  return {ethernet, ip, udp, reinterpret_cast<rte_vxlan_hdr*>(udp + 1)};
}

// Strips the outer headers, leaving the inner frame for the testing:: inspectors.
void StripOuter(rte_mbuf* packet) { ASSERT_NE(rte_pktmbuf_adj(packet, 50), nullptr); }

class RemoteRoutesTest : public EngineTest {
 protected:
  EngineConfig RemoteConfig(uint32_t max_remote_routes = 16) const {
    EngineConfig config = Config();
    config.vxlan = VxlanConfig{.udp_port = kVxlanPort, .vni = kVni};
    config.max_remote_routes = max_remote_routes;
    return config;
  }

  // Pods A and B, a host port, and the uplink on 192.168.1.0/24 with 10.50.0.0/16 via the router.
  void StartNode(const EngineConfig& config, bool host_port = true, bool uplink = true) {
    StartEngine(config);
    AttachPodsAAndB();
    if (host_port) {
      host_ = &AddPort();
      ASSERT_TRUE(
          engine_
              ->AttachHostPort(HostEndpoint{.port_id = host_->port_id(), .kernel_mac = kKernelMac})
              .ok());
    }
    if (uplink) {
      uplink_ = &AddPort();
      absl::Status attached = engine_->AttachUplink(UplinkEndpoint{
          .port_id = uplink_->port_id(),
          .mac = kUplinkMac,
          .ip = kNodeIp,
          .prefix_length = testing::kUplinkPrefixLength,
          .gateway = 0,
          .routes = {Ipv4Route{.prefix = RTE_IPV4(10, 50, 0, 0), .length = 16, .via = kRouterIp}}});
      ASSERT_TRUE(attached.ok()) << attached;
    }
  }

  void SetRoutes(const std::vector<RemoteRoute>& routes) {
    absl::Status set = engine_->SetRemoteRoutes(routes);
    ASSERT_TRUE(set.ok()) << set;
  }

  static Ipv4Frame FromA(uint32_t destination, uint16_t src_port = 40000) {
    Ipv4Frame frame = FromAToB();
    frame.dst_ip = destination;
    frame.src_port = src_port;
    return frame;
  }

  // Pod A's first packet for `destination` has the uplink ask for `neighbour`; the answer sends it.
  rte_mbuf* SendResolving(uint32_t destination, uint32_t neighbour, const rte_ether_addr& mac) {
    port_a_->Receive(testing::BuildIpv4(pool_, FromA(destination)));
    std::vector<rte_mbuf*> sent = uplink_->WaitForSent(1);
    EXPECT_EQ(sent.size(), 1u);
    if (sent.size() != 1) {
      testing::FreeAll(sent);
      return nullptr;
    }
    EXPECT_EQ(Ethernet(sent[0])->ether_type, RTE_BE16(RTE_ETHER_TYPE_ARP));
    EXPECT_EQ(rte_be_to_cpu_32(testing::Arp(sent[0])->arp_data.arp_tip), neighbour);
    testing::FreeAll(sent);
    uplink_->Receive(testing::BuildArpReply(pool_, mac, neighbour, kUplinkMac, kNodeIp));
    sent = uplink_->WaitForSent(1);
    EXPECT_EQ(sent.size(), 1u);
    return sent.empty() ? nullptr : sent[0];
  }

  // What a remote node sends: `inner` in VXLAN from `outer_source` to this node.
  rte_mbuf* BuildVxlan(uint32_t outer_source, const Ipv4Frame& inner, uint32_t vni = kVni,
                       uint8_t flags = 0x08) {
    rte_mbuf* packet = testing::BuildIpv4(pool_, inner);
    const uint16_t inner_length = static_cast<uint16_t>(packet->pkt_len);
    char* front = rte_pktmbuf_prepend(packet, 50);
    EXPECT_NE(front, nullptr);
    Outer outer = OuterOf(packet);
    outer.ethernet->dst_addr = kUplinkMac;
    outer.ethernet->src_addr = kNode2Mac;
    outer.ethernet->ether_type = RTE_BE16(RTE_ETHER_TYPE_IPV4);
    *outer.ip = rte_ipv4_hdr{};
    outer.ip->version_ihl = RTE_IPV4_VHL_DEF;
    outer.ip->total_length = rte_cpu_to_be_16(inner_length + 36);
    outer.ip->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
    outer.ip->time_to_live = 64;
    outer.ip->next_proto_id = IPPROTO_UDP;
    outer.ip->src_addr = rte_cpu_to_be_32(outer_source);
    outer.ip->dst_addr = rte_cpu_to_be_32(kNodeIp);
    outer.ip->hdr_checksum = rte_ipv4_cksum(outer.ip);
    outer.udp->src_port = rte_cpu_to_be_16(50000);
    outer.udp->dst_port = rte_cpu_to_be_16(kVxlanPort);
    outer.udp->dgram_len = rte_cpu_to_be_16(inner_length + 16);
    outer.udp->dgram_cksum = 0;
    outer.vxlan->vx_flags = rte_cpu_to_be_32(static_cast<uint32_t>(flags) << 24);
    outer.vxlan->vx_vni = rte_cpu_to_be_32(vni << 8);
    return packet;
  }

  static Ipv4Frame ToPodA(uint32_t source) {
    return Ipv4Frame{.src_mac = kNode2Mac,
                     .dst_mac = kUplinkMac,
                     .src_ip = source,
                     .dst_ip = kPodAIp,
                     .ttl = 63};
  }

  std::string RouteLine(const std::string& prefix) const {
    for (const RouteInfo& route : engine_->Routes()) {
      if (route.prefix == prefix) {
        return route.next_hop + " | " + route.node + " | " + route.mode;
      }
    }
    return "absent";
  }

  RingPort* host_ = nullptr;
  RingPort* uplink_ = nullptr;
};

TEST_F(RemoteRoutesTest, SetsReplacesAndWithdrawsRoutes) {
  StartNode(RemoteConfig());
  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kHostGw, "node-2"),
             Remote(kNode3Pods, 24, kNode3Ip, RemoteMode::kVxlan, "node-3")});
  const std::string uplink = "uplink port " + std::to_string(uplink_->port_id());
  EXPECT_EQ(RouteLine("10.244.5.0/24"), uplink + " via 192.168.1.30 (host-gw) | node-2 | host-gw");
  EXPECT_EQ(RouteLine("10.244.6.0/24"),
            uplink + " via 10.50.3.3 (vxlan, outer next hop 192.168.1.254) | node-3 | vxlan");

  // Node 2 moves to VXLAN, node 3 goes away.
  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kVxlan, "node-2")});
  EXPECT_EQ(RouteLine("10.244.5.0/24"), uplink + " via 192.168.1.30 (vxlan) | node-2 | vxlan");
  EXPECT_EQ(RouteLine("10.244.6.0/24"), "absent");

  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kKernel, "node-2")});
  EXPECT_EQ(RouteLine("10.244.5.0/24"), "host port " + std::to_string(host_->port_id()) +
                                            " via 192.168.1.30 (kernel) | " + "node-2 | kernel");

  SetRoutes({});
  EXPECT_EQ(RouteLine("10.244.5.0/24"), "absent");
  // The local routes are untouched, and a withdrawn prefix no longer routes.
  EXPECT_NE(RouteLine("10.244.0.10/32"), "absent");
  port_a_->Receive(testing::BuildIpv4(pool_, FromA(kNode2Pod)));
  std::vector<rte_mbuf*> sent = host_->WaitForSent(1);  // the default route: the kernel
  ASSERT_EQ(sent.size(), 1u);
  testing::FreeAll(sent);
}

TEST_F(RemoteRoutesTest, RefusesASetWholeAndChangesNothing) {
  StartNode(RemoteConfig(/*max_remote_routes=*/3));
  const RemoteRoute good = Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kHostGw, "node-2");
  SetRoutes({good});
  const std::vector<RouteInfo> before = engine_->Routes();
  struct Case {
    RemoteRoute bad;
    std::string expected;  // in the message
  };
  const std::vector<Case> cases = {
      {Remote(RTE_IPV4(192, 168, 1, 0), 24, kNode2Ip, RemoteMode::kHostGw, "n"),
       "192.168.1.0/24 is a local route"},
      {Remote(kNodeIp, 32, kNode2Ip, RemoteMode::kHostGw, "n"), "192.168.1.2/32 is a local route"},
      {Remote(RTE_IPV4(10, 50, 0, 0), 16, kNode2Ip, RemoteMode::kHostGw, "n"),
       "10.50.0.0/16 is a local route"},
      {Remote(kPodAIp, 32, kNode2Ip, RemoteMode::kHostGw, "n"), "10.244.0.10/32 is a local route"},
      {Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kVxlan, "n"), "10.244.5.0/24 given twice"},
      {Remote(kNode3Pods, 24, kNode3Ip, RemoteMode::kHostGw, "n"),
       "host-gw needs the node's address on the uplink network"},
      {Remote(kNode3Pods, 24, RTE_IPV4(172, 16, 0, 1), RemoteMode::kVxlan, "n"),
       "no uplink route or gateway reaches it"},
      {Remote(kNode3Pods, 24, kNodeIp, RemoteMode::kVxlan, "n"), "this node's own"},
      {Remote(RTE_IPV4(10, 244, 6, 1), 24, kNode3Ip, RemoteMode::kVxlan, "n"),
       "is not a prefix of length 1..32"},
  };
  for (const Case& c : cases) {
    absl::Status refused = engine_->SetRemoteRoutes({good, c.bad});
    EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument) << c.expected;
    EXPECT_NE(refused.message().find(c.expected), std::string::npos) << refused;
  }
  absl::Status too_many = engine_->SetRemoteRoutes(
      {good, Remote(kNode3Pods, 24, kNode3Ip, RemoteMode::kVxlan, "3"),
       Remote(RTE_IPV4(10, 244, 7, 0), 24, kNode3Ip, RemoteMode::kVxlan, "3"),
       Remote(RTE_IPV4(10, 244, 8, 0), 24, kNode3Ip, RemoteMode::kVxlan, "3")});
  EXPECT_EQ(too_many.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(too_many.message().find("max_remote_routes=3"), std::string::npos) << too_many;

  const std::vector<RouteInfo> after = engine_->Routes();
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_EQ(after[i].prefix, before[i].prefix);
    EXPECT_EQ(after[i].next_hop, before[i].next_hop);
  }
}

TEST_F(RemoteRoutesTest, RefusesModesTheNodeCannotCarry) {
  StartNode(RemoteConfig(), /*host_port=*/false, /*uplink=*/true);
  absl::Status kernel =
      engine_->SetRemoteRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kKernel, "n")});
  EXPECT_EQ(kernel.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(kernel.message().find("needs the host port"), std::string::npos) << kernel;
  EXPECT_EQ(RouteLine("10.244.5.0/24"), "absent");
}

TEST_F(RemoteRoutesTest, RefusesHostGwAndVxlanWithoutAnUplink) {
  StartNode(RemoteConfig(), /*host_port=*/true, /*uplink=*/false);
  for (RemoteMode mode : {RemoteMode::kHostGw, RemoteMode::kVxlan}) {
    absl::Status refused = engine_->SetRemoteRoutes({Remote(kNode2Pods, 24, kNode2Ip, mode, "n")});
    EXPECT_EQ(refused.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(refused.message().find("needs an uplink"), std::string::npos) << refused;
  }
  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kKernel, "n")});
  port_a_->Receive(testing::BuildIpv4(pool_, FromA(kNode2Pod)));
  std::vector<rte_mbuf*> sent = host_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(sent[0])->dst_addr, &kKernelMac));
  EXPECT_EQ(Ipv4(sent[0])->time_to_live, 63);
  testing::FreeAll(sent);
}

// Traffic on a route that stays, or that changes mode, never finds it missing while the set around
// it changes.
TEST_F(RemoteRoutesTest, KeepsRoutesWorkingWhileTheSetChanges) {
  StartNode(RemoteConfig());
  const RemoteRoute host_gw = Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kHostGw, "node-2");
  const RemoteRoute vxlan = Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kVxlan, "node-2");
  const RemoteRoute other = Remote(kNode3Pods, 24, kNode3Ip, RemoteMode::kVxlan, "node-3");
  SetRoutes({host_gw});
  testing::FreeAll({SendResolving(kNode2Pod, kNode2Ip, kNode2Mac)});
  testing::TrafficGenerator generator(pool_, *port_a_, FromA(kNode2Pod));
  // Each phase lasts until traffic has taken the route as it now is.
  auto sent_more = [&](const std::string& event) {
    const uint64_t before =
        event.empty() ? CountersOf(*uplink_).tx_packets : Events(*uplink_, event);
    return WaitUntil([&] {
      testing::FreeAll(uplink_->TakeAllSent());
      const uint64_t now =
          event.empty() ? CountersOf(*uplink_).tx_packets : Events(*uplink_, event);
      return now > before + 100;
    });
  };
  for (int cycle = 0; cycle < 10; ++cycle) {
    SCOPED_TRACE(cycle);
    SetRoutes({host_gw, other});  // node 3 comes, node 2's route stays as it is
    ASSERT_TRUE(sent_more(""));
    SetRoutes({vxlan, other});  // node 2 moves to VXLAN
    ASSERT_TRUE(sent_more("vxlan_encapsulated"));
    SetRoutes({host_gw});  // node 3 goes, node 2 back to host-gw
    ASSERT_TRUE(sent_more(""));
  }
  generator.Stop();
  testing::FreeAll(uplink_->TakeAllSent());
  EXPECT_EQ(Dropped(*port_a_, "no_route"), 0u);
}

TEST_F(RemoteRoutesTest, HostGwSendsUnencapsulatedToTheNodeResolvedByArp) {
  StartNode(RemoteConfig());
  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kHostGw, "node-2")});
  rte_mbuf* sent = SendResolving(kNode2Pod, kNode2Ip, kNode2Mac);
  ASSERT_NE(sent, nullptr);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(sent)->dst_addr, &kNode2Mac));
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(sent)->src_addr, &kUplinkMac));
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent)->dst_addr), kNode2Pod);
  EXPECT_EQ(Ipv4(sent)->next_proto_id, IPPROTO_UDP);
  EXPECT_EQ(rte_be_to_cpu_16(Ipv4(sent)->total_length), 18 + 8 + 20);  // as pod A sent it
  EXPECT_EQ(Ipv4(sent)->time_to_live, 63);
  EXPECT_TRUE(testing::Ipv4ChecksumValid(sent));
  testing::FreeAll({sent});
  EXPECT_EQ(Events(*uplink_, "vxlan_encapsulated"), 0u);
}

TEST_F(RemoteRoutesTest, EncapsulatesInVxlanWithExactOuterHeaders) {
  StartNode(RemoteConfig());
  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kVxlan, "node-2")});
  rte_mbuf* sent = SendResolving(kNode2Pod, kNode2Ip, kNode2Mac);
  ASSERT_NE(sent, nullptr);
  constexpr uint16_t kInner = 14 + 20 + 8 + 18;
  ASSERT_EQ(sent->pkt_len, 50u + kInner);
  Outer outer = OuterOf(sent);
  EXPECT_TRUE(rte_is_same_ether_addr(&outer.ethernet->dst_addr, &kNode2Mac));
  EXPECT_TRUE(rte_is_same_ether_addr(&outer.ethernet->src_addr, &kUplinkMac));
  EXPECT_EQ(outer.ethernet->ether_type, RTE_BE16(RTE_ETHER_TYPE_IPV4));
  EXPECT_EQ(outer.ip->version_ihl, 0x45);
  EXPECT_EQ(rte_be_to_cpu_16(outer.ip->total_length), 20 + 8 + 8 + kInner);
  EXPECT_EQ(outer.ip->fragment_offset, RTE_BE16(RTE_IPV4_HDR_DF_FLAG));
  EXPECT_EQ(outer.ip->time_to_live, 64);
  EXPECT_EQ(outer.ip->next_proto_id, IPPROTO_UDP);
  EXPECT_EQ(rte_be_to_cpu_32(outer.ip->src_addr), kNodeIp);
  EXPECT_EQ(rte_be_to_cpu_32(outer.ip->dst_addr), kNode2Ip);
  EXPECT_EQ(rte_ipv4_cksum(outer.ip), 0) << "outer IPv4 checksum";
  const uint16_t source_port = rte_be_to_cpu_16(outer.udp->src_port);
  EXPECT_GE(source_port, 49152);
  EXPECT_EQ(rte_be_to_cpu_16(outer.udp->dst_port), kVxlanPort);
  EXPECT_EQ(rte_be_to_cpu_16(outer.udp->dgram_len), 8 + 8 + kInner);
  EXPECT_EQ(outer.udp->dgram_cksum, 0);
  EXPECT_EQ(rte_be_to_cpu_32(outer.vxlan->vx_flags), 0x08000000u);
  EXPECT_EQ(rte_be_to_cpu_32(outer.vxlan->vx_vni), kVni << 8);
  StripOuter(sent);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(sent)->src_addr, &kUplinkMac));
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(sent)->dst_addr, &testing::kGatewayMac));
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent)->src_addr), kPodAIp);
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent)->dst_addr), kNode2Pod);
  EXPECT_EQ(Ipv4(sent)->time_to_live, 63);
  EXPECT_TRUE(testing::Ipv4ChecksumValid(sent));
  EXPECT_TRUE(testing::L4ChecksumValid(sent));
  testing::FreeAll({sent});
  ASSERT_TRUE(WaitUntil([&] { return Events(*uplink_, "vxlan_encapsulated") == 1; }));

  // The same flow keeps its source port; other flows spread over others.
  std::set<uint16_t> ports;
  for (uint16_t flow = 0; flow < 16; ++flow) {
    for (int repeat = 0; repeat < 2; ++repeat) {
      port_a_->Receive(testing::BuildIpv4(pool_, FromA(kNode2Pod, 41000 + flow)));
      std::vector<rte_mbuf*> packets = uplink_->WaitForSent(1);
      ASSERT_EQ(packets.size(), 1u);
      const uint16_t port = rte_be_to_cpu_16(OuterOf(packets[0]).udp->src_port);
      EXPECT_GE(port, 49152);
      if (repeat == 1) {
        EXPECT_EQ(ports.count(port), 1u) << "flow " << flow << " changed its source port";
      }
      ports.insert(port);
      testing::FreeAll(packets);
    }
  }
  EXPECT_GE(ports.size(), 12u) << "16 flows should mostly differ in source port";
  port_a_->Receive(testing::BuildIpv4(pool_, FromA(kNode2Pod)));
  std::vector<rte_mbuf*> again = uplink_->WaitForSent(1);
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(rte_be_to_cpu_16(OuterOf(again[0]).udp->src_port), source_port);
  testing::FreeAll(again);
}

TEST_F(RemoteRoutesTest, SendsVxlanForANodeOffTheUplinkThroughItsRoute) {
  StartNode(RemoteConfig());
  SetRoutes({Remote(kNode3Pods, 24, kNode3Ip, RemoteMode::kVxlan, "node-3")});
  rte_mbuf* sent = SendResolving(kNode3Pod, kRouterIp, kRouterMac);
  ASSERT_NE(sent, nullptr);
  Outer outer = OuterOf(sent);
  EXPECT_TRUE(rte_is_same_ether_addr(&outer.ethernet->dst_addr, &kRouterMac));
  EXPECT_EQ(rte_be_to_cpu_32(outer.ip->dst_addr), kNode3Ip);
  testing::FreeAll({sent});
}

TEST_F(RemoteRoutesTest, DropsAFrameThatWouldExceedTheUplinkMtuOnceEncapsulated) {
  StartNode(RemoteConfig());
  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kVxlan, "node-2")});
  testing::FreeAll({SendResolving(kNode2Pod, kNode2Ip, kNode2Mac)});
  Ipv4Frame frame = FromA(kNode2Pod);
  frame.payload_size = kUplinkMtu - 50 - 28 + 1;  // one byte over the inner MTU
  port_a_->Receive(testing::BuildIpv4(pool_, frame));
  frame.payload_size -= 1;  // fits exactly: 1500 bytes of outer IPv4
  port_a_->Receive(testing::BuildIpv4(pool_, frame));
  std::vector<rte_mbuf*> sent = uplink_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(rte_be_to_cpu_16(OuterOf(sent[0]).ip->total_length), kUplinkMtu);
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return Dropped(*port_a_, "mtu_exceeded") == 1; }));
}

TEST_F(RemoteRoutesTest, TellsThePodTheInnerMtuWhenItsDfFrameWouldNotFitEncapsulated) {
  StartNode(RemoteConfig());
  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kVxlan, "node-2")});
  Ipv4Frame frame = FromA(kNode2Pod);
  frame.payload_size = kUplinkMtu - 50 - 28 + 1;  // one byte over the inner MTU
  rte_mbuf* packet = testing::BuildIpv4(pool_, frame);
  Ipv4(packet)->fragment_offset = RTE_BE16(RTE_IPV4_HDR_DF_FLAG);
  Ipv4(packet)->hdr_checksum = 0;
  Ipv4(packet)->hdr_checksum = rte_ipv4_cksum(Ipv4(packet));
  port_a_->Receive(packet);

  std::vector<rte_mbuf*> sent = port_a_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  const auto* icmp = rte_pktmbuf_mtod_offset(sent[0], const rte_icmp_hdr*,
                                             sizeof(rte_ether_hdr) + sizeof(rte_ipv4_hdr));
  EXPECT_EQ(Ipv4(sent[0])->next_proto_id, IPPROTO_ICMP);
  EXPECT_EQ(icmp->icmp_type, 3);
  EXPECT_EQ(icmp->icmp_code, 4);
  EXPECT_EQ(rte_be_to_cpu_16(icmp->icmp_seq_nb), kUplinkMtu - 50);
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return Dropped(*port_a_, "mtu_exceeded") == 1; }));
  EXPECT_EQ(Events(*port_a_, "icmp_errors_sent"), 1u);
  EXPECT_TRUE(uplink_->TakeAllSent().empty());
}

TEST_F(RemoteRoutesTest, CutsAGsoPacketBeforeEncapsulatingIt) {
  StartNode(RemoteConfig());
  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kVxlan, "node-2")});
  testing::FreeAll({SendResolving(kNode2Pod, kNode2Ip, kNode2Mac)});
  rte_mempool* large_pool = rte_pktmbuf_pool_create(testing::UniqueName("vxlan_big").c_str(), 7, 0,
                                                    0, UINT16_MAX, SOCKET_ID_ANY);
  ASSERT_NE(large_pool, nullptr);
  constexpr uint16_t kPayload = 60'000;
  Ipv4Frame frame = FromA(kNode2Pod);
  frame.protocol = IPPROTO_TCP;
  frame.payload_size = kPayload;
  rte_mbuf* packet = testing::BuildIpv4(large_pool, frame);
  ASSERT_NE(packet, nullptr);
  // The pod's MSS fits its own 1500 MTU: the engine must cut to the inner MTU instead.
  testing::MarkAsGsoFromVirtio(packet, 1448);
  port_a_->Receive(packet);

  constexpr uint16_t kMss = kUplinkMtu - 50 - 20 - 20;  // 1410
  const size_t segments = (kPayload + kMss - 1) / kMss;
  std::vector<rte_mbuf*> sent = uplink_->WaitForSent(segments);
  ASSERT_EQ(sent.size(), segments);
  std::vector<uint8_t> payload;
  std::set<uint16_t> source_ports;
  for (rte_mbuf* segment : sent) {
    Outer outer = OuterOf(segment);
    EXPECT_LE(rte_be_to_cpu_16(outer.ip->total_length), kUplinkMtu);
    EXPECT_EQ(rte_ipv4_cksum(outer.ip), 0);
    EXPECT_EQ(outer.udp->dgram_cksum, 0);
    EXPECT_EQ(rte_be_to_cpu_16(outer.udp->dgram_len), segment->pkt_len - 34);
    EXPECT_EQ(rte_be_to_cpu_16(outer.ip->total_length), segment->pkt_len - 14);
    EXPECT_EQ(segment->ol_flags & (RTE_MBUF_F_TX_TCP_SEG | RTE_MBUF_F_TX_L4_MASK), 0u)
        << "nothing may be left to the uplink";
    source_ports.insert(rte_be_to_cpu_16(outer.udp->src_port));
    StripOuter(segment);
    EXPECT_LE(rte_be_to_cpu_16(Ipv4(segment)->total_length), kUplinkMtu - 50);
    EXPECT_TRUE(testing::Ipv4ChecksumValid(segment));
    EXPECT_TRUE(testing::L4ChecksumValid(segment));
    std::vector<uint8_t> piece = testing::L4Payload(segment);
    payload.insert(payload.end(), piece.begin(), piece.end());
  }
  EXPECT_EQ(source_ports.size(), 1u) << "one flow, one source port";
  ASSERT_EQ(payload.size(), kPayload);
  for (size_t i = 0; i < payload.size(); ++i) {
    ASSERT_EQ(payload[i], static_cast<uint8_t>(i)) << "payload byte " << i;
  }
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return Events(*uplink_, "vxlan_encapsulated") == 1 + segments; }));
  rte_mempool_free(large_pool);
}

TEST_F(RemoteRoutesTest, DecapsulatesVxlanFromANodeToALocalPod) {
  StartNode(RemoteConfig());
  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kVxlan, "node-2")});
  uplink_->Receive(BuildVxlan(kNode2Ip, ToPodA(kNode2Pod)));
  std::vector<rte_mbuf*> sent = port_a_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(sent[0]->pkt_len, 14u + 20 + 8 + 18);
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(sent[0])->dst_addr, &kPodAMac));
  EXPECT_TRUE(rte_is_same_ether_addr(&Ethernet(sent[0])->src_addr, &testing::kGatewayMac));
  EXPECT_EQ(rte_be_to_cpu_32(Ipv4(sent[0])->src_addr), kNode2Pod);
  EXPECT_EQ(Ipv4(sent[0])->time_to_live, 62);
  EXPECT_TRUE(testing::Ipv4ChecksumValid(sent[0]));
  EXPECT_TRUE(testing::L4ChecksumValid(sent[0]));
  testing::FreeAll(sent);
  ASSERT_TRUE(WaitUntil([&] { return Events(*uplink_, "vxlan_decapsulated") == 1; }));
}

TEST_F(RemoteRoutesTest, DropsBadSpoofedAndUnknownVxlanByReason) {
  StartNode(RemoteConfig());
  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kVxlan, "node-2"),
             Remote(kNode3Pods, 24, kNode3Ip, RemoteMode::kVxlan, "node-3"),
             Remote(RTE_IPV4(10, 244, 9, 0), 24, RTE_IPV4(192, 168, 1, 31), RemoteMode::kHostGw,
                    "node-9")});
  // Wrong VNI; no I flag.
  uplink_->Receive(BuildVxlan(kNode2Ip, ToPodA(kNode2Pod), kVni + 1));
  uplink_->Receive(BuildVxlan(kNode2Ip, ToPodA(kNode2Pod), kVni, /*flags=*/0));
  // A UDP length that disagrees with the IPv4 one.
  rte_mbuf* bad_length = BuildVxlan(kNode2Ip, ToPodA(kNode2Pod));
  OuterOf(bad_length).udp->dgram_len = rte_cpu_to_be_16(30);
  uplink_->Receive(bad_length);
  // Node 2 sending with node 3's pods' source, with a source no node owns, and with the source of
  // a host-gw node; a stranger sending as node 2.
  uplink_->Receive(BuildVxlan(kNode2Ip, ToPodA(kNode3Pod)));
  uplink_->Receive(BuildVxlan(kNode2Ip, ToPodA(RTE_IPV4(10, 99, 0, 1))));
  uplink_->Receive(BuildVxlan(kNode2Ip, ToPodA(RTE_IPV4(10, 244, 9, 5))));
  uplink_->Receive(BuildVxlan(kStrangerIp, ToPodA(kNode2Pod)));
  ASSERT_TRUE(WaitUntil([&] {
    return Dropped(*uplink_, "vxlan_bad_header") == 3 &&
           Dropped(*uplink_, "vxlan_spoofed_source") == 3 &&
           Dropped(*uplink_, "vxlan_unknown_node") == 1;
  }));
  EXPECT_EQ(Events(*uplink_, "vxlan_decapsulated"), 0u);
  EXPECT_TRUE(port_a_->TakeAllSent().empty());
  EXPECT_TRUE(host_->TakeAllSent().empty());
}

TEST_F(RemoteRoutesTest, NeverSendsWhatCameFromTheUplinkBackOut) {
  StartNode(RemoteConfig());
  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kVxlan, "node-2"),
             Remote(kNode3Pods, 24, kNode3Ip, RemoteMode::kVxlan, "node-3")});
  // Plain from the uplink to a remote prefix: no hairpin.
  Ipv4Frame plain = ToPodA(RTE_IPV4(192, 168, 1, 77));
  plain.dst_ip = kNode3Pod;
  uplink_->Receive(testing::BuildIpv4(pool_, plain));
  // Decapsulated, for another node's pods, the node's address and the kernel's default route:
  // nothing leaves a tunnel except to a local pod.
  for (uint32_t destination : {kNode3Pod, kNodeIp, RTE_IPV4(8, 8, 8, 8)}) {
    Ipv4Frame inner = ToPodA(kNode2Pod);
    inner.dst_ip = destination;
    uplink_->Receive(BuildVxlan(kNode2Ip, inner));
  }
  ASSERT_TRUE(WaitUntil([&] { return Dropped(*uplink_, "no_route") == 4; }));
  EXPECT_EQ(Events(*uplink_, "vxlan_decapsulated"), 3u);
  EXPECT_EQ(Events(*uplink_, "vxlan_encapsulated"), 0u);
  EXPECT_TRUE(uplink_->TakeAllSent().empty());
  EXPECT_TRUE(host_->TakeAllSent().empty());
}

TEST_F(RemoteRoutesTest, TakesTheKernelsPacketsToRemotePods) {
  StartNode(RemoteConfig());
  SetRoutes({Remote(kNode2Pods, 24, kNode2Ip, RemoteMode::kVxlan, "node-2")});
  testing::FreeAll({SendResolving(kNode2Pod, kNode2Ip, kNode2Mac)});
  Ipv4Frame frame{.src_mac = kKernelMac,
                  .dst_mac = testing::kGatewayMac,
                  .src_ip = kNodeIp,
                  .dst_ip = kNode2Pod};
  host_->Receive(testing::BuildIpv4(pool_, frame));
  std::vector<rte_mbuf*> sent = uplink_->WaitForSent(1);
  ASSERT_EQ(sent.size(), 1u);
  EXPECT_EQ(rte_be_to_cpu_32(OuterOf(sent[0]).ip->dst_addr), kNode2Ip);
  testing::FreeAll(sent);
}

}  // namespace
}  // namespace dpcni::dataplane
