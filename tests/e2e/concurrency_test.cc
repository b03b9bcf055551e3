// Many pods at once, as kubelet starts and stops them when a Deployment scales: the plugin runs
// once per pod, all at the same time, and the agent serves every call. Backend-independent: tap.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <future>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "harness.h"

namespace dpcni::e2e {
namespace {

constexpr int kPods = 50;

class ConcurrencyTest : public NodeTest<> {
 protected:
  AgentOptions NodeOptions() const override {
    AgentOptions options;
    options.max_pods = kPods + 10;
    return options;
  }
  void SetUp() override {
    NodeTest::SetUp();
    if (HasFatalFailure()) return;
    for (int i = 0; i < kPods; ++i) {
      Pod pod;
      pod.name = absl::StrCat("c", i);
      pod.container_id = absl::StrCat("ctr", ::getpid(), "c", i);
      pod.netns = std::make_unique<Netns>(UniqueName(pod.name));
      pods_.push_back(std::move(pod));
    }
  }

  void TearDown() override {
    pods_.clear();
    NodeTest::TearDown();
  }

  // Runs `call(i)` for every pod at the same time; the results in pod order.
  template <typename Call>
  std::vector<CommandResult> AllAtOnce(Call call) {
    std::vector<std::future<CommandResult>> running;
    for (int i = 0; i < kPods; ++i) running.push_back(std::async(std::launch::async, call, i));
    std::vector<CommandResult> results;
    for (auto& result : running) results.push_back(result.get());
    return results;
  }

  std::vector<Pod> pods_;
};

TEST_F(ConcurrencyTest, FiftyConcurrentAddsGetDistinctAddressesAndFiftyDelsEmptyTheNode) {
  const v1::StatusResponse before = node_->Status();
  ASSERT_EQ(before.pods(), 0u);

  std::vector<CommandResult> added =
      AllAtOnce([&](int i) { return InvokePlugin(node_->Call("ADD", pods_[i])); });
  std::set<std::string> addresses;
  for (int i = 0; i < kPods; ++i) {
    ASSERT_EQ(added[i].exit_code, 0) << pods_[i].name << ": " << added[i].Describe();
    const nlohmann::json result = ParseOutput(added[i]);
    ASSERT_TRUE(result.contains("ips") && result["ips"].size() == 1) << added[i].out;
    const std::string address = result["ips"][0]["address"];
    EXPECT_EQ(address.rfind("10.99.0.", 0), 0u) << address;
    addresses.insert(address);
  }
  EXPECT_EQ(addresses.size(), static_cast<size_t>(kPods)) << "an address was handed out twice";
  v1::StatusResponse status = node_->Status();
  EXPECT_EQ(status.pods(), static_cast<uint32_t>(kPods));
  EXPECT_EQ(status.addresses_in_use(), static_cast<uint32_t>(kPods));
  for (const Pod& pod : pods_) {
    EXPECT_EQ(RunIn(pod.netns->name(), {"ip", "link", "show", "eth0"}).exit_code, 0) << pod.name;
  }

  // containerd's DEL, then its second DEL with an empty CNI_NETNS, every pod at once.
  std::vector<CommandResult> deleted = AllAtOnce([&](int i) {
    CommandResult first = InvokePlugin(node_->Call("DEL", pods_[i]));
    if (first.exit_code != 0) return first;
    CniCall second = node_->Call("DEL", pods_[i]);
    second.netns_path = "";
    return InvokePlugin(second);
  });
  for (int i = 0; i < kPods; ++i) {
    EXPECT_EQ(deleted[i].exit_code, 0) << pods_[i].name << ": " << deleted[i].Describe();
  }
  status = node_->Status();
  EXPECT_EQ(status.pods(), 0u);
  EXPECT_EQ(status.addresses_in_use(), 0u);
  grpc::ClientContext context;
  v1::GetPortStatsResponse ports;
  ASSERT_TRUE(node_->agent().api().GetPortStats(&context, {}, &ports).ok());
  EXPECT_EQ(ports.ports_size(), 1) << "only the host port is left:\n" << ports.DebugString();
  for (const Pod& pod : pods_) {
    EXPECT_NE(RunIn(pod.netns->name(), {"ip", "link", "show", "eth0"}).exit_code, 0)
        << pod.name << " still has eth0";
  }
  std::cout << "backend=tap " << kPods << " concurrent ADDs and " << kPods
            << " concurrent DEL pairs: distinct addresses " << addresses.size() << ", pods left "
            << status.pods() << std::endl;
}

}  // namespace
}  // namespace dpcni::e2e
