// Execs the built `dpcni` binary the way containerd does: CNI_* environment, netconf on stdin.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "tests/cni/testing/fake_agent.h"
#include "tests/cni/testing/subprocess.h"

namespace dpcni::cni {
namespace {

using ::testing::HasSubstr;
using ::testing::IsEmpty;
using ::testing::Not;

using Environment = std::map<std::string, std::string>;

testing::ProcessResult RunPlugin(const Environment& environment, const nlohmann::json& stdin_json) {
  return testing::RunProcess(DPCNI_PLUGIN_PATH, {}, environment, stdin_json.dump());
}

nlohmann::json Conf(const std::string& socket, const std::string& version = "1.1.0") {
  return {{"cniVersion", version},
          {"name", "k8s-pod-network"},
          {"type", "dpcni"},
          {"agentSocket", socket}};
}

Environment AddEnvironment() {
  return {{"CNI_COMMAND", "ADD"},
          {"CNI_CONTAINERID", "3f2a9c"},
          {"CNI_NETNS", "/var/run/netns/cni-1"},
          {"CNI_IFNAME", "eth0"},
          {"CNI_PATH", "/opt/cni/bin"},
          {"CNI_ARGS", "IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0"}};
}

// The error object on stdout, after checking the exit code says failure.
nlohmann::json ErrorOf(const testing::ProcessResult& result) {
  EXPECT_NE(result.exit_code, 0);
  EXPECT_THAT(result.stderr_text, Not(IsEmpty())) << "failures are logged to stderr";
  return nlohmann::json::parse(result.stdout_text);
}

TEST(PluginBinary, VersionListsSupportedVersions) {
  testing::ProcessResult result =
      RunPlugin({{"CNI_COMMAND", "VERSION"}}, {{"cniVersion", "1.0.0"}});
  ASSERT_EQ(result.exit_code, 0) << result.stdout_text << result.stderr_text;
  nlohmann::json expected = {{"cniVersion", "1.0.0"},
                             {"supportedVersions", {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}}};
  EXPECT_EQ(nlohmann::json::parse(result.stdout_text), expected);
}

TEST(PluginBinary, AddWithoutContainerIdIsError4NamingIt) {
  testing::TemporaryDirectory directory;
  Environment environment = AddEnvironment();
  environment.erase("CNI_CONTAINERID");
  nlohmann::json error =
      ErrorOf(RunPlugin(environment, Conf((directory.path() / "a.sock").string())));
  EXPECT_EQ(error["code"], 4);
  EXPECT_THAT(error["msg"].get<std::string>(), HasSubstr("CNI_CONTAINERID"));
}

TEST(PluginBinary, AddWithoutAgentIsError11) {
  testing::TemporaryDirectory directory;
  std::string socket = (directory.path() / "agent.sock").string();
  nlohmann::json error = ErrorOf(RunPlugin(AddEnvironment(), Conf(socket)));
  EXPECT_EQ(error["code"], 11);
  EXPECT_EQ(error["cniVersion"], "1.1.0");
  EXPECT_THAT(error["msg"].get<std::string>(), HasSubstr(socket));
}

TEST(PluginBinary, DelWithoutAgentIsQueuedAndSucceeds) {
  testing::TemporaryDirectory directory;
  Environment environment = AddEnvironment();
  environment["CNI_COMMAND"] = "DEL";
  testing::ProcessResult result =
      RunPlugin(environment, Conf((directory.path() / "agent.sock").string()));
  EXPECT_EQ(result.exit_code, 0) << result.stdout_text << result.stderr_text;
  EXPECT_TRUE(std::filesystem::exists(directory.path() / "pending-deletes" / "3f2a9c:eth0.del"));
}

TEST(PluginBinary, StatusWithoutAgentIsError50) {
  testing::TemporaryDirectory directory;
  nlohmann::json error = ErrorOf(
      RunPlugin({{"CNI_COMMAND", "STATUS"}}, Conf((directory.path() / "agent.sock").string())));
  EXPECT_EQ(error["code"], 50);
}

TEST(PluginBinary, AddPrintsTheAgentsAddressesForThePod) {
  testing::FakeAgentReplies replies;
  replies.add_pod.mutable_interface()->set_mac("02:00:0a:f4:01:07");
  v1::IpAddress* ip = replies.add_pod.add_ips();
  ip->set_cidr("10.244.1.7/24");
  ip->set_gateway("10.244.1.1");
  testing::FakeAgent agent(replies);
  testing::UnixSocketServer server(agent);

  testing::ProcessResult result = RunPlugin(AddEnvironment(), Conf(server.socket_path(), "1.0.0"));
  ASSERT_EQ(result.exit_code, 0) << result.stdout_text << result.stderr_text;
  nlohmann::json output = nlohmann::json::parse(result.stdout_text);
  EXPECT_EQ(output["cniVersion"], "1.0.0");
  EXPECT_EQ(output["interfaces"][0], nlohmann::json({{"name", "eth0"},
                                                     {"mac", "02:00:0a:f4:01:07"},
                                                     {"sandbox", "/var/run/netns/cni-1"}}));
  EXPECT_EQ(
      output["ips"][0],
      nlohmann::json({{"address", "10.244.1.7/24"}, {"gateway", "10.244.1.1"}, {"interface", 0}}));
  ASSERT_TRUE(agent.last_add_pod().has_value());
  EXPECT_EQ(agent.last_add_pod()->pod().namespace_(), "shop");
  EXPECT_EQ(agent.last_add_pod()->pod().name(), "web-0");
}

// containerd's second DEL after the sandbox is gone carries an empty CNI_NETNS; whether the pod
// still exists is the agent's business, and an OK from it is success.
TEST(PluginBinary, DelWithEmptyNetnsReachesTheAgent) {
  testing::FakeAgent agent;
  testing::UnixSocketServer server(agent);
  Environment environment = AddEnvironment();
  environment["CNI_COMMAND"] = "DEL";
  environment["CNI_NETNS"] = "";
  testing::ProcessResult result = RunPlugin(environment, Conf(server.socket_path()));
  EXPECT_EQ(result.exit_code, 0) << result.stdout_text << result.stderr_text;
  EXPECT_THAT(result.stdout_text, IsEmpty());
  ASSERT_TRUE(agent.last_del_pod().has_value());
  EXPECT_EQ(agent.last_del_pod()->attachment().container_id(), "3f2a9c");
  EXPECT_EQ(agent.last_del_pod()->attachment().netns_path(), "");
}

}  // namespace
}  // namespace dpcni::cni
