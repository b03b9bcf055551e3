// Turns the agent's gRPC status into the CNI error the runtime acts on (see docs/cni.md).
#pragma once

#include <absl/status/status.h>
#include <absl/strings/string_view.h>

#include "cni/environment.h"

namespace dpcni::cni {

// `agent_status` is a failed status from AgentClient; `what_failed` says which operation on which
// pod, e.g. "cannot add pod default/web-0 (container 3f2a..., eth0)".
absl::Status CniErrorFromAgent(const absl::Status& agent_status, Verb verb,
                               absl::string_view what_failed);

}  // namespace dpcni::cni
