#include "harness.h"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <grpcpp/grpcpp.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"

extern char** environ;

namespace dpcni::e2e {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

namespace {

std::string TempPath(const std::string& what) {
  static std::atomic<int> counter = 0;
  return (std::filesystem::temp_directory_path() / ("dpcni-e2e-" + std::to_string(::getpid()) +
                                                    "-" + what + "-" + std::to_string(counter++)))
      .string();
}

// Spawns argv with stdin/stdout/stderr redirected to files; the environment is prepared before the
// fork because the child may only make async-signal-safe calls.
pid_t Spawn(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
            const std::string& in_path, const std::string& out_path, const std::string& err_path) {
  std::map<std::string, std::string> merged;
  for (char** entry = environ; *entry; ++entry) {
    std::string text(*entry);
    merged[text.substr(0, text.find('='))] = text.substr(text.find('=') + 1);
  }
  for (const auto& [key, value] : env) merged[key] = value;
  std::vector<std::string> env_text;
  for (const auto& [key, value] : merged) env_text.push_back(key + "=" + value);
  std::vector<char*> envp;
  for (std::string& text : env_text) envp.push_back(text.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> c_argv;
  for (std::string& arg : args) c_argv.push_back(arg.data());
  c_argv.push_back(nullptr);

  const int in_fd = ::open(in_path.c_str(), O_RDONLY | O_CLOEXEC);
  const int out_fd = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  const int err_fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::setpgid(0, 0);  // so that a timeout kills the whole group (e.g. ip netns exec's children)
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // a crashed test must not leave an agent running
    ::dup2(in_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(err_fd, 2);
    ::execvpe(c_argv[0], c_argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(in_fd);
  ::close(out_fd);
  ::close(err_fd);
  return pid;
}

int WaitWithTimeout(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  while (true) {
    pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (done < 0 && errno != EINTR) return -1;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(-pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

// A test binary that crashed cannot run its destructors: the next run removes the namespaces of
// e2e processes that no longer exist (only names this harness makes: dpcni-e2e-<pid>-...).
class StaleNamespaceSweeper : public testing::Environment {
 public:
  void SetUp() override {
    const std::string prefix = "dpcni-e2e-";
    for (const auto& entry : std::filesystem::directory_iterator("/var/run/netns", ec_)) {
      const std::string name = entry.path().filename().string();
      if (name.rfind(prefix, 0) != 0) continue;
      const std::string pid =
          name.substr(prefix.size(), name.find('-', prefix.size()) - prefix.size());
      if (!pid.empty() && !std::filesystem::exists("/proc/" + pid))
        Run({"ip", "netns", "del", name});
    }
  }

 private:
  std::error_code ec_;
};
const testing::Environment* const kSweeper =
    testing::AddGlobalTestEnvironment(new StaleNamespaceSweeper);

}  // namespace

std::string CommandResult::Describe() const {
  return "exit " + std::to_string(exit_code) + "\nstdout:\n" + out + "\nstderr:\n" + err;
}

CommandResult Run(const std::vector<std::string>& argv,
                  const std::map<std::string, std::string>& env, const std::string& input,
                  std::chrono::seconds timeout) {
  const std::string in_path = TempPath("in"), out_path = TempPath("out"),
                    err_path = TempPath("err");
  std::ofstream(in_path) << input;
  CommandResult result;
  pid_t pid = Spawn(argv, env, in_path, out_path, err_path);
  result.exit_code = WaitWithTimeout(pid, timeout);
  result.out = Slurp(out_path);
  result.err = Slurp(err_path);
  for (const std::string& path : {in_path, out_path, err_path}) std::filesystem::remove(path);
  return result;
}

CommandResult RunIn(const std::string& netns, const std::vector<std::string>& argv,
                    std::chrono::seconds timeout) {
  std::vector<std::string> full = {"ip", "netns", "exec", netns};
  full.insert(full.end(), argv.begin(), argv.end());
  return Run(full, {}, "", timeout);
}

Background::Background(const std::vector<std::string>& argv)
    : out_path_(TempPath("bg-out")), err_path_(TempPath("bg-err")) {
  for (const std::string& arg : argv) command_ += (command_.empty() ? "" : " ") + arg;
  pid_ = Spawn(argv, {}, "/dev/null", out_path_, err_path_);
  // The child makes its own group too; this closes the window in which a kill of the group could
  // come before the child's own setpgid (one of the two calls fails harmlessly).
  ::setpgid(pid_, pid_);
}

Background::~Background() {
  if (Running()) {
    ::kill(-pid_, SIGKILL);
    ::kill(pid_, SIGKILL);
    WaitWithTimeout(pid_, std::chrono::seconds(10));
  }
  std::filesystem::remove(out_path_);
  std::filesystem::remove(err_path_);
}

bool Background::Running() {
  if (pid_ <= 0) return false;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return true;
  exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  pid_ = -1;
  return false;
}

bool Background::WaitForOutput(const std::string& text, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    // Read before asking whether it still runs: what it printed before it exited counts.
    if (Slurp(out_path_).find(text) != std::string::npos) return true;
    if (!Running()) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

std::string Background::Output() const { return Slurp(out_path_); }

std::string Background::Describe() {
  const std::string state =
      Running() ? "running" : "exited (exit " + std::to_string(exit_code_) + ")";
  return command_ + ": " + state + "\nstdout:\n" + Slurp(out_path_) + "\nstderr:\n" +
         Slurp(err_path_);
}

std::string UniqueName(const std::string& suffix) {
  return "dpcni-e2e-" + std::to_string(::getpid()) + "-" + suffix;
}

Netns::Netns(std::string name) : name_(std::move(name)) {
  Run({"ip", "netns", "del", name_});  // left over by a crashed earlier run of this pid
  Run({"ip", "netns", "add", name_});
  // ip -n, not ip netns exec: no mount namespace to copy, which grows with every netns on the
  // machine.
  Run({"ip", "-n", name_, "link", "set", "lo", "up"});
}

Netns::~Netns() { Run({"ip", "netns", "del", name_}); }

Agent::Agent(const Netns& node, AgentOptions options) : node_(node), options_(std::move(options)) {
  work_dir_ = TempPath("agent");
  std::filesystem::create_directories(work_dir_);
  socket_path_ = work_dir_ + "/dpcni.sock";
  state_dir_ = work_dir_ + "/state";
  log_path_ = work_dir_ + "/agent.log";
  config_path_ = work_dir_ + "/agent.yaml";
  std::ofstream(config_path_)
      << "socket: " << socket_path_ << "\n"
      << "state_dir: " << state_dir_ << "\n"
      << (options_.pod_cidr.empty() ? "" : "pod_cidrs: [" + options_.pod_cidr + "]\n")
      << "max_pods: " << options_.max_pods << "\n"
      << "backend: " << options_.backend << "\n"
      << "worker_lcores: [1]\n"
      // EAL memory is left out: the agent sizes it from max_pods, as on a node.
      << "eal:\n  lcores: \"0-1\"\n  file_prefix: "
      << std::filesystem::path(work_dir_).filename().string() << "\n"
      << options_.extra_yaml;
}

Agent::~Agent() {
  Stop();
  std::filesystem::remove_all(work_dir_);
}

bool Agent::Start(std::string* failure) {
  pid_ = Spawn({"ip", "netns", "exec", node_.name(), DPCNI_AGENT_PATH, "--config", config_path_},
               options_.env, "/dev/null", log_path_, log_path_ + ".err");
  stub_.reset();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      *failure = "agent exited during start-up:\n" + Log();
      return false;
    }
    // The channel is made once the socket exists: a channel that failed to connect backs off for
    // seconds before it tries again.
    if (!stub_ && std::filesystem::exists(socket_path_)) {
      stub_ = dpcni::v1::Agent::NewStub(
          grpc::CreateChannel("unix:" + socket_path_, grpc::InsecureChannelCredentials()));
    }
    if (stub_) {
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(2));
      context.set_wait_for_ready(true);
      dpcni::v1::StatusResponse response;
      if (stub_->Status(&context, {}, &response).ok()) return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  *failure = "agent did not answer Status within 60 s:\n" + Log();
  return false;
}

void Agent::Stop() {
  if (pid_ <= 0) return;
  // Our channel goes first. An idle C++ client reads its socket only when its backup poller runs,
  // every 5 s, so the agent's GOAWAY would wait that long for the client's answer (the agent stops
  // waiting after its grace period, 2 s).
  stub_.reset();
  ::kill(pid_, SIGTERM);
  if (WaitWithTimeout(pid_, std::chrono::seconds(15)) == -1) ::kill(-pid_, SIGKILL);
  pid_ = -1;
}

bool Agent::WaitForExit(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) return true;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      stub_.reset();
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return false;
}

void Agent::Kill() {
  if (pid_ <= 0) return;
  ::kill(-pid_, SIGKILL);
  ::kill(pid_, SIGKILL);
  WaitWithTimeout(pid_, std::chrono::seconds(10));
  pid_ = -1;
}

std::string Agent::State() {
  if (pid_ <= 0) return "stopped";
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) != pid_) return "running";
  pid_ = -1;
  if (WIFSIGNALED(status)) {
    return absl::StrCat("killed by signal ", WTERMSIG(status), " (", strsignal(WTERMSIG(status)),
                        ")");
  }
  return absl::StrCat("exited with status ", WEXITSTATUS(status));
}

std::string Agent::Log() const { return Slurp(log_path_) + Slurp(log_path_ + ".err"); }

nlohmann::json NetConf(const std::string& socket_path, const std::string& cni_version) {
  return {{"cniVersion", cni_version},
          {"name", "dpcni-e2e"},
          {"type", "dpcni"},
          {"agentSocket", socket_path}};
}

std::map<std::string, std::string> PluginEnv(const CniCall& call) {
  // containerd builds CNI_ARGS from a map: the order of the keys is not fixed.
  const std::string args = "K8S_POD_INFRA_CONTAINER_ID=" + call.container_id + ";K8S_POD_UID=uid-" +
                           call.pod_name + ";IgnoreUnknown=1" + ";K8S_POD_NAME=" + call.pod_name +
                           ";K8S_POD_NAMESPACE=" + call.pod_namespace;
  return {{"CNI_COMMAND", call.command},
          {"CNI_CONTAINERID", call.container_id},
          {"CNI_NETNS", call.netns_path},
          {"CNI_IFNAME", call.ifname},
          {"CNI_ARGS", args},
          {"CNI_PATH", "/opt/cni/bin"}};
}

CommandResult InvokePlugin(const CniCall& call) {
  return InvokePluginWith(PluginEnv(call), call.netconf.dump());
}

CommandResult InvokePluginWith(const std::map<std::string, std::string>& env,
                               const std::string& input) {
  // Run adds the test's own environment: env(1) unsets the CNI_* variables the caller left out.
  std::vector<std::string> argv = {"env"};
  for (const char* name :
       {"CNI_COMMAND", "CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME", "CNI_ARGS", "CNI_PATH"}) {
    if (!env.contains(name)) argv.insert(argv.end(), {"-u", name});
  }
  if (argv.size() == 1) argv.clear();  // nothing to unset: one exec less
  argv.push_back(DPCNI_PLUGIN_PATH);
  return Run(argv, env, input, std::chrono::seconds(90));
}

nlohmann::json ParseOutput(const CommandResult& result) {
  return nlohmann::json::parse(result.out, nullptr, /*allow_exceptions=*/false);
}

dpcni::v1::PortStats PortStatsOf(dpcni::v1::Agent::Stub& api, uint32_t port_id) {
  grpc::ClientContext context;
  dpcni::v1::GetPortStatsRequest request;
  request.add_port_ids(port_id);
  dpcni::v1::GetPortStatsResponse response;
  if (!api.GetPortStats(&context, request, &response).ok() || response.ports().empty()) return {};
  return response.ports(0);
}

bool Ping(const std::string& from_netns, const std::string& to_ip, const std::string& source) {
  std::vector<std::string> ping = {"ping", "-c", "3", "-i", "0.2", "-W", "2"};
  if (!source.empty()) ping.insert(ping.end(), {"-I", source});
  ping.push_back(to_ip);
  return RunIn(from_netns, ping).exit_code == 0;
}

namespace {

bool ReportsReceivedBytes(const nlohmann::json& report) {
  return report.is_object() && !report.contains("error") && report.contains("end") &&
         report["end"].contains("sum_received") && report["end"]["sum_received"].contains("bytes");
}

}  // namespace

nlohmann::json Iperf(const std::string& client_netns, const std::string& server_netns,
                     const std::string& server_ip, int seconds) {
  auto server = std::async(std::launch::async, [&] {
    return RunIn(server_netns, {"iperf3", "-s", "-1", "-p", "5201"},
                 std::chrono::seconds(seconds + 40));
  });
  CommandResult client;
  nlohmann::json report;
  // Until the server listens. iperf3 3.12 with -J exits 0 even when the connection is refused, so
  // the report itself says whether the transfer happened.
  for (int attempt = 0; attempt < 20; ++attempt) {
    client = RunIn(client_netns,
                   {"iperf3", "-c", server_ip, "-p", "5201", "-t", std::to_string(seconds), "-J"});
    report = nlohmann::json::parse(client.out, nullptr, /*allow_exceptions=*/false);
    if (client.exit_code == 0 && ReportsReceivedBytes(report)) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  server.wait();
  if (client.exit_code != 0 || !ReportsReceivedBytes(report)) {
    ADD_FAILURE() << "iperf3 " << client_netns << " -> " << server_ip
                  << " reported no received bytes: " << client.Describe();
    return nlohmann::json::value_t::discarded;
  }
  return report;
}

double Gbps(const nlohmann::json& iperf_report) {
  return iperf_report["end"]["sum_received"]["bits_per_second"].get<double>() / 1e9;
}

TestNode::TestNode(AgentOptions options, const std::string& name)
    : netns_(std::make_unique<Netns>(UniqueName(name))),
      agent_(std::make_unique<Agent>(*netns_, std::move(options))) {}

TestNode::~TestNode() {
  pods_.clear();
  agent_.reset();
  netns_.reset();
}

CniCall TestNode::Call(const std::string& command, const Pod& pod) const {
  CniCall call;
  call.command = command;
  call.container_id = pod.container_id;
  call.netns_path = pod.netns ? pod.netns->path() : "";
  call.pod_name = pod.name;
  call.netconf = NetConf(agent_->socket_path());
  return call;
}

Pod& TestNode::AddPod(const std::string& name) {
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

dpcni::v1::PodInfo TestNode::InfoOf(const Pod& pod) {
  grpc::ClientContext context;
  dpcni::v1::ListPodsResponse response;
  EXPECT_TRUE(agent_->api().ListPods(&context, {}, &response).ok());
  for (const auto& info : response.pods()) {
    if (info.attachment().container_id() == pod.container_id) return info;
  }
  ADD_FAILURE() << "agent does not list pod " << pod.name;
  return {};
}

dpcni::v1::StatusResponse TestNode::Status() {
  grpc::ClientContext context;
  dpcni::v1::StatusResponse response;
  EXPECT_TRUE(agent_->api().Status(&context, {}, &response).ok());
  return response;
}

namespace {

// The lines of `ip -o ...` in a netns, each cut to what `keep` returns for it.
std::vector<std::string> IpLines(const std::string& netns, const std::vector<std::string>& args,
                                 std::string (*keep)(const std::string&)) {
  std::vector<std::string> argv = {"ip", "-n", netns, "-o"};
  argv.insert(argv.end(), args.begin(), args.end());
  const CommandResult listed = Run(argv);
  EXPECT_EQ(listed.exit_code, 0) << listed.Describe();
  std::vector<std::string> lines;
  std::istringstream in(listed.out);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(keep(line));
  }
  std::sort(lines.begin(), lines.end());
  return lines;
}

// "3: dpcni0: <BROADCAST,..." -> "dpcni0"; "4: eth0@if5: ..." -> "eth0@if5".
std::string LinkName(const std::string& line) {
  const size_t start = line.find(": ") + 2;
  return line.substr(start, line.find(':', start) - start);
}

// "3: dpcni0    inet 10.99.0.1/24 scope global dpcni0\ ..." -> "dpcni0 10.99.0.1/24".
std::string DevAndAddress(const std::string& line) {
  std::istringstream words(line);
  std::string index, dev, family, address;
  words >> index >> dev >> family >> address;
  return dev + " " + address;
}

std::string WholeLine(const std::string& line) { return line; }

template <typename T>
void CompareField(const char* what, const T& before, const T& after, std::string* out) {
  if (before == after) return;
  std::ostringstream line;
  line << what << ": " << testing::PrintToString(before) << " -> " << testing::PrintToString(after)
       << "\n";
  *out += line.str();
}

}  // namespace

NodeFootprint FootprintOf(TestNode& node) {
  NodeFootprint footprint;
  const dpcni::v1::StatusResponse status = node.Status();
  footprint.pods = status.pods();
  footprint.addresses_in_use = status.addresses_in_use();
  footprint.mbufs_in_use = status.mbufs_in_use();
  {
    grpc::ClientContext context;
    dpcni::v1::ListPodsResponse pods;
    EXPECT_TRUE(node.agent().api().ListPods(&context, {}, &pods).ok());
    footprint.listed_pods = pods.pods_size();
  }
  {
    grpc::ClientContext context;
    dpcni::v1::GetPortStatsResponse ports;
    EXPECT_TRUE(node.agent().api().GetPortStats(&context, {}, &ports).ok());
    for (const auto& port : ports.ports()) {
      footprint.ports.push_back(std::to_string(port.port_id()) + " " + port.name());
    }
    std::sort(footprint.ports.begin(), footprint.ports.end());
  }
  const std::string& netns = node.netns().name();
  footprint.links = IpLines(netns, {"link", "show"}, LinkName);
  footprint.ipv4 = IpLines(netns, {"-4", "addr", "show"}, DevAndAddress);
  footprint.routes = IpLines(netns, {"-4", "route", "show"}, WholeLine);
  // `ip netns exec` execs the agent: the pid the harness spawned is the agent's.
  const std::string proc = "/proc/" + std::to_string(node.agent().pid());
  std::error_code ec;
  for (auto it = std::filesystem::directory_iterator(proc + "/fd", ec);
       !ec && it != std::filesystem::directory_iterator(); it.increment(ec)) {
    ++footprint.agent_fds;
  }
  std::istringstream status_file(Slurp(proc + "/status"));
  for (std::string line; std::getline(status_file, line);) {
    if (line.rfind("VmRSS:", 0) == 0) footprint.agent_rss_kb = std::stoull(line.substr(6));
  }
  return footprint;
}

std::string FootprintDifferences(const NodeFootprint& before, const NodeFootprint& after) {
  std::string out;
  CompareField("pods", before.pods, after.pods, &out);
  CompareField("addresses in use", before.addresses_in_use, after.addresses_in_use, &out);
  CompareField("mbufs in use", before.mbufs_in_use, after.mbufs_in_use, &out);
  CompareField("listed pods", before.listed_pods, after.listed_pods, &out);
  CompareField("ports", before.ports, after.ports, &out);
  CompareField("node links", before.links, after.links, &out);
  CompareField("node IPv4 addresses", before.ipv4, after.ipv4, &out);
  CompareField("node routes", before.routes, after.routes, &out);
  CompareField("agent open fds", before.agent_fds, after.agent_fds, &out);
  return out;
}

std::vector<std::string> Backends() {
  if (const char* only = std::getenv("DPCNI_E2E_BACKEND"); only && std::string(only) != "auto") {
    return {only};
  }
  std::vector<std::string> backends = {"tap"};
  if (::access("/dev/vhost-net", R_OK | W_OK) == 0) backends.push_back("vhost-net");
  return backends;
}

std::string BackendTestName(const testing::TestParamInfo<std::string>& info) {
  std::string name = info.param;
  std::erase(name, '-');
  return name;
}

size_t SizeFromEnv(const char* name, size_t fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? std::stoul(value) : fallback;
}

}  // namespace dpcni::e2e
