// libFuzzer target: the netconf a runtime writes to the plugin's stdin (cni/netconf.h):
// ParseNetConf, ReplyCniVersion, and the whole plugin (RunPlugin, cni/plugin.cc) running DEL with
// it against an in-memory agent (tests/cni/testing/fake_agent_client.h).
//
// Invariants: the parser returns a netconf or a CNI error with one of the codes netconf.h names
// (1, 2, 6, 7) and a message; the plugin then prints that error as JSON with that code and exits
// 1, or with a netconf that parsed asks the agent and exits 0, printing nothing; the
// reply version is always a supported one, and equals the netconf's own when it parsed; a parsed
// netconf holds only what validation promises (a supported version, a valid name, an absolute
// agent socket, an MTU of 0 or 68..65535, IPv4 route destinations).
#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>

#include <absl/strings/string_view.h>
#include <nlohmann/json.hpp>

#include "cni/cni_error.h"
#include "cni/environment.h"
#include "cni/netconf.h"
#include "cni/plugin.h"
#include "cni/version.h"
#include "tests/cni/testing/fake_agent_client.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/quiet_log.h"

namespace dpcni::cni {
namespace {

// DEL with `text` on stdin, as a runtime runs the plugin; whether the agent was asked.
PluginOutcome RunDel(absl::string_view text, bool* agent_asked) {
  const EnvironmentVariables variables = {{"CNI_COMMAND", "DEL"},
                                          {"CNI_CONTAINERID", "c0ffee"},
                                          {"CNI_NETNS", "/var/run/netns/pod"},
                                          {"CNI_IFNAME", "eth0"}};
  std::istringstream stdin_stream{std::string(text)};
  *agent_asked = false;
  const fuzz::QuietLog quiet;
  return RunPlugin(variables, stdin_stream,
                   [agent_asked](const std::string&) -> std::unique_ptr<AgentClient> {
                     *agent_asked = true;
                     return std::make_unique<dpcni::testing::FakeAgentClient>();
                   });
}

void Check(absl::string_view text) {
  const absl::StatusOr<NetConf> conf = ParseNetConf(text);
  const std::string reply_version = ReplyCniVersion(text);
  FUZZ_CHECK(IsSupportedCniVersion(reply_version), "reply version %s", reply_version.c_str());
  if (!conf.ok()) {
    const ErrorCode code = CniErrorCodeOf(conf.status());
    FUZZ_CHECK(code == ErrorCode::kIncompatibleCniVersion || code == ErrorCode::kUnsupportedField ||
                   code == ErrorCode::kDecodingFailure || code == ErrorCode::kInvalidNetworkConfig,
               "ParseNetConf failed with CNI code %d: %s", static_cast<int>(code),
               conf.status().ToString().c_str());
    FUZZ_CHECK(!conf.status().message().empty(), "an error without a message");
  }
  bool agent_asked = false;
  const PluginOutcome outcome = RunDel(text, &agent_asked);
  if (!conf.ok()) {
    FUZZ_CHECK(outcome.exit_code == 1 && !agent_asked, "exit %d for a refused netconf",
               outcome.exit_code);
    const nlohmann::json error = nlohmann::json::parse(outcome.stdout_text, nullptr, false);
    FUZZ_CHECK(!error.is_discarded() &&
                   error.value("code", 0) == static_cast<int>(CniErrorCodeOf(conf.status())),
               "the plugin printed no CNI error with the parser's code: %s",
               outcome.stdout_text.c_str());
    return;
  }
  FUZZ_CHECK(outcome.exit_code == 0 && agent_asked && outcome.stdout_text.empty(),
             "DEL with a valid netconf: exit %d, %s", outcome.exit_code,
             outcome.stdout_text.c_str());
  FUZZ_CHECK(IsSupportedCniVersion(conf->cni_version), "accepted cniVersion %s",
             conf->cni_version.c_str());
  FUZZ_CHECK(conf->cni_version == reply_version, "parsed %s, replies %s", conf->cni_version.c_str(),
             reply_version.c_str());
  FUZZ_CHECK(IsValidCniIdentifier(conf->name), "accepted name %s", conf->name.c_str());
  FUZZ_CHECK(conf->agent_socket.starts_with('/'), "accepted agentSocket %s",
             conf->agent_socket.c_str());
  FUZZ_CHECK(conf->mtu == 0 || (conf->mtu >= 68 && conf->mtu <= 65535), "accepted mtu %u",
             conf->mtu);
  if (conf->routes.has_value()) {
    for (const ResultRoute& route : *conf->routes) {
      FUZZ_CHECK(
          route.dst.find('/') != std::string::npos && route.dst.find(':') == std::string::npos,
          "accepted route dst %s", route.dst.c_str());
    }
  }
}

}  // namespace
}  // namespace dpcni::cni

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  dpcni::cni::Check(absl::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
