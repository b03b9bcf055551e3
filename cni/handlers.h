// One handler per CNI verb that needs the agent. Each checks the verb's own preconditions (its
// minimum cniVersion, the netconf fields it needs), builds the agent request from the environment
// and the netconf, and turns the agent's answer into a CNI result or error.
#pragma once

#include <nlohmann/json.hpp>

#include "cni/agent_client.h"
#include "cni/environment.h"
#include "cni/netconf.h"

namespace dpcni::cni {

// The ADD result in the netconf's cniVersion layout.
absl::StatusOr<nlohmann::json> HandleAdd(const Environment& environment, const NetConf& conf,
                                         AgentClient& agent);

// While the agent is unavailable (down, restarting, or not serving pods yet), the DEL is queued for
// it beside its socket (proto's QueuedDelete) and succeeds, so that kubelet is never stuck behind
// the agent.
absl::Status HandleDel(const Environment& environment, const NetConf& conf, AgentClient& agent);

absl::Status HandleCheck(const Environment& environment, const NetConf& conf, AgentClient& agent);

absl::Status HandleStatus(const NetConf& conf, AgentClient& agent);

// The attachments the agent removed, for the log.
absl::StatusOr<v1::GarbageCollectResponse> HandleGc(const NetConf& conf, AgentClient& agent);

}  // namespace dpcni::cni
