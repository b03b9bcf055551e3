// Durable whole-file replacement for the agent's state (IPAM allocations, pod records): a crash at
// any point leaves either the old or the new content on disk, never a torn file.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dpcni {

// Writes `content` to a temporary file beside `path`, fsyncs it, renames it over `path` and fsyncs
// the directory, so the rename itself survives a power loss.
absl::Status WriteFileAtomically(const std::string& path, const std::string& content);

// Reads the whole file; NotFoundError when it does not exist.
absl::StatusOr<std::string> ReadFile(const std::string& path);

}  // namespace dpcni
