// A scratch directory for fuzz targets whose code under test reads and writes files (the agent's
// state files): made once per process under $TMPDIR (run_fuzz.sh points it at a directory of the
// run, removed even after a crash), removed at a normal exit.
#pragma once

#include <string>

#include <absl/strings/string_view.h>

namespace dpcni::fuzz {

// The path of `name` in the scratch directory.
std::string ScratchPath(absl::string_view name);

// Writes `content` to `path` (replacing it), or aborts.
void WriteScratchFile(const std::string& path, absl::string_view content);

// The content of `path`, or aborts.
std::string ReadScratchFile(const std::string& path);

}  // namespace dpcni::fuzz
