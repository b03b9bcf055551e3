// Inputs no runtime should send, and conditions a node runs into, each given to the real plugin
// against a real agent: each must be answered with the CNI error code the spec and docs/cni.md name
// (a runtime decides on it whether to retry) and must leave nothing behind: no pod in the agent, no
// address taken, no port, link, address or route in the node netns, nothing in the pod's netns and
// no queued DEL. The corpus and where each case is tested: docs/testing.md. Backend-independent:
// tap.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/pending_deletes.h"
#include "harness.h"

namespace dpcni::e2e {
namespace {

// What one plugin call gets: its environment and its stdin (the netconf, unless `raw_stdin`).
struct PluginInput {
  std::map<std::string, std::string> env;
  nlohmann::json netconf;
  std::optional<std::string> raw_stdin;
};

// Paths a case may give as CNI_NETNS or agentSocket.
struct Paths {
  std::string pod_netns;      // a real network namespace, made for the case
  std::string regular_file;   // an empty file
  std::string fifo;           // a named pipe: opening it for reading waits for a writer
  std::string directory;      // a directory
  std::string netns_symlink;  // a symbolic link to the pod's netns
  std::string stale_socket;   // a unix socket file nobody listens on (an agent killed -9)
  std::string missing;        // nothing there
};

struct BadInputCase {
  const char* name;
  std::function<void(PluginInput&, const Paths&)> change;  // applied to a well-formed ADD
  int code;                                                // the CNI error code
  const char* message_part;                                // the error's msg names this
};

void Erase(PluginInput& input, const char* variable) { input.env.erase(variable); }

const std::vector<BadInputCase>& Corpus() {
  static const std::vector<BadInputCase> corpus = {
      // stdin
      {"MalformedJson",
       [](PluginInput& in, const Paths&) { in.raw_stdin = R"({"cniVersion": "1.1.0", "name": )"; },
       6, "JSON"},
      {"JsonNotAnObject", [](PluginInput& in, const Paths&) { in.raw_stdin = R"(["dpcni"])"; }, 6,
       "object"},
      {"EmptyStdin", [](PluginInput& in, const Paths&) { in.raw_stdin = ""; }, 6, "JSON"},
      {"MtuNotANumber", [](PluginInput& in, const Paths&) { in.netconf["mtu"] = "x"; }, 7, "mtu"},
      {"NameNotAString", [](PluginInput& in, const Paths&) { in.netconf["name"] = 5; }, 7, "name"},
      {"MtuOutOfRange", [](PluginInput& in, const Paths&) { in.netconf["mtu"] = 70000; }, 7, "mtu"},
      {"MtuAboveTheNodesPodMtu", [](PluginInput& in, const Paths&) { in.netconf["mtu"] = 9000; }, 7,
       "pod_mtu"},
      {"UnknownCniVersion",
       [](PluginInput& in, const Paths&) { in.netconf["cniVersion"] = "9.9.9"; }, 1, "9.9.9"},
      {"NoCniVersion", [](PluginInput& in, const Paths&) { in.netconf.erase("cniVersion"); }, 7,
       "cniVersion"},
      {"IpamSection",
       [](PluginInput& in, const Paths&) {
         in.netconf["ipam"] = {{"type", "host-local"}};
       },
       2, "ipam"},
      {"RequestedIpOutsideThePodCidrs",
       [](PluginInput& in, const Paths&) {
         in.netconf["runtimeConfig"] = {{"ips", {"192.168.77.7/24"}}};
       },
       7, "192.168.77.7"},
      // environment
      {"NoCommand", [](PluginInput& in, const Paths&) { Erase(in, "CNI_COMMAND"); }, 4,
       "CNI_COMMAND"},
      {"UnknownCommand", [](PluginInput& in, const Paths&) { in.env["CNI_COMMAND"] = "FROB"; }, 4,
       "CNI_COMMAND"},
      {"NoContainerId", [](PluginInput& in, const Paths&) { Erase(in, "CNI_CONTAINERID"); }, 4,
       "CNI_CONTAINERID"},
      {"ContainerIdWithSlash",
       [](PluginInput& in, const Paths&) { in.env["CNI_CONTAINERID"] = "ctr/../x"; }, 4,
       "CNI_CONTAINERID"},
      {"NoNetns", [](PluginInput& in, const Paths&) { Erase(in, "CNI_NETNS"); }, 4, "CNI_NETNS"},
      {"NoIfname", [](PluginInput& in, const Paths&) { Erase(in, "CNI_IFNAME"); }, 4, "CNI_IFNAME"},
      {"EmptyIfname", [](PluginInput& in, const Paths&) { in.env["CNI_IFNAME"] = ""; }, 4,
       "CNI_IFNAME"},
      {"IfnameTooLong",
       [](PluginInput& in, const Paths&) { in.env["CNI_IFNAME"] = "eth0123456789abc"; }, 4,
       "CNI_IFNAME"},
      {"IfnameWithSlash", [](PluginInput& in, const Paths&) { in.env["CNI_IFNAME"] = "eth/0"; }, 4,
       "CNI_IFNAME"},
      {"UnknownCniArgsKey",
       [](PluginInput& in, const Paths&) { in.env["CNI_ARGS"] = "K8S_POD_NAME=a;FOO=bar"; }, 4,
       "FOO"},
      // CNI_NETNS
      {"MissingNetns", [](PluginInput& in, const Paths& p) { in.env["CNI_NETNS"] = p.missing; }, 7,
       "does not exist"},
      {"NetnsIsARegularFile",
       [](PluginInput& in, const Paths& p) { in.env["CNI_NETNS"] = p.regular_file; }, 7,
       "not a namespace file"},
      {"NetnsIsAFifo", [](PluginInput& in, const Paths& p) { in.env["CNI_NETNS"] = p.fifo; }, 7,
       "not a namespace file"},
      {"NetnsIsADirectory",
       [](PluginInput& in, const Paths& p) { in.env["CNI_NETNS"] = p.directory; }, 7,
       "not a namespace file"},
      {"NetnsIsASymlink",
       [](PluginInput& in, const Paths& p) { in.env["CNI_NETNS"] = p.netns_symlink; }, 7,
       "symbolic link"},
      // the agent
      {"AgentSocketMissing",
       [](PluginInput& in, const Paths& p) { in.netconf["agentSocket"] = p.missing; }, 11,
       "socket"},
      {"AgentSocketNotASocket",
       [](PluginInput& in, const Paths& p) { in.netconf["agentSocket"] = p.regular_file; }, 11,
       "socket"},
      {"AgentSocketNobodyListensOn",
       [](PluginInput& in, const Paths& p) { in.netconf["agentSocket"] = p.stale_socket; }, 11,
       "dpcni-agent"},
      // other verbs
      {"DelMalformedJson",
       [](PluginInput& in, const Paths&) {
         in.env["CNI_COMMAND"] = "DEL";
         in.raw_stdin = "{";
       },
       6, "JSON"},
      {"DelNoContainerId",
       [](PluginInput& in, const Paths&) {
         in.env["CNI_COMMAND"] = "DEL";
         Erase(in, "CNI_CONTAINERID");
       },
       4, "CNI_CONTAINERID"},
      {"DelIfnameTooLong",
       [](PluginInput& in, const Paths&) {
         in.env["CNI_COMMAND"] = "DEL";
         in.env["CNI_IFNAME"] = "eth0123456789abc";
       },
       4, "CNI_IFNAME"},
      {"CheckWithoutPrevResult",
       [](PluginInput& in, const Paths&) { in.env["CNI_COMMAND"] = "CHECK"; }, 7, "prevResult"},
      {"CheckBeforeVersion040",
       [](PluginInput& in, const Paths&) {
         in.env["CNI_COMMAND"] = "CHECK";
         in.netconf["cniVersion"] = "0.3.1";
       },
       1, "0.3.1"},
  };
  return corpus;
}

class BadInputTest : public NodeTest<> {
 protected:
  AgentOptions NodeOptions() const override {
    AgentOptions options;
    // Room for a few pods: the pool is exhausted quickly (.1 is the node's).
    options.pod_cidr = "10.99.0.0/29";
    return options;
  }
  void SetUp() override {
    NodeTest::SetUp();
    if (HasFatalFailure()) return;

    scratch_ = std::filesystem::temp_directory_path() / UniqueName("bad-input");
    std::filesystem::create_directories(scratch_);
    paths_.regular_file = (scratch_ / "file").string();
    std::ofstream(paths_.regular_file).flush();
    paths_.fifo = (scratch_ / "fifo").string();
    ASSERT_EQ(::mkfifo(paths_.fifo.c_str(), 0600), 0);
    paths_.directory = (scratch_ / "dir").string();
    std::filesystem::create_directories(paths_.directory);
    paths_.stale_socket = (scratch_ / "stale.sock").string();
    MakeStaleSocket(paths_.stale_socket);
    paths_.missing = (scratch_ / "missing").string();
    paths_.netns_symlink = (scratch_ / "netns-link").string();
  }

  void TearDown() override {
    NodeTest::TearDown();
    std::filesystem::remove_all(scratch_);
  }

  // A unix socket file whose listener is gone: what an agent killed by SIGKILL leaves.
  static void MakeStaleSocket(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ASSERT_GE(fd, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    ASSERT_LT(path.size(), sizeof(address.sun_path));
    path.copy(address.sun_path, path.size());
    const int bound = ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
    ::close(fd);
    ASSERT_EQ(bound, 0) << path;
  }

  // A well-formed ADD of `pod`.
  PluginInput WellFormedAdd(const Pod& pod) const {
    const CniCall call = node_->Call("ADD", pod);
    return {PluginEnv(call), call.netconf, std::nullopt};
  }

  static CommandResult Invoke(const PluginInput& input) {
    return InvokePluginWith(input.env, input.raw_stdin.value_or(input.netconf.dump()));
  }

  // The node back at `before`; the plugin's gRPC connection ends when it exits and the agent
  // closes its side a moment later, so its fds get a moment to settle.
  std::string DifferencesFrom(const NodeFootprint& before) {
    std::string differences = FootprintDifferences(before, FootprintOf(*node_));
    for (int poll = 0; poll < 30 && !differences.empty(); ++poll) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
      differences = FootprintDifferences(before, FootprintOf(*node_));
    }
    return differences;
  }

  static std::vector<std::string> LinksIn(const Netns& netns) {
    const CommandResult listed = e2e::Run({"ip", "-n", netns.name(), "-o", "link", "show"});
    EXPECT_EQ(listed.exit_code, 0) << listed.Describe();
    std::vector<std::string> names;
    for (const absl::string_view line : absl::StrSplit(listed.out, '\n', absl::SkipEmpty())) {
      const size_t start = line.find(": ") + 2;
      names.emplace_back(line.substr(start, line.find(':', start) - start));
    }
    return names;
  }

  size_t QueuedDels() const {
    size_t files = 0;
    std::error_code ec;
    for (const auto& entry :
         std::filesystem::directory_iterator(PendingDeletesDir(node_->agent().socket_path()), ec)) {
      files += entry.path().extension() == ".del";
    }
    return files;
  }

  Pod MakePod(const std::string& name) const {
    Pod pod;
    pod.name = name;
    pod.container_id = absl::StrCat("ctr", ::getpid(), name);
    pod.netns = std::make_unique<Netns>(UniqueName(name));
    return pod;
  }

  // The call failed with `code`, as a CNI error object naming `message_part`.
  static void ExpectCniError(const CommandResult& result, int code,
                             const std::string& message_part) {
    EXPECT_EQ(result.exit_code, 1) << result.Describe();
    const nlohmann::json error = ParseOutput(result);
    ASSERT_TRUE(error.is_object() && error.contains("code") && error.contains("msg"))
        << result.Describe();
    EXPECT_EQ(error["code"], code) << result.Describe();
    EXPECT_NE(error["msg"].get<std::string>().find(message_part), std::string::npos)
        << "the message does not name \"" << message_part << "\": " << result.Describe();
  }

  std::filesystem::path scratch_;
  Paths paths_;
};

TEST_F(BadInputTest, EachBadInputIsItsCniErrorAndLeavesNothing) {
  const NodeFootprint before = FootprintOf(*node_);
  ASSERT_EQ(before.pods, 0u);
  for (const BadInputCase& bad : Corpus()) {
    SCOPED_TRACE(bad.name);
    Pod pod = MakePod("bad");
    std::filesystem::remove(paths_.netns_symlink);
    std::filesystem::create_symlink(pod.netns->path(), paths_.netns_symlink);
    PluginInput input = WellFormedAdd(pod);
    bad.change(input, paths_);
    const auto start = std::chrono::steady_clock::now();
    const CommandResult result = Invoke(input);
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    ExpectCniError(result, bad.code, bad.message_part);
    // A runtime waits for the answer with the pod's creation on hold: refusals come at once (a FIFO
    // opened without O_NONBLOCK would hang the agent here).
    EXPECT_LT(seconds, 10.0);
    EXPECT_EQ(LinksIn(*pod.netns), std::vector<std::string>{"lo"});
    EXPECT_EQ(DifferencesFrom(before), "");
    EXPECT_EQ(QueuedDels(), 0u);
    std::cout << bad.name << ": code " << ParseOutput(result).value("code", 0) << std::endl;
  }
}

// The runtime retries an ADD whose answer it lost: the same attachment in the same netns is the
// same result. The same attachment in another netns is refused, naming the one it has.
TEST_F(BadInputTest, DuplicateAddIsTheSameResultOrRefusedForAnotherNetns) {
  const NodeFootprint before = FootprintOf(*node_);
  Pod& pod = node_->AddPod("dup");
  ASSERT_FALSE(pod.ip.empty()) << pod.result.dump();
  const NodeFootprint with_pod = FootprintOf(*node_);

  const CommandResult again = InvokePlugin(node_->Call("ADD", pod));
  ASSERT_EQ(again.exit_code, 0) << again.Describe();
  EXPECT_EQ(ParseOutput(again)["ips"], pod.result["ips"]);
  EXPECT_EQ(ParseOutput(again)["interfaces"], pod.result["interfaces"]);
  EXPECT_EQ(DifferencesFrom(with_pod), "") << "a retried ADD took something more";

  Pod other = MakePod("dup-other");
  CniCall elsewhere = node_->Call("ADD", pod);
  elsewhere.netns_path = other.netns->path();
  const CommandResult refused = InvokePlugin(elsewhere);
  ExpectCniError(refused, 999, pod.netns->path());
  EXPECT_EQ(LinksIn(*other.netns), std::vector<std::string>{"lo"});
  EXPECT_EQ(DifferencesFrom(with_pod), "");

  const CommandResult deleted = InvokePlugin(node_->Call("DEL", pod));
  ASSERT_EQ(deleted.exit_code, 0) << deleted.Describe();
  EXPECT_EQ(DifferencesFrom(before), "");
}

TEST_F(BadInputTest, AddToAnExhaustedPoolIsError100AndLeavesNothing) {
  // 10.99.0.0/29: .1 is the node's, .0 and .7 are not pod addresses.
  for (int i = 0; i < 5; ++i) {
    Pod& pod = node_->AddPod(absl::StrCat("fill", i));
    ASSERT_FALSE(pod.ip.empty()) << pod.result.dump();
  }
  const NodeFootprint full = FootprintOf(*node_);
  ASSERT_EQ(full.addresses_in_use, 5u);

  Pod pod = MakePod("one-too-many");
  const CommandResult refused = InvokePlugin(node_->Call("ADD", pod));
  ExpectCniError(refused, 100, "no free address");
  EXPECT_EQ(LinksIn(*pod.netns), std::vector<std::string>{"lo"});
  EXPECT_EQ(DifferencesFrom(full), "");

  // A DEL frees an address for the next pod.
  ASSERT_EQ(InvokePlugin(node_->Call("DEL", node_->pods().front())).exit_code, 0);
  const CommandResult added = InvokePlugin(node_->Call("ADD", pod));
  EXPECT_EQ(added.exit_code, 0) << added.Describe();
  node_->pods().push_back(std::move(pod));
}

// The agent restarting (an upgrade, a crash): ADD is 11, which kubelet retries; DEL is queued and
// succeeds (what the agent does with the queue: agent_down_test.cc). Neither leaves anything once
// the agent is back.
TEST_F(BadInputTest, WithTheAgentDownAddIsError11AndDelIsQueued) {
  const NodeFootprint before = FootprintOf(*node_);
  node_->agent().Stop();
  Pod pod = MakePod("down");
  const CommandResult refused = InvokePlugin(node_->Call("ADD", pod));
  ExpectCniError(refused, 11, node_->agent().socket_path());
  EXPECT_EQ(LinksIn(*pod.netns), std::vector<std::string>{"lo"});

  const CommandResult deleted = InvokePlugin(node_->Call("DEL", pod));
  EXPECT_EQ(deleted.exit_code, 0) << deleted.Describe();
  EXPECT_EQ(QueuedDels(), 1u);

  std::string failure;
  ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  NodeFootprint after = FootprintOf(*node_);
  after.agent_fds = before.agent_fds;  // another process: its own count, compared in leak_test
  EXPECT_EQ(FootprintDifferences(before, after), "");
  EXPECT_EQ(QueuedDels(), 0u) << "the agent carried the queued DEL out";
  EXPECT_EQ(LinksIn(*pod.netns), std::vector<std::string>{"lo"});
}

}  // namespace
}  // namespace dpcni::e2e
