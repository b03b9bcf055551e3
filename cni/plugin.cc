#include "cni/plugin.h"

#include <iterator>

#include <absl/strings/str_cat.h>

#include "cni/cni_error.h"
#include "cni/handlers.h"
#include "cni/netconf.h"
#include "cni/status_macros.h"
#include "cni/version.h"
#include "common/log.h"

namespace dpcni::cni {
namespace {

absl::StatusOr<std::string> ReadAll(std::istream& stream) {
  std::string text(std::istreambuf_iterator<char>(stream), {});
  if (stream.bad()) {
    return CniError(ErrorCode::kIoFailure, "cannot read the netconf from stdin");
  }
  return text;
}

// Runs `verb` and returns what goes to stdout on success (empty for verbs without a result).
absl::StatusOr<std::string> RunVerb(const Environment& environment, absl::string_view stdin_text,
                                    const AgentClientFactory& make_agent_client) {
  if (environment.verb == Verb::kVersion) {
    return FormatVersionResult(ReplyCniVersion(stdin_text)).dump();
  }
  ASSIGN_OR_RETURN(NetConf conf, ParseNetConf(stdin_text));
  std::unique_ptr<AgentClient> agent = make_agent_client(conf.agent_socket);
  switch (environment.verb) {
    case Verb::kAdd: {
      ASSIGN_OR_RETURN(nlohmann::json result, HandleAdd(environment, conf, *agent));
      return result.dump();
    }
    case Verb::kDel:
      RETURN_IF_ERROR(HandleDel(environment, conf, *agent));
      return std::string();
    case Verb::kCheck:
      RETURN_IF_ERROR(HandleCheck(environment, conf, *agent));
      return std::string();
    case Verb::kStatus:
      RETURN_IF_ERROR(HandleStatus(conf, *agent));
      return std::string();
    case Verb::kGc: {
      ASSIGN_OR_RETURN(v1::GarbageCollectResponse response, HandleGc(conf, *agent));
      for (const v1::Attachment& removed : response.removed()) {
        DPCNI_LOG(kInfo, "GC", "agent removed stale attachment ", removed.container_id(), "/",
                  removed.ifname(), " of network ", conf.name);
      }
      return std::string();
    }
    case Verb::kVersion:
      break;
  }
  return CniError(ErrorCode::kInternal, "unhandled CNI verb");
}

}  // namespace

PluginOutcome RunPlugin(const EnvironmentVariables& variables, std::istream& stdin_stream,
                        const AgentClientFactory& make_agent_client) {
  absl::StatusOr<Environment> environment = ParseEnvironment(variables);
  absl::StatusOr<std::string> stdin_text = ReadAll(stdin_stream);
  absl::StatusOr<std::string> output = !environment.ok() ? environment.status()
                                       : !stdin_text.ok()
                                           ? stdin_text.status()
                                           : RunVerb(*environment, *stdin_text, make_agent_client);
  if (output.ok()) {
    return {.stdout_text = output->empty() ? std::string() : absl::StrCat(*output, "\n"),
            .exit_code = 0};
  }
  nlohmann::json error = FormatError(output.status(), ReplyCniVersion(stdin_text.value_or("")));
  // The error quotes what it refuses, and that may not be UTF-8 (a netconf in Latin-1, a byte a
  // runtime put in CNI_ARGS): nlohmann's dump throws on such a string, which would end the plugin
  // without any error object. Printed with U+FFFD in their place, the error still reaches the
  // runtime.
  const std::string printed =
      error.dump(-1, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
  // "error dpcni ADD <container>: {the error object}", or without the verb when CNI_COMMAND is bad.
  DPCNI_LOG(kError,
            environment.ok() ? absl::StrCat(VerbName(environment->verb),
                                            environment->container_id.empty() ? "" : " ",
                                            environment->container_id)
                             : std::string(),
            printed);
  return {.stdout_text = absl::StrCat(printed, "\n"), .exit_code = 1};
}

}  // namespace dpcni::cni
