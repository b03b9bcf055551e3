// dpcni: the CNI plugin the container runtime execs. See docs/cni.md.
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string>

#include "cni/grpc_agent_client.h"
#include "cni/plugin.h"
#include "common/log.h"

namespace {

dpcni::cni::EnvironmentVariables ReadEnvironment() {
  dpcni::cni::EnvironmentVariables variables;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    absl::string_view text(*entry);
    size_t equals = text.find('=');
    if (equals != absl::string_view::npos) {
      variables.emplace(text.substr(0, equals), text.substr(equals + 1));
    }
  }
  return variables;
}

}  // namespace

int main() {
  // No flag or netconf key sets a level: the plugin logs only failures and GC removals, at info.
  dpcni::SetLogProgram("dpcni");
  dpcni::cni::PluginOutcome outcome =
      dpcni::cni::RunPlugin(ReadEnvironment(), std::cin, [](const std::string& socket) {
        return std::make_unique<dpcni::cni::GrpcAgentClient>(socket);
      });
  std::cout << outcome.stdout_text << std::flush;
  return outcome.exit_code;
}
