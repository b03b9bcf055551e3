// The gate on the agent's socket, over a real unix-socket gRPC server: what clients see while the
// agent waits for its pod CIDRs, how a SetPodCidrs reaches the main thread and comes back, and that
// an open gate hands every call on. No EAL: the service behind the gate is a stand-in.
#include "service/agent_gate.h"

#include <gmock/gmock.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <thread>

#include "tests/cni/testing/fake_agent.h"

namespace dpcni::dataplane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// Stands in for the AgentService behind an open gate.
class ServingAgent final : public v1::Agent::Service {
 public:
  grpc::Status Status(grpc::ServerContext*, const v1::StatusRequest*,
                      v1::StatusResponse* response) override {
    response->set_ready(true);
    response->set_message("serving");
    return grpc::Status::OK;
  }
  grpc::Status AddPod(grpc::ServerContext*, const v1::AddPodRequest* request,
                      v1::AddPodResponse* response) override {
    response->set_backend("tap for " + request->attachment().container_id());
    return grpc::Status::OK;
  }
  grpc::Status SetPodCidrs(grpc::ServerContext*, const v1::SetPodCidrsRequest*,
                           v1::SetPodCidrsResponse*) override {
    ++set_pod_cidrs_calls;
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "answered by the service");
  }
  grpc::Status SetRemoteNodes(grpc::ServerContext*, const v1::SetRemoteNodesRequest* request,
                              v1::SetRemoteNodesResponse* response) override {
    response->set_nodes(static_cast<uint32_t>(request->nodes_size()));
    return grpc::Status::OK;
  }
  std::atomic<int> set_pod_cidrs_calls = 0;
};

class AgentGateTest : public ::testing::Test {
 protected:
  v1::StatusResponse Status() {
    grpc::ClientContext context;
    v1::StatusResponse response;
    grpc::Status status = stub_->Status(&context, {}, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return response;
  }

  grpc::Status SetPodCidrs(const std::vector<std::string>& cidrs) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(30));
    v1::SetPodCidrsRequest request;
    for (const std::string& cidr : cidrs) request.add_pod_cidrs(cidr);
    v1::SetPodCidrsResponse response;
    return stub_->SetPodCidrs(&context, request, &response);
  }

  std::future<grpc::Status> SetPodCidrsAsync(std::vector<std::string> cidrs) {
    return std::async(std::launch::async, [this, cidrs] { return SetPodCidrs(cidrs); });
  }

  AgentGate gate_{[](v1::StatusResponse* status) {
    status->set_pod_capacity(110);
    status->set_default_backend("tap");
  }};
  testing::UnixSocketServer server_{gate_};
  std::unique_ptr<v1::Agent::Stub> stub_ = v1::Agent::NewStub(
      grpc::CreateChannel("unix://" + server_.socket_path(), grpc::InsecureChannelCredentials()));
  ServingAgent serving_;
};

TEST_F(AgentGateTest, ShutGateSaysNotReadyAndWhatItWaitsFor) {
  v1::StatusResponse status = Status();
  EXPECT_FALSE(status.ready());
  EXPECT_EQ(status.message(), kWaitingForPodCidrs);
  EXPECT_THAT(status.message(), HasSubstr("SetPodCidrs"));
  EXPECT_EQ(status.pod_capacity(), 110u);
  EXPECT_EQ(status.default_backend(), "tap");
  EXPECT_TRUE(status.pod_cidrs().empty());
}

TEST_F(AgentGateTest, ShutGateRefusesEveryOtherCallAsUnavailableWithTheReason) {
  std::vector<std::pair<std::string, grpc::Status>> answers;
  auto call = [&](const std::string& name, auto method, auto request, auto response) {
    grpc::ClientContext context;
    answers.emplace_back(name, ((*stub_).*method)(&context, request, &response));
  };
  call("AddPod", &v1::Agent::Stub::AddPod, v1::AddPodRequest(), v1::AddPodResponse());
  call("DelPod", &v1::Agent::Stub::DelPod, v1::DelPodRequest(), v1::DelPodResponse());
  call("CheckPod", &v1::Agent::Stub::CheckPod, v1::CheckPodRequest(), v1::CheckPodResponse());
  call("GarbageCollect", &v1::Agent::Stub::GarbageCollect, v1::GarbageCollectRequest(),
       v1::GarbageCollectResponse());
  call("ListPods", &v1::Agent::Stub::ListPods, v1::ListPodsRequest(), v1::ListPodsResponse());
  call("GetPortStats", &v1::Agent::Stub::GetPortStats, v1::GetPortStatsRequest(),
       v1::GetPortStatsResponse());
  call("ListRoutes", &v1::Agent::Stub::ListRoutes, v1::ListRoutesRequest(),
       v1::ListRoutesResponse());
  call("ListNeighbours", &v1::Agent::Stub::ListNeighbours, v1::ListNeighboursRequest(),
       v1::ListNeighboursResponse());
  call("ListFlows", &v1::Agent::Stub::ListFlows, v1::ListFlowsRequest(), v1::ListFlowsResponse());
  // The other nodes' CIDRs are checked against this node's own: not before it has them. dpcni-k8s
  // sends SetPodCidrs first and retries the rest.
  call("SetRemoteNodes", &v1::Agent::Stub::SetRemoteNodes, v1::SetRemoteNodesRequest(),
       v1::SetRemoteNodesResponse());
  call("ReportRouteSource", &v1::Agent::Stub::ReportRouteSource, v1::ReportRouteSourceRequest(),
       v1::ReportRouteSourceResponse());
  for (const auto& [name, status] : answers) {
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAVAILABLE) << name;
    EXPECT_THAT(status.error_message(), HasSubstr("dpcni-agent is not ready: "));
    EXPECT_THAT(status.error_message(), HasSubstr(kWaitingForPodCidrs)) << name;
  }
  // Those, Status and SetPodCidrs are the whole service: an RPC added to the proto without a case
  // in the gate would answer UNIMPLEMENTED, which the plugin maps to no retry.
  const auto* service = v1::StatusRequest::descriptor()->file()->FindServiceByName("Agent");
  ASSERT_NE(service, nullptr);
  EXPECT_EQ(service->method_count(), static_cast<int>(answers.size()) + 2);
}

TEST_F(AgentGateTest, BadCidrsAreRefusedAtTheGateAndNeverOffered) {
  for (const std::vector<std::string>& bad :
       {std::vector<std::string>{"fd00:10:244:1::/64"}, std::vector<std::string>{"garbage"},
        std::vector<std::string>{"10.99.0.1/24"}, std::vector<std::string>{}}) {
    EXPECT_EQ(SetPodCidrs(bad).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  auto offer = std::async(std::launch::async, [this] { return gate_.NextOffer(); });
  EXPECT_EQ(offer.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  gate_.Close();
  EXPECT_FALSE(offer.get().has_value());
  EXPECT_FALSE(Status().ready());
}

TEST_F(AgentGateTest, AFailedSetUpIsAnsweredAndTheGateWaitsOn) {
  auto first = SetPodCidrsAsync({"10.99.0.0/24", "fd00:10:99::/64"});
  std::optional<AcceptedPodCidrs> offer = gate_.NextOffer();
  ASSERT_TRUE(offer.has_value());
  EXPECT_THAT(offer->ipv4, ElementsAre("10.99.0.0/24"));
  EXPECT_THAT(offer->ignored, ElementsAre("fd00:10:99::/64"));
  // While the main thread sets the node up, Status says so.
  EXPECT_THAT(Status().message(), HasSubstr("setting the node up with pod CIDRs 10.99.0.0/24"));
  EXPECT_EQ(first.wait_for(std::chrono::milliseconds(100)), std::future_status::timeout);
  gate_.AnswerOffer(absl::FailedPreconditionError("IPAM state holds 10.98.0.0/24"));
  grpc::Status refused = first.get();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::FAILED_PRECONDITION);
  EXPECT_EQ(refused.error_message(), "IPAM state holds 10.98.0.0/24");
  EXPECT_FALSE(Status().ready());
  EXPECT_EQ(Status().message(), kWaitingForPodCidrs);

  auto second = SetPodCidrsAsync({"10.98.0.0/24"});
  offer = gate_.NextOffer();
  ASSERT_TRUE(offer.has_value());
  EXPECT_THAT(offer->ipv4, ElementsAre("10.98.0.0/24"));
  gate_.Open(serving_);
  gate_.AnswerOffer(absl::OkStatus());
  EXPECT_TRUE(second.get().ok());
  EXPECT_TRUE(Status().ready());
  EXPECT_EQ(serving_.set_pod_cidrs_calls, 0);
}

TEST_F(AgentGateTest, ASecondCallWhileTheFirstIsSetUpIsAnsweredByTheOpenService) {
  auto first = SetPodCidrsAsync({"10.99.0.0/24"});
  ASSERT_TRUE(gate_.NextOffer().has_value());
  auto second = SetPodCidrsAsync({"10.99.0.0/24"});
  EXPECT_EQ(second.wait_for(std::chrono::milliseconds(200)), std::future_status::timeout);
  gate_.Open(serving_);
  gate_.AnswerOffer(absl::OkStatus());
  EXPECT_TRUE(first.get().ok());
  grpc::Status answered = second.get();
  EXPECT_EQ(answered.error_message(), "answered by the service");
  EXPECT_EQ(serving_.set_pod_cidrs_calls, 1);
}

TEST_F(AgentGateTest, OpenGateHandsEveryCallOn) {
  gate_.Open(serving_);
  EXPECT_TRUE(Status().ready());
  grpc::ClientContext context;
  v1::AddPodRequest request;
  request.mutable_attachment()->set_container_id("ctr-1");
  v1::AddPodResponse response;
  ASSERT_TRUE(stub_->AddPod(&context, request, &response).ok());
  EXPECT_EQ(response.backend(), "tap for ctr-1");
  // Bad input is still refused at the gate; good input goes on to the service.
  EXPECT_EQ(SetPodCidrs({"garbage"}).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(SetPodCidrs({"10.99.0.0/24"}).error_message(), "answered by the service");
  grpc::ClientContext nodes_context;
  v1::SetRemoteNodesRequest nodes;
  nodes.add_nodes()->set_name("node-2");
  v1::SetRemoteNodesResponse routed;
  ASSERT_TRUE(stub_->SetRemoteNodes(&nodes_context, nodes, &routed).ok());
  EXPECT_EQ(routed.nodes(), 1u);
  // Calls the service does not implement are its business, not the gate's.
  grpc::ClientContext routes_context;
  v1::ListRoutesResponse routes;
  EXPECT_EQ(stub_->ListRoutes(&routes_context, {}, &routes).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
}

TEST_F(AgentGateTest, ClosingEndsTheWaitAndRefusesWhatWasNotTaken) {
  auto pending = SetPodCidrsAsync({"10.99.0.0/24"});
  auto offer = std::async(std::launch::async, [this] {
    // Taken only after Close: Close wins, the offer is refused.
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    return gate_.NextOffer();
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  gate_.Close();
  EXPECT_FALSE(offer.get().has_value());
  grpc::Status refused = pending.get();
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::UNAVAILABLE);
  EXPECT_THAT(refused.error_message(), HasSubstr("stopping"));
  EXPECT_EQ(Status().message(), "dpcni-agent is stopping");
  grpc::ClientContext context;
  v1::AddPodResponse response;
  EXPECT_THAT(stub_->AddPod(&context, {}, &response).error_message(), HasSubstr("stopping"));
}

}  // namespace
}  // namespace dpcni::dataplane
