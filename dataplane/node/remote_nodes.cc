#include "node/remote_nodes.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/atomic_file.h"
#include "common/log.h"
#include "nlohmann/json.hpp"

namespace dpcni::dataplane {
namespace {

constexpr int kRecordVersion = 1;

bool Overlap(const Ipv4Prefix& a, const Ipv4Prefix& b) {
  const Ipv4Prefix& shorter = a.length <= b.length ? a : b;
  const Ipv4Prefix& longer = a.length <= b.length ? b : a;
  return shorter.Contains(longer.network);
}

int64_t SystemNowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

absl::Status Refuse(const std::string& node, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("SetRemoteNodes: node \"", node, "\": ", why,
                                                 "; the list is refused whole, nothing changed"));
}

}  // namespace

absl::StatusOr<RemoteNodesOptions> RemoteNodesOptionsFor(const AgentConfig& config) {
  RemoteNodesOptions options;
  options.mode = config.remote_nodes.mode;
  options.own_pod_cidrs = config.pod_cidrs;
  options.state_dir = config.state_dir;
  options.host_port = config.host_port.name;
  if (config.uplink.type != UplinkType::kNone) {
    auto address = Ipv4InterfaceAddress::Parse(config.uplink.address);
    if (!address.ok()) return address.status();
    options.uplink = *address;
  }
  return options;
}

RemoteNodes::RemoteNodes(RemoteNodesOptions options, Engine& engine, KernelRouteTable& kernel,
                         Clock now)
    : options_(std::move(options)),
      engine_(engine),
      kernel_(kernel),
      now_(now ? std::move(now) : Clock(SystemNowMs)),
      record_path_((std::filesystem::path(options_.state_dir) / "remote_nodes.json").string()) {
  for (const std::string& cidr : options_.own_pod_cidrs) {
    if (auto prefix = Ipv4Prefix::Parse(cidr); prefix.ok()) own_prefixes_.push_back(*prefix);
  }
}

RemoteMode RemoteNodes::ModeOf(uint32_t address) const {
  if (!options_.uplink) return RemoteMode::kKernel;
  switch (options_.mode) {
    case RemoteNodesMode::kHostGw:
      return RemoteMode::kHostGw;
    case RemoteNodesMode::kVxlan:
      return RemoteMode::kVxlan;
    case RemoteNodesMode::kAuto:
      break;
  }
  return options_.uplink->Subnet().Contains(address) ? RemoteMode::kHostGw : RemoteMode::kVxlan;
}

absl::StatusOr<RemoteNodes::Planned> RemoteNodes::Plan(
    const std::vector<RemoteNodeSpec>& nodes) const {
  Planned plan;
  std::set<std::string> names;
  // Every prefix taken so far, with the node that claims it.
  std::vector<std::pair<Ipv4Prefix, std::string>> claimed;
  for (const RemoteNodeSpec& node : nodes) {
    if (node.name.empty()) {
      return Refuse("", absl::StrCat("a node without a name (address \"", node.address,
                                     "\"): every entry needs its Node object's name"));
    }
    if (!names.insert(node.name).second) {
      return Refuse(node.name, "listed twice: send each node once, with all its pod CIDRs");
    }
    auto address = ParseIpv4(node.address);
    if (!address.ok()) {
      return Refuse(node.name, absl::StrCat("address \"", node.address,
                                            "\" is not an IPv4 address (its InternalIP, or the "
                                            "dpcni.dev/data-address annotation)"));
    }
    if (options_.uplink && *address == options_.uplink->address) {
      return Refuse(node.name, absl::StrCat("its address ", node.address,
                                            " is this node's own uplink address: leave this node "
                                            "out of the list, or fix the other node's address"));
    }
    const RemoteMode mode = ModeOf(*address);
    if (mode == RemoteMode::kHostGw && !options_.uplink->Subnet().Contains(*address)) {
      return Refuse(
          node.name,
          absl::StrCat(
              "address ", node.address, " is not on the uplink's network ",
              options_.uplink->Subnet().ToString(),
              " and remote_nodes.mode is host-gw, which needs every node there (set mode to auto "
              "or vxlan to reach it through VXLAN)"));
    }
    RemoteNodeSpec canonical{node.name, Ipv4ToString(*address), {}};
    for (const std::string& cidr : node.pod_cidrs) {
      if (cidr.find(':') != std::string::npos) continue;  // IPv6: pods are IPv4-only for now
      auto prefix = Ipv4Prefix::Parse(cidr);
      if (!prefix.ok()) {
        return Refuse(node.name, absl::StrCat("pod CIDR: ", prefix.status().message()));
      }
      if (prefix->length == 0) {
        return Refuse(node.name, absl::StrCat("pod CIDR ", cidr,
                                              " is the whole address space, not a node's share"));
      }
      for (const Ipv4Prefix& own : own_prefixes_) {
        if (Overlap(own, *prefix)) {
          return Refuse(
              node.name,
              absl::StrCat(
                  "pod CIDR ", prefix->ToString(), " overlaps this node's own pod CIDR ",
                  own.ToString(),
                  ": is this node listed under another name, or were two nodes given one podCIDR? "
                  "(check the Node objects' spec.podCIDRs)"));
        }
      }
      for (const auto& [other, owner] : claimed) {
        if (Overlap(other, *prefix)) {
          return Refuse(
              node.name,
              absl::StrCat("pod CIDR ", prefix->ToString(), " overlaps ", other.ToString(),
                           owner == node.name ? " of the same node"
                                              : absl::StrCat(" of node \"", owner, "\""),
                           ": a pod address must live behind one node (check the Node objects' "
                           "spec.podCIDRs)"));
        }
      }
      claimed.emplace_back(*prefix, node.name);
      canonical.pod_cidrs.push_back(prefix->ToString());
      plan.routes.push_back({.prefix = prefix->network,
                             .length = prefix->length,
                             .node_ip = *address,
                             .mode = mode,
                             .node = node.name});
      if (mode == RemoteMode::kKernel) {
        plan.kernel.push_back({prefix->network, prefix->length, *address, ""});
      } else {
        plan.kernel.push_back({prefix->network, prefix->length, 0, options_.host_port});
      }
    }
    if (!canonical.pod_cidrs.empty()) ++plan.nodes_routed;
    plan.nodes.push_back(std::move(canonical));
  }
  return plan;
}

absl::Status RemoteNodes::ApplyKernel(const std::vector<KernelRoute>& wanted) {
  auto present = kernel_.List();
  if (!present.ok()) return present.status();
  for (const KernelRoute& route : wanted) {
    if (std::find(present->begin(), present->end(), route) != present->end()) continue;
    if (auto status = kernel_.Replace(route); !status.ok()) return status;
  }
  for (const KernelRoute& route : *present) {
    const bool kept = std::any_of(wanted.begin(), wanted.end(), [&](const KernelRoute& other) {
      return other.prefix == route.prefix && other.length == route.length;
    });
    if (kept) continue;
    if (auto status = kernel_.Remove(route); !status.ok()) return status;
  }
  return absl::OkStatus();
}

absl::StatusOr<RemoteNodes::Routed> RemoteNodes::Set(const std::vector<RemoteNodeSpec>& nodes) {
  std::lock_guard lock(mu_);
  auto plan = Plan(nodes);
  if (!plan.ok()) return plan.status();

  if (auto status = engine_.SetRemoteRoutes(plan->routes); !status.ok()) {
    return absl::Status(status.code(), absl::StrCat("SetRemoteNodes: the dataplane refused the "
                                                    "list, nothing changed: ",
                                                    status.message()));
  }
  // From here each failure puts back what the steps before it changed.
  auto undo_engine = [&] {
    if (auto undone = engine_.SetRemoteRoutes(current_.routes); !undone.ok()) {
      DPCNI_LOG(kError, "node",
                "SetRemoteNodes: restoring the dataplane's routes: ", undone.ToString());
    }
  };
  auto undo_kernel = [&] {
    if (auto undone = ApplyKernel(current_.kernel); !undone.ok()) {
      DPCNI_LOG(kError, "node",
                "SetRemoteNodes: restoring the kernel's routes: ", undone.ToString());
    }
  };
  if (auto status = ApplyKernel(plan->kernel); !status.ok()) {
    undo_kernel();
    undo_engine();
    return absl::Status(status.code(),
                        absl::StrCat("SetRemoteNodes: the node's kernel routes: ", status.message(),
                                     "; the previous routes are kept"));
  }
  const int64_t received = now_();
  if (auto status = SaveRecord(plan->nodes, received); !status.ok()) {
    undo_kernel();
    undo_engine();
    return absl::Status(status.code(),
                        absl::StrCat("SetRemoteNodes: recording the list in ", record_path_, ": ",
                                     status.message(), "; the previous routes are kept"));
  }
  const bool changed = plan->nodes != current_.nodes || !received_at_ms_;
  current_ = *std::move(plan);
  received_at_ms_ = received;
  state_ = "in-sync";
  message_.clear();
  return Routed{current_.nodes_routed, static_cast<uint32_t>(current_.routes.size()), changed};
}

absl::Status RemoteNodes::Restore() {
  std::lock_guard lock(mu_);
  auto record = LoadRecord();
  absl::Status failed;
  if (!record.ok()) {
    failed = record.status();
  } else if (!*record) {
    // Nothing recorded: only a withdrawal of kernel routes an earlier agent may have left.
    return ApplyKernel({});
  } else {
    auto plan = Plan((*record)->first);
    if (!plan.ok()) {
      failed = plan.status();
    } else if (auto status = engine_.SetRemoteRoutes(plan->routes); !status.ok()) {
      failed = status;
    } else if (auto kernel = ApplyKernel(plan->kernel); !kernel.ok()) {
      engine_.SetRemoteRoutes({}).IgnoreError();
      failed = kernel;
    } else {
      current_ = *std::move(plan);
      received_at_ms_ = (*record)->second;
      state_ = "stale";
      message_ = absl::StrCat("restored from ", record_path_,
                              " at start; waiting for the node list's source to send it again "
                              "(SetRemoteNodes)");
      return absl::OkStatus();
    }
  }
  if (auto withdrawn = ApplyKernel({}); !withdrawn.ok()) {
    DPCNI_LOG(kWarning, "node",
              "withdrawing kernel routes of an earlier agent: ", withdrawn.ToString());
  }
  state_ = "stale";
  message_ = absl::StrCat("the node list in ", record_path_, " was not restored (",
                          failed.message(), "); no remote routes until SetRemoteNodes");
  return absl::Status(failed.code(), absl::StrCat("restoring the remote nodes from ", record_path_,
                                                  ": ", failed.message()));
}

void RemoteNodes::ReportSource(bool in_sync, const std::string& message) {
  std::lock_guard lock(mu_);
  if (in_sync) {
    state_ = received_at_ms_ ? "in-sync" : "unset";
    message_.clear();
    return;
  }
  state_ = "stale";
  message_ = message.empty() ? "the node list's source reported that it lost the cluster" : message;
}

RouteSyncInfo RemoteNodes::Sync() const {
  std::lock_guard lock(mu_);
  RouteSyncInfo info;
  info.state = state_;
  info.message = message_;
  if (received_at_ms_) {
    const int64_t age = now_() - *received_at_ms_;
    info.age_ms = age > 0 ? static_cast<uint64_t>(age) : 0;  // a clock set back is no age
  }
  info.nodes = current_.nodes_routed;
  info.prefixes = static_cast<uint32_t>(current_.routes.size());
  return info;
}

// {"version": 1, "received_at_ms": 1764525000000,
//  "nodes": [{"name": "node-2", "address": "192.168.1.12", "pod_cidrs": ["10.244.2.0/24"]}]}
absl::Status RemoteNodes::SaveRecord(const std::vector<RemoteNodeSpec>& nodes,
                                     int64_t received_at_ms) const {
  nlohmann::json list = nlohmann::json::array();
  for (const RemoteNodeSpec& node : nodes) {
    list.push_back({{"name", node.name}, {"address", node.address}, {"pod_cidrs", node.pod_cidrs}});
  }
  const nlohmann::json record = {
      {"version", kRecordVersion}, {"received_at_ms", received_at_ms}, {"nodes", list}};
  return WriteFileAtomically(record_path_, record.dump(2));
}

absl::StatusOr<std::optional<std::pair<std::vector<RemoteNodeSpec>, int64_t>>>
RemoteNodes::LoadRecord() const {
  auto content = ReadFile(record_path_);
  if (absl::IsNotFound(content.status())) return std::nullopt;
  if (!content.ok()) return content.status();
  const nlohmann::json record =
      nlohmann::json::parse(*content, nullptr, /*allow_exceptions=*/false);
  const std::string fix = " (the next SetRemoteNodes replaces it)";
  if (record.is_discarded() || !record.is_object()) {
    return absl::DataLossError(absl::StrCat("not valid JSON", fix));
  }
  if (!record.contains("version") || !record["version"].is_number_integer() ||
      record["version"].get<int>() != kRecordVersion) {
    return absl::FailedPreconditionError(
        absl::StrCat("not version ", kRecordVersion, " (written by another dpcni version?)", fix));
  }
  if (!record.contains("nodes") || !record["nodes"].is_array() ||
      !record.contains("received_at_ms") || !record["received_at_ms"].is_number_integer()) {
    return absl::DataLossError(absl::StrCat("no nodes list or received_at_ms", fix));
  }
  std::vector<RemoteNodeSpec> nodes;
  for (const nlohmann::json& node : record["nodes"]) {
    if (!node.is_object() || !node.contains("name") || !node["name"].is_string() ||
        !node.contains("address") || !node["address"].is_string() || !node.contains("pod_cidrs") ||
        !node["pod_cidrs"].is_array()) {
      return absl::DataLossError(absl::StrCat("a node without name, address or pod_cidrs", fix));
    }
    RemoteNodeSpec spec{node["name"].get<std::string>(), node["address"].get<std::string>(), {}};
    for (const nlohmann::json& cidr : node["pod_cidrs"]) {
      if (!cidr.is_string())
        return absl::DataLossError(absl::StrCat("a pod CIDR not a string", fix));
      spec.pod_cidrs.push_back(cidr.get<std::string>());
    }
    nodes.push_back(std::move(spec));
  }
  return std::make_pair(std::move(nodes), record["received_at_ms"].get<int64_t>());
}

}  // namespace dpcni::dataplane
