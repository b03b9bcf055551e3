// The cluster's other nodes: which pod CIDRs live behind which node address (SetRemoteNodes, sent
// by dpcni-k8s from the Node objects), turned into the engine's remote routes and, on a node
// without a DPDK uplink, into `podCIDR via nodeIP` routes for the node's own kernel. A list is
// taken whole or not at all; the last one taken is kept in <state_dir>/remote_nodes.json, so that a
// restarted agent routes it again before it serves, without waiting for its source.
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "config/agent_config.h"
#include "engine/engine.h"
#include "ipam/ipv4.h"
#include "netlink/kernel_routes.h"

namespace dpcni::dataplane {

// One entry of SetRemoteNodes, as received.
struct RemoteNodeSpec {
  std::string name;
  std::string address;                 // IPv4, on the data network
  std::vector<std::string> pod_cidrs;  // IPv4 prefixes; IPv6 ones are set aside
  bool operator==(const RemoteNodeSpec&) const = default;
};

// How current the routes are, for Status and the metrics.
struct RouteSyncInfo {
  // "unset": no list yet; "in-sync": the last list came from a source in step with the cluster;
  // "stale": the source lost the cluster, or the routes were restored at start and the source has
  // not confirmed them yet; the last list stays routed meanwhile.
  std::string state = "unset";
  std::string message;
  uint64_t age_ms = 0;    // since the routed list arrived (0 while unset)
  uint32_t nodes = 0;     // nodes with at least one pod CIDR routed
  uint32_t prefixes = 0;  // pod CIDRs routed
};

struct RemoteNodesOptions {
  RemoteNodesMode mode = RemoteNodesMode::kAuto;
  // The node's uplink address and network; nullopt: no uplink, the node's kernel carries the
  // routes.
  std::optional<Ipv4InterfaceAddress> uplink;
  std::vector<std::string> own_pod_cidrs;
  std::string state_dir;
  // The host port's kernel interface: with an uplink, the node's kernel routes the other nodes' pod
  // CIDRs onto it, so that what the kernel sends them (Services that kube-proxy NATs to endpoints
  // on other nodes, host-network clients) goes through the dataplane rather than its own default.
  std::string host_port = "dpcni0";
};

// What the config says about the node that RemoteNodes needs.
absl::StatusOr<RemoteNodesOptions> RemoteNodesOptionsFor(const AgentConfig& config);

class RemoteNodes {
 public:
  // Milliseconds since the Unix epoch (wall clock: ages survive a restart through the record).
  using Clock = std::function<int64_t()>;

  // `kernel` takes the node kernel's routes of ours: `via` the nodes without an uplink, onto the
  // host port with one.
  RemoteNodes(RemoteNodesOptions options, Engine& engine, KernelRouteTable& kernel,
              Clock now = nullptr);

  // At start, before the agent serves: routes the recorded list again (state "stale" until its
  // source confirms it) and brings the kernel's routes of ours in line with it. On failure (a
  // record that cannot be read, a list the engine refuses now), it routes nothing, withdraws the
  // kernel routes of ours, says why in the sync state and returns the error for the log: the node's
  // own pods are served anyway, and the next SetRemoteNodes replaces the record.
  absl::Status Restore();

  struct Routed {
    uint32_t nodes = 0;
    uint32_t prefixes = 0;
    bool changed = false;  // the list differs from the one routed before
  };
  // Makes `nodes` the whole list. Refused whole, changing nothing, with InvalidArgument naming the
  // node (a bad address or prefix, an empty or repeated name, this node's own address or pod CIDRs,
  // a pod CIDR two nodes claim), or with the error of the engine, the kernel or the record after
  // undoing the steps before it.
  absl::StatusOr<Routed> Set(const std::vector<RemoteNodeSpec>& nodes);

  // The source lost the cluster (in_sync false, with why) or found it again.
  void ReportSource(bool in_sync, const std::string& message);

  RouteSyncInfo Sync() const;
  std::string record_path() const { return record_path_; }

 private:
  struct Planned {
    std::vector<RemoteNodeSpec> nodes;  // canonical
    std::vector<RemoteRoute> routes;
    std::vector<KernelRoute> kernel;  // via the nodes, or onto the host port with an uplink
    uint32_t nodes_routed = 0;
  };

  absl::StatusOr<Planned> Plan(const std::vector<RemoteNodeSpec>& nodes) const;
  RemoteMode ModeOf(uint32_t address) const;
  // Makes the kernel's routes of ours exactly `wanted`: replaces first, then removes the rest.
  absl::Status ApplyKernel(const std::vector<KernelRoute>& wanted);
  absl::StatusOr<std::optional<std::pair<std::vector<RemoteNodeSpec>, int64_t>>> LoadRecord() const;
  absl::Status SaveRecord(const std::vector<RemoteNodeSpec>& nodes, int64_t received_at_ms) const;

  const RemoteNodesOptions options_;
  std::vector<Ipv4Prefix> own_prefixes_;
  Engine& engine_;
  KernelRouteTable& kernel_;
  const Clock now_;
  const std::string record_path_;

  mutable std::mutex mu_;  // one change at a time; Sync reads under it
  Planned current_;
  std::optional<int64_t> received_at_ms_;  // when the routed list arrived
  std::string state_ = "unset";
  std::string message_;
};

}  // namespace dpcni::dataplane
