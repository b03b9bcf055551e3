// Pods on one node, driven exactly as kubelet's runtime drives a CNI plugin: a "node" netns runs
// dpcni-agent, each pod is a netns made by the test, and the dpcni binary is exec'd with CNI_*
// variables and the netconf on stdin. Every test prints the pod-port backend it ran.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <future>
#include <iostream>
#include <set>
#include <thread>

#include "harness.h"

namespace dpcni::e2e {
namespace {

struct Pod {
  std::unique_ptr<Netns> netns;
  std::string container_id;
  std::string name;
  std::string ip;  // without prefix
  nlohmann::json result;
};

class PodNetworkTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::cout << "backend=" << GetParam() << std::endl;
    RecordProperty("backend", GetParam());
    node_ = std::make_unique<Netns>(UniqueName("node"));
    agent_ = std::make_unique<Agent>(*node_, AgentOptions{.backend = GetParam()});
    std::string failure;
    ASSERT_TRUE(agent_->Start(&failure)) << failure;
  }

  void TearDown() override {
    if (HasFailure() && agent_) std::cout << "agent log:\n" << agent_->Log() << std::endl;
    pods_.clear();  // deleting a pod netns removes its interface
    agent_.reset();
    node_.reset();
  }

  CniCall Call(const std::string& command, const Pod& pod) const {
    CniCall call;
    call.command = command;
    call.container_id = pod.container_id;
    call.netns_path = pod.netns->path();
    call.pod_name = pod.name;
    call.netconf = NetConf(agent_->socket_path());
    return call;
  }

  // Makes the pod's netns and runs ADD; the pod is kept (and cleaned up) by the fixture.
  Pod& AddPod(const std::string& name) {
    Pod pod;
    pod.name = name;
    pod.container_id = "ctr" + std::to_string(::getpid()) + name;
    pod.netns = std::make_unique<Netns>(UniqueName(name));
    CommandResult added = InvokePlugin(Call("ADD", pod));
    EXPECT_EQ(added.exit_code, 0) << added.Describe();
    pod.result = ParseOutput(added);
    if (pod.result.contains("ips") && !pod.result["ips"].empty()) {
      const std::string cidr = pod.result["ips"][0]["address"];
      pod.ip = cidr.substr(0, cidr.find('/'));
    }
    pods_.push_back(std::move(pod));
    return pods_.back();
  }

  dpcni::v1::PodInfo InfoOf(const Pod& pod) {
    grpc::ClientContext context;
    dpcni::v1::ListPodsResponse response;
    EXPECT_TRUE(agent_->api().ListPods(&context, {}, &response).ok());
    for (const auto& info : response.pods()) {
      if (info.attachment().container_id() == pod.container_id) return info;
    }
    ADD_FAILURE() << "agent does not list pod " << pod.name;
    return {};
  }

  dpcni::v1::StatusResponse AgentStatus() {
    grpc::ClientContext context;
    dpcni::v1::StatusResponse response;
    EXPECT_TRUE(agent_->api().Status(&context, {}, &response).ok());
    return response;
  }

  bool Ping(const Pod& from, const std::string& to_ip, const std::string& source = "") {
    std::vector<std::string> ping = {"ping", "-c", "3", "-i", "0.2", "-W", "2"};
    if (!source.empty()) ping.insert(ping.end(), {"-I", source});
    ping.push_back(to_ip);
    return RunIn(from.netns->name(), ping).exit_code == 0;
  }

  std::unique_ptr<Netns> node_;
  std::unique_ptr<Agent> agent_;
  std::deque<Pod> pods_;  // a deque: AddPod hands out references that must stay valid
};

TEST_P(PodNetworkTest, PodsGetDistinctAddressesAndTalkThroughTheDataplane) {
  std::set<std::string> addresses;
  for (const char* name : {"a", "b", "c"}) {
    Pod& pod = AddPod(name);
    ASSERT_FALSE(pod.ip.empty()) << pod.result.dump();
    EXPECT_EQ(pod.ip.rfind("10.99.0.", 0), 0u) << pod.ip;
    addresses.insert(pod.ip);
    // containerd finds the pod IP through ips[].interface -> interfaces[] with a sandbox.
    const auto& interface = pod.result["interfaces"][pod.result["ips"][0]["interface"].get<int>()];
    EXPECT_EQ(interface["name"], "eth0");
    EXPECT_EQ(interface["sandbox"], pod.netns->path());
    EXPECT_EQ(InfoOf(pod).backend(), GetParam());
  }
  EXPECT_EQ(addresses.size(), 3u);

  EXPECT_TRUE(Ping(pods_[0], pods_[1].ip));
  EXPECT_TRUE(Ping(pods_[1], pods_[2].ip));
  EXPECT_TRUE(Ping(pods_[2], pods_[0].ip));

  const uint32_t server_port = InfoOf(pods_[1]).port_id();
  const uint64_t tx_before = PortStatsOf(agent_->api(), server_port).tx_bytes();
  auto server = std::async(std::launch::async, [&] {
    return RunIn(pods_[1].netns->name(), {"iperf3", "-s", "-1", "-p", "5201"}, std::chrono::seconds(40));
  });
  CommandResult client;
  for (int attempt = 0; attempt < 20; ++attempt) {  // until the server listens
    client = RunIn(pods_[0].netns->name(), {"iperf3", "-c", pods_[1].ip, "-p", "5201", "-t", "2", "-J"});
    if (client.exit_code == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_EQ(client.exit_code, 0) << client.Describe();
  server.wait();
  const auto report = nlohmann::json::parse(client.out);
  const double received = report["end"]["sum_received"]["bytes"].get<double>();
  EXPECT_GT(received, 1e6);
  std::cout << "backend=" << GetParam() << " iperf3 pod->pod "
            << report["end"]["sum_received"]["bits_per_second"].get<double>() / 1e9 << " Gbit/s"
            << std::endl;
  // Everything the receiver got crossed the dataplane's Tx toward its port.
  EXPECT_GE(PortStatsOf(agent_->api(), server_port).tx_bytes() - tx_before,
            static_cast<uint64_t>(received));
}

TEST_P(PodNetworkTest, SpoofedSourceAddressIsDroppedAndCounted) {
  Pod& a = AddPod("a");
  Pod& b = AddPod("b");
  ASSERT_TRUE(Ping(a, b.ip));
  ASSERT_EQ(RunIn(a.netns->name(), {"ip", "addr", "add", "10.99.0.250/32", "dev", "eth0"}).exit_code, 0);
  EXPECT_FALSE(Ping(a, b.ip, "10.99.0.250"));
  const auto stats = PortStatsOf(agent_->api(), InfoOf(a).port_id());
  ASSERT_TRUE(stats.drops().contains("spoofed_source")) << stats.DebugString();
  EXPECT_GE(stats.drops().at("spoofed_source"), 3u);
  EXPECT_TRUE(Ping(a, b.ip));  // its own address still works
}

TEST_P(PodNetworkTest, CheckPassesThenFailsOnceTheAddressIsRemovedByHand) {
  Pod& pod = AddPod("a");
  CniCall check = Call("CHECK", pod);
  check.netconf["prevResult"] = pod.result;
  CommandResult healthy = InvokePlugin(check);
  EXPECT_EQ(healthy.exit_code, 0) << healthy.Describe();

  ASSERT_EQ(RunIn(pod.netns->name(), {"ip", "addr", "del", pod.ip + "/32", "dev", "eth0"}).exit_code, 0);
  CommandResult broken = InvokePlugin(check);
  EXPECT_NE(broken.exit_code, 0);
  const auto error = ParseOutput(broken);
  ASSERT_TRUE(error.contains("code")) << broken.Describe();
  EXPECT_NE(error["msg"].get<std::string>().find(pod.ip), std::string::npos) << broken.Describe();
}

TEST_P(PodNetworkTest, DeleteRemovesEverythingAndRepeatsSafely) {
  Pod& keep = AddPod("keep");
  Pod& gone = AddPod("gone");
  const uint32_t in_use = AgentStatus().addresses_in_use();
  ASSERT_EQ(in_use, 2u);

  CommandResult deleted = InvokePlugin(Call("DEL", gone));
  ASSERT_EQ(deleted.exit_code, 0) << deleted.Describe();
  EXPECT_NE(RunIn(gone.netns->name(), {"ip", "link", "show", "eth0"}).exit_code, 0)
      << "the pod's tap is still there";
  EXPECT_EQ(AgentStatus().addresses_in_use(), 1u);
  EXPECT_EQ(AgentStatus().pods(), 1u);
  grpc::ClientContext context;
  dpcni::v1::GetPortStatsResponse ports;
  ASSERT_TRUE(agent_->api().GetPortStats(&context, {}, &ports).ok());
  EXPECT_EQ(ports.ports_size(), 1);

  // The runtime retries DEL, and sends one more with an empty CNI_NETNS once the sandbox is gone.
  EXPECT_EQ(InvokePlugin(Call("DEL", gone)).exit_code, 0);
  CniCall without_netns = Call("DEL", gone);
  without_netns.netns_path = "";
  CommandResult second = InvokePlugin(without_netns);
  EXPECT_EQ(second.exit_code, 0) << second.Describe();
  EXPECT_TRUE(Ping(keep, keep.ip));  // the other pod is untouched
}

TEST_P(PodNetworkTest, DeleteAfterTheSandboxIsGoneFreesThePort) {
  Pod& pod = AddPod("a");
  CniCall del = Call("DEL", pod);
  del.netns_path = "";
  pod.netns.reset();  // the runtime tore the sandbox down before DEL
  CommandResult deleted = InvokePlugin(del);
  EXPECT_EQ(deleted.exit_code, 0) << deleted.Describe();
  EXPECT_EQ(AgentStatus().addresses_in_use(), 0u);
  EXPECT_EQ(AgentStatus().pods(), 0u);
  pods_.clear();
}

TEST_P(PodNetworkTest, BadAddLeavesNothingBehind) {
  Pod missing;
  missing.name = "missing";
  missing.container_id = "ctr-missing";
  missing.netns = std::make_unique<Netns>(UniqueName("missing"));
  CniCall call = Call("ADD", missing);
  call.netns_path = "/var/run/netns/" + UniqueName("does-not-exist");
  CommandResult refused = InvokePlugin(call);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(ParseOutput(refused).contains("code")) << refused.Describe();

  CniCall long_name = Call("ADD", missing);
  long_name.ifname = "this-name-is-too-long-for-linux";
  CommandResult bad_ifname = InvokePlugin(long_name);
  EXPECT_NE(bad_ifname.exit_code, 0);
  EXPECT_EQ(AgentStatus().addresses_in_use(), 0u);
  EXPECT_EQ(AgentStatus().pods(), 0u);
}

TEST_P(PodNetworkTest, AddWithTheAgentStoppedIsTryAgainLater) {
  agent_->Stop();
  Pod pod;
  pod.name = "a";
  pod.container_id = "ctr-a";
  pod.netns = std::make_unique<Netns>(UniqueName("a"));
  CommandResult result = InvokePlugin(Call("ADD", pod));
  EXPECT_NE(result.exit_code, 0);
  EXPECT_EQ(ParseOutput(result).value("code", 0), 11) << result.Describe();
}

TEST_P(PodNetworkTest, TwentyPodsAddedInParallelGetDistinctAddresses) {
  constexpr int kPods = 20;
  std::vector<Pod> pods(kPods);
  for (int i = 0; i < kPods; ++i) {
    pods[i].name = "p" + std::to_string(i);
    pods[i].container_id = "ctr-par-" + std::to_string(i);
    pods[i].netns = std::make_unique<Netns>(UniqueName(pods[i].name));
  }
  std::vector<std::future<CommandResult>> adds;
  for (const Pod& pod : pods) {
    adds.push_back(std::async(std::launch::async, [this, &pod] { return InvokePlugin(Call("ADD", pod)); }));
  }
  std::set<std::string> addresses;
  for (int i = 0; i < kPods; ++i) {
    CommandResult added = adds[i].get();
    ASSERT_EQ(added.exit_code, 0) << pods[i].name << ": " << added.Describe();
    addresses.insert(ParseOutput(added)["ips"][0]["address"].get<std::string>());
  }
  EXPECT_EQ(addresses.size(), static_cast<size_t>(kPods));
  EXPECT_EQ(AgentStatus().pods(), static_cast<uint32_t>(kPods));
  for (Pod& pod : pods) pods_.push_back(std::move(pod));
}

TEST_P(PodNetworkTest, RestartedAgentReattachesPodsThatStillExist) {
  Pod& a = AddPod("a");
  Pod& b = AddPod("b");
  agent_->Stop();
  std::string failure;
  ASSERT_TRUE(agent_->Start(&failure)) << failure;
  EXPECT_EQ(AgentStatus().pods(), 2u);
  EXPECT_TRUE(Ping(a, b.ip));
  Pod& c = AddPod("c");
  EXPECT_NE(c.ip, a.ip);
  EXPECT_NE(c.ip, b.ip);
}

std::vector<std::string> Backends() {
  if (const char* only = std::getenv("DPCNI_E2E_BACKEND"); only && std::string(only) != "auto") {
    return {only};
  }
  std::vector<std::string> backends = {"tap"};
  if (::access("/dev/vhost-net", R_OK | W_OK) == 0) backends.push_back("vhost-net");
  return backends;
}

INSTANTIATE_TEST_SUITE_P(Backends, PodNetworkTest, testing::ValuesIn(Backends()),
                         [](const auto& info) {
                           std::string name = info.param;
                           std::erase(name, '-');
                           return name;
                         });

}  // namespace
}  // namespace dpcni::e2e
