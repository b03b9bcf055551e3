// The end-to-end harness: namespaces, processes and plugin invocations, all made by the test and
// all removed when the objects go away, also when an assertion fails midway.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <iostream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "dpcni/v1/dpcni.grpc.pb.h"
#include "nlohmann/json.hpp"

namespace dpcni::e2e {

struct CommandResult {
  int exit_code = -1;  // -1: killed on timeout or by a signal
  std::string out;
  std::string err;
  std::string Describe() const;
};

// Runs argv[0] (searched in PATH) with the current environment plus `env`, `input` on stdin.
CommandResult Run(const std::vector<std::string>& argv,
                  const std::map<std::string, std::string>& env = {}, const std::string& input = "",
                  std::chrono::seconds timeout = std::chrono::seconds(60));

// `ip netns exec <netns> argv...`
CommandResult RunIn(const std::string& netns, const std::vector<std::string>& argv,
                    std::chrono::seconds timeout = std::chrono::seconds(60));

// A process left running while the test goes on (a server in a pod's netns), with stdout and stderr
// in files. Destroying it kills its whole process group (ip netns exec and what it runs), also when
// an assertion failed midway.
class Background {
 public:
  explicit Background(const std::vector<std::string>& argv);
  ~Background();
  Background(const Background&) = delete;
  Background& operator=(const Background&) = delete;

  // Waits until stdout holds `text`; false when the process ended or the timeout passed first.
  bool WaitForOutput(const std::string& text,
                     std::chrono::milliseconds timeout = std::chrono::seconds(10));
  bool Running();
  // Its stdout so far.
  std::string Output() const;
  // The command, whether it still runs, and its stdout and stderr so far: for failure messages.
  std::string Describe();

 private:
  std::string command_;
  std::string out_path_;
  std::string err_path_;
  pid_t pid_ = -1;
  int exit_code_ = -1;  // once it ended: -1 killed by a signal
};

// A named network namespace (ip netns add), deleted on destruction.
class Netns {
 public:
  explicit Netns(std::string name);
  ~Netns();
  Netns(const Netns&) = delete;
  Netns& operator=(const Netns&) = delete;
  const std::string& name() const { return name_; }
  std::string path() const { return "/var/run/netns/" + name_; }

 private:
  std::string name_;
};

// The whole file; empty when it cannot be read.
std::string Slurp(const std::string& path);

// A unique name for this test process: "dpcni-e2e-<pid>-<suffix>".
std::string UniqueName(const std::string& suffix);

struct AgentOptions {
  std::string backend = "tap";
  // Written as pod_cidrs: [<pod_cidr>], so "10.95.0.0/30, 10.95.1.0/30" gives the node two. Empty:
  // no pod_cidrs in the config, the agent waits for SetPodCidrs.
  std::string pod_cidr = "10.99.0.0/24";
  uint32_t max_pods = 28;
  std::string extra_yaml;  // appended to the agent's config (e.g. an uplink section)
  std::map<std::string, std::string> env;  // added to the agent's environment
};

// dpcni-agent running inside a node netns, with its own socket, state dir and EAL file prefix.
class Agent {
 public:
  Agent(const Netns& node, AgentOptions options);
  ~Agent();
  Agent(const Agent&) = delete;
  Agent& operator=(const Agent&) = delete;

  // Starts the agent and waits until its gRPC Status answers (ready or not: an agent without pod
  // CIDRs answers, not ready); false (with the log) on failure.
  bool Start(std::string* failure);
  // SIGTERM, then SIGKILL after a grace period; the state dir stays for a restart.
  void Stop();
  // Waits for the agent to end on its own (a crash point, say); true if it did within `timeout`.
  bool WaitForExit(std::chrono::milliseconds timeout);
  // The environment the agent gets from its next Start on (AgentOptions::env).
  void set_env(std::map<std::string, std::string> env) { options_.env = std::move(env); }
  // SIGKILL at once, as a crash or the OOM killer would: no cleanup runs. The state dir stays.
  void Kill();

  const std::string& socket_path() const { return socket_path_; }
  const std::string& state_dir() const { return state_dir_; }
  const std::string& config_path() const { return config_path_; }
  pid_t pid() const { return pid_; }  // -1 when not running
  std::string Log() const;
  // "running", "stopped", or how the process ended ("killed by signal 11 (Segmentation fault)"):
  // a failed test says whether the agent died under it.
  std::string State();
  dpcni::v1::Agent::Stub& api() { return *stub_; }

 private:
  const Netns& node_;
  AgentOptions options_;
  std::string work_dir_;
  std::string socket_path_;
  std::string state_dir_;
  std::string log_path_;
  std::string config_path_;
  pid_t pid_ = -1;
  std::unique_ptr<dpcni::v1::Agent::Stub> stub_;
};

// One invocation of the dpcni plugin as kubelet's runtime makes it.
struct CniCall {
  std::string command;  // ADD, DEL, CHECK, VERSION, STATUS, GC
  std::string container_id;
  std::string netns_path;
  std::string ifname = "eth0";
  std::string pod_namespace = "default";
  std::string pod_name;
  nlohmann::json netconf;
};

// The netconf a node's /etc/cni/net.d would hold for this agent.
nlohmann::json NetConf(const std::string& socket_path, const std::string& cni_version = "1.1.0");

// The plugin's CNI_* environment for `call`; CNI_ARGS carries the K8S_POD_* keys in the order
// containerd happens to use.
std::map<std::string, std::string> PluginEnv(const CniCall& call);

// Execs the plugin with the CNI_* variables of `call` and its netconf on stdin.
CommandResult InvokePlugin(const CniCall& call);
// Execs the plugin with exactly these CNI_* variables (a key left out is unset) and this stdin,
// which need not be JSON: for inputs no runtime should send.
CommandResult InvokePluginWith(const std::map<std::string, std::string>& env,
                               const std::string& input);

// Output of a successful call parsed as JSON (a discarded value when it is not JSON).
nlohmann::json ParseOutput(const CommandResult& result);

// Packets and bytes of one dataplane port, from the agent's GetPortStats.
dpcni::v1::PortStats PortStatsOf(dpcni::v1::Agent::Stub& api, uint32_t port_id);

// `ping -c 3` from a netns; true when every reply came back.
bool Ping(const std::string& from_netns, const std::string& to_ip, const std::string& source = "");

// A TCP transfer of `seconds` from client_netns to an iperf3 server started in server_netns; the
// client's JSON report, or a discarded value (with a test failure) when it did not complete.
nlohmann::json Iperf(const std::string& client_netns, const std::string& server_netns,
                     const std::string& server_ip, int seconds = 2);
double Gbps(const nlohmann::json& iperf_report);

struct Pod {
  std::unique_ptr<Netns> netns;
  std::string container_id;
  std::string name;
  std::string ip;  // without prefix
  nlohmann::json result;
};

// A node: its netns, its agent, and the pods added through the plugin. Destroying it deletes the
// pods' netns (which removes their interfaces), stops the agent and deletes the node netns.
class TestNode {
 public:
  // `name` tells the netns apart (UniqueName(name)) when a test runs more than one node.
  explicit TestNode(AgentOptions options, const std::string& name = "node");
  ~TestNode();

  Netns& netns() { return *netns_; }
  Agent& agent() { return *agent_; }

  CniCall Call(const std::string& command, const Pod& pod) const;
  // Makes the pod's netns and runs ADD (expecting success); the pod lives as long as the node.
  Pod& AddPod(const std::string& name);
  dpcni::v1::PodInfo InfoOf(const Pod& pod);
  dpcni::v1::StatusResponse Status();
  std::deque<Pod>& pods() { return pods_; }

 private:
  std::unique_ptr<Netns> netns_;
  std::unique_ptr<Agent> agent_;
  std::deque<Pod> pods_;  // a deque: AddPod hands out references that must stay valid
};

// A fixture's node: made and its agent started before each test, and the agent's log printed when
// the test fails. Base is testing::Test or a TestWithParam. The agent runs on NodeBackend(): tap
// for the tests of the agent's own life (dpcni_e2e_agent_test), which do not depend on it, and the
// test's parameter for BackendNodeTest.
template <typename Base = testing::Test>
class NodeTest : public Base {
 protected:
  // The node's agent options but the backend: a fixture overrides this for a smaller pool or a
  // higher pod limit.
  virtual AgentOptions NodeOptions() const { return {}; }
  virtual std::string NodeBackend() const { return "tap"; }

  void SetUp() override {
    AgentOptions options = NodeOptions();
    options.backend = NodeBackend();
    node_ = std::make_unique<TestNode>(options);
    std::string failure;
    ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  }
  void TearDown() override {
    if (this->HasFailure() && node_) {
      constexpr size_t kTail = 16 * 1024;  // the leak test's 1000 cycles log a lot
      const std::string log = node_->agent().Log();
      std::cout << "agent: " << node_->agent().State() << "\n"
                << "agent log" << (log.size() > kTail ? " (its end)" : "") << ":\n"
                << (log.size() > kTail ? log.substr(log.size() - kTail) : log) << std::endl;
    }
    node_.reset();
  }

  std::unique_ptr<TestNode> node_;
};

// The suite's tests that run on every backend of Backends(), their parameter: each prints the
// backend it ran on and records it (RecordProperty, in gtest's XML report).
class BackendNodeTest : public NodeTest<testing::TestWithParam<std::string>> {
 protected:
  std::string NodeBackend() const override { return GetParam(); }
  void SetUp() override {
    std::cout << "backend=" << GetParam() << std::endl;
    RecordProperty("backend", GetParam());
    NodeTest::SetUp();
  }
};

// A count from the environment (DPCNI_E2E_*), or `fallback` when it is unset or empty.
size_t SizeFromEnv(const char* name, size_t fallback);

// What pods cost a node: what an ADD takes and its DEL must give back. A snapshot of the agent (its
// API and its process) and of the node netns.
struct NodeFootprint {
  uint32_t pods = 0;                // Status
  uint32_t addresses_in_use = 0;    // Status: pod addresses IPAM holds
  uint32_t mbufs_in_use = 0;        // Status
  size_t listed_pods = 0;           // ListPods
  std::vector<std::string> ports;   // GetPortStats: "<id> <name>"
  std::vector<std::string> links;   // `ip -o link` in the node netns: interface names
  std::vector<std::string> ipv4;    // `ip -o -4 addr` in the node netns: "<dev> <address>"
  std::vector<std::string> routes;  // `ip -o -4 route` in the node netns
  size_t agent_fds = 0;             // entries of /proc/<agent>/fd
  uint64_t agent_rss_kb = 0;        // VmRSS of /proc/<agent>/status
};
NodeFootprint FootprintOf(TestNode& node);
// What differs between two footprints, one line each, except RSS (which moves by itself: glibc's
// arenas, gRPC's buffers); empty when the node is back where it was.
std::string FootprintDifferences(const NodeFootprint& before, const NodeFootprint& after);

// The backends the e2e suite runs on here: DPCNI_E2E_BACKEND when set, else tap, plus vhost-net
// where /dev/vhost-net opens.
std::vector<std::string> Backends();
// "tap", "vhostnet": test-name suffixes for INSTANTIATE_TEST_SUITE_P over Backends().
std::string BackendTestName(const testing::TestParamInfo<std::string>& info);

}  // namespace dpcni::e2e
