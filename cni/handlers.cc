#include "cni/handlers.h"

#include <algorithm>
#include <string>

#include <absl/strings/str_cat.h>
#include <absl/strings/string_view.h>
#include <absl/time/clock.h>
#include <absl/time/time.h>

#include "cni/agent_error.h"
#include "cni/cni_error.h"
#include "cni/result.h"
#include "cni/status_macros.h"
#include "cni/version.h"
#include "common/atomic_file.h"
#include "common/pending_deletes.h"

namespace dpcni::cni {
namespace {

absl::Status RequireCniVersion(const NetConf& conf, Verb verb, absl::string_view minimum) {
  if (!CniVersionAtLeast(conf.cni_version, minimum)) {
    return CniError(ErrorCode::kIncompatibleCniVersion,
                    absl::StrCat("cniVersion ", conf.cni_version, " does not allow ",
                                 VerbName(verb), "; it needs ", minimum, " or later"));
  }
  return absl::OkStatus();
}

// "pod default/web-0 (container 3f2a..., eth0)", or without the pod when CNI_ARGS named none.
std::string DescribeAttachment(const Environment& environment) {
  std::string container =
      absl::StrCat("container ", environment.container_id, ", ", environment.ifname);
  if (environment.pod.name.empty()) {
    return container;
  }
  return absl::StrCat("pod ", environment.pod.namespace_name, "/", environment.pod.name, " (",
                      container, ")");
}

v1::Attachment MakeAttachment(const Environment& environment) {
  v1::Attachment attachment;
  attachment.set_container_id(environment.container_id);
  attachment.set_ifname(environment.ifname);
  attachment.set_netns_path(environment.netns);
  return attachment;
}

v1::AddPodRequest MakeAddPodRequest(const Environment& environment, const NetConf& conf) {
  v1::AddPodRequest request;
  *request.mutable_attachment() = MakeAttachment(environment);
  v1::PodRef& pod = *request.mutable_pod();
  pod.set_namespace_(environment.pod.namespace_name);
  pod.set_name(environment.pod.name);
  pod.set_uid(environment.pod.uid);
  pod.set_infra_container_id(environment.pod.infra_container_id);
  request.set_requested_mac(conf.requested_mac);
  for (const std::string& ip : conf.requested_ips) {
    request.add_requested_ips(ip);
  }
  request.set_mtu(conf.mtu);
  request.set_network(conf.name);
  if (conf.routes.has_value()) {
    v1::RouteList& routes = *request.mutable_routes();  // set, even when empty
    for (const ResultRoute& route : *conf.routes) {
      v1::Route& asked = *routes.add_routes();
      asked.set_dst(route.dst);
      asked.set_gw(route.gw);
    }
  }
  return request;
}

// The ADD result: any prevResult passed through (the spec's rule for chained plugins), then the
// pod interface with the agent's addresses and routes.
CniResult MakeAddResult(const Environment& environment, const NetConf& conf,
                        const v1::AddPodResponse& response) {
  CniResult result = conf.prev_result.value_or(CniResult{});
  const size_t pod_interface = result.interfaces.size();
  result.interfaces.push_back({.name = environment.ifname,
                               .mac = response.interface().mac(),
                               .sandbox = environment.netns,
                               .mtu = response.interface().mtu()});
  for (const v1::IpAddress& ip : response.ips()) {
    result.ips.push_back(
        {.address = ip.cidr(), .gateway = ip.gateway(), .interface = pod_interface});
  }
  for (const v1::Route& route : response.routes()) {
    result.routes.push_back({.dst = route.dst(), .gw = route.gw()});
  }
  return result;
}

// What the runtime believes our interface has: its mac and the addresses prevResult assigns to it.
absl::StatusOr<v1::CheckPodRequest> MakeCheckPodRequest(const Environment& environment,
                                                        const NetConf& conf) {
  if (!conf.prev_result.has_value()) {
    return CniError(ErrorCode::kInvalidNetworkConfig, "CHECK needs prevResult in the netconf");
  }
  const CniResult& expected = *conf.prev_result;
  auto pod_interface =
      std::find_if(expected.interfaces.begin(), expected.interfaces.end(),
                   [&](const ResultInterface& interface) {
                     return interface.name == environment.ifname && !interface.sandbox.empty();
                   });
  if (pod_interface == expected.interfaces.end()) {
    return CniError(
        ErrorCode::kInvalidNetworkConfig,
        absl::StrCat("prevResult has no interface ", environment.ifname, " inside a sandbox"));
  }
  const size_t pod_interface_index = pod_interface - expected.interfaces.begin();
  v1::CheckPodRequest request;
  *request.mutable_attachment() = MakeAttachment(environment);
  request.set_network(conf.name);
  request.set_expected_mac(pod_interface->mac);
  for (const ResultIp& ip : expected.ips) {
    if (ip.interface == pod_interface_index) {
      v1::IpAddress& expected_ip = *request.add_expected_ips();
      expected_ip.set_cidr(ip.address);
      expected_ip.set_gateway(ip.gateway);
    }
  }
  return request;
}

}  // namespace

absl::StatusOr<nlohmann::json> HandleAdd(const Environment& environment, const NetConf& conf,
                                         AgentClient& agent) {
  absl::StatusOr<v1::AddPodResponse> response = agent.AddPod(MakeAddPodRequest(environment, conf));
  if (!response.ok()) {
    return CniErrorFromAgent(response.status(), Verb::kAdd,
                             absl::StrCat("cannot add ", DescribeAttachment(environment)));
  }
  return FormatResult(MakeAddResult(environment, conf, *response), conf.cni_version);
}

absl::Status HandleDel(const Environment& environment, const NetConf& conf, AgentClient& agent) {
  v1::QueuedDelete queued;
  // Read before the agent is tried: an ADD the agent serves after this DEL failed must count as
  // newer than it (see QueuedDelete).
  queued.set_queued_unix_nanos(absl::ToUnixNanos(absl::Now()));
  v1::DelPodRequest& request = *queued.mutable_request();
  *request.mutable_attachment() = MakeAttachment(environment);
  request.set_network(conf.name);
  absl::StatusOr<v1::DelPodResponse> response = agent.DelPod(request);
  if (response.ok()) return absl::OkStatus();
  const std::string what = absl::StrCat("cannot delete ", DescribeAttachment(environment));
  // UNAVAILABLE: the agent is down, restarting or not serving pods yet, and carries out the queue
  // before it serves. Anything else (a deadline: the agent may be working on it) is the runtime's
  // to retry.
  if (response.status().code() != absl::StatusCode::kUnavailable) {
    return CniErrorFromAgent(response.status(), Verb::kDel, what);
  }
  const std::string path =
      PendingDeletePath(conf.agent_socket, environment.container_id, environment.ifname);
  absl::Status written = WriteFileAtomically(path, queued.SerializeAsString());
  if (!written.ok()) {
    return CniErrorFromAgent(
        response.status(), Verb::kDel,
        absl::StrCat(what, ", and cannot queue the DEL for the agent (", written.message(), ")"));
  }
  return absl::OkStatus();
}

absl::Status HandleCheck(const Environment& environment, const NetConf& conf, AgentClient& agent) {
  RETURN_IF_ERROR(RequireCniVersion(conf, Verb::kCheck, "0.4.0"));
  ASSIGN_OR_RETURN(v1::CheckPodRequest request, MakeCheckPodRequest(environment, conf));
  absl::StatusOr<v1::CheckPodResponse> response = agent.CheckPod(request);
  if (!response.ok()) {
    return CniErrorFromAgent(response.status(), Verb::kCheck,
                             absl::StrCat("check of ", DescribeAttachment(environment), " failed"));
  }
  return absl::OkStatus();
}

absl::Status HandleStatus(const NetConf& conf, AgentClient& agent) {
  RETURN_IF_ERROR(RequireCniVersion(conf, Verb::kStatus, "1.1.0"));
  absl::StatusOr<v1::StatusResponse> status = agent.Status(v1::StatusRequest());
  if (!status.ok()) {
    return CniErrorFromAgent(status.status(), Verb::kStatus, "cannot read dpcni-agent status");
  }
  if (!status->ready()) {
    return CniError(ErrorCode::kPluginNotAvailable,
                    absl::StrCat("dpcni-agent is not ready: ", status->message()),
                    absl::StrCat(status->pods(), " of ", status->pod_capacity(), " pods"));
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::GarbageCollectResponse> HandleGc(const NetConf& conf, AgentClient& agent) {
  RETURN_IF_ERROR(RequireCniVersion(conf, Verb::kGc, "1.1.0"));
  v1::GarbageCollectRequest request;
  request.set_network(conf.name);
  for (const AttachmentKey& key : conf.valid_attachments) {
    v1::Attachment& attachment = *request.add_valid_attachments();
    attachment.set_container_id(key.container_id);
    attachment.set_ifname(key.ifname);
  }
  absl::StatusOr<v1::GarbageCollectResponse> response = agent.GarbageCollect(request);
  if (!response.ok()) {
    return CniErrorFromAgent(response.status(), Verb::kGc,
                             absl::StrCat("garbage collection of network ", conf.name, " failed"));
  }
  return response;
}

}  // namespace dpcni::cni
