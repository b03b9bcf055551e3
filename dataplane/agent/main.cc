// dpcni-agent: one per node. Owns the DPDK dataplane (pod ports and the forwarding engine) and
// serves the dpcni.v1.Agent gRPC API on a unix socket for the CNI plugin and dpcnictl.
#include <grpcpp/grpcpp.h>
#include <rte_eal.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "common/flags_usage.h"
#include "common/log.h"
#include "common/pending_deletes.h"
#include "config/agent_config.h"
#include "engine/engine.h"
#include "ipam/ipam.h"
#include "ipam/ipv4.h"
#include "metrics/port_metrics.h"
#include "nat/conntrack.h"
#include "netlink/kernel_routes.h"
#include "node/node_edges.h"
#include "node/pod_cidrs.h"
#include "node/remote_nodes.h"
#include "pods/pod_manager.h"
#include "pods/queued_deletes.h"
#include "port/kernel_ports.h"
#include "port/mbuf_budget.h"
#include "service/agent_gate.h"
#include "service/agent_service.h"
#include "state/state_lock.h"
#include "uplink/uplink_port.h"

ABSL_FLAG(std::string, config, "", "Path of the agent's YAML configuration");
ABSL_FLAG(std::string, socket, "", "Overrides the config's gRPC unix socket path");
ABSL_FLAG(std::string, state_dir, "", "Overrides the config's state directory");
ABSL_FLAG(std::string, backend, "", "Overrides the config's pod port backend: auto|vhost-net|tap");
ABSL_FLAG(std::string, file_prefix, "", "Overrides the config's EAL --file-prefix");
ABSL_FLAG(std::string, node_name, "",
          "The Kubernetes Node the agent runs on, which picks its entry of uplink.per_node "
          "(default: $NODE_NAME)");
ABSL_FLAG(
    std::string, log_level, "",
    "Overrides the config's log_level: error|warning|info|debug (DPDK's global log level too)");

namespace dpcni::dataplane {
namespace {

// How long a stopping agent lets the gRPC calls in flight finish before it cancels them.
constexpr std::chrono::seconds kShutdownGrace{2};

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
  if (auto prefix = absl::GetFlag(FLAGS_file_prefix); !prefix.empty())
    config.eal.file_prefix = prefix;
  if (auto level = absl::GetFlag(FLAGS_log_level); !level.empty()) {
    auto parsed = ParseLogLevel(level);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("--log_level: ", parsed.status().message()));
    }
    config.log_level = *parsed;
  }
  if (auto backend = absl::GetFlag(FLAGS_backend); !backend.empty()) {
    auto parsed = ParsePortBackend(backend);
    if (!parsed.ok()) return parsed.status();
    config.backend = *parsed;
  }
  std::string node_name = absl::GetFlag(FLAGS_node_name);
  if (const char* from_env = std::getenv("NODE_NAME"); node_name.empty() && from_env != nullptr) {
    node_name = from_env;
  }
  if (auto status = SelectUplinkForNode(config, node_name); !status.ok()) return status;
  if (auto status = ValidateAgentConfig(config); !status.ok()) return status;
  if (auto status = SizeEalMemory(config, ResolveBackend(config.backend)); !status.ok())
    return status;
  return config;
}

// File descriptors a port keeps open: vnet_tap (the tap backend) its tap fd alone; virtio-user on
// vhost-net the vhost device, a tap fd per queue pair, an eventfd pair per virtqueue and the
// control queue's. The figure below was measured with DPDK's net_tap (5 with one worker), which
// took more than either, and is kept as the bound.
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
    return absl::FailedPreconditionError(
        absl::StrCat("the open-file hard limit (RLIMIT_NOFILE) is ", limit.rlim_max, ", max_pods ",
                     config.max_pods, " needs about ", needed,
                     ": raise it (LimitNOFILE=, ulimit -Hn) or lower max_pods"));
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
  argv.reserve(args.size());
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
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot create a pool of ", plan.mbufs, " mbufs for max_pods ",
                     config.max_pods, ": ", rte_strerror(rte_errno),
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
  engine.vxlan.udp_port = static_cast<uint16_t>(config.remote_nodes.vxlan_port);
  engine.vxlan.vni = config.remote_nodes.vni;
  auto gateway = ParseIpv4(config.gateway_ip);
  if (!gateway.ok()) return gateway.status();
  engine.gateway_ip = *gateway;
  if (rte_ether_unformat_addr(config.gateway_mac.c_str(), &engine.gateway_mac) != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("gateway_mac \"", config.gateway_mac, "\" is not a MAC address"));
  }
  return engine;
}

// The gRPC socket is the agent's whole control surface: create it owner-only from the start.
absl::StatusOr<std::unique_ptr<grpc::Server>> Listen(const std::string& socket_path,
                                                     grpc::Service& service) {
  std::error_code ec;
  std::filesystem::create_directories(std::filesystem::path(socket_path).parent_path(), ec);
  if (auto unserved = CheckSocketUnserved(socket_path); !unserved.ok()) return unserved;
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
    DPCNI_LOG(kWarning, "agent", "not seeding the flow table: ", connections.status().ToString());
    return;
  }
  auto seeded = engine.SeedKernelFlows(*connections);
  if (!seeded.ok()) {
    DPCNI_LOG(kWarning, "agent", "seeding the flow table: ", seeded.status().ToString());
    return;
  }
  DPCNI_LOG(kInfo, "agent", "flow table seeded with ", *seeded, " of ", connections->size(),
            " NATed connections");
}

// What the agent runs once it knows the node's pod CIDRs: IPAM, the node's edges, the pods restored
// from the state dir, the service over them and the metrics endpoint. Owns the config with the pod
// CIDRs filled in, which all of them refer to.
class PodNetwork {
 public:
  // The steps that leave the engine untouched (the config checked with the CIDRs, IPAM refusing a
  // state file of other CIDRs): on failure the agent may go on waiting for other CIDRs.
  static absl::StatusOr<std::unique_ptr<PodNetwork>> Prepare(AgentConfig config,
                                                             PodCidrsOrigin origin,
                                                             rte_mempool* pool, Engine& engine) {
    if (auto status = ValidateAgentConfig(config); !status.ok()) return status;
    auto reserved = IpamReservedAddresses(config);
    if (!reserved.ok()) return reserved.status();
    auto ipam = Ipam::Open(config.pod_cidrs, *reserved, config.state_dir + "/ipam.json");
    if (!ipam.ok()) return ipam.status();
    std::unique_ptr<PodNetwork> network(new PodNetwork(std::move(config), origin, pool, engine));
    network->ipam_ = *std::move(ipam);
    return network;
  }

  // The node's edges, the pods, the service and metrics. A failure here may leave ports attached to
  // the engine's workers, which cannot be detached one by one: the agent must stop.
  absl::Status Start() {
    const PortQueues queues{pool_, static_cast<uint16_t>(config_.worker_lcores.size()),
                            config_.pod_queue_size, config_.pod_mtu};
    ports_ = std::make_unique<KernelPorts>(queues.pool, queues.tx_queues, queues.queue_size,
                                           config_.rx_interrupts);
    started_ = true;
    auto edges = NodeEdges::SetUp(config_, *ports_, queues, engine_);
    if (!edges.ok()) return edges.status();
    edges_ = *std::move(edges);
    store_ = std::make_unique<PodStore>(config_.state_dir + "/pods.json");
    pods_ =
        std::make_unique<PodManager>(config_, *ipam_, *ports_, pod_interfaces_, engine_, *store_);
    if (auto status = pods_->Restore(); !status.ok()) return status;
    // Before the service exists: what kubelet deleted while no agent served is gone first.
    const std::string queue = PendingDeletesDir(config_.socket_path);
    const QueuedDeletesReplay replay = ReplayQueuedDeletes(queue, *pods_);
    if (replay.applied + replay.gone + replay.stale + replay.failures.size() > 0) {
      DPCNI_LOG(kInfo, "pods", "DELs queued in ", queue,
                " while no agent served: ", replay.Summary());
      for (const std::string& failure : replay.failures) {
        DPCNI_LOG(kWarning, "pods", "queued DELs: ", failure);
      }
    }
    StartRetryingDegradedPods();
    SeedFlowsFromConntrack(config_, engine_);
    // The other nodes' routes come back from the record before the socket serves: traffic to them
    // resumes with the pods', without waiting for dpcni-k8s. A record that cannot be routed is
    // logged and reported in Status; the node's own pods are served anyway.
    auto remote_options = RemoteNodesOptionsFor(config_);
    if (!remote_options.ok()) return remote_options.status();
    kernel_routes_ = NetlinkKernelRoutes();
    remote_nodes_ = std::make_unique<RemoteNodes>(*remote_options, engine_, *kernel_routes_);
    if (auto restored = remote_nodes_->Restore(); !restored.ok()) {
      DPCNI_LOG(kWarning, "node", restored.ToString());
    } else if (const RouteSyncInfo sync = remote_nodes_->Sync(); sync.prefixes > 0) {
      DPCNI_LOG(kInfo, "node", sync.nodes, " remote nodes, ", sync.prefixes,
                " pod CIDRs routed from ", remote_nodes_->record_path());
    }
    service_ = std::make_unique<AgentService>(config_, *pods_, engine_, *ipam_, *remote_nodes_,
                                              NodePorts(*edges_), pool_, origin_);
    if (!config_.metrics_address.empty()) {
      auto started = MetricsServer::Start(
          config_.metrics_address,
          [this] {
            grpc::ServerContext context;
            const v1::GetPortStatsRequest every_port;
            v1::GetPortStatsResponse stats;
            service_->GetPortStats(&context, &every_port, &stats);
            return stats;
          },
          [this] { return FlowStatsMessage(engine_.FlowStats()); },
          [this] { return RouteSyncMessage(remote_nodes_->Sync()); },
          [this] { return static_cast<uint32_t>(pods_->DegradedCount()); });
      if (!started.ok()) return started.status();
      metrics_ = *std::move(started);
    }
    return absl::OkStatus();
  }

  ~PodNetwork() {
    {
      std::lock_guard lock(retry_mu_);
      stopping_ = true;
    }
    retry_wakeup_.notify_all();
    if (retry_thread_.joinable()) retry_thread_.join();
    metrics_.reset();
    service_.reset();
    // Its routes stay in the engine until it stops, and in the node's kernel across a restart.
    remote_nodes_.reset();
    kernel_routes_.reset();
    pods_.reset();
    store_.reset();
    // The workers stop before the ports they poll go.
    if (started_) engine_.Stop();
    edges_.reset();
    ports_.reset();
    ipam_.reset();
  }
  PodNetwork(const PodNetwork&) = delete;
  PodNetwork& operator=(const PodNetwork&) = delete;

  const AgentConfig& config() const { return config_; }
  AgentService& service() { return *service_; }
  size_t pods() const { return pods_->Count(); }

 private:
  PodNetwork(AgentConfig config, PodCidrsOrigin origin, rte_mempool* pool, Engine& engine)
      : config_(std::move(config)), origin_(origin), pool_(pool), engine_(engine) {}

  // Pods whose re-attach failed on restore are retried in the background until they are attached,
  // deleted, or the agent stops. A pod becomes degraded only in Restore, so a thread that finds
  // none just sleeps; it checks again every 30 s at most.
  void StartRetryingDegradedPods() {
    retry_thread_ = std::thread([this] {
      std::unique_lock lock(retry_mu_);
      while (!stopping_) {
        lock.unlock();
        const absl::Duration wait = std::min(pods_->RetryDegraded(absl::Now()), absl::Seconds(30));
        lock.lock();
        retry_wakeup_.wait_for(lock,
                               absl::ToChronoMilliseconds(wait) + std::chrono::milliseconds(1),
                               [this] { return stopping_; });
      }
    });
  }

  const AgentConfig config_;
  const PodCidrsOrigin origin_;
  rte_mempool* const pool_;
  Engine& engine_;
  bool started_ = false;
  std::unique_ptr<Ipam> ipam_;
  std::unique_ptr<KernelPorts> ports_;
  NetlinkPodInterfaces pod_interfaces_;
  std::unique_ptr<NodeEdges> edges_;
  std::unique_ptr<PodStore> store_;
  std::unique_ptr<PodManager> pods_;
  std::unique_ptr<KernelRouteTable> kernel_routes_;
  std::unique_ptr<RemoteNodes> remote_nodes_;
  std::unique_ptr<AgentService> service_;
  std::unique_ptr<MetricsServer> metrics_;
  std::mutex retry_mu_;
  std::condition_variable retry_wakeup_;
  bool stopping_ = false;  // guarded by retry_mu_
  std::thread retry_thread_;
};

// The pod CIDRs to start with: the config's, else those an earlier SetPodCidrs recorded; empty when
// the agent must wait for SetPodCidrs.
absl::StatusOr<std::vector<std::string>> KnownPodCidrs(const AgentConfig& config,
                                                       const PodCidrsRecord& record,
                                                       PodCidrsOrigin* origin) {
  *origin = PodCidrsOrigin::kConfig;
  if (!config.pod_cidrs.empty()) {
    // The config wins, as it always has; a record of other CIDRs is worth a line in the log.
    auto recorded = record.Load();
    if (recorded.ok() && *recorded) {
      if (auto same = CheckPodCidrsUnchanged(config.pod_cidrs, PodCidrsOrigin::kConfig,
                                             record.path(), **recorded);
          !same.ok()) {
        DPCNI_LOG(kWarning, "agent", record.path(),
                  " records other pod CIDRs, the config's are used: ", same.message());
      }
    }
    return config.pod_cidrs;
  }
  auto recorded = record.Load();
  if (!recorded.ok()) return recorded.status();
  if (!*recorded) return std::vector<std::string>{};
  *origin = PodCidrsOrigin::kRecorded;
  return **recorded;
}

// Takes SetPodCidrs calls from the gate until one sets the node up. Bad CIDRs and refusals that
// touch nothing (IPAM state of other CIDRs) are answered and the agent goes on waiting; a failure
// once the node's edges are being set up is answered, the record undone, and returned: the agent
// stops. Returns OK with `network` empty when the gate closed (the agent is stopping).
absl::Status WaitForPodCidrs(const AgentConfig& config, const PodCidrsRecord& record,
                             rte_mempool* pool, Engine& engine, AgentGate& gate,
                             std::unique_ptr<PodNetwork>& network) {
  DPCNI_LOG(kInfo, "agent", "no pod_cidrs in the config and none recorded in ", record.path(), ": ",
            kWaitingForPodCidrs);
  while (std::optional<AcceptedPodCidrs> offer = gate.NextOffer()) {
    const std::string cidrs = absl::StrJoin(offer->ipv4, ", ");
    DPCNI_LOG(kInfo, "agent", "SetPodCidrs: pod CIDRs ", cidrs,
              offer->ignored.empty()
                  ? ""
                  : absl::StrCat(" (IPv6 ", absl::StrJoin(offer->ignored, ", "),
                                 " ignored: dpcni carries IPv4 pods only for now)"));
    AgentConfig with_cidrs = config;
    with_cidrs.pod_cidrs = offer->ipv4;
    auto prepared =
        PodNetwork::Prepare(std::move(with_cidrs), PodCidrsOrigin::kRecorded, pool, engine);
    if (!prepared.ok()) {
      DPCNI_LOG(kWarning, "agent", "SetPodCidrs ", cidrs,
                " refused: ", prepared.status().ToString());
      gate.AnswerOffer(prepared.status());
      continue;
    }
    if (auto saved = record.Save(offer->ipv4); !saved.ok()) {
      DPCNI_LOG(kError, "agent", "SetPodCidrs ", cidrs, ": ", saved.ToString());
      gate.AnswerOffer(
          absl::Status(saved.code(), absl::StrCat("recording the pod CIDRs: ", saved.message())));
      continue;
    }
    if (auto started = (*prepared)->Start(); !started.ok()) {
      if (auto removed = record.Remove(); !removed.ok()) {
        DPCNI_LOG(kError, "agent", removed.ToString());
      }
      const absl::Status failed(
          started.code(),
          absl::StrCat("setting the node up with pod CIDRs ", cidrs, ": ", started.message(),
                       " (dpcni-agent stops; once restarted it waits for SetPodCidrs again)"));
      DPCNI_LOG(kError, "agent", "SetPodCidrs: ", failed.ToString());
      gate.AnswerOffer(failed);
      return started;
    }
    network = *std::move(prepared);
    gate.Open(network->service());
    gate.AnswerOffer(absl::OkStatus());
    DPCNI_LOG(kInfo, "agent", "pod CIDRs ", cidrs, " recorded in ", record.path());
    return absl::OkStatus();
  }
  return absl::OkStatus();
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

  const PodCidrsRecord record(config.state_dir);
  PodCidrsOrigin origin = PodCidrsOrigin::kConfig;
  auto cidrs = KnownPodCidrs(config, record, &origin);
  if (!cidrs.ok()) return cidrs.status();
  // Declared before the gate and the server, so that it goes after them.
  std::unique_ptr<PodNetwork> network;
  AgentGate gate([&config, mbuf_pool = *pool](v1::StatusResponse* status) {
    status->set_pod_capacity(config.max_pods);
    status->set_default_backend(PortBackendName(ResolveBackend(config.backend)));
    status->set_mbuf_pool_size(mbuf_pool->size);
    status->set_mbufs_in_use(rte_mempool_in_use_count(mbuf_pool));
    status->mutable_route_sync()->set_state("unset");
  });
  if (!cidrs->empty()) {
    // As always with pod_cidrs in the config: the node is set up before the socket answers.
    AgentConfig with_cidrs = config;
    with_cidrs.pod_cidrs = *cidrs;
    auto prepared = PodNetwork::Prepare(std::move(with_cidrs), origin, *pool, **engine);
    if (!prepared.ok()) return prepared.status();
    network = *std::move(prepared);
    if (auto status = network->Start(); !status.ok()) return status;
    gate.Open(network->service());
  } else if (config.uplink.type != UplinkType::kNone) {
    // Not worth waiting for pod CIDRs with an uplink that cannot come up.
    if (auto status = CheckUplinkDevice(config.uplink); !status.ok()) return status;
  }
  auto server = Listen(config.socket_path, gate);
  if (!server.ok()) return server.status();
  absl::StatusOr<FileIdentity> socket = IdentityOf(config.socket_path);
  if (!socket.ok()) return socket.status();

  // SIGTERM/SIGINT were blocked in every thread before EAL started its own; wait for one here. The
  // main thread sends the waiter SIGTERM itself when it gives up while waiting for the pod CIDRs.
  std::atomic<bool> giving_up = false;
  std::thread waiter([&] {
    int received = 0;
    sigwait(&StopSignals(), &received);
    if (!giving_up) DPCNI_LOG(kInfo, "agent", "signal ", received, ", stopping");
    gate.Close();
    // Shutdown() without a deadline sends GOAWAY and then waits until every client has closed its
    // connection, not only until the calls in flight end: a client that holds an idle channel
    // (dpcni-k8s always does) kept the agent from exiting for about 5 s. The deadline still lets
    // an ADD or DEL in flight finish (they take well under a second), then cancels what is left.
    (*server)->Shutdown(std::chrono::system_clock::now() + kShutdownGrace);
  });
  absl::Status result = absl::OkStatus();
  if (!network) {
    result = WaitForPodCidrs(config, record, *pool, **engine, gate, network);
    origin = PodCidrsOrigin::kRecorded;
    if (!result.ok()) {
      giving_up = true;
      // Not to end the thread: SIGTERM is blocked everywhere, and the waiter takes it in sigwait.
      pthread_kill(waiter.native_handle(), SIGTERM);  // NOLINT(bugprone-bad-signal-to-kill-thread)
    }
  }
  if (network) {
    const AgentConfig& running = network->config();
    const std::string memory =
        running.eal.hugepages ? "hugepages" : absl::StrCat(running.eal.memory_mb, " MB");
    DPCNI_LOG(kInfo, "agent", "serving on ", running.socket_path, " (pod CIDRs ",
              absl::StrJoin(running.pod_cidrs, ", "), " from ",
              origin == PodCidrsOrigin::kConfig ? "the config" : record.path(), ", pod backend ",
              PortBackendName(ResolveBackend(running.backend)), ", ", network->pods(),
              " pods restored, max_pods ", running.max_pods, ", ", (*pool)->size,
              " mbufs, EAL memory ", memory, ")");
  }
  (*server)->Wait();
  waiter.join();
  // Pod interfaces are persistent taps: they stay in the pods, and the next agent re-attaches them.
  // The socket goes, unless the path names another agent's socket by now.
  RemoveIfStillSame(config.socket_path, *socket);
  return result;
}

int Run() {
  auto config = LoadConfigWithFlags();
  if (!config.ok()) {
    DPCNI_LOG(kError, "agent", config.status().ToString());
    return 2;
  }
  SetLogLevel(config->log_level);
  // Before EAL, so that a second agent touches nothing of the first's: not its taps, not its state.
  absl::StatusOr<StateDirLock> lock = StateDirLock::Acquire(config->state_dir);
  if (!lock.ok()) {
    DPCNI_LOG(kError, "agent", lock.status().ToString());
    return 1;
  }
  if (auto status = RaiseOpenFileLimit(*config); !status.ok()) {
    DPCNI_LOG(kError, "agent", status.ToString());
    return 2;
  }
  if (auto status = InitEal(*config); !status.ok()) {
    DPCNI_LOG(kError, "agent", status.ToString());
    return 1;
  }
  // EAL leaves its runtime folder (/var/run/dpdk/<file_prefix>: config, fbarrays, the telemetry
  // socket) behind after rte_eal_cleanup(), so every agent that ever ran with a fresh prefix adds
  // one. The prefix is this agent's, and the state lock keeps a second agent of this node out, so
  // the folder is removed after a clean exit. Only a folder named after our prefix is touched.
  const std::filesystem::path runtime_dir = rte_eal_get_runtime_dir();
  absl::Status served = Serve(*config);
  rte_eal_cleanup();
  if (runtime_dir.filename() == config->eal.file_prefix) {
    std::error_code ignored;
    std::filesystem::remove_all(runtime_dir, ignored);
  }
  if (!served.ok()) {
    DPCNI_LOG(kError, "agent", served.ToString());
    return 1;
  }
  return 0;
}

}  // namespace
}  // namespace dpcni::dataplane

int main(int argc, char** argv) {
  // Blocked before any thread exists so every thread inherits the mask and only sigwait() sees
  // them. Other signals stay unblocked: DPDK's net_tap signals Rx with a real-time signal.
  pthread_sigmask(SIG_BLOCK, &dpcni::dataplane::StopSignals(), nullptr);

  absl::SetProgramUsageMessage(
      "the node's dpcni dataplane: DPDK ports for the pods, the host port and the uplink, and the\n"
      "gRPC API the dpcni CNI plugin and dpcnictl use.\n\n"
      "  dpcni-agent --config /etc/dpcni/agent.yaml [--socket PATH] [--state_dir DIR]\n"
      "              [--backend auto|vhost-net|tap] [--file_prefix PREFIX]\n"
      "              [--log_level error|warning|info|debug]\n\n"
      "The configuration is YAML (README.md, \"Agent configuration\"); the flags override it.\n"
      "Without pod_cidrs in it, the agent waits, not ready, for the node's pod CIDRs over gRPC\n"
      "(SetPodCidrs, sent by dpcni-k8s in Kubernetes) and records them in the state dir.");
  dpcni::SetLogProgram("dpcni-agent");
  dpcni::ListFlagsOf("dataplane/agent/main.cc");
  absl::ParseCommandLine(argc, argv);
  return dpcni::dataplane::Run();
}
