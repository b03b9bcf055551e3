#include "cni/plugin.h"

#include <sstream>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "common/log.h"
#include "tests/cni/testing/fake_agent_client.h"
#include "tests/common/testing/captured_stderr.h"

namespace dpcni::cni {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;

// Runs the plugin against one FakeAgentClient and remembers which socket it was made for.
class PluginTest : public ::testing::Test {
 protected:
  PluginTest() { SetLogProgram("dpcni"); }

  PluginOutcome Run(const EnvironmentVariables& variables, const std::string& stdin_text) {
    std::istringstream stdin_stream(stdin_text);
    return RunPlugin(variables, stdin_stream, Factory());
  }

  AgentClientFactory Factory() {
    return [this](const std::string& socket) -> std::unique_ptr<AgentClient> {
      socket_ = socket;
      return std::make_unique<ForwardingClient>(agent_);
    };
  }

  // Hands calls to the test's FakeAgentClient, which outlives the plugin run.
  class ForwardingClient final : public AgentClient {
   public:
    explicit ForwardingClient(AgentClient& target) : target_(target) {}
    absl::StatusOr<v1::AddPodResponse> AddPod(const v1::AddPodRequest& r) override {
      return target_.AddPod(r);
    }
    absl::StatusOr<v1::DelPodResponse> DelPod(const v1::DelPodRequest& r) override {
      return target_.DelPod(r);
    }
    absl::StatusOr<v1::CheckPodResponse> CheckPod(const v1::CheckPodRequest& r) override {
      return target_.CheckPod(r);
    }
    absl::StatusOr<v1::StatusResponse> Status(const v1::StatusRequest& r) override {
      return target_.Status(r);
    }
    absl::StatusOr<v1::GarbageCollectResponse> GarbageCollect(
        const v1::GarbageCollectRequest& r) override {
      return target_.GarbageCollect(r);
    }

   private:
    AgentClient& target_;
  };

  testing::FakeAgentClient agent_;
  std::string socket_;
  // What the plugin logs: stderr in the binary.
  testing::CapturedStderr log_;
};

const char kConf[] = R"({"cniVersion":"1.0.0","name":"k8s-pod-network","type":"dpcni",
                         "agentSocket":"/run/test/agent.sock"})";

EnvironmentVariables AddVariables() {
  return {{"CNI_COMMAND", "ADD"},
          {"CNI_CONTAINERID", "c1"},
          {"CNI_NETNS", "/var/run/netns/p"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_ARGS", "K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p"}};
}

TEST_F(PluginTest, VersionNeedsOnlyTheCommand) {
  PluginOutcome outcome = Run({{"CNI_COMMAND", "VERSION"}}, R"({"cniVersion":"0.4.0"})");
  EXPECT_EQ(outcome.exit_code, 0);
  nlohmann::json output = nlohmann::json::parse(outcome.stdout_text);
  EXPECT_EQ(output["cniVersion"], "0.4.0");
  EXPECT_EQ(output["supportedVersions"].size(), 5u);
  EXPECT_TRUE(socket_.empty()) << "VERSION must not contact the agent";
}

TEST_F(PluginTest, AddPrintsTheResultAndDialsTheConfiguredSocket) {
  agent_.add_pod_reply->add_ips()->set_cidr("10.244.1.7/24");
  PluginOutcome outcome = Run(AddVariables(), kConf);
  EXPECT_EQ(outcome.exit_code, 0) << outcome.stdout_text;
  nlohmann::json output = nlohmann::json::parse(outcome.stdout_text);
  EXPECT_EQ(output["cniVersion"], "1.0.0");
  EXPECT_EQ(output["ips"][0]["address"], "10.244.1.7/24");
  EXPECT_EQ(socket_, "/run/test/agent.sock");
  ASSERT_TRUE(agent_.add_pod_request.has_value());
  EXPECT_EQ(agent_.add_pod_request->pod().name(), "p");
}

TEST_F(PluginTest, VerbsWithoutResultPrintNothing) {
  for (const char* command : {"DEL", "STATUS", "GC"}) {
    agent_.status_reply->set_ready(true);
    EnvironmentVariables variables = AddVariables();
    variables["CNI_COMMAND"] = command;
    PluginOutcome outcome =
        Run(variables, R"({"cniVersion":"1.1.0","name":"k8s-pod-network","type":"dpcni"})");
    EXPECT_EQ(outcome.exit_code, 0) << command << ": " << outcome.stdout_text;
    EXPECT_THAT(outcome.stdout_text, IsEmpty()) << command;
  }
}

TEST_F(PluginTest, ErrorsAreCniErrorObjectsInTheConfVersion) {
  EnvironmentVariables variables = AddVariables();
  variables.erase("CNI_IFNAME");
  PluginOutcome outcome = Run(variables, R"({"cniVersion":"0.3.1","name":"n","type":"dpcni"})");
  EXPECT_NE(outcome.exit_code, 0);
  nlohmann::json error = nlohmann::json::parse(outcome.stdout_text);
  EXPECT_EQ(error["cniVersion"], "0.3.1");
  EXPECT_EQ(error["code"], 4);
  EXPECT_THAT(error["msg"].get<std::string>(), HasSubstr("CNI_IFNAME"));
  // Without a valid environment, the line names no verb.
  EXPECT_THAT(log_.Stop(), ::testing::StartsWith("error dpcni: {"));
  EXPECT_THAT(log_.Stop(), HasSubstr("CNI_IFNAME"));
  EXPECT_FALSE(agent_.add_pod_request.has_value());
}

TEST_F(PluginTest, UndecodableNetconfIsError6) {
  PluginOutcome outcome = Run(AddVariables(), "{not json");
  EXPECT_NE(outcome.exit_code, 0);
  nlohmann::json error = nlohmann::json::parse(outcome.stdout_text);
  EXPECT_EQ(error["code"], 6);
  EXPECT_EQ(error["cniVersion"], "1.1.0");
  // One line on stderr naming the verb and the container, with the error object stdout carries.
  EXPECT_EQ(log_.Stop(), absl::StrCat("error dpcni ADD c1: ", outcome.stdout_text));
}

// Found by tests/fuzz/cni/netconf_fuzz.cc and environment_fuzz.cc: an error quoting bytes that are
// no UTF-8 ended the plugin with nlohmann's type_error instead of printing the error.
TEST_F(PluginTest, ErrorsQuotingBytesThatAreNoUtf8AreStillPrinted) {
  EnvironmentVariables variables = AddVariables();
  variables["CNI_COMMAND"] = "AD\xf5";
  PluginOutcome outcome = Run(variables, kConf);
  EXPECT_NE(outcome.exit_code, 0);
  nlohmann::json error = nlohmann::json::parse(outcome.stdout_text);
  EXPECT_EQ(error["code"], 4);
  EXPECT_THAT(error["details"].get<std::string>(), HasSubstr("AD\xef\xbf\xbd"));  // U+FFFD

  outcome = Run(AddVariables(), "{\"cniVersion\": \"1.0.0\", \"name\": \"n\xe9t\"");
  EXPECT_NE(outcome.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(outcome.stdout_text)["code"], 6);
}

TEST_F(PluginTest, UnreadableStdinIsError5) {
  std::istringstream broken(kConf);
  broken.setstate(std::ios::badbit);
  PluginOutcome outcome = RunPlugin(AddVariables(), broken, Factory());
  EXPECT_NE(outcome.exit_code, 0);
  EXPECT_EQ(nlohmann::json::parse(outcome.stdout_text)["code"], 5);
}

TEST_F(PluginTest, GcLogsWhatTheAgentRemoved) {
  v1::Attachment* removed = agent_.garbage_collect_reply->add_removed();
  removed->set_container_id("stale-1");
  removed->set_ifname("eth0");
  nlohmann::json conf = {
      {"cniVersion", "1.1.0"},
      {"name", "k8s-pod-network"},
      {"type", "dpcni"},
      {"cni.dev/valid-attachments", {{{"containerID", "c1"}, {"ifname", "eth0"}}}}};
  PluginOutcome outcome = Run({{"CNI_COMMAND", "GC"}}, conf.dump());
  EXPECT_EQ(outcome.exit_code, 0) << outcome.stdout_text;
  EXPECT_THAT(log_.Stop(),
              HasSubstr("info dpcni GC: agent removed stale attachment stale-1/eth0 of network "
                        "k8s-pod-network\n"));
  ASSERT_TRUE(agent_.garbage_collect_request.has_value());
  EXPECT_EQ(agent_.garbage_collect_request->valid_attachments(0).container_id(), "c1");
}

}  // namespace
}  // namespace dpcni::cni
