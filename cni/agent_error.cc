#include "cni/agent_error.h"

#include <absl/strings/str_cat.h>

#include "cni/cni_error.h"

namespace dpcni::cni {
namespace {

ErrorCode CniCodeFor(absl::StatusCode agent_code, Verb verb) {
  switch (agent_code) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kDeadlineExceeded:
      // The agent is down or busy: STATUS reports the plugin unavailable; every other verb asks
      // the runtime to retry, which it does for ADD/DEL with backoff.
      return verb == Verb::kStatus ? ErrorCode::kPluginNotAvailable : ErrorCode::kTryAgainLater;
    case absl::StatusCode::kInvalidArgument:
      return ErrorCode::kInvalidNetworkConfig;
    case absl::StatusCode::kResourceExhausted:
      return ErrorCode::kAgentOutOfResources;
    case absl::StatusCode::kNotFound:
      return verb == Verb::kCheck ? ErrorCode::kAttachmentUnknownToAgent : ErrorCode::kInternal;
    case absl::StatusCode::kFailedPrecondition:
      return verb == Verb::kCheck ? ErrorCode::kAttachmentStateMismatch : ErrorCode::kInternal;
    default:
      return ErrorCode::kInternal;
  }
}

}  // namespace

absl::Status CniErrorFromAgent(const absl::Status& agent_status, Verb verb,
                               absl::string_view what_failed) {
  return CniError(CniCodeFor(agent_status.code(), verb),
                  absl::StrCat(what_failed, ": ", agent_status.message()),
                  absl::StrCat("agent status ", absl::StatusCodeToString(agent_status.code())));
}

}  // namespace dpcni::cni
