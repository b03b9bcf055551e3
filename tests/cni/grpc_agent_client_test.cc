#include "cni/grpc_agent_client.h"

#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "cni/cni_error.h"
#include "cni/handlers.h"
#include "tests/cni/testing/fake_agent.h"

namespace dpcni::cni {
namespace {

using ::testing::HasSubstr;

Environment PodEnvironment(Verb verb) {
  return {.verb = verb, .container_id = "c1", .netns = "/var/run/netns/p", .ifname = "eth0"};
}

NetConf Conf() {
  NetConf conf;
  conf.cni_version = "1.1.0";
  conf.name = "k8s-pod-network";
  conf.prev_result = CniResult{.interfaces = {{.name = "eth0", .sandbox = "/var/run/netns/p"}}};
  return conf;
}

TEST(GrpcAgentClient, CarriesRequestAndReplyOverTheSocket) {
  testing::FakeAgentReplies replies;
  replies.add_pod.add_ips()->set_cidr("10.244.1.7/24");
  replies.add_pod.set_backend("vhost-net");
  testing::FakeAgent agent(replies);
  testing::UnixSocketServer server(agent);
  GrpcAgentClient client(server.socket_path());

  v1::AddPodRequest request;
  request.mutable_attachment()->set_container_id("c1");
  request.set_network("k8s-pod-network");
  absl::StatusOr<v1::AddPodResponse> response = client.AddPod(request);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->ips(0).cidr(), "10.244.1.7/24");
  EXPECT_EQ(response->backend(), "vhost-net");
  ASSERT_TRUE(agent.last_add_pod().has_value());
  EXPECT_EQ(agent.last_add_pod()->attachment().container_id(), "c1");
  EXPECT_EQ(agent.last_add_pod()->network(), "k8s-pod-network");
}

TEST(GrpcAgentClient, KeepsTheAgentsCodeAndNamesSocketAndMethod) {
  testing::FakeAgent agent;
  testing::UnixSocketServer server(agent);
  agent.FailWith(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED, "pod limit 32 reached"));
  absl::StatusOr<v1::AddPodResponse> response =
      GrpcAgentClient(server.socket_path()).AddPod(v1::AddPodRequest());
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kResourceExhausted);
  std::string message(response.status().message());
  EXPECT_THAT(message, HasSubstr(server.socket_path()));
  EXPECT_THAT(message, HasSubstr("AddPod"));
  EXPECT_THAT(message, HasSubstr("pod limit 32 reached"));
}

// What each verb reports when the real agent (over gRPC) answers with a given status code.
struct WireMappingCase {
  const char* name;
  grpc::StatusCode agent_code;
  Verb verb;
  ErrorCode expected;
};

absl::Status RunVerb(Verb verb, AgentClient& client) {
  switch (verb) {
    case Verb::kAdd:
      return HandleAdd(PodEnvironment(verb), Conf(), client).status();
    case Verb::kDel:
      return HandleDel(PodEnvironment(verb), Conf(), client);
    case Verb::kCheck:
      return HandleCheck(PodEnvironment(verb), Conf(), client);
    case Verb::kStatus:
      return HandleStatus(Conf(), client);
    case Verb::kGc:
      return HandleGc(Conf(), client).status();
    case Verb::kVersion:
      break;
  }
  return absl::InternalError("VERSION does not reach the agent");
}

class WireMappingTest : public ::testing::TestWithParam<WireMappingCase> {};

TEST_P(WireMappingTest, AgentStatusBecomesTheCniCode) {
  testing::FakeAgent agent;
  testing::UnixSocketServer server(agent);
  agent.FailWith(grpc::Status(GetParam().agent_code, "agent explains"));
  GrpcAgentClient client(server.socket_path());
  absl::Status status = RunVerb(GetParam().verb, client);
  EXPECT_EQ(CniErrorCodeOf(status), GetParam().expected) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr("agent explains"));
}

INSTANTIATE_TEST_SUITE_P(
    GrpcAgentClient, WireMappingTest,
    ::testing::Values(WireMappingCase{"UnavailableOnAdd", grpc::StatusCode::UNAVAILABLE, Verb::kAdd,
                                      ErrorCode::kTryAgainLater},
                      // UNAVAILABLE on DEL is queued instead (StaleSocketDelIsQueued).
                      WireMappingCase{"DeadlineExceededOnDel", grpc::StatusCode::DEADLINE_EXCEEDED,
                                      Verb::kDel, ErrorCode::kTryAgainLater},
                      WireMappingCase{"UnavailableOnGc", grpc::StatusCode::UNAVAILABLE, Verb::kGc,
                                      ErrorCode::kTryAgainLater},
                      WireMappingCase{"UnavailableOnStatus", grpc::StatusCode::UNAVAILABLE,
                                      Verb::kStatus, ErrorCode::kPluginNotAvailable},
                      WireMappingCase{"InvalidArgumentOnAdd", grpc::StatusCode::INVALID_ARGUMENT,
                                      Verb::kAdd, ErrorCode::kInvalidNetworkConfig},
                      WireMappingCase{"ResourceExhaustedOnAdd",
                                      grpc::StatusCode::RESOURCE_EXHAUSTED, Verb::kAdd,
                                      ErrorCode::kAgentOutOfResources},
                      WireMappingCase{"NotFoundOnCheck", grpc::StatusCode::NOT_FOUND, Verb::kCheck,
                                      ErrorCode::kAttachmentUnknownToAgent},
                      WireMappingCase{"FailedPreconditionOnCheck",
                                      grpc::StatusCode::FAILED_PRECONDITION, Verb::kCheck,
                                      ErrorCode::kAttachmentStateMismatch},
                      WireMappingCase{"InternalOnDel", grpc::StatusCode::INTERNAL, Verb::kDel,
                                      ErrorCode::kInternal},
                      WireMappingCase{"UnimplementedOnGc", grpc::StatusCode::UNIMPLEMENTED,
                                      Verb::kGc, ErrorCode::kInternal}),
    [](const ::testing::TestParamInfo<WireMappingCase>& info) {
      return std::string(info.param.name);
    });

TEST(GrpcAgentClient, MissingSocketIsUnavailableNamingIt) {
  testing::TemporaryDirectory directory;
  std::string socket = (directory.path() / "absent.sock").string();
  GrpcAgentClient client(socket);
  absl::StatusOr<v1::StatusResponse> response = client.Status(v1::StatusRequest());
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(std::string(response.status().message()), HasSubstr(socket));
  EXPECT_EQ(CniErrorCodeOf(RunVerb(Verb::kAdd, client)), ErrorCode::kTryAgainLater);
  EXPECT_EQ(CniErrorCodeOf(RunVerb(Verb::kStatus, client)), ErrorCode::kPluginNotAvailable);
}

// What an agent that died leaves behind: its socket file, bound once and never listened on, so that
// connecting to it is refused. Empty when it cannot be made.
std::string StaleSocket(const std::filesystem::path& dir) {
  const std::string socket = (dir / "stale.sock").string();
  const int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (fd < 0) return "";
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strncpy(address.sun_path, socket.c_str(), sizeof(address.sun_path) - 1);
  const int bound = bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  close(fd);
  return bound == 0 ? socket : "";
}

// An agent that died leaves its socket file behind; connecting to it is refused.
TEST(GrpcAgentClient, StaleSocketIsUnavailable) {
  testing::TemporaryDirectory directory;
  const std::string socket = StaleSocket(directory.path());
  ASSERT_FALSE(socket.empty());

  GrpcAgentClient client(socket);
  EXPECT_EQ(CniErrorCodeOf(RunVerb(Verb::kAdd, client)), ErrorCode::kTryAgainLater);
  EXPECT_EQ(CniErrorCodeOf(RunVerb(Verb::kStatus, client)), ErrorCode::kPluginNotAvailable);
}

// The same dead agent on DEL: the DEL is queued beside its socket for the next agent, and succeeds.
TEST(GrpcAgentClient, StaleSocketDelIsQueued) {
  testing::TemporaryDirectory directory;
  const std::string socket = StaleSocket(directory.path());
  ASSERT_FALSE(socket.empty());

  GrpcAgentClient client(socket);
  NetConf conf = Conf();
  conf.agent_socket = socket;
  EXPECT_TRUE(HandleDel(PodEnvironment(Verb::kDel), conf, client).ok());
  EXPECT_TRUE(std::filesystem::exists(directory.path() / "pending-deletes" / "c1:eth0.del"));
}

TEST(GrpcAgentClient, AgentTooSlowIsDeadlineExceeded) {
  testing::FakeAgent agent;
  testing::UnixSocketServer server(agent);
  agent.HangUntilCancelled();
  AgentDeadlines short_deadlines{.add_pod = absl::Milliseconds(200),
                                 .del_pod = absl::Milliseconds(200),
                                 .check_pod = absl::Milliseconds(200),
                                 .status = absl::Milliseconds(200),
                                 .garbage_collect = absl::Milliseconds(200)};
  GrpcAgentClient client(server.socket_path(), short_deadlines);
  absl::StatusOr<v1::AddPodResponse> response = client.AddPod(v1::AddPodRequest());
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(CniErrorCodeOf(RunVerb(Verb::kAdd, client)), ErrorCode::kTryAgainLater);
  EXPECT_EQ(CniErrorCodeOf(RunVerb(Verb::kStatus, client)), ErrorCode::kPluginNotAvailable);
}

}  // namespace
}  // namespace dpcni::cni
