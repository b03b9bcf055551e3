// A node at its pod limit: the agent runs with max_pods = N (DPCNI_E2E_SCALE_PODS; by default 500,
// or fewer if the DPDK built against holds fewer ports), N pods are added through the plugin as the
// runtime adds them (many at once), every pod answers the node, pods answer each other, ADD number
// N+1 is refused with a CNI error and leaves nothing, and deleting them all (the runtime's DEL,
// then its second DEL with an empty CNI_NETNS) brings the node back to where it started: no port,
// tap, address or namespace left. Prints the backend and how long each phase took (informational;
// speed is measured in bench/pods).
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <iostream>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "harness.h"

namespace dpcni::e2e {
namespace {

using Clock = std::chrono::steady_clock;

// How many pods, and how many plugin calls / pings the test runs at once (the runtime adds the pods
// a node is given in parallel, too).
const size_t kPods = SizeFromEnv("DPCNI_E2E_SCALE_PODS", DPCNI_E2E_DEFAULT_SCALE_PODS);
const size_t kConcurrency = SizeFromEnv("DPCNI_E2E_SCALE_CONCURRENCY", 32);

// Runs task(0..count-1) on `concurrency` threads; returns the indexes whose task returned false.
std::vector<size_t> RunConcurrently(size_t count, const std::function<bool(size_t)>& task) {
  std::atomic<size_t> next = 0;
  std::mutex failed_mu;
  std::vector<size_t> failed;
  std::vector<std::thread> threads;
  for (size_t t = 0; t < std::min(kConcurrency, count); ++t) {
    threads.emplace_back([&] {
      for (size_t i = next++; i < count; i = next++) {
        if (!task(i)) {
          std::lock_guard lock(failed_mu);
          failed.push_back(i);
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  std::sort(failed.begin(), failed.end());
  return failed;
}

// The smallest pod CIDR whose addresses hold `pods` besides the network, broadcast and node
// address.
std::string PodCidrFor(size_t pods) {
  int length = 30;
  while (length > 8 && (uint64_t{1} << (32 - length)) - 3 < pods) --length;
  return "10.100.0.0/" + std::to_string(length);
}

std::string FirstFailures(const std::vector<size_t>& failed, const std::vector<std::string>& what) {
  std::string text;
  for (size_t i = 0; i < failed.size() && i < 10; ++i) text += " " + what[failed[i]];
  return text + (failed.size() > 10 ? " ..." : "");
}

class ScaleTest : public testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    std::cout << "backend=" << GetParam() << " pods=" << kPods << std::endl;
    RecordProperty("backend", GetParam());
    // A node's usual soft limit on open files (systemd's default), which the agent, inheriting it,
    // must raise itself once its ports need more.
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &saved_file_limit_), 0);
    rlimit node_default = saved_file_limit_;
    node_default.rlim_cur = std::min<rlim_t>(1024, saved_file_limit_.rlim_max);
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &node_default), 0);

    AgentOptions options;
    options.backend = GetParam();
    options.max_pods = static_cast<uint32_t>(kPods);
    options.pod_cidr = PodCidrFor(kPods + 1);
    node_ = std::make_unique<TestNode>(options);
    std::string failure;
    ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  }

  void TearDown() override {
    if (HasFailure()) std::cout << "agent log (tail):\n" << LogTail() << std::endl;
    // Hundreds of namespaces: removed concurrently, before the node and its agent go.
    RunConcurrently(pods_.size(), [this](size_t i) {
      pods_[i].netns.reset();
      return true;
    });
    extra_.netns.reset();
    node_.reset();
    ::setrlimit(RLIMIT_NOFILE, &saved_file_limit_);
  }

  std::string LogTail() const {
    const std::string log = node_->agent().Log();
    return log.size() > 8000 ? log.substr(log.size() - 8000) : log;
  }

  static Pod MakePod(size_t index) {
    Pod pod;
    // StrCat for GCC 12's false -Wrestrict at -O3 (see pod_network_test.cc).
    pod.name = absl::StrCat("s", index);
    pod.container_id = absl::StrCat("ctr-scale-", index);
    pod.netns = std::make_unique<Netns>(UniqueName(pod.name));
    return pod;
  }

  size_t PortCount() {
    grpc::ClientContext context;
    dpcni::v1::GetPortStatsResponse ports;
    EXPECT_TRUE(node_->agent().api().GetPortStats(&context, {}, &ports).ok());
    return static_cast<size_t>(ports.ports_size());
  }

  // The node netns' interface names, and its IPv4 addresses (IPv6 link-local ones come and go
  // with duplicate address detection, on their own).
  std::string NodeLinks() {
    return RunIn(node_->netns().name(), {"sh", "-c", "ip -o link show | awk '{print $2}'"}).out;
  }
  std::string NodeAddresses() {
    return RunIn(node_->netns().name(), {"sh", "-c", "ip -o -4 addr show | awk '{print $2, $4}'"})
        .out;
  }

  bool HasInterface(const Pod& pod) {
    return e2e::Run({"ip", "-n", pod.netns->name(), "link", "show", "eth0"}).exit_code == 0;
  }

  // The pods that do not answer a ping from `from_netns` within 5 s (the first packet may wait for
  // ARP on both sides). One `ip netns exec` whose xargs runs the pings concurrently: entering a
  // netns that way costs a copy of the mount table, which holds every pod's netns.
  std::vector<std::string> Silent(const std::string& from_netns,
                                  const std::vector<std::string>& ips) {
    std::string list;
    for (const std::string& ip : ips) list += ip + "\n";
    const std::string script = "printf '" + list + "' | xargs -P " + std::to_string(kConcurrency) +
                               " -I@ sh -c 'ping -c 1 -i 0.2 -w 5 @ >/dev/null 2>&1 || echo @'";
    CommandResult result = RunIn(from_netns, {"sh", "-c", script}, std::chrono::seconds(600));
    EXPECT_EQ(result.exit_code, 0) << result.Describe();
    std::vector<std::string> silent;
    std::istringstream lines(result.out);
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) silent.push_back(line);
    }
    return silent;
  }

  void Phase(const std::string& name, Clock::time_point start) {
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    std::cout << "backend=" << GetParam() << " pods=" << kPods << " phase " << name << ": "
              << seconds << " s" << std::endl;
  }

  // The runtime's DEL for every pod, many at once, each expected to succeed.
  void DeleteEveryPod(const std::string& phase_name) {
    const Clock::time_point phase = Clock::now();
    std::vector<std::string> results(pods_.size());
    const auto failures = RunConcurrently(pods_.size(), [&](size_t i) {
      CommandResult result = InvokePlugin(node_->Call("DEL", pods_[i]));
      results[i] = result.Describe();
      return result.exit_code == 0;
    });
    Phase(phase_name, phase);
    EXPECT_TRUE(failures.empty()) << failures.size()
                                  << " DELs failed; first: " << results[failures.front()];
  }

  rlimit saved_file_limit_{};
  std::unique_ptr<TestNode> node_;
  std::vector<Pod> pods_;
  Pod extra_;
};

TEST_P(ScaleTest, NodeHoldsMaxPodsRefusesOneMoreAndDeletesBackToItsStart) {
  const auto start_status = node_->Status();
  const size_t start_ports = PortCount();
  const std::string start_links = NodeLinks();
  const std::string start_addresses = NodeAddresses();
  ASSERT_EQ(start_status.pods(), 0u);
  ASSERT_EQ(start_status.pod_capacity(), kPods);
  std::cout << "backend=" << GetParam()
            << " mbufs in use at 0 pods: " << start_status.mbufs_in_use() << " of "
            << start_status.mbuf_pool_size() << std::endl;

  auto phase = Clock::now();
  pods_.resize(kPods);
  RunConcurrently(kPods, [this](size_t i) {
    pods_[i] = MakePod(i);
    return true;
  });
  Phase("make netns", phase);

  phase = Clock::now();
  std::vector<std::string> added(kPods);
  const auto add_failures = RunConcurrently(kPods, [&](size_t i) {
    CommandResult result = InvokePlugin(node_->Call("ADD", pods_[i]));
    added[i] = result.Describe();
    pods_[i].result = ParseOutput(result);
    if (result.exit_code != 0 || !pods_[i].result.contains("ips")) return false;
    const std::string cidr = pods_[i].result["ips"][0]["address"];
    pods_[i].ip = cidr.substr(0, cidr.find('/'));
    return true;
  });
  Phase("add", phase);
  ASSERT_TRUE(add_failures.empty())
      << add_failures.size() << " ADDs failed; first: " << added[add_failures.front()];
  std::set<std::string> addresses;
  std::vector<std::string> ips;
  for (const Pod& pod : pods_) {
    addresses.insert(pod.ip);
    ips.push_back(pod.ip);
  }
  EXPECT_EQ(addresses.size(), kPods);
  const auto full = node_->Status();
  EXPECT_EQ(full.pods(), kPods);
  EXPECT_EQ(full.addresses_in_use(), kPods);
  EXPECT_EQ(PortCount(), start_ports + kPods);
  std::cout << "backend=" << GetParam() << " mbufs in use at " << kPods
            << " pods: " << full.mbufs_in_use() << " of " << full.mbuf_pool_size() << " ("
            << (static_cast<double>(full.mbufs_in_use()) - start_status.mbufs_in_use()) / kPods
            << " per pod)" << std::endl;

  phase = Clock::now();
  std::vector<std::string> silent = Silent(node_->netns().name(), ips);
  Phase("ping every pod from the node", phase);
  EXPECT_TRUE(silent.empty()) << silent.size() << " pods do not answer the node, e.g. "
                              << silent.front();

  // A few pods across the node, each to the others.
  phase = Clock::now();
  const std::vector<size_t> sample = {0, kPods / 3, 2 * kPods / 3, kPods - 1};
  for (size_t from : sample) {
    std::vector<std::string> others;
    for (size_t to : sample) {
      if (to != from) others.push_back(pods_[to].ip);
    }
    silent = Silent(pods_[from].netns->name(), others);
    EXPECT_TRUE(silent.empty()) << pods_[from].name << " (" << pods_[from].ip
                                << ") gets no answer from " << silent.front();
  }
  Phase("ping between sampled pods", phase);

  // One more is refused: the node is at max_pods.
  extra_ = MakePod(kPods);
  CommandResult refused = InvokePlugin(node_->Call("ADD", extra_));
  EXPECT_NE(refused.exit_code, 0) << refused.Describe();
  const auto error = ParseOutput(refused);
  ASSERT_TRUE(error.is_object() && error.contains("code")) << refused.Describe();
  EXPECT_EQ(error["code"], 100) << refused.Describe();  // the agent is out of resources
  EXPECT_NE(error["msg"].get<std::string>().find("max_pods " + std::to_string(kPods)),
            std::string::npos)
      << refused.Describe();
  EXPECT_FALSE(HasInterface(extra_)) << "the refused pod got an interface";
  const auto after_refusal = node_->Status();
  EXPECT_EQ(after_refusal.pods(), kPods);
  EXPECT_EQ(after_refusal.addresses_in_use(), kPods);
  EXPECT_EQ(PortCount(), start_ports + kPods);
  // The runtime cleans up a failed ADD with a DEL, which must succeed.
  CommandResult cleanup = InvokePlugin(node_->Call("DEL", extra_));
  EXPECT_EQ(cleanup.exit_code, 0) << cleanup.Describe();

  DeleteEveryPod("delete");
  const auto left_taps = RunConcurrently(kPods, [&](size_t i) { return !HasInterface(pods_[i]); });
  EXPECT_TRUE(left_taps.empty()) << left_taps.size()
                                 << " pods still have eth0:" << FirstFailures(left_taps, ips);

  // The sandboxes go, then containerd's second DEL comes with an empty CNI_NETNS (Call gives an
  // empty netns path for a pod without a netns).
  phase = Clock::now();
  std::vector<std::string> netns_names;
  for (Pod& pod : pods_) netns_names.push_back(pod.netns->name());
  netns_names.push_back(extra_.netns->name());
  RunConcurrently(kPods, [this](size_t i) {
    pods_[i].netns.reset();
    return true;
  });
  extra_.netns.reset();
  Phase("remove netns", phase);
  DeleteEveryPod("second DEL without netns");

  const auto end_status = node_->Status();
  EXPECT_EQ(end_status.pods(), 0u);
  EXPECT_EQ(end_status.addresses_in_use(), 0u);
  EXPECT_EQ(PortCount(), start_ports);
  EXPECT_EQ(NodeLinks(), start_links);
  EXPECT_EQ(NodeAddresses(), start_addresses);
  for (const std::string& name : netns_names) {
    EXPECT_FALSE(std::filesystem::exists("/var/run/netns/" + name)) << name;
  }
  // Every deleted port gave its queues' mbufs back (a pod's Rx ring alone holds hundreds on
  // vhost-net). The host port stays, and what it sent the node may still be held: a virtio-user Tx
  // queue frees sent mbufs only once more than 32 wait (kVirtioTxUnreclaimedMax, the test node's
  // one worker one queue), and it looks before it queues a burst, so the last burst (up to the
  // default burst_size, 32, single-segment pings here) stays on top of those 32 until the next
  // transmit. vnet_tap frees each as it writes it. Packets the node's kernel sends through the host
  // port may also be in flight for a moment.
  const uint32_t start_in_use = start_status.mbufs_in_use();
  const uint32_t host_port_tx_held = GetParam() == "vhost-net" ? 32 + 32 : 0;
  uint32_t in_use = end_status.mbufs_in_use();
  for (int attempt = 0; attempt < 50 && in_use > start_in_use + host_port_tx_held; ++attempt) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    in_use = node_->Status().mbufs_in_use();
  }
  EXPECT_GE(in_use, start_in_use);
  EXPECT_LE(in_use, start_in_use + host_port_tx_held);
}

INSTANTIATE_TEST_SUITE_P(Backends, ScaleTest, testing::ValuesIn(Backends()), BackendTestName);

}  // namespace
}  // namespace dpcni::e2e
