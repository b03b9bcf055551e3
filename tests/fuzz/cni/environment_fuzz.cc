// libFuzzer target: the CNI_* environment a runtime execs the plugin with (cni/environment.h),
// ParseEnvironment and ParseCniArgs, and the whole plugin (RunPlugin, cni/plugin.cc) run with it
// and a valid netconf against an in-memory agent (tests/cni/testing/fake_agent_client.h).
//
// An input is the environment, one "NAME=value" per line (a line without '=' is a name with an
// empty value); inputs holding a NUL byte are skipped, as no exec environment can carry one.
//
// Invariants: either an Environment or CNI error 4 with a message, which the plugin prints as JSON
// with that code, exiting 1 without asking the agent;
// for ADD, DEL and CHECK a parsed Environment has a valid container id, an interface name the
// kernel would take (1-15 bytes, not "." or "..", no '/', ':' or whitespace) and a netns unless it
// is a DEL; and the verb is the one CNI_COMMAND names. ParseCniArgs on the CNI_ARGS value alone
// answers the same way.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <absl/strings/ascii.h>
#include <absl/strings/str_split.h>
#include <absl/strings/string_view.h>
#include <nlohmann/json.hpp>

#include "cni/cni_error.h"
#include "cni/environment.h"
#include "cni/plugin.h"
#include "cni/version.h"
#include "tests/cni/testing/fake_agent_client.h"
#include "tests/fuzz/fuzz_check.h"
#include "tests/fuzz/quiet_log.h"

namespace dpcni::cni {
namespace {

void CheckError(const absl::Status& status, const char* what) {
  const ErrorCode code = CniErrorCodeOf(status);
  FUZZ_CHECK(code == ErrorCode::kInvalidEnvironmentVariables, "%s failed with CNI code %d: %s",
             what, static_cast<int>(code), status.ToString().c_str());
  FUZZ_CHECK(!status.message().empty(), "%s: an error without a message", what);
}

// The plugin run with `variables` and a valid netconf; whether the agent was asked.
PluginOutcome Run(const EnvironmentVariables& variables, bool* agent_asked) {
  std::istringstream stdin_stream(
      R"({"cniVersion":"1.1.0","name":"k8s-pod-network","type":"dpcni"})");
  *agent_asked = false;
  const fuzz::QuietLog quiet;
  return RunPlugin(variables, stdin_stream,
                   [agent_asked](const std::string&) -> std::unique_ptr<AgentClient> {
                     *agent_asked = true;
                     return std::make_unique<dpcni::testing::FakeAgentClient>();
                   });
}

void Check(absl::string_view input) {
  EnvironmentVariables variables;
  for (absl::string_view line : absl::StrSplit(input, '\n')) {
    std::pair<std::string, std::string> variable = absl::StrSplit(line, absl::MaxSplits('=', 1));
    variables.insert_or_assign(std::move(variable.first), std::move(variable.second));
  }
  const absl::StatusOr<Environment> environment = ParseEnvironment(variables);
  bool agent_asked = false;
  const PluginOutcome outcome = Run(variables, &agent_asked);
  if (!outcome.stdout_text.empty()) {
    FUZZ_CHECK(!nlohmann::json::parse(outcome.stdout_text, nullptr, false).is_discarded(),
               "the plugin printed no JSON: %s", outcome.stdout_text.c_str());
  }
  if (!environment.ok()) {
    CheckError(environment.status(), "ParseEnvironment");
    FUZZ_CHECK(outcome.exit_code == 1 && !agent_asked, "exit %d for a refused environment",
               outcome.exit_code);
    const nlohmann::json error = nlohmann::json::parse(outcome.stdout_text, nullptr, false);
    FUZZ_CHECK(!error.is_discarded() && error.value("code", 0) == 4,
               "the plugin printed no CNI error 4: %s", outcome.stdout_text.c_str());
  } else {
    const auto command = variables.find("CNI_COMMAND");
    FUZZ_CHECK(command != variables.end() && command->second == VerbName(environment->verb),
               "verb %s from CNI_COMMAND=%s", std::string(VerbName(environment->verb)).c_str(),
               command == variables.end() ? "(unset)" : command->second.c_str());
    const Verb verb = environment->verb;
    if (verb == Verb::kAdd || verb == Verb::kDel || verb == Verb::kCheck) {
      FUZZ_CHECK(IsValidCniIdentifier(environment->container_id), "accepted container id %s",
                 environment->container_id.c_str());
      const std::string& ifname = environment->ifname;
      FUZZ_CHECK(!ifname.empty() && ifname.size() <= 15 && ifname != "." && ifname != "..",
                 "accepted ifname %s", ifname.c_str());
      for (char c : ifname) {
        FUZZ_CHECK(c != '/' && c != ':' && !absl::ascii_isspace(c), "accepted ifname %s",
                   ifname.c_str());
      }
      FUZZ_CHECK(verb == Verb::kDel || !environment->netns.empty(), "accepted an empty CNI_NETNS");
    }
  }
  if (const auto cni_args = variables.find("CNI_ARGS"); cni_args != variables.end()) {
    const absl::StatusOr<PodIdentity> pod = ParseCniArgs(cni_args->second);
    if (!pod.ok()) CheckError(pod.status(), "ParseCniArgs");
  }
}

}  // namespace
}  // namespace dpcni::cni

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view input(reinterpret_cast<const char*>(data), size);
  if (input.find('\0') != absl::string_view::npos) {
    return -1;  // not added to the corpus
  }
  dpcni::cni::Check(input);
  return 0;
}
