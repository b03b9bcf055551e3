#include "tools/dpcnictl/commands.h"

#include <algorithm>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <absl/strings/str_cat.h>
#include <absl/strings/str_format.h>
#include <absl/strings/str_join.h>
#include <absl/time/time.h>

#include "tools/dpcnictl/agent_reader.h"
#include "tools/dpcnictl/table.h"

namespace dpcni::dpcnictl {
namespace {

// Container ids are 64 hex digits; like `crictl ps`, the first 13 tell them apart.
constexpr size_t kContainerIdPrefix = 13;

std::string PodName(const v1::PodRef& pod) {
  return pod.name().empty() ? "-" : absl::StrCat(pod.namespace_(), "/", pod.name());
}

std::string OrDash(const std::string& text) { return text.empty() ? "-" : text; }

std::string JoinCidrs(const google::protobuf::RepeatedPtrField<v1::IpAddress>& ips) {
  std::vector<std::string> cidrs;
  for (const v1::IpAddress& ip : ips) cidrs.push_back(ip.cidr());
  return cidrs.empty() ? "-" : absl::StrJoin(cidrs, ",");
}

// "no_route=3 ttl_expired=1", by name; "-" when there is nothing to count.
std::string FormatCounts(const google::protobuf::Map<std::string, uint64_t>& drops) {
  std::map<std::string, uint64_t> by_reason(drops.begin(), drops.end());
  std::vector<std::string> parts;
  parts.reserve(by_reason.size());
  for (const auto& [reason, count] : by_reason) parts.push_back(absl::StrCat(reason, "=", count));
  return parts.empty() ? "-" : absl::StrJoin(parts, " ");
}

// "10 Gbit/s", "100 Mbit/s".
std::string FormatSpeed(uint32_t mbps) {
  return mbps % 1000 == 0 ? absl::StrCat(mbps / 1000, " Gbit/s") : absl::StrCat(mbps, " Mbit/s");
}

// "0000:03:00.0 (port 0, net_ixgbe): up, 10 Gbit/s"; the driver when the agent names it, the speed
// only when the port knows it.
std::string FormatLink(const v1::PortLink& link) {
  std::string text = absl::StrCat(OrDash(link.name()), " (port ", link.port_id(),
                                  link.driver().empty() ? "" : ", ", link.driver(),
                                  "): ", link.up() ? "up" : "down");
  if (link.speed_mbps() != 0) absl::StrAppend(&text, ", ", FormatSpeed(link.speed_mbps()));
  return text;
}

// One line, for a probe's output and kubelet's event.
std::string OneLine(absl::string_view text) {
  std::string line(text);
  std::replace(line.begin(), line.end(), '\n', ' ');
  return line;
}

// An agent that is up but has no pods to show yet (it waits for its pod CIDRs) refuses the other
// calls with UNAVAILABLE, as an absent one does: its Status tells the two apart.
absl::Status ExplainUnavailable(AgentReader& agent, const std::string& socket_path,
                                absl::Status failed) {
  if (failed.code() != absl::StatusCode::kUnavailable) return failed;
  auto status = agent.Status();
  if (!status.ok() || status->ready()) return failed;
  return absl::FailedPreconditionError(
      absl::StrCat("dpcni-agent at ", socket_path, " is not ready: ", status->message()));
}

// Fetches with `fetch` and prints with `print`, or returns the fetch's error.
template <typename Fetch, typename Print>
absl::Status FetchAndPrint(AgentReader& agent, const std::string& socket_path, Fetch fetch,
                           Print print, std::ostream& out) {
  auto response = fetch();
  if (!response.ok()) return ExplainUnavailable(agent, socket_path, response.status());
  print(*response, out);
  return absl::OkStatus();
}

// "stale, list 1m30s old: watch nodes: connection refused"; "unset (no SetRemoteNodes yet)".
std::string FormatRouteSync(const v1::RouteSync& sync) {
  if (sync.state().empty()) return "-";  // an agent from before remote routes
  if (sync.state() == "unset") {
    return sync.message().empty() ? "unset (no node list yet)"
                                  : absl::StrCat("unset: ", OneLine(sync.message()));
  }
  std::string text = absl::StrCat(sync.state(), ", list ",
                                  absl::FormatDuration(absl::Milliseconds(sync.age_ms())), " old");
  if (!sync.message().empty()) absl::StrAppend(&text, ": ", OneLine(sync.message()));
  return text;
}

}  // namespace

void PrintStatus(const v1::StatusResponse& status, std::ostream& out) {
  std::vector<std::pair<std::string, std::string>> fields = {
      {"ready", status.ready() ? "yes" : "no"},
      {"message", OrDash(status.message())},
      {"pods",
       absl::StrCat(status.pods(), " of ", status.pod_capacity(),
                    status.pods_degraded() == 0
                        ? ""
                        : absl::StrCat(", ", status.pods_degraded(),
                                       " degraded (not attached: dpcnictl pods says why)"))},
      {"addresses", absl::StrCat(status.addresses_in_use(), " in use")},
      {"default backend", OrDash(status.default_backend())},
      {"pod CIDRs", status.pod_cidrs().empty() ? "-" : absl::StrJoin(status.pod_cidrs(), ", ")},
      {"mbufs", absl::StrCat(status.mbufs_in_use(), " in use of ", status.mbuf_pool_size())},
      {"remote routes", absl::StrCat(status.route_sync().nodes(), " nodes, ",
                                     status.route_sync().prefixes(), " pod CIDRs")},
      {"route sync", FormatRouteSync(status.route_sync())},
  };
  for (const v1::PortLink& link : status.links()) {
    fields.emplace_back(absl::StrCat(link.role(), " port"), FormatLink(link));
  }
  for (const auto& [name, value] : fields) {
    out << absl::StrFormat("%-17s%s\n", name + ":", value);
  }
}

void PrintPods(const v1::ListPodsResponse& pods, std::ostream& out) {
  std::vector<const v1::PodInfo*> sorted;
  for (const v1::PodInfo& pod : pods.pods()) sorted.push_back(&pod);
  std::sort(sorted.begin(), sorted.end(), [](const v1::PodInfo* a, const v1::PodInfo* b) {
    return std::forward_as_tuple(a->pod().namespace_(), a->pod().name(), a->attachment().ifname()) <
           std::forward_as_tuple(b->pod().namespace_(), b->pod().name(), b->attachment().ifname());
  });
  Table table(
      {{"POD"}, {"CONTAINER"}, {"IFNAME"}, {"IP"}, {"MAC"}, {"BACKEND"}, {"PORT", Align::kRight}});
  std::vector<std::string> degraded;
  for (const v1::PodInfo* pod : sorted) {
    table.AddRow({PodName(pod->pod()),
                  pod->attachment().container_id().substr(0, kContainerIdPrefix),
                  pod->attachment().ifname(), JoinCidrs(pod->ips()), OrDash(pod->interface().mac()),
                  OrDash(pod->backend()), pod->degraded() ? "-" : absl::StrCat(pod->port_id())});
    if (pod->degraded()) {
      degraded.push_back(absl::StrCat(
          "  ", PodName(pod->pod()), " ", pod->attachment().ifname(), ": ", pod->attach_attempts(),
          " failed attempts, the last: ", OneLine(pod->degraded_reason())));
    }
  }
  table.Print(out);
  // Below the table: a reason is too long for a column, and the table stays as scripts know it.
  if (!degraded.empty()) {
    out << "degraded: not attached to the dataplane since the agent restarted; they keep their "
           "interface and addresses, the agent retries:\n";
    for (const std::string& line : degraded) out << line << "\n";
  }
}

void PrintPortStats(const v1::GetPortStatsResponse& stats, std::ostream& out) {
  std::vector<const v1::PortStats*> sorted;
  for (const v1::PortStats& port : stats.ports()) sorted.push_back(&port);
  std::sort(sorted.begin(), sorted.end(), [](const v1::PortStats* a, const v1::PortStats* b) {
    return a->port_id() < b->port_id();
  });
  Table table({{"PORT", Align::kRight},
               {"NAME"},
               {"BACKEND"},
               {"RX PACKETS", Align::kRight},
               {"RX BYTES", Align::kRight},
               {"TX PACKETS", Align::kRight},
               {"TX BYTES", Align::kRight},
               {"DROPS"},
               {"EVENTS"}});
  for (const v1::PortStats* port : sorted) {
    table.AddRow({absl::StrCat(port->port_id()), OrDash(port->name()), OrDash(port->backend()),
                  absl::StrCat(port->rx_packets()), absl::StrCat(port->rx_bytes()),
                  absl::StrCat(port->tx_packets()), absl::StrCat(port->tx_bytes()),
                  FormatCounts(port->drops()), FormatCounts(port->events())});
  }
  table.Print(out);
}

void PrintRoutes(const v1::ListRoutesResponse& routes, std::ostream& out) {
  Table table({{"PREFIX"}, {"NEXT HOP"}, {"NODE"}, {"MODE"}});
  for (const v1::RouteEntry& route : routes.routes()) {
    table.AddRow(
        {route.prefix(), OrDash(route.next_hop()), OrDash(route.node()), OrDash(route.mode())});
  }
  table.Print(out);
}

void PrintNeighbours(const v1::ListNeighboursResponse& neighbours, std::ostream& out) {
  Table table({{"IP"}, {"MAC"}, {"STATE"}, {"AGE", Align::kRight}});
  for (const v1::Neighbour& neighbour : neighbours.neighbours()) {
    table.AddRow({neighbour.ip(), OrDash(neighbour.mac()), OrDash(neighbour.state()),
                  absl::FormatDuration(absl::Milliseconds(neighbour.age_ms()))});
  }
  table.Print(out);
}

void PrintFlows(const v1::ListFlowsResponse& flows, std::ostream& out) {
  const v1::FlowTableStats& stats = flows.stats();
  if (stats.capacity() == 0) {
    out << "flow table: off (flow_table.size is 0): replies always take their direct route\n";
    return;
  }
  out << absl::StrFormat(
      "flow table: %u of %u entries; %u inserted, %u replies steered to the kernel, %u expired, "
      "%u evicted, %u not kept (full)\n",
      stats.entries(), stats.capacity(), stats.inserts(), stats.hits(), stats.expiries(),
      stats.evictions(), stats.insert_failures());
  std::vector<const v1::Flow*> sorted;
  for (const v1::Flow& flow : flows.flows()) sorted.push_back(&flow);
  std::sort(sorted.begin(), sorted.end(), [](const v1::Flow* a, const v1::Flow* b) {
    return std::forward_as_tuple(a->reply_port(), a->protocol(), a->reply_source(),
                                 a->reply_destination()) <
           std::forward_as_tuple(b->reply_port(), b->protocol(), b->reply_source(),
                                 b->reply_destination());
  });
  Table table({{"PROTO"},
               {"REPLY FROM"},
               {"REPLY TO"},
               {"REPLIES ON"},
               {"STATE"},
               {"AGE", Align::kRight},
               {"TIMEOUT", Align::kRight}});
  for (const v1::Flow* flow : sorted) {
    table.AddRow({flow->protocol(), flow->reply_source(), flow->reply_destination(),
                  OrDash(flow->reply_port()), OrDash(flow->state()),
                  absl::FormatDuration(absl::Milliseconds(flow->age_ms())),
                  absl::FormatDuration(absl::Milliseconds(flow->timeout_ms()))});
  }
  table.Print(out);
}

absl::Status RunCommand(absl::string_view command, const std::string& socket_path,
                        std::ostream& out) {
  AgentReader agent(socket_path);
  if (command == "status") {
    return FetchAndPrint(
        agent, socket_path, [&] { return agent.Status(); }, PrintStatus, out);
  }
  if (command == "pods") {
    return FetchAndPrint(
        agent, socket_path, [&] { return agent.ListPods(); }, PrintPods, out);
  }
  if (command == "ports") {
    return FetchAndPrint(
        agent, socket_path, [&] { return agent.GetPortStats(); }, PrintPortStats, out);
  }
  if (command == "routes") {
    return FetchAndPrint(
        agent, socket_path, [&] { return agent.ListRoutes(); }, PrintRoutes, out);
  }
  if (command == "neighbours") {
    return FetchAndPrint(
        agent, socket_path, [&] { return agent.ListNeighbours(); }, PrintNeighbours, out);
  }
  if (command == "flows") {
    return FetchAndPrint(
        agent, socket_path, [&] { return agent.ListFlows(); }, PrintFlows, out);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown command \"", command, "\"; usage: ", kUsage));
}

absl::Status RunProbe(absl::string_view kind, const std::string& socket_path, std::ostream& out) {
  if (kind != "live" && kind != "ready") {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown probe \"", kind, "\" (live or ready); usage: ", kUsage));
  }
  AgentReader agent(socket_path, kProbeDeadline);
  auto status = agent.Status();
  if (!status.ok()) return absl::Status(status.status().code(), OneLine(status.status().message()));
  if (kind == "live") {
    out << "live: dpcni-agent answers"
        << (status->ready() ? "" : absl::StrCat(" (not ready: ", OneLine(status->message()), ")"))
        << "\n";
    return absl::OkStatus();
  }
  if (!status->ready()) {
    return absl::UnavailableError(
        absl::StrCat("dpcni-agent is not ready: ", OneLine(status->message())));
  }
  out << "ready: " << OneLine(status->message()) << "\n";
  return absl::OkStatus();
}

}  // namespace dpcni::dpcnictl
