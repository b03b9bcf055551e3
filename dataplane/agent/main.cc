// dpcni-agent: one per node. Owns the DPDK dataplane (pod ports and the forwarding engine) and serves
// the dpcni.v1.Agent gRPC API on a unix socket for the CNI plugin and dpcnictl.
#include <grpcpp/grpcpp.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <memory>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/flags_usage.h"
#include "config/agent_config.h"
#include "engine/engine.h"
#include "ipam/ipam.h"
#include "ipam/ipv4.h"
#include "metrics/port_metrics.h"
#include "nat/conntrack.h"
#include "node/node_edges.h"
#include "pods/pod_manager.h"
#include "port/kernel_ports.h"
#include "port/mbuf_budget.h"
#include "service/agent_service.h"

ABSL_FLAG(std::string, config, "", "Path of the agent's YAML configuration");
ABSL_FLAG(std::string, socket, "", "Overrides the config's gRPC unix socket path");
ABSL_FLAG(std::string, state_dir, "", "Overrides the config's state directory");
ABSL_FLAG(std::string, backend, "", "Overrides the config's pod port backend: auto|vhost-net|tap");
ABSL_FLAG(std::string, file_prefix, "", "Overrides the config's EAL --file-prefix");

namespace dpcni::dataplane {
namespace {

const sigset_t& StopSignals() {
  static const sigset_t signals = [] {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    return set;
  }();
  return signals;
}

absl::StatusOr<AgentConfig> LoadConfigWithFlags() {
  AgentConfig config;
  if (const std::string path = absl::GetFlag(FLAGS_config); !path.empty()) {
    auto loaded = LoadAgentConfig(path);
    if (!loaded.ok()) return loaded.status();
    config = *std::move(loaded);
  }
  if (auto socket = absl::GetFlag(FLAGS_socket); !socket.empty()) config.socket_path = socket;
  if (auto dir = absl::GetFlag(FLAGS_state_dir); !dir.empty()) config.state_dir = dir;
  if (auto prefix = absl::GetFlag(FLAGS_file_prefix); !prefix.empty()) config.eal.file_prefix = prefix;
  if (auto backend = absl::GetFlag(FLAGS_backend); !backend.empty()) {
    auto parsed = ParsePortBackend(backend);
    if (!parsed.ok()) return parsed.status();
    config.backend = *parsed;
  }
  if (auto status = ValidateAgentConfig(config); !status.ok()) return status;
  if (auto status = SizeEalMemory(config, ResolveBackend(config.backend)); !status.ok()) return status;
  return config;
}

// File descriptors a port keeps open: net_tap one per queue pair and a few sockets (5 with one
// worker, measured); virtio-user on vhost-net the vhost device, a tap fd per queue pair, an eventfd
// pair per virtqueue and the control queue's.
uint64_t OpenFilesNeeded(const AgentConfig& config) {
  constexpr uint64_t kAgentOwn = 256;  // gRPC, EAL, state files, netns handles in flight
  const uint64_t per_port = 6 + 5 * config.worker_lcores.size();
  return kAgentOwn + uint64_t{config.max_pods + InfrastructurePortCount(config)} * per_port;
}

// Every pod's port holds a few descriptors, so hundreds of pods pass the usual soft limit of 1024:
// take the hard limit, and refuse to start when even that cannot hold max_pods.
absl::Status RaiseOpenFileLimit(const AgentConfig& config) {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return absl::InternalError(absl::StrCat("getrlimit(RLIMIT_NOFILE): ", std::strerror(errno)));
  }
  const uint64_t needed = OpenFilesNeeded(config);
  if (limit.rlim_max != RLIM_INFINITY && limit.rlim_max < needed) {
    return absl::FailedPreconditionError(absl::StrCat(
        "the open-file hard limit (RLIMIT_NOFILE) is ", limit.rlim_max, ", max_pods ", config.max_pods,
        " needs about ", needed, ": raise it (LimitNOFILE=, ulimit -Hn) or lower max_pods"));
  }
  if (limit.rlim_cur != limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &limit) != 0) {
      return absl::InternalError(absl::StrCat("setrlimit(RLIMIT_NOFILE): ", std::strerror(errno)));
    }
  }
  return absl::OkStatus();
}

absl::Status InitEal(const AgentConfig& config) {
  std::vector<std::string> args = EalArguments(config);
  args.insert(args.begin(), "dpcni-agent");
  std::vector<char*> argv;
  for (std::string& arg : args) argv.push_back(arg.data());
  if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
    return absl::InternalError(absl::StrCat("EAL init failed: ", rte_strerror(rte_errno)));
  }
  return absl::OkStatus();
}

absl::StatusOr<rte_mempool*> CreateMbufPool(const AgentConfig& config) {
  const MbufPoolPlan plan = PlanMbufPool(config, ResolveBackend(config.backend));
  rte_mempool* pool = rte_pktmbuf_pool_create("dpcni_mbufs", plan.mbufs, plan.cache_size, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, rte_socket_id());
  if (pool == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "cannot create a pool of ", plan.mbufs, " mbufs for max_pods ", config.max_pods, ": ",
        rte_strerror(rte_errno),
        config.eal.hugepages ? " (reserve more hugepages or lower max_pods)"
                             : " (raise eal.memory_mb or lower max_pods)"));
  }
  return pool;
}

absl::StatusOr<EngineConfig> MakeEngineConfig(const AgentConfig& config) {
  EngineConfig engine;
  engine.worker_lcores = config.worker_lcores;
  engine.max_ports = RTE_MAX_ETHPORTS;
  engine.burst_size = config.burst_size;
  engine.idle_sleep_max = std::chrono::microseconds(config.idle_sleep_max_us);
  engine.flows = config.flow_table;
  auto gateway = ParseIpv4(config.gateway_ip);
  if (!gateway.ok()) return gateway.status();
  engine.gateway_ip = *gateway;
  if (rte_ether_unformat_addr(config.gateway_mac.c_str(), &engine.gateway_mac) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("gateway_mac \"", config.gateway_mac,
                                                   "\" is not a MAC address"));
  }
  return engine;
}

// The gRPC socket is the agent's whole control surface: create it owner-only from the start.
absl::StatusOr<std::unique_ptr<grpc::Server>> Listen(const std::string& socket_path,
                                                     grpc::Service& service) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(socket_path).parent_path(), ec);
  std::filesystem::remove(socket_path, ec);  // left by an earlier agent that did not stop cleanly
  grpc::ServerBuilder builder;
  builder.AddListeningPort("unix:" + socket_path, grpc::InsecureServerCredentials());
  builder.RegisterService(&service);
  const mode_t previous = ::umask(077);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ::umask(previous);
  if (!server) return absl::UnavailableError(absl::StrCat("cannot listen on ", socket_path));
  return server;
}

std::vector<InfrastructurePort> NodePorts(const NodeEdges& edges) {
  const HostPort& host = edges.host();
  std::vector<InfrastructurePort> ports = {
      {"host", host.ifname, host.port.port_id, PortBackendName(host.port.backend)}};
  if (const auto& uplink = edges.uplink()) {
    ports.push_back({"uplink", uplink->link_name, uplink->port_id, UplinkTypeName(uplink->type)});
  }
  return ports;
}

// The flow table starts empty, while the node's kernel may be NATing connections to pods already
// (an agent restart or upgrade): their replies must go back through the kernel before it forwards
// their next packet. Best effort: without conntrack the table fills as packets come.
void SeedFlowsFromConntrack(const AgentConfig& config, Engine& engine) {
  if (config.flow_table.capacity == 0) return;
  auto connections = ReadNatedConnections();
  if (!connections.ok()) {
    std::fprintf(stderr, "dpcni-agent: not seeding the flow table: %s\n",
                 connections.status().ToString().c_str());
    return;
  }
  auto seeded = engine.SeedKernelFlows(*connections);
  if (!seeded.ok()) {
    std::fprintf(stderr, "dpcni-agent: seeding the flow table: %s\n",
                 seeded.status().ToString().c_str());
    return;
  }
  std::fprintf(stderr, "dpcni-agent: flow table seeded with %zu of %zu NATed connections\n",
               *seeded, connections->size());
}

// Everything that owns DPDK objects lives in here, so it is all destroyed before rte_eal_cleanup().
absl::Status Serve(const AgentConfig& config) {
  auto pool = CreateMbufPool(config);
  if (!pool.ok()) return pool.status();
  auto engine_config = MakeEngineConfig(config);
  if (!engine_config.ok()) return engine_config.status();
  auto engine = CreateEngine(*engine_config);
  if (!engine.ok()) return engine.status();
  if (auto status = (*engine)->Start(); !status.ok()) return status;

  auto reserved = IpamReservedAddresses(config);
  if (!reserved.ok()) return reserved.status();
  auto ipam = Ipam::Open(config.pod_cidrs, *reserved, config.state_dir + "/ipam.json");
  if (!ipam.ok()) return ipam.status();
  const PortQueues queues{*pool, static_cast<uint16_t>(config.worker_lcores.size()),
                          config.pod_queue_size, config.pod_mtu};
  KernelPorts ports(queues.pool, queues.tx_queues, queues.queue_size);
  auto edges = NodeEdges::SetUp(config, ports, queues, **engine);
  if (!edges.ok()) return edges.status();
  // Declared after everything the workers touch, so on any return the workers stop first.
  absl::Cleanup stop_workers = [&engine] { (*engine)->Stop(); };
  PodStore store(config.state_dir + "/pods.json");
  PodManager pods(config, **ipam, ports, **engine, store);
  if (auto status = pods.Restore(); !status.ok()) return status;
  SeedFlowsFromConntrack(config, **engine);

  AgentService service(config, pods, **engine, **ipam, NodePorts(**edges), *pool);
  auto server = Listen(config.socket_path, service);
  if (!server.ok()) return server.status();
  std::unique_ptr<MetricsServer> metrics;
  if (!config.metrics_address.empty()) {
    auto started = MetricsServer::Start(
        config.metrics_address,
        [&service] {
          grpc::ServerContext context;
          const v1::GetPortStatsRequest every_port;
          v1::GetPortStatsResponse stats;
          service.GetPortStats(&context, &every_port, &stats);
          return stats;
        },
        [&engine] { return FlowStatsMessage((*engine)->FlowStats()); });
    if (!started.ok()) return started.status();
    metrics = *std::move(started);
  }
  const std::string memory =
      config.eal.hugepages ? "hugepages" : absl::StrCat(config.eal.memory_mb, " MB");
  std::fprintf(stderr,
               "dpcni-agent: serving on %s (pod backend %s, %zu pods restored, max_pods %u, "
               "%u mbufs, EAL memory %s)\n",
               config.socket_path.c_str(), PortBackendName(ResolveBackend(config.backend)).c_str(),
               pods.Count(), config.max_pods, (*pool)->size,
               memory.c_str());

  // SIGTERM/SIGINT were blocked in every thread before EAL started its own; wait for one here.
  std::thread waiter([&server] {
    int received = 0;
    sigwait(&StopSignals(), &received);
    std::fprintf(stderr, "dpcni-agent: signal %d, stopping\n", received);
    (*server)->Shutdown();
  });
  (*server)->Wait();
  waiter.join();
  // Pod interfaces are persistent taps: they stay in the pods, and the next agent re-attaches them.
  std::filesystem::remove(config.socket_path);
  return absl::OkStatus();
}

int Run() {
  auto config = LoadConfigWithFlags();
  if (!config.ok()) {
    std::fprintf(stderr, "dpcni-agent: %s\n", config.status().ToString().c_str());
    return 2;
  }
  if (auto status = RaiseOpenFileLimit(*config); !status.ok()) {
    std::fprintf(stderr, "dpcni-agent: %s\n", status.ToString().c_str());
    return 2;
  }
  if (auto status = InitEal(*config); !status.ok()) {
    std::fprintf(stderr, "dpcni-agent: %s\n", status.ToString().c_str());
    return 1;
  }
  absl::Status served = Serve(*config);
  rte_eal_cleanup();
  if (!served.ok()) {
    std::fprintf(stderr, "dpcni-agent: %s\n", served.ToString().c_str());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace dpcni::dataplane

int main(int argc, char** argv) {
  // Blocked before any thread exists so every thread inherits the mask and only sigwait() sees them.
  // Other signals stay unblocked: DPDK's net_tap signals Rx with a real-time signal.
  pthread_sigmask(SIG_BLOCK, &dpcni::dataplane::StopSignals(), nullptr);

  absl::SetProgramUsageMessage(
      "the node's dpcni dataplane: DPDK ports for the pods, the host port and the uplink, and the\n"
      "gRPC API the dpcni CNI plugin and dpcnictl use.\n\n"
      "  dpcni-agent --config /etc/dpcni/agent.yaml [--socket PATH] [--state_dir DIR]\n"
      "              [--backend auto|vhost-net|tap] [--file_prefix PREFIX]\n\n"
      "The configuration is YAML (README.md, \"Agent configuration\"); the flags override it.");
  dpcni::ListFlagsOf("dataplane/agent/main.cc");
  absl::ParseCommandLine(argc, argv);
  return dpcni::dataplane::Run();
}
