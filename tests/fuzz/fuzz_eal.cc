#include "tests/fuzz/fuzz_eal.h"

#include <rte_eal.h>
#include <rte_errno.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace dpcni::fuzz {
namespace {

void StopEal() {
  const std::string runtime_dir = rte_eal_get_runtime_dir();
  rte_eal_cleanup();
  std::error_code ignored;
  std::filesystem::remove_all(runtime_dir, ignored);
}

}  // namespace

void StartEal(int /*argc*/, char** argv) {
  const char* prefix = std::getenv("DPCNI_FUZZ_EAL_PREFIX");
  std::vector<std::string> args = {
      argv[0], "--no-huge", "-m", "128", "--no-shconf", "--no-pci", "--file-prefix",
      prefix != nullptr ? prefix : "dpcni-fuzz-" + std::to_string(::getpid()),
      // The main lcore only, allowed on either CPU: `-l 0` would pin the process to CPU 0.
      "--lcores", "0@(0-1)", "--log-level", "lib.eal:error"};
  std::vector<char*> eal_argv;
  for (std::string& arg : args) eal_argv.push_back(arg.data());
  if (rte_eal_init(static_cast<int>(eal_argv.size()), eal_argv.data()) < 0) {
    std::fprintf(stderr, "rte_eal_init failed: %s (EAL's messages above)\n",
                 rte_strerror(rte_errno));
    std::exit(EXIT_FAILURE);
  }
  std::atexit(StopEal);
}

}  // namespace dpcni::fuzz
