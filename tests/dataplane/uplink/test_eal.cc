// Linked into a test binary, brings up one EAL for the whole process before the first test and
// tears it down after the last: no hugepages, no PCI, no shared files, a file prefix of its own, so
// test binaries run side by side.
#include <rte_eal.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace dpcni::dataplane::testing {
namespace {

class TestEal : public ::testing::Environment {
 public:
  void SetUp() override {
    std::vector<std::string> args = {"dpcni-test",
                                     "--no-huge",
                                     "-m",
                                     "256",
                                     "--no-shconf",
                                     "--no-pci",
                                     "--file-prefix",
                                     "dpcni-test-" + std::to_string(::getpid()),
                                     "--log-level",
                                     "lib.eal:warning"};
    std::vector<char*> argv;
    for (std::string& arg : args) argv.push_back(arg.data());
    ASSERT_GE(rte_eal_init(static_cast<int>(argv.size()), argv.data()), 0) << "rte_eal_init failed";
  }
  void TearDown() override { rte_eal_cleanup(); }
};

[[maybe_unused]] const ::testing::Environment* const kTestEal =
    ::testing::AddGlobalTestEnvironment(new TestEal());

}  // namespace
}  // namespace dpcni::dataplane::testing
