// The agent binary's own help, as an operator first meets it (no root, no EAL: --help exits first).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/cni/testing/subprocess.h"

namespace dpcni::dataplane {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(AgentBinary, HelpNamesTheConfigFileAndListsEveryFlag) {
  dpcni::testing::ProcessResult result =
      dpcni::testing::RunProcess(DPCNI_AGENT_PATH, {"--help"}, {}, "");
  const std::string help = result.stdout_text + result.stderr_text;
  EXPECT_THAT(help, HasSubstr("/etc/dpcni/agent.yaml"));
  for (const char* flag :
       {"--config", "--socket", "--state_dir", "--backend", "--file_prefix", "--log_level"}) {
    EXPECT_THAT(help, HasSubstr(flag)) << help;
  }
  EXPECT_THAT(help, Not(HasSubstr("No flags matched")));
}

}  // namespace
}  // namespace dpcni::dataplane
