// Running code inside a pod's network namespace. setns() switches only the calling thread, so each
// call gets a short-lived thread of its own and the agent's other threads stay in the node namespace.
#pragma once

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace dpcni::dataplane {

// Runs `fn` on a new thread that has joined the network namespace at `netns_path`, and waits for it.
// NotFoundError when the namespace does not exist (e.g. the pod sandbox is already gone).
absl::Status RunInNetns(const std::string& netns_path, absl::FunctionRef<absl::Status()> fn);

bool NetnsExists(const std::string& netns_path);

}  // namespace dpcni::dataplane
