// Running code inside a pod's network namespace. setns() switches only the calling thread, so each
// call gets a short-lived thread of its own and the agent's other threads stay in the node
// namespace.
#pragma once

#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dpcni::dataplane {

// Opens the network namespace at `netns_path` for setns(): a file descriptor the caller closes.
// NotFoundError when it does not exist; InvalidArgumentError, without blocking, when the path is a
// FIFO, a regular file, another kind of namespace, or a symbolic link other than
// /proc/<pid>/ns/net.
absl::StatusOr<int> OpenNetns(const std::string& netns_path);

// Runs `fn` on a new thread that has joined the network namespace at `netns_path`, and waits for
// it. NotFoundError when the namespace does not exist (e.g. the pod sandbox is already gone).
absl::Status RunInNetns(const std::string& netns_path, absl::FunctionRef<absl::Status()> fn);

bool NetnsExists(const std::string& netns_path);

}  // namespace dpcni::dataplane
