// A stand-in for dpcni-agent: the dpcni.v1.Agent service answering with canned replies, served
// over gRPC on a unix socket in a fresh temporary directory, so that the plugin's real gRPC client
// (in-process or in the exec'd binary) and dpcnictl talk to it exactly as to the real agent.
#pragma once

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include <absl/synchronization/mutex.h>
#include <grpcpp/grpcpp.h>

#include "dpcni/v1/dpcni.grpc.pb.h"

namespace dpcni::testing {

// What each RPC answers while the agent is not told to fail.
struct FakeAgentReplies {
  v1::AddPodResponse add_pod;
  v1::StatusResponse status;
  v1::GarbageCollectResponse garbage_collect;
  v1::ListPodsResponse list_pods;
  v1::GetPortStatsResponse port_stats;
  v1::ListRoutesResponse list_routes;
  v1::ListNeighboursResponse list_neighbours;
  v1::ListFlowsResponse list_flows;
};

class FakeAgent final : public v1::Agent::Service {
 public:
  explicit FakeAgent(FakeAgentReplies replies = {});

  // From now on every RPC fails with `status`.
  void FailWith(grpc::Status status);
  // From now on every RPC waits until the client cancels it (its deadline passes).
  void HangUntilCancelled();

  // The last request of each kind the agent received, if any.
  std::optional<v1::AddPodRequest> last_add_pod() const;
  std::optional<v1::DelPodRequest> last_del_pod() const;
  std::optional<v1::CheckPodRequest> last_check_pod() const;
  std::optional<v1::GarbageCollectRequest> last_garbage_collect() const;
  std::optional<v1::GetPortStatsRequest> last_port_stats() const;

  grpc::Status AddPod(grpc::ServerContext* context, const v1::AddPodRequest* request,
                      v1::AddPodResponse* response) override;
  grpc::Status DelPod(grpc::ServerContext* context, const v1::DelPodRequest* request,
                      v1::DelPodResponse* response) override;
  grpc::Status CheckPod(grpc::ServerContext* context, const v1::CheckPodRequest* request,
                        v1::CheckPodResponse* response) override;
  grpc::Status Status(grpc::ServerContext* context, const v1::StatusRequest* request,
                      v1::StatusResponse* response) override;
  grpc::Status GarbageCollect(grpc::ServerContext* context,
                              const v1::GarbageCollectRequest* request,
                              v1::GarbageCollectResponse* response) override;
  grpc::Status ListPods(grpc::ServerContext* context, const v1::ListPodsRequest* request,
                        v1::ListPodsResponse* response) override;
  grpc::Status GetPortStats(grpc::ServerContext* context, const v1::GetPortStatsRequest* request,
                            v1::GetPortStatsResponse* response) override;
  grpc::Status ListRoutes(grpc::ServerContext* context, const v1::ListRoutesRequest* request,
                          v1::ListRoutesResponse* response) override;
  grpc::Status ListNeighbours(grpc::ServerContext* context,
                              const v1::ListNeighboursRequest* request,
                              v1::ListNeighboursResponse* response) override;
  grpc::Status ListFlows(grpc::ServerContext* context, const v1::ListFlowsRequest* request,
                         v1::ListFlowsResponse* response) override;

 private:
  // Records `request`, then answers with `reply`, the configured failure, or a hang.
  template <typename Request, typename Response>
  grpc::Status Answer(grpc::ServerContext* context, const Request& request,
                      std::optional<Request>& record, const Response& reply, Response* response);

  mutable absl::Mutex mutex_;
  const FakeAgentReplies replies_;
  grpc::Status failure_ ABSL_GUARDED_BY(mutex_);
  bool hang_ ABSL_GUARDED_BY(mutex_) = false;
  std::optional<v1::AddPodRequest> last_add_pod_ ABSL_GUARDED_BY(mutex_);
  std::optional<v1::DelPodRequest> last_del_pod_ ABSL_GUARDED_BY(mutex_);
  std::optional<v1::CheckPodRequest> last_check_pod_ ABSL_GUARDED_BY(mutex_);
  std::optional<v1::GarbageCollectRequest> last_garbage_collect_ ABSL_GUARDED_BY(mutex_);
  std::optional<v1::GetPortStatsRequest> last_port_stats_ ABSL_GUARDED_BY(mutex_);
  std::optional<v1::StatusRequest> last_status_ ABSL_GUARDED_BY(mutex_);
  std::optional<v1::ListPodsRequest> last_list_pods_ ABSL_GUARDED_BY(mutex_);
  std::optional<v1::ListRoutesRequest> last_list_routes_ ABSL_GUARDED_BY(mutex_);
  std::optional<v1::ListNeighboursRequest> last_list_neighbours_ ABSL_GUARDED_BY(mutex_);
  std::optional<v1::ListFlowsRequest> last_list_flows_ ABSL_GUARDED_BY(mutex_);
};

// A fresh temporary directory, removed with everything in it on destruction.
class TemporaryDirectory {
 public:
  TemporaryDirectory();
  ~TemporaryDirectory();
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;

  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// Serves `service` on <fresh temp dir>/agent.sock until destroyed.
class UnixSocketServer {
 public:
  explicit UnixSocketServer(grpc::Service& service);
  ~UnixSocketServer();

  std::string socket_path() const { return (directory_.path() / "agent.sock").string(); }

 private:
  TemporaryDirectory directory_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace dpcni::testing
