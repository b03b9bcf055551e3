#include "service/agent_service.h"

#include <rte_bus_vdev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ipam/ipv4.h"
#include "port/ethdev_setup.h"
#include "port/kernel_ports.h"
#include "tests/common/testing/captured_stderr.h"
#include "tests/dataplane/testing/fake_kernel_routes.h"
#include "tests/dataplane/testing/null_engine.h"

namespace dpcni::dataplane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;
using ::testing::Pair;
using ::testing::UnorderedElementsAre;

// An engine that answers with what the test put in it.
class FakeEngine final : public testing::NullEngine {
 public:
  absl::Status SetRemoteRoutes(const std::vector<RemoteRoute>& routes) override {
    remote_routes = routes;
    return absl::OkStatus();
  }
  absl::StatusOr<PortCounters> Counters(uint16_t port_id) const override {
    auto found = counters.find(port_id);
    if (found == counters.end()) return absl::NotFoundError("not attached");
    return found->second;
  }
  // The remote routes as the engine lists them, after one local route.
  std::vector<RouteInfo> Routes() const override {
    std::vector<RouteInfo> routes = {{"10.244.1.5/32", "port 3 (default/web-0)", "", ""}};
    for (const RemoteRoute& route : remote_routes) {
      routes.push_back({Ipv4Prefix{route.prefix, route.length}.ToString(),
                        absl::StrCat("uplink via ", Ipv4ToString(route.node_ip)), route.node,
                        route.mode == RemoteMode::kHostGw  ? "host-gw"
                        : route.mode == RemoteMode::kVxlan ? "vxlan"
                                                           : "kernel"});
    }
    return routes;
  }
  std::vector<NeighbourInfo> Neighbours() const override { return neighbours; }
  FlowTableStats FlowStats() const override { return flow_stats; }
  absl::StatusOr<size_t> SeedKernelFlows(const std::vector<NatedFlow>& seeds) override {
    return seeds.size();
  }
  std::vector<FlowListing> Flows(uint32_t limit) const override {
    if (limit == 0 || limit >= flows.size()) return flows;
    return {flows.begin(), flows.begin() + limit};
  }

  std::map<uint16_t, PortCounters> counters;
  std::vector<NeighbourInfo> neighbours;
  FlowTableStats flow_stats;
  std::vector<FlowListing> flows;
  std::vector<RemoteRoute> remote_routes;  // the last set SetRemoteRoutes took
};

// A net_null port: DPDK's stand-in for a NIC, link up at 10 Gbit/s once started.
uint16_t NullPort(const std::string& name, rte_mempool* pool, bool start) {
  EXPECT_EQ(rte_eal_hotplug_add("vdev", name.c_str(), ""), 0) << name;
  uint16_t port_id = 0;
  EXPECT_EQ(rte_eth_dev_get_port_by_name(name.c_str(), &port_id), 0) << name;
  if (start) {
    EXPECT_TRUE(ConfigureAndStartPort(port_id, {pool, 1, 512, 1500}).ok()) << name;
  }
  return port_id;
}

class AgentServiceTest : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = rte_pktmbuf_pool_create("service-test", 2047, 0, 0, RTE_MBUF_DEFAULT_BUF_SIZE,
                                    SOCKET_ID_ANY);
    ASSERT_NE(pool_, nullptr);
    host_port_ = NullPort("net_null_host", pool_, /*start=*/true);
    uplink_port_ = NullPort("net_null_uplink", pool_, /*start=*/false);

    std::string pattern =
        (std::filesystem::temp_directory_path() / "dpcni-service-XXXXXX").string();
    state_dir_ = ::mkdtemp(pattern.data());
    config_.pod_cidrs = {"10.244.1.0/24"};
    auto ipam = Ipam::Open(config_.pod_cidrs, {}, (state_dir_ / "ipam.json").string());
    ASSERT_TRUE(ipam.ok()) << ipam.status();
    ipam_ = *std::move(ipam);
    store_ = std::make_unique<PodStore>((state_dir_ / "pods.json").string());
    ports_ = std::make_unique<KernelPorts>(pool_, 1, 512, /*rx_interrupts=*/true);
    pods_ =
        std::make_unique<PodManager>(config_, *ipam_, *ports_, pod_interfaces_, engine_, *store_);
    config_.uplink.type = UplinkType::kAfPacket;
    config_.uplink.interface = "eth1";
    config_.uplink.address = "192.168.1.10/24";
    config_.state_dir = state_dir_.string();
    auto remote_options = RemoteNodesOptionsFor(config_);
    ASSERT_TRUE(remote_options.ok()) << remote_options.status();
    remote_nodes_ = std::make_unique<RemoteNodes>(*remote_options, engine_, kernel_routes_);
    service_ = std::make_unique<AgentService>(
        config_, *pods_, engine_, *ipam_, *remote_nodes_,
        std::vector<InfrastructurePort>{{"host", "dpcni0", host_port_, "tap"},
                                        {"uplink", "eth1", uplink_port_, "af_packet"}},
        pool_);
  }

  void TearDown() override {
    for (const char* name : {"net_null_host", "net_null_uplink"}) {
      uint16_t port_id = 0;
      if (rte_eth_dev_get_port_by_name(name, &port_id) == 0) rte_eth_dev_stop(port_id);
      rte_eal_hotplug_remove("vdev", name);
    }
    rte_mempool_free(pool_);
    std::filesystem::remove_all(state_dir_);
  }

  AgentConfig config_;
  FakeEngine engine_;
  rte_mempool* pool_ = nullptr;
  uint16_t host_port_ = 0;
  uint16_t uplink_port_ = 0;
  std::filesystem::path state_dir_;
  std::unique_ptr<Ipam> ipam_;
  std::unique_ptr<PodStore> store_;
  std::unique_ptr<KernelPorts> ports_;
  NetlinkPodInterfaces pod_interfaces_;
  std::unique_ptr<PodManager> pods_;
  testing::FakeKernelRoutes kernel_routes_;
  std::unique_ptr<RemoteNodes> remote_nodes_;
  std::unique_ptr<AgentService> service_;
};

TEST_F(AgentServiceTest, StatusReportsEachNodePortsLink) {
  v1::StatusRequest request;
  v1::StatusResponse response;
  ASSERT_TRUE(service_->Status(nullptr, &request, &response).ok());
  ASSERT_EQ(response.links_size(), 2);
  const v1::PortLink& host = response.links(0);
  EXPECT_EQ(host.role(), "host");
  EXPECT_EQ(host.name(), "dpcni0");
  EXPECT_EQ(host.port_id(), host_port_);
  EXPECT_TRUE(host.up());
  EXPECT_EQ(host.speed_mbps(), 10000u);
  EXPECT_EQ(host.driver(), "net_null");
  const v1::PortLink& uplink = response.links(1);
  EXPECT_EQ(uplink.role(), "uplink");
  EXPECT_EQ(uplink.name(), "eth1");
  EXPECT_EQ(uplink.port_id(), uplink_port_);
  EXPECT_FALSE(uplink.up());  // never started

  // The link is read at each call: once started, the uplink shows up.
  ASSERT_TRUE(ConfigureAndStartPort(uplink_port_, {pool_, 1, 512, 1500}).ok());
  response.Clear();
  ASSERT_TRUE(service_->Status(nullptr, &request, &response).ok());
  EXPECT_TRUE(response.links(1).up());
}

TEST_F(AgentServiceTest, StatusReportsTheMbufsOutOfThePool) {
  v1::StatusRequest request;
  v1::StatusResponse before;
  ASSERT_TRUE(service_->Status(nullptr, &request, &before).ok());
  EXPECT_EQ(before.mbuf_pool_size(), pool_->size);

  rte_mbuf* taken[10];
  ASSERT_EQ(rte_pktmbuf_alloc_bulk(pool_, taken, 10), 0);
  v1::StatusResponse holding;
  ASSERT_TRUE(service_->Status(nullptr, &request, &holding).ok());
  EXPECT_EQ(holding.mbufs_in_use(), before.mbufs_in_use() + 10);

  for (rte_mbuf* mbuf : taken) rte_pktmbuf_free(mbuf);
  v1::StatusResponse after;
  ASSERT_TRUE(service_->Status(nullptr, &request, &after).ok());
  EXPECT_EQ(after.mbufs_in_use(), before.mbufs_in_use());
}

TEST_F(AgentServiceTest, PortStatsIncludeTheNodePortsByRoleAndName) {
  PortCounters uplink;
  uplink.rx_packets = 10;
  uplink.rx_bytes = 1000;
  uplink.tx_packets = 7;
  uplink.tx_bytes = 700;
  uplink.drops = {{"no_route", 3}};
  uplink.events = {{"arp_requests", 2}, {"to_node", 11}};
  engine_.counters[uplink_port_] = uplink;
  engine_.counters[host_port_].rx_packets = 1;

  v1::GetPortStatsRequest request;
  v1::GetPortStatsResponse response;
  ASSERT_TRUE(service_->GetPortStats(nullptr, &request, &response).ok());
  ASSERT_EQ(response.ports_size(), 2);
  EXPECT_EQ(response.ports(0).name(), "host dpcni0");
  EXPECT_EQ(response.ports(0).backend(), "tap");
  EXPECT_EQ(response.ports(0).rx_packets(), 1u);
  const v1::PortStats& stats = response.ports(1);
  EXPECT_EQ(stats.port_id(), uplink_port_);
  EXPECT_EQ(stats.name(), "uplink eth1");
  EXPECT_EQ(stats.backend(), "af_packet");
  EXPECT_EQ(stats.rx_packets(), 10u);
  EXPECT_EQ(stats.rx_bytes(), 1000u);
  EXPECT_EQ(stats.tx_packets(), 7u);
  EXPECT_EQ(stats.tx_bytes(), 700u);
  EXPECT_THAT(stats.drops(), UnorderedElementsAre(Pair("no_route", 3u)));
  EXPECT_THAT(stats.events(), UnorderedElementsAre(Pair("arp_requests", 2u), Pair("to_node", 11u)));

  // Asked for one port: only that one.
  request.add_port_ids(uplink_port_);
  response.Clear();
  ASSERT_TRUE(service_->GetPortStats(nullptr, &request, &response).ok());
  ASSERT_EQ(response.ports_size(), 1);
  EXPECT_EQ(response.ports(0).name(), "uplink eth1");
}

TEST_F(AgentServiceTest, PortStatsSkipANodePortTheEngineDoesNotHave) {
  engine_.counters[host_port_] = PortCounters{};
  v1::GetPortStatsRequest request;
  v1::GetPortStatsResponse response;
  ASSERT_TRUE(service_->GetPortStats(nullptr, &request, &response).ok());
  ASSERT_EQ(response.ports_size(), 1);
  EXPECT_EQ(response.ports(0).name(), "host dpcni0");
}

TEST_F(AgentServiceTest, FlowsAndTheirCountersComeFromTheEngine) {
  engine_.flow_stats = FlowTableStats{.entries = 2,
                                      .capacity = 65536,
                                      .inserts = 9,
                                      .hits = 40,
                                      .expiries = 6,
                                      .evictions = 1,
                                      .insert_failures = 3};
  engine_.flows = {{"tcp", "10.244.1.7:8080", "10.244.1.5:41234", "port 3 (shop/web-0)",
                    "established", 1500, 86'400'000},
                   {"udp", "10.244.1.2:53", "10.244.1.5:53311", "port 4 (kube-system/dns)",
                    "replied", 20, 180'000}};
  v1::ListFlowsRequest request;
  request.set_limit(1);
  v1::ListFlowsResponse response;
  ASSERT_TRUE(service_->ListFlows(nullptr, &request, &response).ok());
  EXPECT_EQ(response.stats().entries(), 2u);
  EXPECT_EQ(response.stats().capacity(), 65536u);
  EXPECT_EQ(response.stats().inserts(), 9u);
  EXPECT_EQ(response.stats().hits(), 40u);
  EXPECT_EQ(response.stats().expiries(), 6u);
  EXPECT_EQ(response.stats().evictions(), 1u);
  EXPECT_EQ(response.stats().insert_failures(), 3u);
  ASSERT_EQ(response.flows_size(), 1);
  const v1::Flow& flow = response.flows(0);
  EXPECT_EQ(flow.protocol(), "tcp");
  EXPECT_EQ(flow.reply_source(), "10.244.1.7:8080");
  EXPECT_EQ(flow.reply_destination(), "10.244.1.5:41234");
  EXPECT_EQ(flow.reply_port(), "port 3 (shop/web-0)");
  EXPECT_EQ(flow.state(), "established");
  EXPECT_EQ(flow.age_ms(), 1500u);
  EXPECT_EQ(flow.timeout_ms(), 86'400'000u);
}

TEST_F(AgentServiceTest, NeighboursComeFromTheEngine) {
  v1::ListNeighboursRequest request;
  v1::ListNeighboursResponse response;
  ASSERT_TRUE(service_->ListNeighbours(nullptr, &request, &response).ok());
  EXPECT_THAT(response.neighbours(), IsEmpty());

  engine_.neighbours = {{"192.168.1.1", "02:00:00:00:00:01", "reachable", 1200},
                        {"192.168.1.7", "", "incomplete", 40}};
  ASSERT_TRUE(service_->ListNeighbours(nullptr, &request, &response).ok());
  ASSERT_EQ(response.neighbours_size(), 2);
  EXPECT_EQ(response.neighbours(0).ip(), "192.168.1.1");
  EXPECT_EQ(response.neighbours(0).mac(), "02:00:00:00:00:01");
  EXPECT_EQ(response.neighbours(0).state(), "reachable");
  EXPECT_EQ(response.neighbours(0).age_ms(), 1200u);
  EXPECT_EQ(response.neighbours(1).ip(), "192.168.1.7");
  EXPECT_EQ(response.neighbours(1).mac(), "");
  EXPECT_EQ(response.neighbours(1).state(), "incomplete");
  EXPECT_EQ(response.neighbours(1).age_ms(), 40u);
}

TEST_F(AgentServiceTest, SetPodCidrsAcceptsTheSameCidrsAndRefusesOthers) {
  v1::SetPodCidrsRequest same;
  same.add_pod_cidrs("10.244.1.0/24");
  same.add_pod_cidrs("fd00:10:244:1::/64");  // a dual-stack node's: set aside
  v1::SetPodCidrsResponse response;
  EXPECT_TRUE(service_->SetPodCidrs(nullptr, &same, &response).ok());

  v1::SetPodCidrsRequest other;
  other.add_pod_cidrs("10.244.2.0/24");
  grpc::Status refused = service_->SetPodCidrs(nullptr, &other, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_THAT(refused.error_message(),
              ::testing::HasSubstr("10.244.1.0/24, from the agent's config"));

  v1::SetPodCidrsRequest bad;
  bad.add_pod_cidrs("10.244.1.1/24");
  EXPECT_EQ(service_->SetPodCidrs(nullptr, &bad, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
}

v1::SetRemoteNodesRequest TwoNodes() {
  v1::SetRemoteNodesRequest request;
  v1::RemoteNode* near = request.add_nodes();
  near->set_name("node-2");
  near->set_address("192.168.1.12");
  near->add_pod_cidrs("10.244.2.0/24");
  v1::RemoteNode* far = request.add_nodes();
  far->set_name("node-3");
  far->set_address("10.0.3.13");
  far->add_pod_cidrs("10.244.3.0/24");
  far->add_pod_cidrs("fd00:10:244:3::/64");
  return request;
}

TEST_F(AgentServiceTest, SetRemoteNodesRoutesEachNodeAndListRoutesNamesNodeAndMode) {
  v1::SetRemoteNodesResponse response;
  const v1::SetRemoteNodesRequest request = TwoNodes();
  grpc::Status status = service_->SetRemoteNodes(nullptr, &request, &response);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(response.nodes(), 2u);
  EXPECT_EQ(response.prefixes(), 2u);
  ASSERT_EQ(engine_.remote_routes.size(), 2u);
  EXPECT_EQ(engine_.remote_routes[0].mode, RemoteMode::kHostGw);
  EXPECT_EQ(engine_.remote_routes[1].mode, RemoteMode::kVxlan);

  v1::ListRoutesRequest list;
  v1::ListRoutesResponse routes;
  ASSERT_TRUE(service_->ListRoutes(nullptr, &list, &routes).ok());
  ASSERT_EQ(routes.routes_size(), 3);
  EXPECT_EQ(routes.routes(0).prefix(), "10.244.1.5/32");
  EXPECT_EQ(routes.routes(0).node(), "");
  EXPECT_EQ(routes.routes(0).mode(), "");
  EXPECT_EQ(routes.routes(1).prefix(), "10.244.2.0/24");
  EXPECT_EQ(routes.routes(1).node(), "node-2");
  EXPECT_EQ(routes.routes(1).mode(), "host-gw");
  EXPECT_EQ(routes.routes(2).node(), "node-3");
  EXPECT_EQ(routes.routes(2).mode(), "vxlan");
  EXPECT_EQ(routes.routes(2).next_hop(), "uplink via 10.0.3.13");
}

TEST_F(AgentServiceTest, SetRemoteNodesRefusesABadListWithInvalidArgumentNamingTheNode) {
  v1::SetRemoteNodesResponse response;
  const v1::SetRemoteNodesRequest good = TwoNodes();
  ASSERT_TRUE(service_->SetRemoteNodes(nullptr, &good, &response).ok());
  v1::SetRemoteNodesRequest bad = TwoNodes();
  bad.mutable_nodes(1)->set_pod_cidrs(0, "10.244.1.0/24");  // this node's own
  grpc::Status refused = service_->SetRemoteNodes(nullptr, &bad, &response);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_THAT(refused.error_message(), HasSubstr("node \"node-3\""));
  EXPECT_THAT(refused.error_message(), HasSubstr("this node's own pod CIDR"));
  ASSERT_EQ(engine_.remote_routes.size(), 2u);
  EXPECT_EQ(engine_.remote_routes[1].node, "node-3");
  EXPECT_EQ(
      (Ipv4Prefix{engine_.remote_routes[1].prefix, engine_.remote_routes[1].length}).ToString(),
      "10.244.3.0/24");
}

// What the operator reads in the agent's log (kubectl logs -c agent): a changed node list at info,
// the same list sent again not at all, a refused one at error; served pod calls only at debug.
TEST_F(AgentServiceTest, LogsChangedNodeListsRefusalsAndAtDebugEveryPodCall) {
  SetLogProgram("dpcni-agent");
  v1::SetRemoteNodesResponse response;
  const v1::SetRemoteNodesRequest good = TwoNodes();
  v1::SetRemoteNodesRequest bad = TwoNodes();
  bad.mutable_nodes(1)->set_pod_cidrs(0, "10.244.1.0/24");  // this node's own
  v1::DelPodRequest del;
  del.mutable_attachment()->set_container_id("gone-1");
  del.mutable_attachment()->set_ifname("eth0");
  v1::DelPodResponse deleted;

  dpcni::testing::CapturedStderr info;
  ASSERT_TRUE(service_->SetRemoteNodes(nullptr, &good, &response).ok());
  ASSERT_TRUE(service_->SetRemoteNodes(nullptr, &good, &response).ok());
  EXPECT_FALSE(service_->SetRemoteNodes(nullptr, &bad, &response).ok());
  ASSERT_TRUE(service_->DelPod(nullptr, &del, &deleted).ok());
  const std::string logged = info.Stop();
  EXPECT_THAT(logged, HasSubstr("info dpcni-agent service: SetRemoteNodes: 2 nodes, 2 pod CIDRs "
                                "routed\n"));
  EXPECT_EQ(logged.find("SetRemoteNodes: 2 nodes"), logged.rfind("SetRemoteNodes: 2 nodes"))
      << "the same list again is not logged:\n"
      << logged;
  EXPECT_THAT(logged, HasSubstr("error dpcni-agent service: SetRemoteNodes (2 nodes): "
                                "INVALID_ARGUMENT: "));
  EXPECT_THAT(logged, Not(HasSubstr("gone-1"))) << "pod calls are debug lines";

  SetLogLevel(LogLevel::kDebug);
  dpcni::testing::CapturedStderr debug;
  ASSERT_TRUE(service_->DelPod(nullptr, &del, &deleted).ok());
  SetLogLevel(LogLevel::kInfo);
  EXPECT_EQ(debug.Stop(), "debug dpcni-agent service: DelPod gone-1: done\n");
}

TEST_F(AgentServiceTest, StatusReportsTheRouteSyncAndItsSource) {
  v1::StatusRequest request;
  v1::StatusResponse status;
  ASSERT_TRUE(service_->Status(nullptr, &request, &status).ok());
  EXPECT_EQ(status.route_sync().state(), "unset");
  EXPECT_EQ(status.route_sync().prefixes(), 0u);

  v1::SetRemoteNodesResponse set;
  const v1::SetRemoteNodesRequest nodes = TwoNodes();
  ASSERT_TRUE(service_->SetRemoteNodes(nullptr, &nodes, &set).ok());
  v1::ReportRouteSourceRequest lost;
  lost.set_in_sync(false);
  lost.set_message("watch nodes: connection refused");
  v1::ReportRouteSourceResponse reported;
  ASSERT_TRUE(service_->ReportRouteSource(nullptr, &lost, &reported).ok());
  status.Clear();
  ASSERT_TRUE(service_->Status(nullptr, &request, &status).ok());
  EXPECT_EQ(status.route_sync().state(), "stale");
  EXPECT_EQ(status.route_sync().message(), "watch nodes: connection refused");
  EXPECT_EQ(status.route_sync().nodes(), 2u);
  EXPECT_EQ(status.route_sync().prefixes(), 2u);
  EXPECT_EQ(engine_.remote_routes.size(), 2u);  // stale keeps the routes

  v1::ReportRouteSourceRequest back;
  back.set_in_sync(true);
  ASSERT_TRUE(service_->ReportRouteSource(nullptr, &back, &reported).ok());
  status.Clear();
  ASSERT_TRUE(service_->Status(nullptr, &request, &status).ok());
  EXPECT_EQ(status.route_sync().state(), "in-sync");
  EXPECT_EQ(status.route_sync().message(), "");
}

// A pod whose re-attach failed after a restart: ListPods names it degraded and why, Status counts
// it, and GetPortStats leaves it out (it has no port whose counters it could show).
TEST_F(AgentServiceTest, ReportsAPodWhoseRestoreFailedAsDegraded) {
  const std::string netns = (state_dir_ / "netns-a").string();
  std::ofstream(netns).put('\n');  // a path that exists but is no netns: the re-attach cannot enter
  PodRecord record;
  record.container_id = "ctr-a";
  record.ifname = "eth0";
  record.netns_path = netns;
  record.pod_namespace = "default";
  record.pod_name = "a";
  record.mac = "02:dc:0a:f4:01:05";
  record.mtu = 1500;
  record.addresses = {{"10.244.1.5", "10.244.1.0/24"}};
  ASSERT_TRUE(store_->Save({{record.Key(), record}}).ok());
  ASSERT_TRUE(pods_->Restore().ok());

  v1::ListPodsRequest list;
  v1::ListPodsResponse listed;
  ASSERT_TRUE(service_->ListPods(nullptr, &list, &listed).ok());
  ASSERT_EQ(listed.pods_size(), 1);
  EXPECT_TRUE(listed.pods(0).degraded());
  EXPECT_THAT(listed.pods(0).degraded_reason(), Not(IsEmpty()));
  EXPECT_EQ(listed.pods(0).attach_attempts(), 1u);
  ASSERT_EQ(listed.pods(0).ips_size(), 1);
  EXPECT_EQ(listed.pods(0).ips(0).cidr(), "10.244.1.5/32");

  v1::StatusRequest request;
  v1::StatusResponse status;
  ASSERT_TRUE(service_->Status(nullptr, &request, &status).ok());
  EXPECT_EQ(status.pods(), 1u);
  EXPECT_EQ(status.pods_degraded(), 1u);
  EXPECT_EQ(status.addresses_in_use(), 1u);

  engine_.counters[0] = PortCounters{};  // port id 0 names another port: not the pod's
  v1::GetPortStatsRequest every_port;
  v1::GetPortStatsResponse stats;
  ASSERT_TRUE(service_->GetPortStats(nullptr, &every_port, &stats).ok());
  for (const v1::PortStats& port : stats.ports()) EXPECT_NE(port.name(), "default/a");
}

}  // namespace
}  // namespace dpcni::dataplane
