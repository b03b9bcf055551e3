// Linked into a test binary (as an object, so that its environment registers itself), brings up one
// EAL for the whole process before the first test and tears it down after the last: no hugepages,
// no PCI, no shared files, a file prefix of its own, so test binaries run side by side.
//
// If EAL cannot start, the process exits with a failure before any test runs. An assertion in
// Environment::SetUp would not do: gtest then reports every test as skipped, and ctest (which
// gtest_discover_tests tells to treat "[  SKIPPED ]" as a skip whatever the exit status) hides the
// failure.
#include <rte_eal.h>
#include <rte_errno.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

#include "gtest/gtest.h"

namespace dpcni::dataplane::testing {
namespace {

class TestEal : public ::testing::Environment {
 public:
  void SetUp() override {
    std::vector<std::string> args = {
        "dpcni-test", "--no-huge", "-m", "256", "--no-shconf", "--no-pci", "--file-prefix",
        "dpcni-test-" + std::to_string(::getpid()),
        // The main lcore and two workers, each allowed on either CPU of a small machine.
        "--lcores", "(0-2)@(0-1)", "--log-level", "lib.eal:warning"};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    if (rte_eal_init(static_cast<int>(argv.size()), argv.data()) < 0) {
      std::fprintf(stderr, "rte_eal_init failed: %s (EAL's messages above)\n",
                   rte_strerror(rte_errno));
      std::exit(EXIT_FAILURE);
    }
  }

  // EAL leaves its runtime directory (/var/run/dpdk/<file prefix>) behind, even with --no-shconf.
  void TearDown() override {
    const std::string runtime_dir = rte_eal_get_runtime_dir();
    rte_eal_cleanup();
    std::error_code ignored;
    std::filesystem::remove_all(runtime_dir, ignored);
  }
};

[[maybe_unused]] const ::testing::Environment* const kTestEal =
    ::testing::AddGlobalTestEnvironment(new TestEal());

}  // namespace
}  // namespace dpcni::dataplane::testing
