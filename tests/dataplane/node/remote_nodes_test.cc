// The remote-nodes manager over a recording engine and an in-memory kernel table: what a node list
// becomes, what is refused (whole, changing nothing), each failure step undone, and the record that
// brings the routes back at start. No root, no EAL.
#include "node/remote_nodes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"
#include "ipam/ipv4.h"
#include "tests/dataplane/testing/fake_kernel_routes.h"
#include "tests/dataplane/testing/null_engine.h"

namespace dpcni::dataplane {
namespace {

using ::testing::ElementsAre;
using testing::FakeKernelRoutes;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Takes the routes it is given (or fails as told) and keeps the last set it took.
class RecordingEngine final : public testing::NullEngine {
 public:
  absl::Status SetRemoteRoutes(const std::vector<RemoteRoute>& next) override {
    ++calls;
    if (!refuse.ok()) {
      absl::Status failure = refuse;
      if (refuse_once) refuse = absl::OkStatus();
      return failure;
    }
    routes = next;
    return absl::OkStatus();
  }

  std::vector<RemoteRoute> routes;
  absl::Status refuse = absl::OkStatus();
  bool refuse_once = false;
  int calls = 0;
};

uint32_t Ip(const char* text) { return *ParseIpv4(text); }

// "10.244.2.0/24 via 192.168.1.12 host-gw node-2": one line per route, to compare whole sets.
std::vector<std::string> Describe(const std::vector<RemoteRoute>& routes) {
  std::vector<std::string> lines;
  for (const RemoteRoute& route : routes) {
    const char* mode = route.mode == RemoteMode::kHostGw  ? "host-gw"
                       : route.mode == RemoteMode::kVxlan ? "vxlan"
                                                          : "kernel";
    lines.push_back(absl::StrCat(Ipv4Prefix{route.prefix, route.length}.ToString(), " via ",
                                 Ipv4ToString(route.node_ip), " ", mode, " ", route.node));
  }
  return lines;
}

std::vector<std::string> Describe(const std::vector<KernelRoute>& routes) {
  std::vector<std::string> lines;
  for (const KernelRoute& route : routes) lines.push_back(route.ToString());
  return lines;
}

class RemoteNodesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "dpcni-remote-XXXXXX").string();
    state_dir_ = ::mkdtemp(pattern.data());
  }
  void TearDown() override { std::filesystem::remove_all(state_dir_); }

  // A node with the uplink 192.168.1.10/24 (or none) and the pod CIDR 10.244.1.0/24.
  std::unique_ptr<RemoteNodes> Make(bool uplink = true,
                                    RemoteNodesMode mode = RemoteNodesMode::kAuto) {
    RemoteNodesOptions options;
    options.mode = mode;
    if (uplink) options.uplink = *Ipv4InterfaceAddress::Parse("192.168.1.10/24");
    options.own_pod_cidrs = {"10.244.1.0/24"};
    options.state_dir = state_dir_.string();
    return std::make_unique<RemoteNodes>(options, engine_, kernel_, [this] { return now_ms_; });
  }

  std::string Record() {
    auto content = ReadFile((state_dir_ / "remote_nodes.json").string());
    return content.ok() ? *content : "";
  }

  std::filesystem::path state_dir_;
  RecordingEngine engine_;
  FakeKernelRoutes kernel_;
  int64_t now_ms_ = 1'000'000;
};

const std::vector<RemoteNodeSpec> kTwoNodes = {
    {"node-2", "192.168.1.12", {"10.244.2.0/24"}},
    {"node-3", "10.0.3.13", {"10.244.3.0/24", "10.245.3.0/24"}},
};

TEST_F(RemoteNodesTest, AutoIsHostGwOnTheUplinksNetworkAndVxlanElsewhere) {
  auto remote = Make();
  auto routed = remote->Set(kTwoNodes);
  ASSERT_TRUE(routed.ok()) << routed.status();
  EXPECT_EQ(routed->nodes, 2u);
  EXPECT_EQ(routed->prefixes, 3u);
  EXPECT_THAT(Describe(engine_.routes), ElementsAre("10.244.2.0/24 via 192.168.1.12 host-gw node-2",
                                                    "10.244.3.0/24 via 10.0.3.13 vxlan node-3",
                                                    "10.245.3.0/24 via 10.0.3.13 vxlan node-3"));
  // With an uplink the node's kernel sends what it routes to other nodes' pods (kube-proxy's NATed
  // Services, host-network clients) onto the host port, into the dataplane.
  EXPECT_THAT(Describe(kernel_.ours),
              ElementsAre("10.244.2.0/24 dev dpcni0", "10.244.3.0/24 dev dpcni0",
                          "10.245.3.0/24 dev dpcni0"));
}

TEST_F(RemoteNodesTest, ModeFromTheConfigAppliesToEveryNode) {
  auto vxlan = Make(true, RemoteNodesMode::kVxlan);
  ASSERT_TRUE(vxlan->Set(kTwoNodes).ok());
  EXPECT_THAT(Describe(engine_.routes), ElementsAre("10.244.2.0/24 via 192.168.1.12 vxlan node-2",
                                                    "10.244.3.0/24 via 10.0.3.13 vxlan node-3",
                                                    "10.245.3.0/24 via 10.0.3.13 vxlan node-3"));

  auto host_gw = Make(true, RemoteNodesMode::kHostGw);
  ASSERT_TRUE(host_gw->Set({kTwoNodes[0]}).ok());
  EXPECT_THAT(Describe(engine_.routes),
              ElementsAre("10.244.2.0/24 via 192.168.1.12 host-gw node-2"));
  // host-gw cannot reach a node off the uplink's network: refused, naming the node and the fix.
  auto refused = host_gw->Set(kTwoNodes);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("node \"node-3\""));
  EXPECT_THAT(refused.status().message(), HasSubstr("not on the uplink's network 192.168.1.0/24"));
  EXPECT_THAT(refused.status().message(), HasSubstr("set mode to auto or vxlan"));
  EXPECT_THAT(Describe(engine_.routes),
              ElementsAre("10.244.2.0/24 via 192.168.1.12 host-gw node-2"));
}

TEST_F(RemoteNodesTest, WithoutAnUplinkTheKernelRoutesEveryPrefixViaItsNode) {
  auto remote = Make(/*uplink=*/false);
  ASSERT_TRUE(remote->Set(kTwoNodes).ok());
  EXPECT_THAT(Describe(engine_.routes), ElementsAre("10.244.2.0/24 via 192.168.1.12 kernel node-2",
                                                    "10.244.3.0/24 via 10.0.3.13 kernel node-3",
                                                    "10.245.3.0/24 via 10.0.3.13 kernel node-3"));
  EXPECT_THAT(Describe(kernel_.ours),
              ElementsAre("10.244.2.0/24 via 192.168.1.12", "10.244.3.0/24 via 10.0.3.13",
                          "10.245.3.0/24 via 10.0.3.13"));

  // node-3 moves to another address and loses a CIDR, node-2 goes: replaced in place, withdrawn.
  ASSERT_TRUE(remote->Set({{"node-3", "10.0.3.99", {"10.244.3.0/24"}}}).ok());
  EXPECT_THAT(Describe(kernel_.ours), ElementsAre("10.244.3.0/24 via 10.0.3.99"));
  EXPECT_THAT(Describe(engine_.routes), ElementsAre("10.244.3.0/24 via 10.0.3.99 kernel node-3"));

  // An empty list withdraws everything.
  auto none = remote->Set({});
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(none->prefixes, 0u);
  EXPECT_THAT(kernel_.ours, IsEmpty());
  EXPECT_THAT(engine_.routes, IsEmpty());
}

TEST_F(RemoteNodesTest, KernelRoutesOfOthersAreNeverTouched) {
  auto remote = Make(/*uplink=*/false);
  kernel_.foreign = {{Ip("10.244.9.0"), 24, Ip("192.168.1.99"), ""}};
  auto refused = remote->Set({{"node-9", "192.168.1.9", {"10.244.9.0/24"}}});
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.status().message(), HasSubstr("not dpcni's"));
  EXPECT_THAT(refused.status().message(), HasSubstr("the previous routes are kept"));
  EXPECT_THAT(kernel_.ours, IsEmpty());
  EXPECT_THAT(engine_.routes, IsEmpty());  // the engine's step was undone
  EXPECT_THAT(kernel_.foreign, ::testing::SizeIs(1));
}

struct BadList {
  std::string what;
  std::vector<RemoteNodeSpec> nodes;
  std::string names;    // the node the refusal names
  std::string because;  // and a part of why
};

void PrintTo(const BadList& list, std::ostream* out) { *out << list.what; }

class RemoteNodesRefusal : public RemoteNodesTest, public ::testing::WithParamInterface<BadList> {};

TEST_P(RemoteNodesRefusal, RefusesTheWholeListNamingTheNodeAndChangesNothing) {
  auto remote = Make();
  ASSERT_TRUE(remote->Set({kTwoNodes[0]}).ok());
  const std::string record = Record();
  const int engine_calls = engine_.calls;
  now_ms_ += 5000;

  auto refused = remote->Set(GetParam().nodes);
  ASSERT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument) << refused.status();
  EXPECT_THAT(refused.status().message(), HasSubstr("node \"" + GetParam().names + "\""));
  EXPECT_THAT(refused.status().message(), HasSubstr(GetParam().because));
  EXPECT_THAT(refused.status().message(), HasSubstr("refused whole, nothing changed"));
  EXPECT_EQ(engine_.calls, engine_calls);  // the engine was not even asked
  EXPECT_THAT(Describe(engine_.routes), ElementsAre(::testing::StartsWith("10.244.2.0/24")));
  EXPECT_EQ(Record(), record);
  EXPECT_EQ(remote->Sync().state, "in-sync");
  EXPECT_EQ(remote->Sync().age_ms, 5000u);  // still the last list's age
}

INSTANTIATE_TEST_SUITE_P(
    BadLists, RemoteNodesRefusal,
    ::testing::Values(
        BadList{"address",
                {{"node-4", "192.168.1.300", {"10.244.4.0/24"}}},
                "node-4",
                "is not an IPv4 address"},
        BadList{"hostname as address",
                {{"node-4", "node-4.example", {"10.244.4.0/24"}}},
                "node-4",
                "is not an IPv4 address"},
        BadList{"cidr", {{"node-4", "192.168.1.14", {"10.244.4.0/33"}}}, "node-4", "pod CIDR"},
        BadList{
            "host bits", {{"node-4", "192.168.1.14", {"10.244.4.1/24"}}}, "node-4", "host bits"},
        BadList{"own address",
                {{"node-4", "192.168.1.10", {"10.244.4.0/24"}}},
                "node-4",
                "this node's own uplink address"},
        BadList{"own pod cidr",
                {{"node-4", "192.168.1.14", {"10.244.1.0/24"}}},
                "node-4",
                "overlaps this node's own pod CIDR 10.244.1.0/24"},
        BadList{"own pod cidr inside",
                {{"node-4", "192.168.1.14", {"10.244.0.0/16"}}},
                "node-4",
                "overlaps this node's own pod CIDR"},
        BadList{"claimed twice",
                {{"node-4", "192.168.1.14", {"10.244.4.0/24"}},
                 {"node-5", "192.168.1.15", {"10.244.4.0/25"}}},
                "node-5",
                "overlaps 10.244.4.0/24 of node \"node-4\""},
        BadList{
            "empty name", {{"", "192.168.1.14", {"10.244.4.0/24"}}}, "", "a node without a name"},
        BadList{"duplicate",
                {{"node-4", "192.168.1.14", {"10.244.4.0/24"}},
                 {"node-4", "192.168.1.14", {"10.244.5.0/24"}}},
                "node-4",
                "listed twice"}),
    [](const ::testing::TestParamInfo<BadList>& info) {
      std::string name = info.param.what;
      std::replace(name.begin(), name.end(), ' ', '_');
      return name;
    });

TEST_F(RemoteNodesTest, Ipv6PodCidrsOfADualStackNodeAreSetAside) {
  auto remote = Make();
  auto routed = remote->Set({{"node-2", "192.168.1.12", {"fd00:10:244:2::/64", "10.244.2.0/24"}},
                             {"node-6", "192.168.1.16", {"fd00:10:244:6::/64"}}});
  ASSERT_TRUE(routed.ok()) << routed.status();
  EXPECT_EQ(routed->nodes, 1u);  // node-6 has nothing to route yet
  EXPECT_EQ(routed->prefixes, 1u);
  EXPECT_THAT(Describe(engine_.routes),
              ElementsAre("10.244.2.0/24 via 192.168.1.12 host-gw node-2"));
}

TEST_F(RemoteNodesTest, AnEngineRefusalChangesNothing) {
  auto remote = Make(/*uplink=*/false);
  ASSERT_TRUE(remote->Set({kTwoNodes[0]}).ok());
  const std::string record = Record();
  engine_.refuse = absl::InvalidArgumentError("route 10.244.3.0/24: more than max_remote_routes");
  auto refused = remote->Set(kTwoNodes);
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused.status().message(), HasSubstr("the dataplane refused the list"));
  EXPECT_THAT(refused.status().message(), HasSubstr("max_remote_routes"));
  EXPECT_THAT(Describe(kernel_.ours), ElementsAre("10.244.2.0/24 via 192.168.1.12"));
  EXPECT_EQ(Record(), record);
  EXPECT_EQ(remote->Sync().prefixes, 1u);
}

TEST_F(RemoteNodesTest, AKernelFailureMidwayPutsTheKernelAndTheEngineBack) {
  auto remote = Make(/*uplink=*/false);
  ASSERT_TRUE(remote->Set({kTwoNodes[0]}).ok());
  const std::string record = Record();
  // The list replaces node-2's route and adds node-3's two: the second change fails.
  kernel_.fail_change = 1;
  auto failed = remote->Set({{"node-2", "192.168.1.22", {"10.244.2.0/24"}}, kTwoNodes[1]});
  EXPECT_EQ(failed.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(failed.status().message(), HasSubstr("Network is unreachable"));
  EXPECT_THAT(failed.status().message(), HasSubstr("the previous routes are kept"));
  EXPECT_THAT(Describe(kernel_.ours), ElementsAre("10.244.2.0/24 via 192.168.1.12"));
  EXPECT_THAT(Describe(engine_.routes),
              ElementsAre("10.244.2.0/24 via 192.168.1.12 kernel node-2"));
  EXPECT_EQ(Record(), record);

  kernel_.fail_list = true;
  EXPECT_FALSE(remote->Set(kTwoNodes).ok());
  EXPECT_THAT(Describe(engine_.routes),
              ElementsAre("10.244.2.0/24 via 192.168.1.12 kernel node-2"));
}

TEST_F(RemoteNodesTest, ARecordThatCannotBeWrittenUndoesTheRoutes) {
  auto remote = Make(/*uplink=*/false);
  ASSERT_TRUE(remote->Set({kTwoNodes[0]}).ok());
  // A directory where the record goes: the atomic rename over it fails, also for root.
  std::filesystem::remove(state_dir_ / "remote_nodes.json");
  std::filesystem::create_directories(state_dir_ / "remote_nodes.json" / "in-the-way");
  auto failed = remote->Set(kTwoNodes);
  ASSERT_FALSE(failed.ok());
  EXPECT_THAT(failed.status().message(), HasSubstr("recording the list in"));
  EXPECT_THAT(Describe(kernel_.ours), ElementsAre("10.244.2.0/24 via 192.168.1.12"));
  EXPECT_THAT(Describe(engine_.routes),
              ElementsAre("10.244.2.0/24 via 192.168.1.12 kernel node-2"));
  EXPECT_EQ(remote->Sync().prefixes, 1u);
}

TEST_F(RemoteNodesTest, SyncStateFollowsTheListAndItsSource) {
  auto remote = Make();
  RouteSyncInfo sync = remote->Sync();
  EXPECT_EQ(sync.state, "unset");
  EXPECT_EQ(sync.age_ms, 0u);
  // A source that lost the cluster before its first list: stale, with its reason.
  remote->ReportSource(false, "watch nodes: connection refused");
  EXPECT_EQ(remote->Sync().state, "stale");
  remote->ReportSource(true, "");
  EXPECT_EQ(remote->Sync().state, "unset");

  ASSERT_TRUE(remote->Set(kTwoNodes).ok());
  now_ms_ += 2500;
  sync = remote->Sync();
  EXPECT_EQ(sync.state, "in-sync");
  EXPECT_EQ(sync.message, "");
  EXPECT_EQ(sync.age_ms, 2500u);
  EXPECT_EQ(sync.nodes, 2u);
  EXPECT_EQ(sync.prefixes, 3u);

  // Stale keeps the routes and says why; the next list is in sync again.
  remote->ReportSource(false, "watch nodes: connection refused");
  sync = remote->Sync();
  EXPECT_EQ(sync.state, "stale");
  EXPECT_EQ(sync.message, "watch nodes: connection refused");
  EXPECT_EQ(sync.prefixes, 3u);
  EXPECT_THAT(engine_.routes, ::testing::SizeIs(3));
  remote->ReportSource(false, "");
  EXPECT_THAT(remote->Sync().message, HasSubstr("lost the cluster"));
  remote->ReportSource(true, "");
  EXPECT_EQ(remote->Sync().state, "in-sync");
  remote->ReportSource(false, "again");
  ASSERT_TRUE(remote->Set(kTwoNodes).ok());
  EXPECT_EQ(remote->Sync().state, "in-sync");
  EXPECT_EQ(remote->Sync().age_ms, 0u);
}

TEST_F(RemoteNodesTest, ARestartedAgentRoutesTheRecordedListBeforeItsSourceSendsIt) {
  {
    auto first = Make(/*uplink=*/false);
    ASSERT_TRUE(first->Set(kTwoNodes).ok());
  }
  // The agent restarts: the engine is new and empty, the kernel keeps its routes, and one of ours
  // that the list no longer has was left behind.
  engine_.routes.clear();
  kernel_.ours.push_back({Ip("10.244.7.0"), 24, Ip("192.168.1.17"), ""});
  now_ms_ += 60'000;
  auto restarted = Make(/*uplink=*/false);
  ASSERT_TRUE(restarted->Restore().ok());
  EXPECT_THAT(Describe(engine_.routes), ElementsAre("10.244.2.0/24 via 192.168.1.12 kernel node-2",
                                                    "10.244.3.0/24 via 10.0.3.13 kernel node-3",
                                                    "10.245.3.0/24 via 10.0.3.13 kernel node-3"));
  EXPECT_THAT(Describe(kernel_.ours),
              ElementsAre("10.244.2.0/24 via 192.168.1.12", "10.244.3.0/24 via 10.0.3.13",
                          "10.245.3.0/24 via 10.0.3.13"));
  RouteSyncInfo sync = restarted->Sync();
  EXPECT_EQ(sync.state, "stale");
  EXPECT_THAT(sync.message, HasSubstr("restored from"));
  EXPECT_EQ(sync.age_ms, 60'000u);  // the list's age, across the restart
  EXPECT_EQ(sync.prefixes, 3u);
}

TEST_F(RemoteNodesTest, RestoreWithoutARecordWithdrawsKernelRoutesLeftByAnEarlierAgent) {
  kernel_.ours = {{Ip("10.244.7.0"), 24, Ip("192.168.1.17"), ""}};
  kernel_.foreign = {{Ip("10.9.0.0"), 16, Ip("192.168.1.1"), ""}};
  auto remote = Make();  // now with an uplink: the kernel carries none of them
  ASSERT_TRUE(remote->Restore().ok());
  EXPECT_THAT(kernel_.ours, IsEmpty());
  EXPECT_THAT(kernel_.foreign, ::testing::SizeIs(1));
  EXPECT_THAT(engine_.routes, IsEmpty());
  EXPECT_EQ(remote->Sync().state, "unset");
}

TEST_F(RemoteNodesTest, ARecordThatCannotBeRestoredLeavesNoRoutesAndSaysWhy) {
  std::ofstream(state_dir_ / "remote_nodes.json") << "{\"version\": 1, \"nodes\": [";
  kernel_.ours = {{Ip("10.244.7.0"), 24, Ip("192.168.1.17"), ""}};
  auto torn = Make(/*uplink=*/false);
  absl::Status restored = torn->Restore();
  EXPECT_EQ(restored.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(restored.message(), HasSubstr("remote_nodes.json"));
  EXPECT_THAT(kernel_.ours, IsEmpty());
  EXPECT_EQ(torn->Sync().state, "stale");
  EXPECT_THAT(torn->Sync().message, HasSubstr("was not restored"));
  // The next list replaces the record.
  ASSERT_TRUE(torn->Set({kTwoNodes[0]}).ok());
  EXPECT_EQ(torn->Sync().state, "in-sync");
  EXPECT_THAT(Record(), HasSubstr("\"node-2\""));

  // A list the engine refuses now (the config changed): nothing routed, said so.
  engine_.refuse = absl::InvalidArgumentError("host-gw to an address off the uplink network");
  auto refused = Make(/*uplink=*/false);
  EXPECT_EQ(refused->Restore().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(refused->Sync().message, HasSubstr("off the uplink network"));
  EXPECT_EQ(refused->Sync().prefixes, 0u);
  EXPECT_THAT(kernel_.ours, IsEmpty());
}

TEST(RemoteNodesOptions, FromTheConfig) {
  AgentConfig config;
  config.pod_cidrs = {"10.244.1.0/24"};
  config.state_dir = "/var/lib/dpcni";
  auto no_uplink = RemoteNodesOptionsFor(config);
  ASSERT_TRUE(no_uplink.ok());
  EXPECT_FALSE(no_uplink->uplink.has_value());
  config.uplink.type = UplinkType::kAfPacket;
  config.uplink.address = "192.168.1.10/24";
  config.remote_nodes.mode = RemoteNodesMode::kVxlan;
  auto uplink = RemoteNodesOptionsFor(config);
  ASSERT_TRUE(uplink.ok());
  ASSERT_TRUE(uplink->uplink.has_value());
  EXPECT_EQ(uplink->uplink->address, Ip("192.168.1.10"));
  EXPECT_EQ(uplink->mode, RemoteNodesMode::kVxlan);
  EXPECT_THAT(uplink->own_pod_cidrs, ElementsAre("10.244.1.0/24"));
}

}  // namespace
}  // namespace dpcni::dataplane
