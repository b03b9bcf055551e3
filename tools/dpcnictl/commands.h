// dpcnictl's commands: each reads one thing from the agent and prints it for an operator.
#pragma once

#include <ostream>
#include <string>

#include <absl/status/status.h>
#include <absl/strings/string_view.h>
#include <absl/time/time.h>

#include "dpcni/v1/dpcni.pb.h"

namespace dpcni::dpcnictl {

inline constexpr absl::string_view kDefaultAgentSocket = "/run/dpcni/dpcni.sock";
inline constexpr absl::string_view kUsage =
    "dpcnictl [--socket PATH] status|pods|ports|routes|neighbours|flows\n"
    "       dpcnictl [--socket PATH] probe live|ready";
// How long a probe waits for the agent's answer: well inside Kubernetes' default probe timeout.
inline constexpr absl::Duration kProbeDeadline = absl::Seconds(2);

// Readiness, pods, pod CIDRs, the routes to other nodes and how current they are, then one line per
// node port (host port, uplink) with its link.
void PrintStatus(const v1::StatusResponse& status, std::ostream& out);
// One row per pod attachment, sorted by pod then interface.
void PrintPods(const v1::ListPodsResponse& pods, std::ostream& out);
// One row per port, sorted by port id; drops by reason and events by kind.
void PrintPortStats(const v1::GetPortStatsResponse& stats, std::ostream& out);
// In the agent's order; another node's pod CIDR names the node and the mode (host-gw, vxlan,
// kernel).
void PrintRoutes(const v1::ListRoutesResponse& routes, std::ostream& out);
// The uplink's neighbours in the agent's order (by address), ages as durations ("1.2s").
void PrintNeighbours(const v1::ListNeighboursResponse& neighbours, std::ostream& out);

// The flow table's counters, then its flows (kernel-forwarded flows whose replies go back through
// the kernel) sorted by reply port, then protocol and addresses; ages as durations.
void PrintFlows(const v1::ListFlowsResponse& flows, std::ostream& out);

// Runs `command` against the agent listening on `socket_path`. An unknown command is
// InvalidArgument; an unreachable agent is Unavailable with a message naming the socket; an agent
// that answers but is not ready yet is FailedPrecondition with what it waits for.
absl::Status RunCommand(absl::string_view command, const std::string& socket_path,
                        std::ostream& out);

// Kubernetes' probes of the agent's container (exec probes: the exit code is the answer). "live":
// OK when the agent answers Status at all, ready or not (an agent waiting for its pod CIDRs is
// alive). "ready": OK only when Status says ready. Else an error whose one-line message says why;
// an unknown kind is InvalidArgument. Prints one line on success.
absl::Status RunProbe(absl::string_view kind, const std::string& socket_path, std::ostream& out);

}  // namespace dpcni::dpcnictl
