#include "dataplane/engine/forwarding_engine.h"

#include <rte_ethdev.h>
#include <rte_launch.h>
#include <rte_lcore.h>

#include <rte_cycles.h>

#include <algorithm>
#include <set>
#include <string>
#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dpcni::dataplane {
namespace {

// Segment headers only need room for Ethernet + IPv4 + TCP headers with options.
constexpr uint16_t kGsoHeaderRoom = 256;
constexpr unsigned kGsoPoolSize = 8191;
constexpr unsigned kGsoPoolCache = 256;
// ARP requests: a minimum-size frame each, a few in flight per neighbour at most.
constexpr uint16_t kArpFrameRoom = 64;
constexpr unsigned kArpPoolSize = 1023;
// ICMP errors: the rate limit keeps at most `burst` per worker and round in flight; a full pool
// only costs an error (counted as rate limited), never a packet.
constexpr unsigned kIcmpPoolSize = 1023;
// Routes besides the pods' and the uplink's configured ones: the default route, the uplink network
// and the node's uplink address.
constexpr uint32_t kEdgeRoutes = 3;

std::atomic<unsigned> next_engine_instance{0};

std::string FormatIpv4(uint32_t ip) {
  return absl::StrFormat("%d.%d.%d.%d", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
}

// The netmask of a prefix length, host byte order.
uint32_t Mask(uint8_t length) { return length == 0 ? 0 : ~uint32_t{0} << (32 - length); }

std::string PodLabel(const PodEndpoint& pod) {
  return absl::StrCat("pod ", pod.name, " on port ", pod.port_id);
}

uint32_t RouteCapacity(const EngineConfig& config) {
  return config.max_ports + ForwardingEngine::kMaxUplinkRoutes + kEdgeRoutes +
         config.max_remote_routes;
}

// The inner packets of VXLAN must leave room for the IPv4 minimum (RFC 791) under the uplink MTU.
constexpr uint16_t kMinVxlanUplinkMtu = 68 + kVxlanOverhead;

const char* RemoteModeName(RemoteMode mode) {
  switch (mode) {
    case RemoteMode::kHostGw:
      return "host-gw";
    case RemoteMode::kVxlan:
      return "vxlan";
    case RemoteMode::kKernel:
      return "kernel";
  }
  return "unknown";
}

uint64_t ToCycles(std::chrono::milliseconds duration) {
  return static_cast<uint64_t>(duration.count()) * rte_get_tsc_hz() / 1000;
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
  const FlowTimeouts& timeouts = config.flows.timeouts;
  for (std::chrono::seconds timeout :
       {timeouts.tcp_established, timeouts.tcp_transitory, timeouts.udp, timeouts.udp_stream,
        timeouts.icmp, timeouts.other}) {
    if (timeout.count() <= 0) {
      return absl::InvalidArgumentError("engine config: flow timeouts must be positive");
    }
  }
  if (config.vxlan.udp_port == 0 || config.vxlan.vni > 0xffffff) {
    return absl::InvalidArgumentError(absl::StrCat(
        "engine config: VXLAN needs a UDP port other than 0 and a VNI of 24 bits (0..16777215), "
        "got port ",
        config.vxlan.udp_port, " and VNI ", config.vxlan.vni));
  }
  if (config.icmp_errors.per_second != 0 && config.icmp_errors.burst == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("engine config: icmp_errors.burst must be at least 1 when per_second is ",
                     config.icmp_errors.per_second, " (per_second 0 turns ICMP errors off)"));
  }
  if (config.max_neighbours == 0 || config.neighbour_timeout.count() <= 0 ||
      config.arp_retry_interval.count() <= 0) {
    return absl::InvalidArgumentError(
        "engine config: max_neighbours, neighbour_timeout and arp_retry_interval must be positive");
  }
  return absl::OkStatus();
}

// What the egress side of a port may ask of its driver, from the configuration the agent gave it.
absl::StatusOr<EgressCaps> ReadEgressCaps(uint16_t port_id, const std::string& label,
                                          size_t workers) {
  rte_eth_dev_info info;
  if (int rc = rte_eth_dev_info_get(port_id, &info); rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(label, ": reading device info failed: ", rte_strerror(-rc)));
  }
  if (info.nb_rx_queues < 1 || info.nb_tx_queues < workers) {
    return absl::FailedPreconditionError(
        absl::StrCat(label, ": needs 1 Rx queue and ", workers, " Tx queues (one per worker), has ",
                     info.nb_rx_queues, " and ", info.nb_tx_queues));
  }
  rte_eth_conf conf;
  if (int rc = rte_eth_dev_conf_get(port_id, &conf); rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(label, ": reading configuration failed: ", rte_strerror(-rc)));
  }
  uint16_t mtu = RTE_ETHER_MTU;
  if (int rc = rte_eth_dev_get_mtu(port_id, &mtu); rc != 0) {
    return absl::FailedPreconditionError(
        absl::StrCat(label, ": reading MTU failed: ", rte_strerror(-rc)));
  }
  return EgressCapsFromTxOffloads(conf.txmode.offloads, mtu);
}

// The fd that turns readable when the port's Rx queue 0 raises an interrupt, or -1: only ports
// configured with Rx interrupts (PortQueues::rx_interrupts) have one. Asking any other port logs an
// error in EAL, so the configuration is read first.
int RxInterruptFd(uint16_t port_id) {
  rte_eth_conf conf{};
  if (rte_eth_dev_conf_get(port_id, &conf) != 0 || conf.intr_conf.rxq == 0) return -1;
  const int fd = rte_eth_dev_rx_intr_ctl_q_get_fd(port_id, 0);
  return fd >= 0 ? fd : -1;
}

}  // namespace

ForwardingEngine::ForwardingEngine(const EngineConfig& config)
    : config_(config),
      instance_(next_engine_instance.fetch_add(1, std::memory_order_relaxed)),
      // One spare slot: a replaced route's new next hop is filled before the old one is released;
      // and the kernel's return path for replies, which no route names.
      next_hops_(RouteCapacity(config) + 2) {}

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
  rcu_.reset(
      static_cast<rte_rcu_qsbr*>(rte_zmalloc("dpcni_engine_rcu", rcu_size, RTE_CACHE_LINE_SIZE)));
  if (rcu_ == nullptr || rte_rcu_qsbr_init(rcu_.get(), workers) != 0) {
    return absl::ResourceExhaustedError("engine: allocating the RCU variable failed");
  }

  std::string lpm_name = absl::StrCat("dpcni_routes_", instance_);
  rte_lpm_config lpm_config{
      .max_rules = RouteCapacity(config_),
      // A route longer than /24 needs a tbl8 group (unless one for its /24 exists already): with a
      // group per rule the table cannot run out of them.
      .number_tbl8s = RouteCapacity(config_) + 1,
      .flags = 0,
  };
  lpm_.reset(rte_lpm_create(lpm_name.c_str(), SOCKET_ID_ANY, &lpm_config));
  if (lpm_ == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("engine: creating route table ", lpm_name,
                                                     " failed: ", rte_strerror(rte_errno)));
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
  std::string arp_name = absl::StrCat("dpcni_arp_", instance_);
  arp_pool_.reset(rte_pktmbuf_pool_create(arp_name.c_str(), kArpPoolSize, 0, 0,
                                          RTE_PKTMBUF_HEADROOM + kArpFrameRoom, SOCKET_ID_ANY));
  std::string icmp_name = absl::StrCat("dpcni_icmp_", instance_);
  icmp_pool_.reset(rte_pktmbuf_pool_create(icmp_name.c_str(), kIcmpPoolSize, 0, 0,
                                           RTE_PKTMBUF_HEADROOM + kIcmpErrorMaxFrame,
                                           SOCKET_ID_ANY));
  if (gso_direct_pool_ == nullptr || gso_indirect_pool_ == nullptr || arp_pool_ == nullptr ||
      icmp_pool_ == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("engine: creating mbuf pools failed: ", rte_strerror(rte_errno)));
  }

  absl::StatusOr<std::unique_ptr<NeighbourTable>> neighbours = NeighbourTable::Create(
      absl::StrCat("dpcni_nb_", instance_), config_.max_neighbours, rcu_.get());
  if (!neighbours.ok()) {
    return neighbours.status();
  }
  neighbours_ = std::move(*neighbours);
  absl::StatusOr<std::unique_ptr<NeighbourResolver>> resolver = NeighbourResolver::Create(
      absl::StrCat("dpcni_resolve_", instance_), *neighbours_, arp_pool_.get(),
      NeighbourTiming{.reachable_cycles = ToCycles(config_.neighbour_timeout),
                      .retry_cycles = ToCycles(config_.arp_retry_interval)});
  if (!resolver.ok()) {
    return resolver.status();
  }
  resolver_ = std::move(*resolver);

  if (config_.flows.capacity != 0) {
    absl::StatusOr<std::unique_ptr<FlowTable>> flows = FlowTable::Create(
        absl::StrCat("dpcni_flows_", instance_), config_.flows, workers, rcu_.get());
    if (!flows.ok()) {
      return flows.status();
    }
    flows_ = std::move(*flows);
  }
  return absl::OkStatus();
}

void ForwardingEngine::CreateWorkers() {
  absl::MutexLock lock(&mutex_);
  routing_ = RoutingView{
      .lpm = lpm_.get(),
      .default_next_hop = &default_next_hop_,
      .next_hops = next_hops_.entries(),
      .neighbours = neighbours_.get(),
      .gateway_ip = rte_cpu_to_be_32(config_.gateway_ip),
      .gateway_mac = config_.gateway_mac,
      .flows = flows_.get(),
      .kernel_next_hop = &kernel_next_hop_,
      .vxlan_port = rte_cpu_to_be_16(config_.vxlan.udp_port),
      .vxlan_vni_word = rte_cpu_to_be_32(config_.vxlan.vni << 8),
      .vxlan_nodes = &vxlan_nodes_,
      .uplink_denied_sources = &uplink_denied_sources_,
  };
  for (size_t i = 0; i < config_.worker_lcores.size(); ++i) {
    workers_.push_back(std::make_unique<Worker>(WorkerSetup{
        .index = static_cast<unsigned>(i),
        .lcore = config_.worker_lcores[i],
        .rcu = rcu_.get(),
        .stop = &stop_,
        .routing = routing_,
        .burst_size = config_.burst_size,
        .idle_sleep_max = config_.idle_sleep_max,
        .gso_direct_pool = gso_direct_pool_.get(),
        .gso_indirect_pool = gso_indirect_pool_.get(),
        .resolver = resolver_.get(),
        .icmp_pool = icmp_pool_.get(),
        .icmp_errors = config_.icmp_errors,
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
      return absl::FailedPreconditionError(absl::StrCat("engine: launching worker on lcore ",
                                                        workers_[i]->lcore(),
                                                        " failed: ", rte_strerror(-rc)));
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
    workers_[i]->Wake();  // it may be blocked waiting for an interrupt
  }
  for (size_t i = 0; i < launched; ++i) {
    rte_eal_wait_lcore(workers_[i]->lcore());
  }
  for (size_t i = 0; i < workers_.size(); ++i) {
    rte_rcu_qsbr_thread_unregister(rcu_.get(), static_cast<unsigned>(i));
  }
}

absl::Status ForwardingEngine::ValidateNewPort(uint16_t port_id, const std::string& label) const {
  if (port_id >= RTE_MAX_ETHPORTS || !rte_eth_dev_is_valid_port(port_id)) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": no such ethdev"));
  }
  if (auto attached = polled_.find(port_id); attached != polled_.end()) {
    return absl::AlreadyExistsError(
        absl::StrCat(label, ": port already attached as ", attached->second.label));
  }
  return absl::OkStatus();
}

absl::Status ForwardingEngine::ValidateNewPod(const PodEndpoint& pod) const {
  const std::string label = PodLabel(pod);
  if (absl::Status valid = ValidateNewPort(pod.port_id, label); !valid.ok()) {
    return valid;
  }
  if (pods_.size() >= config_.max_ports) {
    return absl::ResourceExhaustedError(
        absl::StrCat(label, ": engine already holds max_ports=", config_.max_ports));
  }
  if (pod.ip == 0 || !rte_is_valid_assigned_ether_addr(&pod.mac)) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": needs an IPv4 address and a unicast MAC"));
  }
  if (auto routed = routes_.find(RouteKey{pod.ip, 32}); routed != routes_.end()) {
    return absl::AlreadyExistsError(absl::StrCat(
        label, ": ", FormatIpv4(pod.ip), " is already routed to ", routed->second.next_hop));
  }
  return absl::OkStatus();
}

absl::Status ForwardingEngine::ValidateUplink(const UplinkEndpoint& uplink,
                                              const std::string& label) const {
  if (uplink_.has_value()) {
    return absl::AlreadyExistsError(
        absl::StrCat(label, ": an uplink is attached already (port ", uplink_->port_id, ")"));
  }
  if (!rte_is_valid_assigned_ether_addr(&uplink.mac) || uplink.ip == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": needs a unicast MAC and the node's IPv4 address"));
  }
  if (uplink.prefix_length < 1 || uplink.prefix_length > 31) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": prefix length ", uplink.prefix_length, " outside 1..31"));
  }
  const uint32_t mask = Mask(uplink.prefix_length);
  auto on_link = [&](uint32_t address) {
    return address != 0 && address != uplink.ip && (address & mask) == (uplink.ip & mask);
  };
  if (uplink.gateway != 0 && !on_link(uplink.gateway)) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": gateway ", FormatIpv4(uplink.gateway), " is not another address on ",
                     FormatIpv4(uplink.ip & mask), "/", uplink.prefix_length));
  }
  if (uplink.pod_cidrs.size() > kMaxUplinkPodCidrs) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", uplink.pod_cidrs.size(),
                                                   " pod CIDRs, at most ", kMaxUplinkPodCidrs));
  }
  for (const Ipv4Cidr& cidr : uplink.pod_cidrs) {
    if (cidr.length < 1 || cidr.length > 32 || (cidr.prefix & ~Mask(cidr.length)) != 0) {
      return absl::InvalidArgumentError(absl::StrCat(label, ": pod CIDR ", FormatIpv4(cidr.prefix),
                                                     "/", cidr.length,
                                                     " is not a prefix of length 1..32"));
    }
    // Neighbours in the overlap would have every packet dropped as spoofed.
    const uint32_t common = Mask(std::min(cidr.length, uplink.prefix_length));
    if ((uplink.ip & common) == (cidr.prefix & common)) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, ": pod CIDR ", FormatIpv4(cidr.prefix), "/", cidr.length,
          " overlaps the uplink network ", FormatIpv4(uplink.ip & Mask(uplink.prefix_length)), "/",
          uplink.prefix_length));
    }
  }
  if (uplink.routes.size() > kMaxUplinkRoutes) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": ", uplink.routes.size(), " routes, at most ", kMaxUplinkRoutes));
  }
  std::set<RouteKey> keys = {RouteKey{uplink.ip & mask, uplink.prefix_length},
                             RouteKey{uplink.ip, 32}};
  for (const Ipv4Route& route : uplink.routes) {
    const std::string prefix = absl::StrCat(FormatIpv4(route.prefix), "/", route.length);
    if (route.length < 1 || route.length > 32 || (route.prefix & ~Mask(route.length)) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": route ", prefix,
                       " is not a prefix of length 1..32 (for a default route, set "
                       "the gateway)"));
    }
    if (!on_link(route.via)) {
      return absl::InvalidArgumentError(absl::StrCat(
          label, ": route ", prefix, " via ", FormatIpv4(route.via), ": not another address on ",
          FormatIpv4(uplink.ip & mask), "/", uplink.prefix_length));
    }
    if (!keys.insert(RouteKey{route.prefix, route.length}).second) {
      return absl::InvalidArgumentError(absl::StrCat(label, ": route ", prefix, " given twice"));
    }
  }
  for (const RouteKey& key : keys) {
    if (auto routed = routes_.find(key); routed != routes_.end()) {
      return absl::AlreadyExistsError(absl::StrCat(label, ": ", FormatIpv4(key.prefix), "/",
                                                   key.length, " is already routed to ",
                                                   routed->second.next_hop));
    }
  }
  return absl::OkStatus();
}

absl::Status ForwardingEngine::ReserveRoutes(size_t routes, const std::string& label) const {
  if (routes_.size() + routes > RouteCapacity(config_) || next_hops_.available() < routes + 1) {
    return absl::ResourceExhaustedError(
        absl::StrCat(label, ": no room for ", routes, " more routes"));
  }
  return absl::OkStatus();
}

absl::Status ForwardingEngine::SetRoute(const RouteKey& key, const NextHop& hop,
                                        std::string description) {
  absl::StatusOr<uint32_t> next_hop_id = next_hops_.Allocate(hop);
  if (!next_hop_id.ok()) {
    return next_hop_id.status();
  }
  if (int rc = PointRoute(key, *next_hop_id); rc != 0) {
    next_hops_.Release(*next_hop_id);
    return absl::ResourceExhaustedError(absl::StrCat("adding route ", FormatIpv4(key.prefix), "/",
                                                     key.length, " to ", description,
                                                     " failed: ", rte_strerror(-rc)));
  }
  auto [route, added] = routes_.try_emplace(key);
  if (!added) {
    // The route was pointed at the new slot in place; workers may still use the old one until they
    // pass a quiescent state.
    rte_rcu_qsbr_synchronize(rcu_.get(), RTE_QSBR_THRID_INVALID);
    next_hops_.Release(route->second.next_hop_id);
  }
  route->second = InstalledRoute{
      .next_hop_id = *next_hop_id, .next_hop = std::move(description), .node = {}, .mode = {}};
  return absl::OkStatus();
}

absl::StatusOr<uint32_t> ForwardingEngine::DeleteRoute(const RouteKey& key) {
  auto route = routes_.find(key);
  if (route == routes_.end()) {
    return absl::NotFoundError(absl::StrCat("no route ", FormatIpv4(key.prefix), "/", key.length));
  }
  const std::string prefix = absl::StrCat(FormatIpv4(key.prefix), "/", key.length);
  const uint32_t next_hop_id = route->second.next_hop_id;
  routes_.erase(route);
  if (int rc = Unroute(key); rc != 0) {
    // The slot may still be referenced: it is leaked rather than reused.
    return absl::InternalError(
        absl::StrCat("removing route ", prefix, " failed: ", rte_strerror(-rc)));
  }
  return next_hop_id;
}

int ForwardingEngine::PointRoute(const RouteKey& key, uint32_t next_hop_id) {
  if (key.length == 0) {
    default_next_hop_.store(next_hop_id, std::memory_order_release);
    return 0;
  }
  return rte_lpm_add(lpm_.get(), key.prefix, key.length, next_hop_id);
}

int ForwardingEngine::Unroute(const RouteKey& key) {
  if (key.length == 0) {
    default_next_hop_.store(kNoNextHop, std::memory_order_release);
    return 0;
  }
  return rte_lpm_delete(lpm_.get(), key.prefix, key.length);
}

NextHop ForwardingEngine::HostNextHop() const {
  // Only for pods: the kernel's own packets, or the uplink's, would go back where they came from.
  return NextHop{.port_id = host_->port_id,
                 .kind = NextHopKind::kDirect,
                 .allowed_ingress = RoleMask(PortRole::kPod),
                 .dst_mac = host_->kernel_mac,
                 .src_mac = config_.gateway_mac,
                 .caps = host_caps_};
}

NextHop ForwardingEngine::NodeAddressNextHop() const {
  if (!host_.has_value()) {
    return NextHop{};  // reachable from nowhere: discarded
  }
  NextHop hop = HostNextHop();
  hop.kind = NextHopKind::kLocal;
  hop.allowed_ingress = RoleMask(PortRole::kPod, PortRole::kUplink);
  return hop;
}

NextHop ForwardingEngine::KernelReturnNextHop() const {
  NextHop hop = HostNextHop();
  hop.allowed_ingress = RoleMask(PortRole::kPod, PortRole::kUplink);
  return hop;
}

std::string ForwardingEngine::PortDescription(uint16_t port_id) const {
  if (auto pod = pods_.find(port_id); pod != pods_.end()) {
    return absl::StrCat("port ", port_id, " (", pod->second.name, ")");
  }
  if (host_.has_value() && host_->port_id == port_id) {
    return absl::StrCat("host port ", port_id);
  }
  if (uplink_.has_value() && uplink_->port_id == port_id) {
    return absl::StrCat("uplink port ", port_id);
  }
  return absl::StrCat("port ", port_id);
}

std::string ForwardingEngine::NodeAddressDescription() const {
  return host_.has_value() ? absl::StrCat("host port ", host_->port_id, " (node address)")
                           : "discarded (node address, no host port)";
}

size_t ForwardingEngine::LeastLoadedWorker() const {
  std::vector<size_t> load(workers_.size(), 0);
  for (const auto& [port_id, polled] : polled_) {
    ++load[polled.worker];
  }
  return std::min_element(load.begin(), load.end()) - load.begin();
}

std::unique_ptr<PollList> ForwardingEngine::NextPollList(size_t worker) {
  auto list = std::make_unique<PollList>(workers_[worker]->poll_list());
  list->generation = ++poll_list_generation_;
  return list;
}

void ForwardingEngine::StartPolling(const IngressPort& ingress, std::string label) {
  size_t worker = LeastLoadedWorker();
  std::unique_ptr<PollList> list = NextPollList(worker);
  list->Add(ingress, RxInterruptFd(ingress.port_id));
  PublishPollList(worker, std::move(list));
  polled_[ingress.port_id] = PolledPort{.label = std::move(label), .worker = worker};
}

void ForwardingEngine::PublishPollList(size_t worker, std::unique_ptr<const PollList> list) {
  std::unique_ptr<const PollList> previous = workers_[worker]->ReplacePollList(std::move(list));
  rte_rcu_qsbr_synchronize(rcu_.get(), RTE_QSBR_THRID_INVALID);
}

void ForwardingEngine::ResetCounters(uint16_t port_id) {
  // The port id may have carried another port: its counters start again from zero. No worker
  // touches them now, as the port is neither polled nor routed to.
  for (const std::unique_ptr<Worker>& worker : workers_) {
    worker->counters(port_id).Reset();
  }
}

absl::Status ForwardingEngine::AttachPod(const PodEndpoint& pod) {
  absl::MutexLock lock(&mutex_);
  const std::string label = PodLabel(pod);
  if (absl::Status valid = ValidateNewPod(pod); !valid.ok()) {
    return valid;
  }
  absl::StatusOr<EgressCaps> caps = ReadEgressCaps(pod.port_id, label, workers_.size());
  if (!caps.ok()) {
    return caps.status();
  }
  if (absl::Status room = ReserveRoutes(1, label); !room.ok()) {
    return room;
  }
  ResetCounters(pod.port_id);
  NextHop to_pod{.port_id = pod.port_id,
                 .kind = NextHopKind::kDirect,
                 .allowed_ingress = RoleMask(PortRole::kPod, PortRole::kHost, PortRole::kUplink),
                 .dst_mac = pod.mac,
                 .src_mac = config_.gateway_mac,
                 .caps = *caps};
  if (absl::Status routed = SetRoute(RouteKey{pod.ip, 32}, to_pod,
                                     absl::StrCat("port ", pod.port_id, " (", pod.name, ")"));
      !routed.ok()) {
    return absl::ResourceExhaustedError(absl::StrCat(label, ": ", routed.message()));
  }
  StartPolling(IngressPort{.port_id = pod.port_id,
                           .role = PortRole::kPod,
                           .ip = rte_cpu_to_be_32(pod.ip),
                           .mac = pod.mac},
               label);
  pods_[pod.port_id] = pod;
  return absl::OkStatus();
}

absl::Status ForwardingEngine::DetachPod(uint16_t port_id) {
  absl::MutexLock lock(&mutex_);
  auto pod = pods_.find(port_id);
  if (pod == pods_.end()) {
    return absl::NotFoundError(absl::StrCat("port ", port_id, " is not a pod's"));
  }
  absl::StatusOr<uint32_t> next_hop_id = DeleteRoute(RouteKey{pod->second.ip, 32});
  auto polled = polled_.find(port_id);
  std::unique_ptr<PollList> list = NextPollList(polled->second.worker);
  list->Remove(port_id);
  // After this grace period no worker polls the port, routes to it or holds a packet for it.
  PublishPollList(polled->second.worker, std::move(list));
  absl::Status detached = absl::OkStatus();
  if (next_hop_id.ok()) {
    next_hops_.Release(*next_hop_id);
  } else {
    detached =
        absl::Status(next_hop_id.status().code(),
                     absl::StrCat(PodLabel(pod->second), ": ", next_hop_id.status().message()));
  }
  polled_.erase(polled);
  pods_.erase(pod);
  return detached;
}

absl::Status ForwardingEngine::AttachHostPort(const HostEndpoint& host) {
  absl::MutexLock lock(&mutex_);
  const std::string label = absl::StrCat("host port ", host.port_id);
  if (host_.has_value()) {
    return absl::AlreadyExistsError(
        absl::StrCat(label, ": a host port is attached already (port ", host_->port_id, ")"));
  }
  if (absl::Status valid = ValidateNewPort(host.port_id, label); !valid.ok()) {
    return valid;
  }
  if (!rte_is_valid_assigned_ether_addr(&host.kernel_mac)) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": needs the kernel side's unicast MAC"));
  }
  absl::StatusOr<EgressCaps> caps = ReadEgressCaps(host.port_id, label, workers_.size());
  if (!caps.ok()) {
    return caps.status();
  }
  if (absl::Status room = ReserveRoutes(2, label); !room.ok()) {
    return room;
  }
  ResetCounters(host.port_id);
  host_ = host;
  host_caps_ = *caps;
  // Before the host port is polled: the first flow it forwards may be answered at once.
  absl::StatusOr<uint32_t> kernel_return = next_hops_.Allocate(KernelReturnNextHop());
  if (!kernel_return.ok()) {
    return absl::InternalError(absl::StrCat(label, ": ", kernel_return.status().message()));
  }
  kernel_next_hop_.store(*kernel_return, std::memory_order_release);
  absl::Status routed = SetRoute(RouteKey{0, 0}, HostNextHop(), label);
  if (routed.ok() && uplink_.has_value()) {
    routed = SetRoute(RouteKey{uplink_->ip, 32}, NodeAddressNextHop(), NodeAddressDescription());
  }
  if (!routed.ok()) {
    return absl::InternalError(
        absl::StrCat(label, ": ", routed.message(), " (routes may be left half-way)"));
  }
  StartPolling(
      IngressPort{.port_id = host.port_id, .role = PortRole::kHost, .mac = host.kernel_mac}, label);
  return absl::OkStatus();
}

absl::Status ForwardingEngine::AttachUplink(const UplinkEndpoint& uplink) {
  absl::MutexLock lock(&mutex_);
  const std::string label = absl::StrCat("uplink port ", uplink.port_id);
  if (absl::Status valid = ValidateNewPort(uplink.port_id, label); !valid.ok()) {
    return valid;
  }
  if (absl::Status valid = ValidateUplink(uplink, label); !valid.ok()) {
    return valid;
  }
  absl::StatusOr<EgressCaps> caps = ReadEgressCaps(uplink.port_id, label, workers_.size());
  if (!caps.ok()) {
    return caps.status();
  }
  const bool gateway_is_default = uplink.gateway != 0 && !host_.has_value();
  if (absl::Status room =
          ReserveRoutes(2 + uplink.routes.size() + (gateway_is_default ? 1 : 0), label);
      !room.ok()) {
    return room;
  }
  ResetCounters(uplink.port_id);
  // The resolver learns where to send before any route leads there.
  resolver_->SetUplink(UplinkAddress{.port_id = uplink.port_id,
                                     .mac = uplink.mac,
                                     .ip = rte_cpu_to_be_32(uplink.ip),
                                     .caps = *caps});
  const NextHop on_link{.port_id = uplink.port_id,
                        .kind = NextHopKind::kNeighbour,
                        .allowed_ingress = RoleMask(PortRole::kPod, PortRole::kHost),
                        .src_mac = uplink.mac,
                        .caps = *caps};
  auto via = [&](uint32_t neighbour) {
    NextHop hop = on_link;
    hop.via = rte_cpu_to_be_32(neighbour);
    return hop;
  };
  auto via_description = [&](uint32_t neighbour) {
    return absl::StrCat(label, " via ", FormatIpv4(neighbour));
  };
  const uint32_t mask = Mask(uplink.prefix_length);
  absl::Status routed = SetRoute(RouteKey{uplink.ip & mask, uplink.prefix_length}, on_link,
                                 absl::StrCat(label, " (on-link)"));
  if (routed.ok()) {
    routed = SetRoute(RouteKey{uplink.ip, 32}, NodeAddressNextHop(), NodeAddressDescription());
  }
  for (size_t i = 0; routed.ok() && i < uplink.routes.size(); ++i) {
    const Ipv4Route& route = uplink.routes[i];
    routed =
        SetRoute(RouteKey{route.prefix, route.length}, via(route.via), via_description(route.via));
  }
  if (routed.ok() && gateway_is_default) {
    routed = SetRoute(RouteKey{0, 0}, via(uplink.gateway), via_description(uplink.gateway));
  }
  if (!routed.ok()) {
    return absl::InternalError(
        absl::StrCat(label, ": ", routed.message(), " (routes may be left half-way)"));
  }
  uplink_ = uplink;
  uplink_caps_ = *caps;
  // Before the uplink is polled: StartPolling publishes it to the worker.
  uplink_denied_sources_.count = 0;
  auto deny = [&](uint32_t prefix, uint8_t length) {
    uplink_denied_sources_.prefixes[uplink_denied_sources_.count++] = UplinkSourceFilter::Prefix{
        .network = rte_cpu_to_be_32(prefix), .mask = rte_cpu_to_be_32(Mask(length))};
  };
  for (const Ipv4Cidr& cidr : uplink.pod_cidrs) {
    deny(cidr.prefix, cidr.length);
  }
  deny(config_.gateway_ip, 32);
  StartPolling(IngressPort{.port_id = uplink.port_id,
                           .role = PortRole::kUplink,
                           .ip = rte_cpu_to_be_32(uplink.ip),
                           .mac = uplink.mac},
               label);
  return absl::OkStatus();
}

absl::Status ForwardingEngine::PlanRemoteRoute(const RemoteRoute& route, const std::string& label,
                                               PlannedRoute* planned) const {
  const std::string node_ip = FormatIpv4(route.node_ip);
  if (route.mode == RemoteMode::kKernel) {
    if (!host_.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": kernel mode needs the host port, and none is attached"));
    }
    // HostNextHop: for pods only. The kernel, which routes these prefixes itself (podCIDR via
    // nodeIP), would get its own packets back.
    planned->hop = HostNextHop();
    planned->description =
        absl::StrCat("host port ", host_->port_id, " via ", node_ip, " (kernel)");
    return absl::OkStatus();
  }
  if (!uplink_.has_value()) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": ", RemoteModeName(route.mode),
                                                   " needs an uplink, and none is attached (use "
                                                   "kernel mode on a node without one)"));
  }
  const UplinkEndpoint& uplink = *uplink_;
  const uint32_t mask = Mask(uplink.prefix_length);
  const bool on_link = (route.node_ip & mask) == (uplink.ip & mask);
  const std::string uplink_network =
      absl::StrCat(FormatIpv4(uplink.ip & mask), "/", static_cast<int>(uplink.prefix_length));
  if (route.node_ip == 0 || route.node_ip == uplink.ip) {
    return absl::InvalidArgumentError(
        absl::StrCat(label, ": node address ", node_ip, " is ",
                     route.node_ip == 0 ? "unset" : "this node's own"));
  }
  const std::string uplink_label = absl::StrCat("uplink port ", uplink.port_id);
  if (route.mode == RemoteMode::kHostGw) {
    if (!on_link) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": host-gw needs the node's address on the uplink network ",
                       uplink_network, ", and ", node_ip, " is not (use vxlan)"));
    }
    planned->hop = NextHop{.port_id = uplink.port_id,
                           .kind = NextHopKind::kNeighbour,
                           .allowed_ingress = RoleMask(PortRole::kPod, PortRole::kHost),
                           .via = rte_cpu_to_be_32(route.node_ip),
                           .src_mac = uplink.mac,
                           .caps = uplink_caps_};
    planned->description = absl::StrCat(uplink_label, " via ", node_ip, " (host-gw)");
    return absl::OkStatus();
  }
  // VXLAN: the outer packet goes where the uplink's own routes send the node's address.
  uint32_t outer_next_hop = 0;
  if (on_link) {
    outer_next_hop = route.node_ip;
  } else {
    int best_length = -1;
    for (const Ipv4Route& static_route : uplink.routes) {
      if ((route.node_ip & Mask(static_route.length)) == static_route.prefix &&
          static_route.length > best_length) {
        best_length = static_route.length;
        outer_next_hop = static_route.via;
      }
    }
    if (outer_next_hop == 0) {
      outer_next_hop = uplink.gateway;
    }
  }
  if (outer_next_hop == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        label, ": node address ", node_ip, " is off the uplink network ", uplink_network,
        " and no uplink route or gateway reaches it (add one to the uplink's routes)"));
  }
  if (uplink_caps_.mtu < kMinVxlanUplinkMtu) {
    return absl::InvalidArgumentError(absl::StrCat(label, ": the uplink's MTU ", uplink_caps_.mtu,
                                                   " leaves no room for VXLAN (needs ",
                                                   kMinVxlanUplinkMtu, ")"));
  }
  planned->hop = NextHop{
      .port_id = uplink.port_id,
      .kind = NextHopKind::kVxlan,
      .allowed_ingress = RoleMask(PortRole::kPod, PortRole::kHost),
      .via = rte_cpu_to_be_32(outer_next_hop),
      .tunnel_source = rte_cpu_to_be_32(uplink.ip),
      .tunnel_destination = rte_cpu_to_be_32(route.node_ip),
      // The inner frame is routed by its IPv4 destination on the far side, which checks no inner
      // MAC: ours as source, the pods' gateway MAC as destination.
      .dst_mac = config_.gateway_mac,
      .src_mac = uplink.mac,
      .outer_src_mac = uplink.mac,
      .caps = EgressCaps{.mtu = static_cast<uint16_t>(uplink_caps_.mtu - kVxlanOverhead)},
  };
  planned->description = absl::StrCat(uplink_label, " via ", node_ip, " (vxlan");
  if (outer_next_hop != route.node_ip) {
    absl::StrAppend(&planned->description, ", outer next hop ", FormatIpv4(outer_next_hop));
  }
  absl::StrAppend(&planned->description, ")");
  return absl::OkStatus();
}

absl::Status ForwardingEngine::SetRemoteRoutes(const std::vector<RemoteRoute>& routes) {
  absl::MutexLock lock(&mutex_);
  // The whole set is checked before anything changes, so that a refused set changes nothing.
  if (routes.size() > config_.max_remote_routes) {
    return absl::InvalidArgumentError(
        absl::StrCat("remote routes: ", routes.size(),
                     " routes, more than max_remote_routes=", config_.max_remote_routes));
  }
  std::vector<PlannedRoute> plan;
  plan.reserve(routes.size());
  std::set<RouteKey> wanted;
  for (const RemoteRoute& route : routes) {
    const std::string prefix = absl::StrCat(FormatIpv4(route.prefix), "/", route.length);
    const std::string label = absl::StrCat("remote route ", prefix, " to node ",
                                           route.node.empty() ? "(unnamed)" : route.node, " (",
                                           FormatIpv4(route.node_ip), ")");
    if (route.length < 1 || route.length > 32 || (route.prefix & ~Mask(route.length)) != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": ", prefix, " is not a prefix of length 1..32"));
    }
    const RouteKey key{route.prefix, route.length};
    if (!wanted.insert(key).second) {
      return absl::InvalidArgumentError(absl::StrCat(label, ": ", prefix, " given twice"));
    }
    if (auto local = routes_.find(key); local != routes_.end() && !remote_.contains(key)) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": ", prefix, " is a local route (to ", local->second.next_hop, ")"));
    }
    PlannedRoute planned{.key = key, .hop = {}, .description = {}, .route = &route};
    if (absl::Status valid = PlanRemoteRoute(route, label, &planned); !valid.ok()) {
      return valid;
    }
    plan.push_back(std::move(planned));
  }
  auto unchanged = [&](const PlannedRoute& planned) {
    auto installed = routes_.find(planned.key);
    return installed != routes_.end() && installed->second.next_hop == planned.description &&
           installed->second.node == planned.route->node;
  };
  size_t added = 0;
  size_t changed = 0;
  for (const PlannedRoute& planned : plan) {
    added += remote_.contains(planned.key) ? 0 : 1;
    changed += unchanged(planned) ? 0 : 1;
  }
  size_t withdrawn = 0;
  for (const auto& [key, route] : remote_) {
    withdrawn += wanted.contains(key) ? 0 : 1;
  }
  if (routes_.size() - withdrawn + added > RouteCapacity(config_) ||
      next_hops_.available() + withdrawn < changed + 1) {
    return absl::ResourceExhaustedError(
        absl::StrCat("remote routes: no room for ", added, " more routes"));
  }

  // The nodes a VXLAN packet may come from, published before their routes: the decapsulation path
  // only reads it to name a drop.
  auto nodes = std::make_unique<VxlanNodes>();
  for (const PlannedRoute& planned : plan) {
    if (planned.hop.kind == NextHopKind::kVxlan) {
      nodes->addresses.push_back(planned.hop.tunnel_destination);
    }
  }
  std::sort(nodes->addresses.begin(), nodes->addresses.end());
  nodes->addresses.erase(std::unique(nodes->addresses.begin(), nodes->addresses.end()),
                         nodes->addresses.end());
  std::unique_ptr<const VxlanNodes> previous_nodes = std::move(vxlan_nodes_owned_);
  vxlan_nodes_owned_ = std::move(nodes);
  vxlan_nodes_.store(vxlan_nodes_owned_.get(), std::memory_order_release);

  // Withdrawn routes first, which makes room; their slots are freed after one grace period.
  std::vector<uint32_t> released;
  absl::Status applied = absl::OkStatus();
  for (auto installed = remote_.begin(); installed != remote_.end();) {
    if (wanted.contains(installed->first)) {
      ++installed;
      continue;
    }
    absl::StatusOr<uint32_t> next_hop_id = DeleteRoute(installed->first);
    if (next_hop_id.ok()) {
      released.push_back(*next_hop_id);
    } else if (applied.ok()) {
      applied = next_hop_id.status();
    }
    installed = remote_.erase(installed);
  }
  // After this no worker reads the old node list or a withdrawn route's next hop.
  rte_rcu_qsbr_synchronize(rcu_.get(), RTE_QSBR_THRID_INVALID);
  previous_nodes.reset();
  for (uint32_t id : released) {
    next_hops_.Release(id);
  }
  for (PlannedRoute& planned : plan) {
    const RemoteRoute& route = *planned.route;
    if (unchanged(planned)) {
      continue;  // left alone: its traffic never notices
    }
    // A changed route is repointed in place (SetRoute): it works until its replacement does.
    if (absl::Status routed = SetRoute(planned.key, planned.hop, planned.description);
        !routed.ok()) {
      if (applied.ok()) {
        applied = routed;
      }
      continue;
    }
    InstalledRoute& installed = routes_[planned.key];
    installed.node = route.node;
    installed.mode = RemoteModeName(route.mode);
    remote_[planned.key] = route;
  }
  if (!applied.ok()) {
    return absl::InternalError(
        absl::StrCat("remote routes: ", applied.message(), " (routes may be left half-way)"));
  }
  return absl::OkStatus();
}

absl::StatusOr<PortCounters> ForwardingEngine::Counters(uint16_t port_id) const {
  absl::MutexLock lock(&mutex_);
  if (!polled_.contains(port_id)) {
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
  for (const auto& [key, route] : routes_) {
    routes.push_back({.prefix = absl::StrCat(FormatIpv4(key.prefix), "/", key.length),
                      .next_hop = route.next_hop,
                      .node = route.node,
                      .mode = route.mode});
  }
  return routes;
}

std::vector<NeighbourInfo> ForwardingEngine::Neighbours() const {
  return neighbours_->List(rte_rdtsc(), rte_get_tsc_hz());
}

FlowTableStats ForwardingEngine::FlowStats() const {
  return flows_ == nullptr ? FlowTableStats{} : flows_->Stats();
}

namespace {

std::string ProtocolName(uint8_t protocol) {
  switch (protocol) {
    case IPPROTO_TCP:
      return "tcp";
    case IPPROTO_UDP:
      return "udp";
    case IPPROTO_ICMP:
      return "icmp";
    case IPPROTO_SCTP:
      return "sctp";
    default:
      return std::to_string(protocol);
  }
}

// "10.244.0.7:8080"; the address alone for protocols without ports (ICMP's identifier is not one).
std::string Endpoint(rte_be32_t address, rte_be16_t port, uint8_t protocol) {
  std::string text = FormatIpv4(rte_be_to_cpu_32(address));
  if (protocol == IPPROTO_TCP || protocol == IPPROTO_UDP || protocol == IPPROTO_SCTP) {
    absl::StrAppend(&text, ":", rte_be_to_cpu_16(port));
  }
  return text;
}

}  // namespace

std::vector<FlowListing> ForwardingEngine::Flows(uint32_t limit) const {
  if (flows_ == nullptr) {
    return {};
  }
  std::vector<FlowInfo> flows = flows_->List(rte_rdtsc(), rte_get_tsc_hz(), limit);
  absl::MutexLock lock(&mutex_);
  std::vector<FlowListing> listed;
  listed.reserve(flows.size());
  for (const FlowInfo& flow : flows) {
    const FlowKey& key = flow.reply;
    listed.push_back(FlowListing{
        .protocol = ProtocolName(key.protocol),
        .reply_source = Endpoint(key.source, key.source_port, key.protocol),
        .reply_destination = Endpoint(key.destination, key.destination_port, key.protocol),
        .reply_port = PortDescription(flow.reply_port),
        .state = flow.state,
        .age_ms = flow.age_ms,
        .timeout_ms = flow.timeout_ms});
  }
  return listed;
}

absl::StatusOr<size_t> ForwardingEngine::SeedKernelFlows(const std::vector<NatedFlow>& flows) {
  if (flows_ == nullptr) {
    return 0;
  }
  // The writer takes what is offered a batch per poll round; a full ring is waited out this long.
  constexpr auto kPatience = std::chrono::seconds(5);
  absl::MutexLock lock(&mutex_);
  if (!host_.has_value() || !running_) {
    return absl::FailedPreconditionError(
        "seeding kernel flows: the host port must be attached and the workers running");
  }
  size_t taken = 0;
  for (const NatedFlow& nated : flows) {
    const FlowKey reply{.source = rte_cpu_to_be_32(nated.reply_source),
                        .destination = rte_cpu_to_be_32(nated.reply_destination),
                        .source_port = rte_cpu_to_be_16(nated.reply_source_port),
                        .destination_port = rte_cpu_to_be_16(nated.reply_destination_port),
                        .protocol = nated.protocol};
    KernelFlow flow;
    if (!KernelFlowOfReply(routing_, reply, &flow)) {
      continue;
    }
    flow.answered = nated.answered;
    if (nated.closing) flow.tcp_flags |= kTcpFin;
    const auto deadline = std::chrono::steady_clock::now() + kPatience;
    while (!flows_->Offer(flow)) {
      if (std::chrono::steady_clock::now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "seeding kernel flows: the host port's worker took no more after ", taken));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ++taken;
  }
  return taken;
}

absl::StatusOr<std::unique_ptr<Engine>> CreateEngine(const EngineConfig& config) {
  absl::StatusOr<std::unique_ptr<ForwardingEngine>> engine = ForwardingEngine::Create(config);
  if (!engine.ok()) {
    return engine.status();
  }
  return std::unique_ptr<Engine>(std::move(*engine));
}

}  // namespace dpcni::dataplane
