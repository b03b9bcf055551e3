// The network configuration the runtime writes to the plugin's stdin.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <absl/status/statusor.h>
#include <absl/strings/string_view.h>

#include "cni/result.h"

namespace dpcni::cni {

inline constexpr absl::string_view kPluginType = "dpcni";
inline constexpr absl::string_view kDefaultAgentSocket = "/run/dpcni/dpcni.sock";

// One entry of cni.dev/valid-attachments (GC).
struct AttachmentKey {
  std::string container_id{};
  std::string ifname{};
};

struct NetConf {
  std::string cni_version{};
  std::string name{};
  std::string agent_socket = std::string(kDefaultAgentSocket);
  uint32_t mtu = 0;  // 0: the agent's configured pod MTU
  // runtimeConfig.mac / runtimeConfig.ips (the "mac" and "ips" capabilities); empty: agent picks.
  std::string requested_mac{};
  std::vector<std::string> requested_ips{};
  // `routes`, the shape of IPAM's well-known field: the routes this interface gets, through the
  // agent's gateway. nullopt (absent): the agent routes the default through the pod's first
  // interface only, so that a second one (Multus' net1) leaves eth0's routes alone.
  std::optional<std::vector<ResultRoute>> routes{};
  std::optional<CniResult> prev_result{};
  std::vector<AttachmentKey> valid_attachments{};
};

// Decodes (error 6) and validates (errors 1, 2, 7) the netconf. Fields dpcni does not know are
// ignored, except `ipam`: addresses come from the agent, so an ipam section would be silently
// unused (error 2).
absl::StatusOr<NetConf> ParseNetConf(absl::string_view text);

// The cniVersion to stamp on output that is not an ADD result (error objects, the VERSION
// result): the one on stdin when it is readable and supported, otherwise the latest version.
std::string ReplyCniVersion(absl::string_view text);

}  // namespace dpcni::cni
