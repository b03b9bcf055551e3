// The Engine implementation: owns the route table (rte_lpm), the next-hop table, the neighbour
// table and its resolver, the RCU variable and the workers, and serializes control-plane calls on a
// mutex that the fast path never takes.
#pragma once

#include <rte_lpm.h>
#include <rte_malloc.h>
#include <rte_mempool.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/flow_table.h"
#include "dataplane/engine/neighbour_resolver.h"
#include "dataplane/engine/neighbour_table.h"
#include "dataplane/engine/next_hop_table.h"
#include "dataplane/engine/worker.h"

namespace dpcni::dataplane {

class ForwardingEngine final : public Engine {
 public:
  // Prefixes AttachUplink accepts in UplinkEndpoint::routes.
  static constexpr uint32_t kMaxUplinkRoutes = 256;

  static absl::StatusOr<std::unique_ptr<ForwardingEngine>> Create(const EngineConfig& config);
  ~ForwardingEngine() override;

  absl::Status Start() override;
  void Stop() override;
  absl::Status AttachPod(const PodEndpoint& pod) override;
  absl::Status DetachPod(uint16_t port_id) override;
  absl::Status AttachHostPort(const HostEndpoint& host) override;
  absl::Status AttachUplink(const UplinkEndpoint& uplink) override;
  absl::Status SetRemoteRoutes(const std::vector<RemoteRoute>& routes) override;
  absl::StatusOr<PortCounters> Counters(uint16_t port_id) const override;
  std::vector<RouteInfo> Routes() const override;
  std::vector<NeighbourInfo> Neighbours() const override;
  FlowTableStats FlowStats() const override;
  std::vector<FlowListing> Flows(uint32_t limit) const override;
  absl::StatusOr<size_t> SeedKernelFlows(const std::vector<NatedFlow>& flows) override;

  // How much worker `worker` (its position in EngineConfig::worker_lcores) polled and slept.
  WorkerActivity Activity(size_t worker) const { return workers_.at(worker)->Activity(); }

 private:
  struct LpmDeleter {
    void operator()(rte_lpm* lpm) const { rte_lpm_free(lpm); }
  };
  struct RteFreeDeleter {
    void operator()(void* memory) const { rte_free(memory); }
  };
  struct MempoolDeleter {
    void operator()(rte_mempool* pool) const { rte_mempool_free(pool); }
  };

  struct RouteKey {
    uint32_t prefix = 0;  // host byte order
    uint8_t length = 0;
    // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 flags the synthesized comparison with 0.
    auto operator<=>(const RouteKey&) const = default;
  };
  struct InstalledRoute {
    uint32_t next_hop_id = 0;
    std::string next_hop;  // for Routes()
    std::string node;      // a remote route's node, for Routes()
    std::string mode;      // a remote route's mode, for Routes()
  };
  // A remote route checked against the engine's state, ready to install.
  struct PlannedRoute {
    RouteKey key;
    NextHop hop;
    std::string description;
    const RemoteRoute* route = nullptr;
  };
  struct PolledPort {
    std::string label;  // "pod default/web-0 on port 3", "host port 4", "uplink port 5"
    size_t worker = 0;
  };

  explicit ForwardingEngine(const EngineConfig& config);
  absl::Status CreateTables();
  void CreateWorkers();

  // A port id that names an ethdev and is not attached yet.
  absl::Status ValidateNewPort(uint16_t port_id, const std::string& label) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status ValidateNewPod(const PodEndpoint& pod) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  absl::Status ValidateUplink(const UplinkEndpoint& uplink, const std::string& label) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The next hop of a remote route and its description, or InvalidArgument naming the route.
  absl::Status PlanRemoteRoute(const RemoteRoute& route, const std::string& label,
                               PlannedRoute* planned) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Fails unless `routes` more routes fit the route and next-hop tables.
  absl::Status ReserveRoutes(size_t routes, const std::string& label) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Points `key` at a new next-hop slot holding `hop`. A route it replaces keeps working until the
  // new one is in place; its slot is released after a grace period.
  absl::Status SetRoute(const RouteKey& key, const NextHop& hop, std::string description)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Deletes the route and returns its next-hop slot, to release after the next grace period.
  absl::StatusOr<uint32_t> DeleteRoute(const RouteKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Where workers look a route up: the LPM, or for the default route, default_next_hop_. Both
  // return 0 or a negative errno.
  int PointRoute(const RouteKey& key, uint32_t next_hop_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  int Unroute(const RouteKey& key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  // Next hops of the host port: the default route, and the node's uplink address.
  NextHop HostNextHop() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  NextHop NodeAddressNextHop() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // The host port as the way back to the kernel for replies of the flows it forwarded, from pods
  // and from the uplink.
  NextHop KernelReturnNextHop() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // "port 3 (default/web-0)", "host port 1", "uplink port 2", or "port 7" once it is gone.
  std::string PortDescription(uint16_t port_id) const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  std::string NodeAddressDescription() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  size_t LeastLoadedWorker() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // A copy of the worker's poll list, to edit and publish, in the next generation.
  std::unique_ptr<PollList> NextPollList(size_t worker) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Adds the port to the least-loaded worker's poll list.
  void StartPolling(const IngressPort& ingress, std::string label)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  // Swaps in a worker's new poll list and frees the old one after an RCU grace period; anything
  // unpublished before this call is out of every worker's reach when it returns.
  void PublishPollList(size_t worker, std::unique_ptr<const PollList> list)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void ResetCounters(uint16_t port_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);
  void StopLaunchedWorkers(size_t launched) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mutex_);

  const EngineConfig config_;
  const unsigned instance_;  // makes this engine's DPDK object names unique in the process
  // Declared before the LPM and the neighbour table, which hold defer queues on it and so must be
  // freed first.
  std::unique_ptr<rte_rcu_qsbr, RteFreeDeleter> rcu_;
  std::unique_ptr<rte_lpm, LpmDeleter> lpm_;
  std::unique_ptr<rte_mempool, MempoolDeleter> gso_direct_pool_;
  std::unique_ptr<rte_mempool, MempoolDeleter> gso_indirect_pool_;
  std::unique_ptr<rte_mempool, MempoolDeleter> arp_pool_;
  std::unique_ptr<rte_mempool, MempoolDeleter> icmp_pool_;
  std::unique_ptr<NeighbourTable> neighbours_;
  std::unique_ptr<NeighbourResolver> resolver_;
  std::unique_ptr<FlowTable> flows_;  // nullptr when config_.flows.capacity is 0
  std::atomic<uint32_t> default_next_hop_{kNoNextHop};
  std::atomic<uint32_t> kernel_next_hop_{kNoNextHop};  // set once, with the host port
  // The remote VXLAN nodes the workers read (RoutingView::vxlan_nodes); vxlan_nodes_owned_ holds
  // it.
  std::atomic<const VxlanNodes*> vxlan_nodes_{nullptr};
  // Filled by AttachUplink before the uplink is polled (RoutingView::uplink_denied_sources).
  UplinkSourceFilter uplink_denied_sources_;
  RoutingView routing_;  // what the workers route with; set by CreateWorkers
  std::atomic<bool> stop_{false};

  mutable absl::Mutex mutex_;
  NextHopTable next_hops_ ABSL_GUARDED_BY(mutex_);
  std::vector<std::unique_ptr<Worker>> workers_;
  std::map<RouteKey, InstalledRoute> routes_ ABSL_GUARDED_BY(mutex_);
  std::map<uint16_t, PolledPort> polled_ ABSL_GUARDED_BY(mutex_);  // every attached port
  std::map<uint16_t, PodEndpoint> pods_ ABSL_GUARDED_BY(mutex_);
  std::optional<HostEndpoint> host_ ABSL_GUARDED_BY(mutex_);
  EgressCaps host_caps_ ABSL_GUARDED_BY(mutex_);
  std::optional<UplinkEndpoint> uplink_ ABSL_GUARDED_BY(mutex_);
  EgressCaps uplink_caps_ ABSL_GUARDED_BY(mutex_);
  // The remote routes installed (SetRemoteRoutes), also in routes_.
  std::map<RouteKey, RemoteRoute> remote_ ABSL_GUARDED_BY(mutex_);
  std::unique_ptr<const VxlanNodes> vxlan_nodes_owned_ ABSL_GUARDED_BY(mutex_);
  bool running_ ABSL_GUARDED_BY(mutex_) = false;
  uint64_t poll_list_generation_ ABSL_GUARDED_BY(mutex_) = 0;  // of the last list made
};

}  // namespace dpcni::dataplane
