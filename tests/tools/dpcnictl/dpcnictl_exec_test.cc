// Runs the built dpcnictl binary.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "tests/cni/testing/fake_agent.h"
#include "tests/cni/testing/subprocess.h"
#include "tests/tools/dpcnictl/dpcnictl_test_data.h"

namespace dpcni::dpcnictl {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::StartsWith;

testing::ProcessResult RunDpcnictl(const std::vector<std::string>& arguments) {
  return testing::RunProcess(DPCNICTL_PATH, arguments, {}, "");
}

TEST(DpcnictlBinary, PrintsThePodsTable) {
  testing::FakeAgent agent(KnownAgentState());
  testing::UnixSocketServer server(agent);
  testing::ProcessResult result = RunDpcnictl({"--socket", server.socket_path(), "pods"});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, StartsWith("POD "));
  EXPECT_THAT(result.stdout_text, HasSubstr("shop/web-0"));
  EXPECT_THAT(result.stdout_text, HasSubstr("10.244.1.7/24"));
}

TEST(DpcnictlBinary, PrintsTheNeighbours) {
  testing::FakeAgent agent(KnownAgentState());
  testing::UnixSocketServer server(agent);
  testing::ProcessResult result = RunDpcnictl({"--socket", server.socket_path(), "neighbours"});
  EXPECT_EQ(result.exit_code, 0) << result.stderr_text;
  EXPECT_THAT(result.stdout_text, StartsWith("IP "));
  EXPECT_THAT(result.stdout_text, HasSubstr("192.168.1.254  02:00:c0:a8:01:fe  stale"));
}

TEST(DpcnictlBinary, UnreachableAgentExits1NamingTheSocket) {
  testing::TemporaryDirectory directory;
  std::string socket = (directory.path() / "agent.sock").string();
  testing::ProcessResult result = RunDpcnictl({"--socket=" + socket, "status"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_THAT(result.stdout_text, IsEmpty());
  EXPECT_THAT(result.stderr_text, HasSubstr("cannot reach dpcni-agent at " + socket));
}

TEST(DpcnictlBinary, ProbesExitZeroOnlyForWhatTheyCheck) {
  v1::StatusResponse waiting;
  waiting.set_ready(false);
  waiting.set_message("waiting for the node's pod CIDRs");
  testing::FakeAgentReplies replies;
  replies.status = waiting;
  testing::FakeAgent agent(replies);
  testing::UnixSocketServer server(agent);
  testing::ProcessResult live = RunDpcnictl({"--socket", server.socket_path(), "probe", "live"});
  EXPECT_EQ(live.exit_code, 0) << live.stderr_text;
  testing::ProcessResult ready = RunDpcnictl({"--socket", server.socket_path(), "probe", "ready"});
  EXPECT_EQ(ready.exit_code, 1);
  EXPECT_EQ(ready.stderr_text,
            "dpcnictl: dpcni-agent is not ready: waiting for the node's pod CIDRs\n");

  testing::FakeAgent serving(KnownAgentState());
  testing::UnixSocketServer serving_server(serving);
  ready = RunDpcnictl({"--socket", serving_server.socket_path(), "probe", "ready"});
  EXPECT_EQ(ready.exit_code, 0) << ready.stderr_text;
  EXPECT_EQ(ready.stdout_text, "ready: serving\n");

  testing::ProcessResult unknown = RunDpcnictl({"--socket", server.socket_path(), "probe", "up"});
  EXPECT_EQ(unknown.exit_code, 2);
}

TEST(DpcnictlBinary, HelpListsTheCommandsAndTheSocketFlag) {
  testing::ProcessResult result = RunDpcnictl({"--help"});
  const std::string help = result.stdout_text + result.stderr_text;
  EXPECT_THAT(help, HasSubstr("flows"));
  EXPECT_THAT(help, HasSubstr("probe live"));
  EXPECT_THAT(help, HasSubstr("probe ready"));
  EXPECT_THAT(help, HasSubstr("--socket"));
  EXPECT_THAT(help, HasSubstr("/run/dpcni/dpcni.sock"));
  EXPECT_THAT(help, ::testing::Not(HasSubstr("No flags matched")));
}

TEST(DpcnictlBinary, WrongCommandLineExits2WithUsage) {
  for (const std::vector<std::string>& arguments :
       {std::vector<std::string>{}, std::vector<std::string>{"status", "pods"},
        std::vector<std::string>{"frobnicate"}}) {
    testing::ProcessResult result = RunDpcnictl(arguments);
    EXPECT_EQ(result.exit_code, 2) << result.stderr_text;
    EXPECT_THAT(result.stderr_text, HasSubstr("status|pods|ports|routes|neighbours"));
  }
}

}  // namespace
}  // namespace dpcni::dpcnictl
