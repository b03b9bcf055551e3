// The node's pod CIDRs from SetPodCidrs, as in a Kubernetes cluster where kube-controller-manager
// allocates them and dpcni-k8s hands them to the agent: an agent configured without pod_cidrs waits
// (not ready, pods told to try again later) until the call comes, records them, and starts with
// them at once after a restart. The test plays dpcni-k8s with a gRPC stub. And a node with two pod
// CIDRs, which are one pool set. One backend: the suite's first (tap here, vhost-net in the VM
// lane).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "harness.h"

namespace dpcni::e2e {
namespace {

constexpr char kPodCidr[] = "10.97.0.0/24";
constexpr char kNodeAddress[] = "10.97.0.1";  // the host port's: the pod CIDR's first address
constexpr char kWaiting[] = "waiting for the node's pod CIDRs";

grpc::Status SetPodCidrs(Agent& agent, const std::vector<std::string>& cidrs) {
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  dpcni::v1::SetPodCidrsRequest request;
  for (const std::string& cidr : cidrs) request.add_pod_cidrs(cidr);
  dpcni::v1::SetPodCidrsResponse response;
  return agent.api().SetPodCidrs(&context, request, &response);
}

CommandResult Dpcnictl(const Agent& agent, const std::vector<std::string>& arguments) {
  std::vector<std::string> argv = {DPCNICTL_PATH, "--socket", agent.socket_path()};
  argv.insert(argv.end(), arguments.begin(), arguments.end());
  return Run(argv, {}, "", std::chrono::seconds(20));
}

class PodCidrsTest : public testing::Test {
 protected:
  void SetUp() override {
    AgentOptions options;
    options.backend = Backends().front();  // tap here, vhost-net in the VM lane
    options.pod_cidr = "";                 // no pod_cidrs in the config
    node_ = std::make_unique<TestNode>(options);
  }

  void TearDown() override {
    if (HasFailure()) std::cout << "agent log:\n" << node_->agent().Log() << std::endl;
    node_.reset();
  }

  void StartAgent() {
    std::string failure;
    ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  }

  std::string NodeRecord() const { return node_->agent().state_dir() + "/node.json"; }

  Pod WaitingPod(const std::string& name) {
    Pod pod;
    pod.name = name;
    pod.container_id = "ctr" + std::to_string(::getpid()) + name;
    pod.netns = std::make_unique<Netns>(UniqueName(name));
    return pod;
  }

  std::unique_ptr<TestNode> node_;
};

TEST_F(PodCidrsTest, AgentWaitsForSetPodCidrsThenServesAndRestartsWithThem) {
  StartAgent();
  Agent& agent = node_->agent();

  // Waiting: alive, not ready, and saying for what.
  dpcni::v1::StatusResponse status = node_->Status();
  EXPECT_FALSE(status.ready());
  EXPECT_NE(status.message().find(kWaiting), std::string::npos) << status.message();
  EXPECT_NE(status.message().find("SetPodCidrs"), std::string::npos) << status.message();
  CommandResult shown = Dpcnictl(agent, {"status"});
  EXPECT_EQ(shown.exit_code, 0) << shown.Describe();
  EXPECT_NE(shown.out.find("ready:           no"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find(kWaiting), std::string::npos) << shown.out;
  CommandResult live = Dpcnictl(agent, {"probe", "live"});
  EXPECT_EQ(live.exit_code, 0) << live.Describe();
  CommandResult ready = Dpcnictl(agent, {"probe", "ready"});
  EXPECT_EQ(ready.exit_code, 1) << ready.Describe();
  EXPECT_NE(ready.err.find(kWaiting), std::string::npos) << ready.err;
  EXPECT_EQ(std::count(ready.err.begin(), ready.err.end(), '\n'), 1) << ready.err;
  CommandResult pods = Dpcnictl(agent, {"pods"});
  EXPECT_EQ(pods.exit_code, 1) << pods.Describe();
  EXPECT_NE(pods.err.find("is not ready"), std::string::npos) << pods.err;

  // The runtime's ADD is told to try again later (CNI error 11); CNI STATUS says not available
  // (50).
  Pod early = WaitingPod("early");
  CommandResult add = InvokePlugin(node_->Call("ADD", early));
  EXPECT_NE(add.exit_code, 0);
  EXPECT_EQ(ParseOutput(add).value("code", 0), 11) << add.Describe();
  EXPECT_NE(add.out.find(kWaiting), std::string::npos) << add.out;
  CommandResult cni_status = InvokePlugin(node_->Call("STATUS", early));
  EXPECT_EQ(ParseOutput(cni_status).value("code", 0), 50) << cni_status.Describe();
  EXPECT_FALSE(std::filesystem::exists(NodeRecord()));

  // A dual-stack node's CIDRs: the IPv4 one is taken, the IPv6 one set aside.
  grpc::Status set = SetPodCidrs(agent, {kPodCidr, "fd00:10:97::/64"});
  ASSERT_TRUE(set.ok()) << set.error_message() << "\n" << agent.Log();
  status = node_->Status();
  EXPECT_TRUE(status.ready()) << status.message();
  ASSERT_EQ(status.pod_cidrs_size(), 1);
  EXPECT_EQ(status.pod_cidrs(0), kPodCidr);
  EXPECT_NE(Slurp(NodeRecord()).find(kPodCidr), std::string::npos) << Slurp(NodeRecord());
  EXPECT_NE(agent.Log().find("fd00:10:97::/64 ignored"), std::string::npos) << agent.Log();
  ready = Dpcnictl(agent, {"probe", "ready"});
  EXPECT_EQ(ready.exit_code, 0) << ready.Describe();

  // Pods get addresses from it and reach the node.
  Pod& a = node_->AddPod("a");
  EXPECT_EQ(a.ip.rfind("10.97.0.", 0), 0u) << a.ip;
  EXPECT_TRUE(Ping(a.netns->name(), kNodeAddress));

  // The same CIDRs again (dpcni-k8s after its own restart) are fine; others are refused.
  EXPECT_TRUE(SetPodCidrs(agent, {kPodCidr}).ok());
  EXPECT_TRUE(SetPodCidrs(agent, {kPodCidr, "fd00:10:97::/64"}).ok());
  grpc::Status other = SetPodCidrs(agent, {"10.96.0.0/24"});
  EXPECT_EQ(other.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(other.error_message().find(kPodCidr), std::string::npos) << other.error_message();
  EXPECT_NE(other.error_message().find(NodeRecord()), std::string::npos) << other.error_message();
  EXPECT_TRUE(node_->Status().ready());

  // A restart (an upgrade) needs no second call: ready from its first answer, the pod restored.
  agent.Stop();
  StartAgent();
  status = node_->Status();
  EXPECT_TRUE(status.ready()) << status.message();
  ASSERT_EQ(status.pod_cidrs_size(), 1);
  EXPECT_EQ(status.pod_cidrs(0), kPodCidr);
  EXPECT_EQ(status.pods(), 1u);
  EXPECT_TRUE(Ping(a.netns->name(), kNodeAddress));
  Pod& b = node_->AddPod("b");
  EXPECT_EQ(b.ip.rfind("10.97.0.", 0), 0u) << b.ip;
  EXPECT_NE(b.ip, a.ip);
  EXPECT_TRUE(Ping(b.netns->name(), a.ip));
}

TEST_F(PodCidrsTest, BadCidrsAreInvalidArgumentAndRecordNothing) {
  StartAgent();
  Agent& agent = node_->agent();
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"fd00:10:97::/64"}, std::vector<std::string>{"garbage"},
        std::vector<std::string>{"10.97.0.1/24"}, std::vector<std::string>{}}) {
    grpc::Status refused = SetPodCidrs(agent, bad);
    EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT)
        << (bad.empty() ? "(none)" : bad[0]) << ": " << refused.error_message();
  }
  EXPECT_NE(
      SetPodCidrs(agent, {"fd00:10:97::/64"}).error_message().find("IPv6 is not supported yet"),
      std::string::npos);
  EXPECT_NE(SetPodCidrs(agent, {"10.97.0.1/24"}).error_message().find("did you mean 10.97.0.0/24"),
            std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(NodeRecord()));
  dpcni::v1::StatusResponse status = node_->Status();
  EXPECT_FALSE(status.ready());
  EXPECT_NE(status.message().find(kWaiting), std::string::npos) << status.message();

  // Still waiting: good CIDRs are taken after all that.
  ASSERT_TRUE(SetPodCidrs(agent, {kPodCidr}).ok()) << agent.Log();
  EXPECT_TRUE(node_->Status().ready());
}

TEST_F(PodCidrsTest, CidrsThatClashWithTheIpamStateAreRefusedAndTheAgentWaitsOn) {
  // An earlier life of this node handed out addresses of 10.96.0.0/24 (a node re-created with the
  // state dir kept): other CIDRs would lose track of them.
  Agent& agent = node_->agent();
  std::filesystem::create_directories(agent.state_dir());
  std::ofstream(agent.state_dir() + "/ipam.json")
      << R"({"pools": [{"cidr": "10.96.0.0/24", "cursor": "10.96.0.2",)"
      << R"( "allocations": {"10.96.0.2": "ctr-old/eth0"}}]})";
  StartAgent();
  grpc::Status refused = SetPodCidrs(agent, {kPodCidr});
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION) << refused.error_message();
  EXPECT_NE(refused.error_message().find("10.96.0.0/24"), std::string::npos)
      << refused.error_message();
  EXPECT_FALSE(std::filesystem::exists(NodeRecord()));
  EXPECT_FALSE(node_->Status().ready());

  ASSERT_TRUE(SetPodCidrs(agent, {"10.96.0.0/24"}).ok()) << agent.Log();
  dpcni::v1::StatusResponse status = node_->Status();
  EXPECT_TRUE(status.ready()) << status.message();
  EXPECT_EQ(status.addresses_in_use(), 1u);
}

TEST_F(PodCidrsTest, ASetUpThatFailsMidwayIsAnsweredUndoneAndStopsTheAgent) {
  // Something else holds the host port's name: the node's edges cannot come up once the CIDRs are
  // accepted, and ports already attached to the engine cannot be taken back one by one.
  CommandResult taken = RunIn(node_->netns().name(), {"ip", "link", "add", "dpcni0", "type", "veth",
                                                      "peer", "name", "other0"});
  ASSERT_EQ(taken.exit_code, 0) << taken.Describe();
  StartAgent();
  Agent& agent = node_->agent();
  grpc::Status failed = SetPodCidrs(agent, {kPodCidr});
  EXPECT_FALSE(failed.ok());
  EXPECT_NE(failed.error_message().find("dpcni0"), std::string::npos) << failed.error_message();
  EXPECT_NE(failed.error_message().find("dpcni-agent stops"), std::string::npos)
      << failed.error_message();
  EXPECT_FALSE(std::filesystem::exists(NodeRecord()));
  // It stops on its own, and takes its socket with it.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::filesystem::exists(agent.socket_path()) &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_FALSE(std::filesystem::exists(agent.socket_path())) << agent.Log();
  EXPECT_NE(agent.Log().find("setting the node up with pod CIDRs 10.97.0.0/24"), std::string::npos)
      << agent.Log();
}

TEST_F(PodCidrsTest, ConfiguredPodCidrsWinAndOtherOnesAreRefused) {
  AgentOptions options;
  options.backend = Backends().front();
  options.pod_cidr = kPodCidr;
  node_.reset();  // the fixture's node goes first: the new one takes the same netns name
  node_ = std::make_unique<TestNode>(options);
  StartAgent();
  Agent& agent = node_->agent();
  EXPECT_TRUE(node_->Status().ready());
  EXPECT_TRUE(SetPodCidrs(agent, {kPodCidr}).ok());
  grpc::Status other = SetPodCidrs(agent, {"10.96.0.0/24"});
  EXPECT_EQ(other.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_NE(other.error_message().find("config"), std::string::npos) << other.error_message();
  // The config is the record: nothing is written beside it.
  EXPECT_FALSE(std::filesystem::exists(NodeRecord()));
}

// Several IPv4 pod CIDRs are one pool set (issue 13): a pod gets one address, from the first CIDR
// with room. Two /30s: the first holds the node's address (.1) and one pod (.2), the second two
// pods. A pod of the second CIDR reaches a pod of the first through the engine, and the node's
// address through the host port (the kernel routes the reply to it on dpcni0), and the gateway it
// sends both to is its /32 on-link route, whatever CIDR its address is from.
TEST_F(PodCidrsTest, AFullFirstCidrFallsThroughToTheSecondWhosePodsReachEverything) {
  constexpr char kFirst[] = "10.95.0.0/30";
  constexpr char kSecond[] = "10.95.1.0/30";
  AgentOptions options;
  options.backend = Backends().front();
  options.pod_cidr = std::string(kFirst) + ", " + kSecond;  // the harness writes [<pod_cidr>]
  node_.reset();  // the fixture's node goes first: the new one takes the same netns name
  node_ = std::make_unique<TestNode>(options);
  StartAgent();
  dpcni::v1::StatusResponse status = node_->Status();
  ASSERT_TRUE(status.ready()) << status.message();
  ASSERT_EQ(status.pod_cidrs_size(), 2);

  Pod& a = node_->AddPod("a");
  ASSERT_EQ(a.ip, "10.95.0.2") << a.result.dump();
  Pod& b = node_->AddPod("b");  // the first CIDR is full
  ASSERT_EQ(b.ip, "10.95.1.1") << b.result.dump();
  ASSERT_EQ(b.result["ips"].size(), 1u) << "one address per pod: " << b.result.dump();
  CommandResult addresses =
      RunIn(b.netns->name(), {"ip", "-4", "-o", "addr", "show", "dev", "eth0"});
  EXPECT_EQ(std::count(addresses.out.begin(), addresses.out.end(), '\n'), 1) << addresses.out;
  EXPECT_NE(addresses.out.find("10.95.1.1/32"), std::string::npos) << addresses.out;
  const std::string gateway = b.result["routes"][0]["gw"];
  CommandResult to_gateway =
      RunIn(b.netns->name(), {"ip", "-4", "route", "get", "1.1.1.1", "from", b.ip});
  EXPECT_NE(to_gateway.out.find("via " + gateway + " dev eth0"), std::string::npos)
      << to_gateway.Describe();
  CommandResult onlink = RunIn(b.netns->name(), {"ip", "-4", "route", "show", gateway});
  EXPECT_NE(onlink.out.find("scope link"), std::string::npos) << onlink.Describe();

  EXPECT_TRUE(Ping(b.netns->name(), a.ip));
  EXPECT_TRUE(Ping(a.netns->name(), b.ip));
  EXPECT_TRUE(Ping(b.netns->name(), "10.95.0.1"));  // the node, through dpcni0
  CommandResult neighbour = RunIn(b.netns->name(), {"ip", "neigh", "show", gateway});
  EXPECT_NE(neighbour.out.find("lladdr"), std::string::npos)
      << "the gateway answered ARP: " << neighbour.Describe();

  // The set is full: ADD is refused as out of resources, naming both CIDRs, and leaves nothing.
  Pod& c = node_->AddPod("c");
  ASSERT_EQ(c.ip, "10.95.1.2") << c.result.dump();
  Pod extra = WaitingPod("extra");
  CommandResult refused = InvokePlugin(node_->Call("ADD", extra));
  EXPECT_NE(refused.exit_code, 0) << refused.Describe();
  const nlohmann::json error = ParseOutput(refused);
  ASSERT_TRUE(error.is_object() && error.contains("msg")) << refused.Describe();
  EXPECT_EQ(error.value("code", 0), 100) << refused.Describe();
  EXPECT_NE(error["msg"].get<std::string>().find(kFirst), std::string::npos) << error.dump();
  EXPECT_NE(error["msg"].get<std::string>().find(kSecond), std::string::npos) << error.dump();
  EXPECT_EQ(node_->Status().addresses_in_use(), 3u);

  // A freed address of the first CIDR is the next one handed out.
  CommandResult deleted = InvokePlugin(node_->Call("DEL", a));
  ASSERT_EQ(deleted.exit_code, 0) << deleted.Describe();
  CommandResult again = InvokePlugin(node_->Call("ADD", extra));
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  const std::string extra_address = ParseOutput(again)["ips"][0]["address"];
  EXPECT_EQ(extra_address, "10.95.0.2/32");

  // A restart restores the second CIDR's pods with their one address, still routed.
  node_->agent().Stop();
  StartAgent();
  EXPECT_EQ(node_->Status().pods(), 3u);
  EXPECT_TRUE(Ping(b.netns->name(), "10.95.0.2"));
  EXPECT_TRUE(Ping(c.netns->name(), "10.95.0.1"));
  CommandResult deleted_extra = InvokePlugin(node_->Call("DEL", extra));
  EXPECT_EQ(deleted_extra.exit_code, 0) << deleted_extra.Describe();
}

}  // namespace
}  // namespace dpcni::e2e
