// One plugin invocation: environment and stdin in, stdout text and exit code out.
#pragma once

#include <functional>
#include <istream>
#include <memory>
#include <string>

#include "cni/agent_client.h"
#include "cni/environment.h"

namespace dpcni::cni {

// Makes the client for the netconf's agentSocket.
using AgentClientFactory = std::function<std::unique_ptr<AgentClient>(const std::string& socket)>;

struct PluginOutcome {
  std::string stdout_text;  // a result, a VERSION result, an error object, or nothing
  int exit_code = 0;
};

// Runs the verb named by CNI_COMMAND. Errors become a CNI error object on stdout and a non-zero
// exit code; the log (common/log.h, stderr: the runtime keeps it) gets one line per failure and per
// GC removal. Nothing but the result goes to stdout, which the runtime parses.
PluginOutcome RunPlugin(const EnvironmentVariables& variables, std::istream& stdin_stream,
                        const AgentClientFactory& make_agent_client);

}  // namespace dpcni::cni
