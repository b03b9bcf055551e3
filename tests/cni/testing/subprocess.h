// Runs a program the way a container runtime execs a CNI plugin: a chosen environment (nothing
// inherited), stdin text, and stdout/stderr captured separately.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace dpcni::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 when the process did not exit normally
  std::string stdout_text;
  std::string stderr_text;
};

ProcessResult RunProcess(const std::string& program, const std::vector<std::string>& arguments,
                         const std::map<std::string, std::string>& environment,
                         const std::string& stdin_text);

}  // namespace dpcni::testing
