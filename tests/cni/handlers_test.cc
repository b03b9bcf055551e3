#include "cni/handlers.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "absl/time/clock.h"
#include "absl/time/time.h"

#include "cni/cni_error.h"
#include "common/atomic_file.h"
#include "tests/cni/testing/fake_agent.h"
#include "tests/cni/testing/fake_agent_client.h"

namespace dpcni::cni {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

Environment PodEnvironment(Verb verb) {
  return {
      .verb = verb,
      .container_id = "3f2a9c",
      .netns = "/var/run/netns/cni-1",
      .ifname = "eth0",
      .pod = {
          .namespace_name = "shop", .name = "web-0", .uid = "u-1", .infra_container_id = "3f2a9c"}};
}

NetConf Conf(const char* version = "1.1.0") {
  NetConf conf;
  conf.cni_version = version;
  conf.name = "k8s-pod-network";
  return conf;
}

v1::AddPodResponse AgentAnswer() {
  v1::AddPodResponse response;
  response.mutable_interface()->set_name("eth0");
  response.mutable_interface()->set_mac("02:00:0a:f4:01:07");
  response.mutable_interface()->set_mtu(1500);
  v1::IpAddress* ip = response.add_ips();
  ip->set_cidr("10.244.1.7/24");
  ip->set_gateway("10.244.1.1");
  v1::Route* route = response.add_routes();
  route->set_dst("0.0.0.0/0");
  route->set_gw("10.244.1.1");
  response.set_backend("tap");
  return response;
}

void ExpectCode(const absl::Status& status, ErrorCode code, const std::string& message_part) {
  EXPECT_EQ(CniErrorCodeOf(status), code) << status;
  EXPECT_THAT(std::string(status.message()), HasSubstr(message_part));
}

TEST(HandleAdd, SendsEverythingTheAgentNeeds) {
  testing::FakeAgentClient agent;
  NetConf conf = Conf();
  conf.mtu = 1400;
  conf.requested_mac = "02:00:00:00:00:09";
  conf.requested_ips = {"10.244.1.9/24", "fd00::9/64"};
  ASSERT_TRUE(HandleAdd(PodEnvironment(Verb::kAdd), conf, agent).ok());

  ASSERT_TRUE(agent.add_pod_request.has_value());
  const v1::AddPodRequest& request = *agent.add_pod_request;
  EXPECT_EQ(request.attachment().container_id(), "3f2a9c");
  EXPECT_EQ(request.attachment().ifname(), "eth0");
  EXPECT_EQ(request.attachment().netns_path(), "/var/run/netns/cni-1");
  EXPECT_EQ(request.pod().namespace_(), "shop");
  EXPECT_EQ(request.pod().name(), "web-0");
  EXPECT_EQ(request.pod().uid(), "u-1");
  EXPECT_EQ(request.pod().infra_container_id(), "3f2a9c");
  EXPECT_EQ(request.requested_mac(), "02:00:00:00:00:09");
  EXPECT_THAT(request.requested_ips(), ElementsAre("10.244.1.9/24", "fd00::9/64"));
  EXPECT_EQ(request.mtu(), 1400u);
  EXPECT_EQ(request.network(), "k8s-pod-network");
  EXPECT_FALSE(request.has_routes());  // no routes in the netconf: the agent decides
}

TEST(HandleAdd, SendsTheNetconfRoutesEvenWhenEmpty) {
  NetConf conf = Conf();
  conf.routes =
      std::vector<ResultRoute>{{.dst = "0.0.0.0/0"}, {.dst = "10.96.0.0/12", .gw = "169.254.1.1"}};
  testing::FakeAgentClient agent;
  ASSERT_TRUE(HandleAdd(PodEnvironment(Verb::kAdd), conf, agent).ok());
  ASSERT_TRUE(agent.add_pod_request.has_value());
  ASSERT_TRUE(agent.add_pod_request->has_routes());
  const auto& routes = agent.add_pod_request->routes().routes();
  ASSERT_EQ(routes.size(), 2);
  EXPECT_EQ(routes[0].dst(), "0.0.0.0/0");
  EXPECT_EQ(routes[0].gw(), "");
  EXPECT_EQ(routes[1].dst(), "10.96.0.0/12");
  EXPECT_EQ(routes[1].gw(), "169.254.1.1");

  conf.routes = std::vector<ResultRoute>{};
  testing::FakeAgentClient without;
  ASSERT_TRUE(HandleAdd(PodEnvironment(Verb::kAdd), conf, without).ok());
  ASSERT_TRUE(without.add_pod_request.has_value());
  EXPECT_TRUE(without.add_pod_request->has_routes());
  EXPECT_TRUE(without.add_pod_request->routes().routes().empty());
}

TEST(HandleAdd, ResultDescribesThePodInterfaceInTheConfVersion) {
  testing::FakeAgentClient agent;
  agent.add_pod_reply = AgentAnswer();
  absl::StatusOr<nlohmann::json> result =
      HandleAdd(PodEnvironment(Verb::kAdd), Conf("0.4.0"), agent);
  ASSERT_TRUE(result.ok()) << result.status();
  nlohmann::json expected = {
      {"cniVersion", "0.4.0"},
      {"interfaces",
       {{{"name", "eth0"}, {"mac", "02:00:0a:f4:01:07"}, {"sandbox", "/var/run/netns/cni-1"}}}},
      {"ips",
       {{{"version", "4"},
         {"address", "10.244.1.7/24"},
         {"gateway", "10.244.1.1"},
         {"interface", 0}}}},
      {"routes", {{{"dst", "0.0.0.0/0"}, {"gw", "10.244.1.1"}}}},
      {"dns", nlohmann::json::object()}};
  EXPECT_EQ(*result, expected);
}

// A plugin handed a prevResult on ADD passes it through and adds its own interface after it.
TEST(HandleAdd, AppendsToAPrevResult) {
  testing::FakeAgentClient agent;
  agent.add_pod_reply = AgentAnswer();
  NetConf conf = Conf();
  conf.prev_result = CniResult{.interfaces = {{.name = "lo", .sandbox = "/var/run/netns/cni-1"}},
                               .ips = {{.address = "127.0.0.1/8", .interface = 0}}};
  absl::StatusOr<nlohmann::json> result = HandleAdd(PodEnvironment(Verb::kAdd), conf, agent);
  ASSERT_TRUE(result.ok()) << result.status();
  ASSERT_EQ((*result)["interfaces"].size(), 2u);
  EXPECT_EQ((*result)["interfaces"][1]["name"], "eth0");
  EXPECT_EQ((*result)["ips"][0]["address"], "127.0.0.1/8");
  EXPECT_EQ((*result)["ips"][1]["address"], "10.244.1.7/24");
  EXPECT_EQ((*result)["ips"][1]["interface"], 1);
}

TEST(HandleAdd, AgentOutOfAddressesIsError100NamingThePod) {
  testing::FakeAgentClient agent;
  agent.add_pod_reply = absl::ResourceExhaustedError("pod CIDR 10.244.1.0/24 is full");
  absl::StatusOr<nlohmann::json> result = HandleAdd(PodEnvironment(Verb::kAdd), Conf(), agent);
  ASSERT_FALSE(result.ok());
  ExpectCode(result.status(), ErrorCode::kAgentOutOfResources, "pod shop/web-0");
  EXPECT_THAT(std::string(result.status().message()), HasSubstr("10.244.1.0/24 is full"));
}

TEST(HandleDel, SendsTheAttachmentEvenWithoutNetns) {
  testing::FakeAgentClient agent;
  Environment environment = PodEnvironment(Verb::kDel);
  environment.netns = "";
  ASSERT_TRUE(HandleDel(environment, Conf(), agent).ok());
  ASSERT_TRUE(agent.del_pod_request.has_value());
  EXPECT_EQ(agent.del_pod_request->attachment().container_id(), "3f2a9c");
  EXPECT_EQ(agent.del_pod_request->attachment().ifname(), "eth0");
  EXPECT_EQ(agent.del_pod_request->attachment().netns_path(), "");
  EXPECT_EQ(agent.del_pod_request->network(), "k8s-pod-network");
}

TEST(HandleDel, AgentUnavailableQueuesTheDelAndSucceeds) {
  testing::TemporaryDirectory socket_dir;
  NetConf conf = Conf();
  conf.agent_socket = (socket_dir.path() / "dpcni.sock").string();
  testing::FakeAgentClient agent;
  agent.del_pod_reply = absl::UnavailableError("connection refused");
  const int64_t before = absl::ToUnixNanos(absl::Now());
  ASSERT_TRUE(HandleDel(PodEnvironment(Verb::kDel), conf, agent).ok());

  const std::string path = (socket_dir.path() / "pending-deletes" / "3f2a9c:eth0.del").string();
  absl::StatusOr<std::string> content = ReadFile(path);
  ASSERT_TRUE(content.ok()) << content.status();
  v1::QueuedDelete queued;
  ASSERT_TRUE(queued.ParseFromString(*content));
  EXPECT_EQ(queued.request().attachment().container_id(), "3f2a9c");
  EXPECT_EQ(queued.request().attachment().ifname(), "eth0");
  EXPECT_EQ(queued.request().attachment().netns_path(), "/var/run/netns/cni-1");
  EXPECT_EQ(queued.request().network(), "k8s-pod-network");
  EXPECT_GE(queued.queued_unix_nanos(), before);
  EXPECT_LE(queued.queued_unix_nanos(), absl::ToUnixNanos(absl::Now()));
}

TEST(HandleDel, AgentPastItsDeadlineIsError11AndNothingQueued) {
  testing::TemporaryDirectory socket_dir;
  NetConf conf = Conf();
  conf.agent_socket = (socket_dir.path() / "dpcni.sock").string();
  testing::FakeAgentClient agent;
  // The agent may be working on it: the runtime retries, nothing is queued behind its back.
  agent.del_pod_reply = absl::DeadlineExceededError("deadline exceeded");
  ExpectCode(HandleDel(PodEnvironment(Verb::kDel), conf, agent), ErrorCode::kTryAgainLater,
             "cannot delete pod shop/web-0");
  EXPECT_FALSE(std::filesystem::exists(socket_dir.path() / "pending-deletes"));
}

TEST(HandleDel, UnwritableQueueIsError11NamingBoth) {
  testing::TemporaryDirectory socket_dir;
  NetConf conf = Conf();
  conf.agent_socket = (socket_dir.path() / "dpcni.sock").string();
  // A file where the queue's folder should be.
  std::ofstream((socket_dir.path() / "pending-deletes").string()) << "in the way";
  testing::FakeAgentClient agent;
  agent.del_pod_reply = absl::UnavailableError("connection refused");
  absl::Status status = HandleDel(PodEnvironment(Verb::kDel), conf, agent);
  ExpectCode(status, ErrorCode::kTryAgainLater, "cannot delete pod shop/web-0");
  EXPECT_THAT(std::string(status.message()), HasSubstr("cannot queue the DEL"));
}

CniResult PrevResultOfTwoInterfaces() {
  return CniResult{.interfaces = {{.name = "cni0", .mac = "02:00:00:00:00:aa"},
                                  {.name = "eth0",
                                   .mac = "02:00:0a:f4:01:07",
                                   .sandbox = "/var/run/netns/cni-1"}},
                   .ips = {{.address = "10.244.1.1/24", .interface = 0},
                           {.address = "10.244.1.7/24", .gateway = "10.244.1.1", .interface = 1},
                           {.address = "fd00::7/64", .interface = 1}}};
}

TEST(HandleCheck, ExpectsWhatPrevResultGaveThePodInterface) {
  testing::FakeAgentClient agent;
  NetConf conf = Conf();
  conf.prev_result = PrevResultOfTwoInterfaces();
  ASSERT_TRUE(HandleCheck(PodEnvironment(Verb::kCheck), conf, agent).ok());
  ASSERT_TRUE(agent.check_pod_request.has_value());
  const v1::CheckPodRequest& request = *agent.check_pod_request;
  EXPECT_EQ(request.attachment().netns_path(), "/var/run/netns/cni-1");
  EXPECT_EQ(request.network(), "k8s-pod-network");
  EXPECT_EQ(request.expected_mac(), "02:00:0a:f4:01:07");
  ASSERT_EQ(request.expected_ips_size(), 2);
  EXPECT_EQ(request.expected_ips(0).cidr(), "10.244.1.7/24");
  EXPECT_EQ(request.expected_ips(0).gateway(), "10.244.1.1");
  EXPECT_EQ(request.expected_ips(1).cidr(), "fd00::7/64");
}

TEST(HandleCheck, NeedsAtLeastVersion040) {
  testing::FakeAgentClient agent;
  NetConf conf = Conf("0.3.1");
  conf.prev_result = PrevResultOfTwoInterfaces();
  ExpectCode(HandleCheck(PodEnvironment(Verb::kCheck), conf, agent),
             ErrorCode::kIncompatibleCniVersion, "does not allow CHECK");
  EXPECT_FALSE(agent.check_pod_request.has_value());
}

TEST(HandleCheck, NeedsPrevResultWithThePodInterface) {
  testing::FakeAgentClient agent;
  ExpectCode(HandleCheck(PodEnvironment(Verb::kCheck), Conf(), agent),
             ErrorCode::kInvalidNetworkConfig, "prevResult");
  NetConf conf = Conf();
  conf.prev_result = CniResult{.interfaces = {{.name = "eth0"}}};  // not in a sandbox
  ExpectCode(HandleCheck(PodEnvironment(Verb::kCheck), conf, agent),
             ErrorCode::kInvalidNetworkConfig, "no interface eth0");
  EXPECT_FALSE(agent.check_pod_request.has_value());
}

TEST(HandleCheck, AgentVerdictsBecomeOurCodes) {
  NetConf conf = Conf();
  conf.prev_result = PrevResultOfTwoInterfaces();
  testing::FakeAgentClient unknown_pod;
  unknown_pod.check_pod_reply = absl::NotFoundError("no pod with container 3f2a9c");
  ExpectCode(HandleCheck(PodEnvironment(Verb::kCheck), conf, unknown_pod),
             ErrorCode::kAttachmentUnknownToAgent, "check of pod shop/web-0");
  testing::FakeAgentClient drifted_pod;
  drifted_pod.check_pod_reply = absl::FailedPreconditionError("eth0 has lost 10.244.1.7/24");
  ExpectCode(HandleCheck(PodEnvironment(Verb::kCheck), conf, drifted_pod),
             ErrorCode::kAttachmentStateMismatch, "lost 10.244.1.7/24");
}

TEST(HandleStatus, ReadyAgentIsSuccess) {
  testing::FakeAgentClient agent;
  agent.status_reply->set_ready(true);
  EXPECT_TRUE(HandleStatus(Conf(), agent).ok());
  EXPECT_TRUE(agent.status_request.has_value());
}

TEST(HandleStatus, AgentNotReadyIsError50WithItsReason) {
  testing::FakeAgentClient agent;
  agent.status_reply->set_ready(false);
  agent.status_reply->set_message("uplink eth1 is down");
  ExpectCode(HandleStatus(Conf(), agent), ErrorCode::kPluginNotAvailable, "uplink eth1 is down");
}

TEST(HandleStatus, UnreachableAgentIsError50) {
  testing::FakeAgentClient agent;
  agent.status_reply = absl::DeadlineExceededError("deadline exceeded");
  ExpectCode(HandleStatus(Conf(), agent), ErrorCode::kPluginNotAvailable, "deadline exceeded");
}

TEST(HandleStatus, NeedsVersion110) {
  testing::FakeAgentClient agent;
  ExpectCode(HandleStatus(Conf("1.0.0"), agent), ErrorCode::kIncompatibleCniVersion,
             "does not allow STATUS");
  EXPECT_FALSE(agent.status_request.has_value());
}

TEST(HandleGc, SendsTheValidAttachmentsOfTheNetwork) {
  testing::FakeAgentClient agent;
  v1::Attachment* removed = agent.garbage_collect_reply->add_removed();
  removed->set_container_id("old");
  NetConf conf = Conf();
  conf.valid_attachments = {{.container_id = "c1", .ifname = "eth0"},
                            {.container_id = "c2", .ifname = "net1"}};
  absl::StatusOr<v1::GarbageCollectResponse> response = HandleGc(conf, agent);
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->removed(0).container_id(), "old");
  ASSERT_TRUE(agent.garbage_collect_request.has_value());
  const v1::GarbageCollectRequest& request = *agent.garbage_collect_request;
  EXPECT_EQ(request.network(), "k8s-pod-network");
  ASSERT_EQ(request.valid_attachments_size(), 2);
  EXPECT_EQ(request.valid_attachments(1).container_id(), "c2");
  EXPECT_EQ(request.valid_attachments(1).ifname(), "net1");
}

TEST(HandleGc, NeedsVersion110) {
  testing::FakeAgentClient agent;
  ExpectCode(HandleGc(Conf("0.4.0"), agent).status(), ErrorCode::kIncompatibleCniVersion,
             "does not allow GC");
}

TEST(HandleGc, InvalidArgumentFromTheAgentIsError7) {
  testing::FakeAgentClient agent;
  agent.garbage_collect_reply = absl::InvalidArgumentError("network name is empty");
  ExpectCode(HandleGc(Conf(), agent).status(), ErrorCode::kInvalidNetworkConfig,
             "network name is empty");
}

}  // namespace
}  // namespace dpcni::cni
