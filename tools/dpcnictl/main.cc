// dpcnictl: the operator's view of the node agent (see docs/cni.md).
#include <iostream>
#include <string>
#include <vector>

#include <absl/flags/flag.h>
#include <absl/flags/parse.h>
#include <absl/flags/usage.h>
#include <absl/strings/str_cat.h>

#include "common/flags_usage.h"
#include "tools/dpcnictl/commands.h"

ABSL_FLAG(std::string, socket, std::string(dpcni::dpcnictl::kDefaultAgentSocket),
          "path of dpcni-agent's gRPC unix socket");

namespace {

// Exit codes: 0 done, 1 the agent could not be asked, 2 the command line is wrong.
//
// dpcnictl writes no log, so common/log.h is not for it: its stderr is part of its answer, the
// usage or the one line that says why (kubelet puts a failed probe's output into the pod's events),
// and stays plain, whole and unfiltered by any level.
constexpr int kAgentFailed = 1;
constexpr int kUsageError = 2;

}  // namespace

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(absl::StrCat(
      "shows what dpcni-agent on this node knows.\n\n  ", dpcni::dpcnictl::kUsage,
      "\n\n  status      readiness, pod count and capacity, pod CIDRs, node ports' links\n"
      "  pods        pod attachments: pod, container, interface, addresses, MAC, backend, port\n"
      "  ports       per-port packet and byte counters, drops by reason, events\n"
      "  routes      the dataplane's route table\n"
      "  neighbours  the uplink's neighbours: address, MAC, state, age\n"
      "  flows       flows the node's kernel forwarded (Services), whose replies go back to it\n"
      "  probe live  Kubernetes liveness: exit 0 when the agent answers Status at all\n"
      "  probe ready Kubernetes readiness: exit 0 only when the agent is ready (it has its pod\n"
      "              CIDRs and serves pods); else exit 1 with the reason on one line. Both wait\n"
      "              2 s at most"));
  dpcni::ListFlagsOf("tools/dpcnictl/main.cc");
  std::vector<char*> arguments = absl::ParseCommandLine(argc, argv);
  const bool probe = arguments.size() == 3 && std::string(arguments[1]) == "probe";
  if (arguments.size() != 2 && !probe) {
    std::cerr << "usage: " << dpcni::dpcnictl::kUsage << "\n";
    return kUsageError;
  }
  const std::string socket = absl::GetFlag(FLAGS_socket);
  absl::Status status = probe ? dpcni::dpcnictl::RunProbe(arguments[2], socket, std::cout)
                              : dpcni::dpcnictl::RunCommand(arguments[1], socket, std::cout);
  if (!status.ok()) {
    std::cerr << "dpcnictl: " << status.message() << "\n";
    return status.code() == absl::StatusCode::kInvalidArgument ? kUsageError : kAgentFailed;
  }
  return 0;
}
