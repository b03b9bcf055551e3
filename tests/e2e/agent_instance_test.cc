// One agent per node's state: a second dpcni-agent started on the same state dir, or on the socket
// another agent serves, refuses before it touches anything (no EAL, no taps, no state files), says
// which process holds the state, and leaves the first agent serving. Backend-independent, so it is
// its own binary and stays out of the VM lane.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <iostream>
#include <string>

#include "absl/strings/str_cat.h"
#include "harness.h"

namespace dpcni::e2e {
namespace {

class AgentInstanceTest : public NodeTest<> {
 protected:
  // A second agent in the same node netns, with the first's config and `flags` on top.
  CommandResult StartSecond(const std::vector<std::string>& flags) {
    std::vector<std::string> argv = {DPCNI_AGENT_PATH, "--config", node_->agent().config_path()};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunIn(node_->netns().name(), argv, std::chrono::seconds(30));
  }

  bool FirstStillServes() {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(5));
    dpcni::v1::StatusResponse status;
    return node_->agent().api().Status(&context, {}, &status).ok() && status.ready();
  }
};

TEST_F(AgentInstanceTest, SecondAgentOnTheSameStateDirRefusesNamingTheHolder) {
  const std::string pods_before = Slurp(node_->agent().state_dir() + "/pods.json");
  CommandResult second = StartSecond({});
  EXPECT_EQ(second.exit_code, 1) << second.Describe();
  EXPECT_NE(
      second.err.find(absl::StrCat("in use by another dpcni-agent (PID ", node_->agent().pid())),
      std::string::npos)
      << second.Describe();
  // It stopped before EAL: no "EAL:" line, and the first agent's socket and state are untouched.
  EXPECT_EQ(second.err.find("EAL:"), std::string::npos) << second.Describe();
  EXPECT_TRUE(std::filesystem::exists(node_->agent().socket_path()));
  EXPECT_EQ(Slurp(node_->agent().state_dir() + "/pods.json"), pods_before);
  EXPECT_TRUE(FirstStillServes());
}

TEST_F(AgentInstanceTest, SecondAgentOnAServedSocketRefusesAndLeavesItAlone) {
  const std::string own_state = node_->agent().state_dir() + ".second";
  const std::string prefix = std::filesystem::path(own_state).filename().string();
  CommandResult second =
      StartSecond({"--state_dir", own_state, "--file_prefix", prefix + "-second"});
  std::filesystem::remove_all(own_state);
  EXPECT_EQ(second.exit_code, 1) << second.Describe();
  EXPECT_NE(second.err.find("another process serves the socket " + node_->agent().socket_path()),
            std::string::npos)
      << second.Describe();
  EXPECT_TRUE(std::filesystem::exists(node_->agent().socket_path()));
  EXPECT_TRUE(FirstStillServes());
}

TEST_F(AgentInstanceTest, StateIsFreeAgainOnceTheFirstStops) {
  // EAL's runtime folder is named after the agent's file prefix, its work folder's name.
  const std::string runtime_dir = absl::StrCat(
      "/var/run/dpdk/",
      std::filesystem::path(node_->agent().state_dir()).parent_path().filename().string());
  ASSERT_TRUE(std::filesystem::is_directory(runtime_dir)) << runtime_dir << " while it runs";
  node_->agent().Stop();
  EXPECT_FALSE(std::filesystem::exists(node_->agent().socket_path())) << "its own socket goes";
  EXPECT_FALSE(std::filesystem::exists(runtime_dir))
      << "and EAL's runtime folder goes: " << runtime_dir;
  std::string failure;
  ASSERT_TRUE(node_->agent().Start(&failure)) << failure;
  EXPECT_TRUE(FirstStillServes());
}

}  // namespace
}  // namespace dpcni::e2e
