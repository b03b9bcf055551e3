#include "dataplane/engine/forwarding_engine.h"

#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <algorithm>
#include <set>
#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dpcni::dataplane {
namespace {

// Segment headers only need room for Ethernet + IPv4 + TCP headers with options.
constexpr uint16_t kGsoHeaderRoom = 256;
constexpr unsigned kGsoPoolSize = 8191;
constexpr unsigned kGsoPoolCache = 256;

std::atomic<unsigned> next_engine_instance{0};

std::string FormatIpv4(uint32_t ip) {
  return absl::StrFormat("%d.%d.%d.%d", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

std::string PodLabel(const PodEndpoint& pod) {
  return absl::StrCat("pod ", pod.name, " on port ", pod.port_id);
}

absl::Status ValidateConfig(const EngineConfig& config) {
  if (config.worker_lcores.empty()) {
    return absl::InvalidArgumentError("engine config: no worker lcores");
  }
  std::set<unsigned> seen;
  for (unsigned lcore : config.worker_lcores) {
    if (lcore >= RTE_MAX_LCORE || !rte_lcore_is_enabled(lcore)) {
      return absl::InvalidArgumentError(
          absl::StrCat("engine config: worker lcore ", lcore, " is not an enabled EAL lcore"));
    }
    if (lcore == rte_get_main_lcore()) {
      return absl::InvalidArgumentError(
          absl::StrCat("engine config: worker lcore ", lcore, " is the EAL main lcore"));
    }
    if (!seen.insert(lcore).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("engine config: worker lcore ", lcore, " listed twice"));
    }
  }
  if (config.burst_size == 0 || config.burst_size > kMaxBurstSize) {
    return absl::InvalidArgumentError(absl::StrCat("engine config: burst_size ", config.burst_size,
                                                   " outside 1..", kMaxBurstSize));
  }
  if (config.max_ports == 0) {
    return absl::InvalidArgumentError("engine config: max_ports is zero");
  }
  if (config.idle_sleep_max.count() < 0) {
    return absl::InvalidArgumentError("engine config: negative idle_sleep_max");
  }
  if (config.gateway_ip == 0 || !rte_is_valid_assigned_ether_addr(&config.gateway_mac)) {
    return absl::InvalidArgumentError("engine config: gateway IP and unicast MAC are required");
  }
  return absl::OkStatus();
}

// What the egress side of a port may ask of its driver, from the configuration the agent gave it.
absl::StatusOr<EgressCaps> ReadEgressCaps(const PodEndpoint& pod, size_t workers) {
  rte_eth_dev_info info;
  if (int rc = rte_eth_dev_info_get(pod.port_id, &info); rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(PodLabel(pod), ": reading device info failed: ", rte_strerror(-rc)));
  }
  if (info.nb_rx_queues < 1 || info.nb_tx_queues < workers) {
    return absl::FailedPreconditionError(absl::StrCat(
        PodLabel(pod), ": needs 1 Rx queue and ", workers, " Tx queues (one per worker), has ",
        info.nb_rx_queues, " and ", info.nb_tx_queues));
  }
  rte_eth_conf conf;
  if (int rc = rte_eth_dev_conf_get(pod.port_id, &conf); rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(PodLabel(pod), ": reading configuration failed: ", rte_strerror(-rc)));
  }
  uint16_t mtu = RTE_ETHER_MTU;
  if (int rc = rte_eth_dev_get_mtu(pod.port_id, &mtu); rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(PodLabel(pod), ": reading MTU failed: ", rte_strerror(-rc)));
  }
  return EgressCapsFromTxOffloads(conf.txmode.offloads, mtu);
}

}  // namespace

ForwardingEngine::ForwardingEngine(const EngineConfig& config)
    : config_(config),
      instance_(next_engine_instance.fetch_add(1, std::memory_order_relaxed)),
      next_hops_(config.max_ports) {}

absl::StatusOr<std::unique_ptr<ForwardingEngine>> ForwardingEngine::Create(
    const EngineConfig& config) {
  if (absl::Status valid = ValidateConfig(config); !valid.ok()) {
    return valid;
  }
  std::unique_ptr<ForwardingEngine> engine(new ForwardingEngine(config));
  if (absl::Status created = engine->CreateTables(); !created.ok()) {
    return created;
  }
  engine->CreateWorkers();
  return engine;
}

absl::Status ForwardingEngine::CreateTables() {
  const auto workers = static_cast<uint32_t>(config_.worker_lcores.size());
  size_t rcu_size = rte_rcu_qsbr_get_memsize(workers);
  rcu_.reset(static_cast<rte_rcu_qsbr*>(rte_zmalloc("dpcni_engine_rcu", rcu_size,
                                                    RTE_CACHE_LINE_SIZE)));
  if (rcu_ == nullptr || rte_rcu_qsbr_init(rcu_.get(), workers) != 0) {
    return absl::ResourceExhaustedError("engine: allocating the RCU variable failed");
  }

  std::string lpm_name = absl::StrCat("dpcni_routes_", instance_);
  rte_lpm_config lpm_config{
      // Pod /32s, with room for the host and uplink routes that will join them.
      .max_rules = config_.max_ports * 2,
      // A /32 needs a tbl8 group for its /24 unless another pod's route already made one.
      .number_tbl8s = config_.max_ports + 1,
      .flags = 0,
  };
  lpm_.reset(rte_lpm_create(lpm_name.c_str(), SOCKET_ID_ANY, &lpm_config));
  if (lpm_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("engine: creating route table ", lpm_name, " failed: ", rte_strerror(rte_errno)));
  }
  // Deleted tbl8 groups are recycled only after a grace period, as workers may still read them.
  rte_lpm_rcu_config rcu_config{};
  rcu_config.v = rcu_.get();
  rcu_config.mode = RTE_LPM_QSBR_MODE_DQ;
  if (int rc = rte_lpm_rcu_qsbr_add(lpm_.get(), &rcu_config); rc != 0) {
    return absl::InternalError(
        absl::StrCat("engine: attaching RCU to route table failed: ", rte_strerror(rte_errno)));
  }

  std::string direct_name = absl::StrCat("dpcni_gso_hdr_", instance_);
  gso_direct_pool_.reset(rte_pktmbuf_pool_create(direct_name.c_str(), kGsoPoolSize, kGsoPoolCache,
                                                 0, RTE_PKTMBUF_HEADROOM + kGsoHeaderRoom,
                                                 SOCKET_ID_ANY));
  std::string indirect_name = absl::StrCat("dpcni_gso_ref_", instance_);
  gso_indirect_pool_.reset(rte_pktmbuf_pool_create(indirect_name.c_str(), kGsoPoolSize,
                                                   kGsoPoolCache, 0, 0, SOCKET_ID_ANY));
  if (gso_direct_pool_ == nullptr || gso_indirect_pool_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("engine: creating GSO mbuf pools failed: ", rte_strerror(rte_errno)));
  }
  return absl::OkStatus();
}

void ForwardingEngine::CreateWorkers() {
  absl::MutexLock lock(&mutex_);
  RoutingView routing{
      .lpm = lpm_.get(),
      .next_hops = next_hops_.entries(),
      .gateway_ip = rte_cpu_to_be_32(config_.gateway_ip),
      .gateway_mac = config_.gateway_mac,
  };
  for (size_t i = 0; i < config_.worker_lcores.size(); ++i) {
    workers_.push_back(std::make_unique<Worker>(WorkerSetup{
        .index = static_cast<unsigned>(i),
        .lcore = config_.worker_lcores[i],
        .rcu = rcu_.get(),
        .stop = &stop_,
        .routing = routing,
        .burst_size = config_.burst_size,
        .idle_sleep_max = config_.idle_sleep_max,
        .gso_direct_pool = gso_direct_pool_.get(),
        .gso_indirect_pool = gso_indirect_pool_.get(),
    }));
  }
}

ForwardingEngine::~ForwardingEngine() { Stop(); }

absl::Status ForwardingEngine::Start() {
  absl::MutexLock lock(&mutex_);
  if (running_) {
    return absl::FailedPreconditionError("engine: already started");
  }
  stop_.store(false, std::memory_order_relaxed);
  for (size_t i = 0; i < workers_.size(); ++i) {
    rte_rcu_qsbr_thread_register(rcu_.get(), static_cast<unsigned>(i));
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    if (int rc = rte_eal_remote_launch(&Worker::Main, workers_[i].get(), workers_[i]->lcore());
        rc != 0) {
      StopLaunchedWorkers(i);
      return absl::FailedPreconditionError(absl::StrCat(
          "engine: launching worker on lcore ", workers_[i]->lcore(), " failed: ", rte_strerror(-rc)));
    }
  }
  running_ = true;
  return absl::OkStatus();
}

void ForwardingEngine::Stop() {
  absl::MutexLock lock(&mutex_);
  if (running_) {
    StopLaunchedWorkers(workers_.size());
    running_ = false;
  }
}

void ForwardingEngine::StopLaunchedWorkers(size_t launched) {
  stop_.store(true, std::memory_order_relaxed);
  for (size_t i = 0; i < launched; ++i) {
    rte_eal_wait_lcore(workers_[i]->lcore());
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    rte_rcu_qsbr_thread_unregister(rcu_.get(), static_cast<unsigned>(i));
  }
}

absl::Status ForwardingEngine::ValidateNewPod(const PodEndpoint& pod) const {
  if (pod.port_id >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port(pod.port_id)) {
    return absl::InvalidArgumentError(absl::StrCat(PodLabel(pod), ": no such ethdev"));
  }
  if (pods_.contains(pod.port_id)) {
    return absl::AlreadyExistsError(absl::StrCat(PodLabel(pod), ": port already attached to ",
                                                 pods_.at(pod.port_id).endpoint.name));
  }
  if (pods_.size() >= config_.max_ports) {
    return absl::ResourceExhaustedError(
        absl::StrCat(PodLabel(pod), ": engine already holds max_ports=", config_.max_ports));
  }
  if (pod.ip == 0 || !rte_is_valid_assigned_ether_addr(&pod.mac)) {
    return absl::InvalidArgumentError(
        absl::StrCat(PodLabel(pod), ": needs an IPv4 address and a unicast MAC"));
  }
  for (const auto& [port_id, attached] : pods_) {
    if (attached.endpoint.ip == pod.ip) {
      return absl::AlreadyExistsError(absl::StrCat(PodLabel(pod), ": ", FormatIpv4(pod.ip),
                                                   " is already routed to ",
                                                   PodLabel(attached.endpoint)));
    }
  }
  return absl::OkStatus();
}

size_t ForwardingEngine::LeastLoadedWorker() const {
  std::vector<size_t> load(workers_.size(), 0);
  for (const auto& [port_id, attached] : pods_) {
    ++load[attached.worker];
  }
  return std::min_element(load.begin(), load.end()) - load.begin();
}

void ForwardingEngine::PublishPollList(size_t worker, std::unique_ptr<const PollList> list) {
  std::unique_ptr<const PollList> previous = workers_[worker]->ReplacePollList(std::move(list));
  rte_rcu_qsbr_synchronize(rcu_.get(), RTE_QSBR_THRID_INVALID);
}

absl::Status ForwardingEngine::AttachPod(const PodEndpoint& pod) {
  absl::MutexLock lock(&mutex_);
  if (absl::Status valid = ValidateNewPod(pod); !valid.ok()) {
    return valid;
  }
  absl::StatusOr<EgressCaps> caps = ReadEgressCaps(pod, workers_.size());
  if (!caps.ok()) {
    return caps.status();
  }
  // The port id may have carried another pod: its counters start again from zero. No worker
  // touches them now, as the port is neither polled nor routed to.
  for (const std::unique_ptr<Worker>& worker : workers_) {
    worker->counters(pod.port_id).Reset();
  }
  absl::StatusOr<uint32_t> next_hop_id = next_hops_.Allocate(NextHop{
      .port_id = pod.port_id, .dst_mac = pod.mac, .src_mac = config_.gateway_mac, .caps = *caps});
  if (!next_hop_id.ok()) {
    return next_hop_id.status();
  }
  if (int rc = rte_lpm_add(lpm_.get(), pod.ip, 32, *next_hop_id); rc != 0) {
    next_hops_.Release(*next_hop_id);
    return absl::ResourceExhaustedError(absl::StrCat(PodLabel(pod), ": adding route ",
                                                     FormatIpv4(pod.ip), "/32 failed: ",
                                                     rte_strerror(-rc)));
  }
  size_t worker = LeastLoadedWorker();
  auto list = std::make_unique<PollList>(workers_[worker]->poll_list());
  list->ports.push_back(
      IngressPod{.port_id = pod.port_id, .ip = rte_cpu_to_be_32(pod.ip), .mac = pod.mac});
  PublishPollList(worker, std::move(list));
  pods_[pod.port_id] = AttachedPod{.endpoint = pod, .next_hop_id = *next_hop_id, .worker = worker};
  return absl::OkStatus();
}

absl::Status ForwardingEngine::DetachPod(uint16_t port_id) {
  absl::MutexLock lock(&mutex_);
  auto found = pods_.find(port_id);
  if (found == pods_.end()) {
    return absl::NotFoundError(absl::StrCat("port ", port_id, " is not attached"));
  }
  const AttachedPod& attached = found->second;
  absl::Status route_removed = absl::OkStatus();
  if (int rc = rte_lpm_delete(lpm_.get(), attached.endpoint.ip, 32); rc != 0) {
    route_removed = absl::InternalError(absl::StrCat(PodLabel(attached.endpoint),
                                                     ": removing route failed: ", rte_strerror(-rc)));
  }
  auto list = std::make_unique<PollList>(workers_[attached.worker]->poll_list());
  std::erase_if(list->ports, [port_id](const IngressPod& ingress) { return ingress.port_id == port_id; });
  // After this grace period no worker polls the port, routes to it or holds a packet for it.
  PublishPollList(attached.worker, std::move(list));
  if (route_removed.ok()) {  // else the slot may still be referenced: leak it rather than reuse it
    next_hops_.Release(attached.next_hop_id);
  }
  pods_.erase(found);
  return route_removed;
}

absl::StatusOr<PortCounters> ForwardingEngine::Counters(uint16_t port_id) const {
  absl::MutexLock lock(&mutex_);
  if (!pods_.contains(port_id)) {
    return absl::NotFoundError(absl::StrCat("port ", port_id, " is not attached"));
  }
  PortCounters total;
  for (const std::unique_ptr<Worker>& worker : workers_) {
    worker->counters(port_id).AddTo(total);
  }
  return total;
}

std::vector<RouteInfo> ForwardingEngine::Routes() const {
  absl::MutexLock lock(&mutex_);
  std::vector<RouteInfo> routes;
  for (const auto& [port_id, attached] : pods_) {
    routes.push_back({.prefix = FormatIpv4(attached.endpoint.ip) + "/32",
                      .next_hop = absl::StrCat("port ", port_id, " (", attached.endpoint.name, ")")});
  }
  return routes;
}

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const EngineConfig& config) {
  absl::StatusOr<std::unique_ptr<ForwardingEngine>> engine = ForwardingEngine::Create(config);
  if (!engine.ok()) {
    return engine.status();
  }
  return std::unique_ptr<Engine>(std::move(*engine));
}

}  // namespace dpcni::dataplane
