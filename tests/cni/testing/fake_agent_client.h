// An in-memory AgentClient for the verb handlers: records each request, answers as configured.
#pragma once

#include <optional>

#include "cni/agent_client.h"

namespace dpcni::testing {

class FakeAgentClient final : public cni::AgentClient {
 public:
  // What each call answers.
  absl::StatusOr<v1::AddPodResponse> add_pod_reply = v1::AddPodResponse();
  absl::StatusOr<v1::DelPodResponse> del_pod_reply = v1::DelPodResponse();
  absl::StatusOr<v1::CheckPodResponse> check_pod_reply = v1::CheckPodResponse();
  absl::StatusOr<v1::StatusResponse> status_reply = v1::StatusResponse();
  absl::StatusOr<v1::GarbageCollectResponse> garbage_collect_reply = v1::GarbageCollectResponse();

  // What each call received; unset when it was not called.
  std::optional<v1::AddPodRequest> add_pod_request;
  std::optional<v1::DelPodRequest> del_pod_request;
  std::optional<v1::CheckPodRequest> check_pod_request;
  std::optional<v1::StatusRequest> status_request;
  std::optional<v1::GarbageCollectRequest> garbage_collect_request;

  absl::StatusOr<v1::AddPodResponse> AddPod(const v1::AddPodRequest& request) override {
    add_pod_request = request;
    return add_pod_reply;
  }
  absl::StatusOr<v1::DelPodResponse> DelPod(const v1::DelPodRequest& request) override {
    del_pod_request = request;
    return del_pod_reply;
  }
  absl::StatusOr<v1::CheckPodResponse> CheckPod(const v1::CheckPodRequest& request) override {
    check_pod_request = request;
    return check_pod_reply;
  }
  absl::StatusOr<v1::StatusResponse> Status(const v1::StatusRequest& request) override {
    status_request = request;
    return status_reply;
  }
  absl::StatusOr<v1::GarbageCollectResponse> GarbageCollect(
      const v1::GarbageCollectRequest& request) override {
    garbage_collect_request = request;
    return garbage_collect_reply;
  }
};

}  // namespace dpcni::testing
