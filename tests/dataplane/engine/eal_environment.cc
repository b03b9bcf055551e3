// One EAL per test process, initialized before the first test and torn down after the last. Each
// process gets its own file prefix and no shared config, so parallel ctest runs do not collide.
#include <rte_eal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace dpcni::dataplane {
namespace {

class EalEnvironment : public ::testing::Environment {
 public:
  void SetUp() override {
    std::string file_prefix = "dpcni-engine-test-" + std::to_string(getpid());
    std::vector<std::string> args = {
        "dpcni-engine-test", "--no-huge", "-m", "256", "--no-shconf", "--no-pci",
        "--file-prefix", file_prefix,
        // Main lcore 0 and worker lcores 1 and 2, all allowed on either CPU of this small machine.
        "--lcores", "(0-2)@(0-1)", "--log-level", "lib.eal:warning"};
    std::vector<char*> argv;
    for (std::string& arg : args) {
      argv.push_back(arg.data());
    }
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0) << "rte_eal_init failed";
  }

  void TearDown() override { rte_eal_cleanup(); }
};

[[maybe_unused]] const ::testing::Environment* const kEal =
    ::testing::AddGlobalTestEnvironment(new EalEnvironment());

}  // namespace
}  // namespace dpcni::dataplane
