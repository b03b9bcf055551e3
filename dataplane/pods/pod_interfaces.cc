#include "pods/pod_interfaces.h"

#include "netns/netns.h"

namespace dpcni::dataplane {

absl::Status NetlinkPodInterfaces::Configure(const std::string& netns_path,
                                             const InterfaceSpec& spec) {
  return RunInNetns(netns_path, [&] { return ConfigureInterface(spec); });
}

absl::StatusOr<InterfaceState> NetlinkPodInterfaces::Read(const std::string& netns_path,
                                                          const std::string& ifname,
                                                          const std::string& gateway) {
  absl::StatusOr<InterfaceState> state = absl::InternalError("not read");
  if (auto status = RunInNetns(netns_path,
                               [&] {
                                 state = ReadInterface(ifname, gateway);
                                 return absl::OkStatus();
                               });
      !status.ok()) {
    return status;
  }
  return state;
}

absl::StatusOr<bool> NetlinkPodInterfaces::HasDefaultRoute(const std::string& netns_path) {
  absl::StatusOr<bool> has_default = false;
  if (auto status = RunInNetns(netns_path,
                               [&] {
                                 has_default = dataplane::HasDefaultRoute();
                                 return has_default.status();
                               });
      !status.ok()) {
    return status;
  }
  return has_default;
}

absl::Status NetlinkPodInterfaces::Delete(const std::string& netns_path,
                                          const std::string& ifname) {
  // A netns that is gone took the interface with it.
  if (!NetnsExists(netns_path)) return absl::OkStatus();
  absl::Status status = RunInNetns(netns_path, [&] { return DeleteInterface(ifname); });
  return absl::IsNotFound(status) ? absl::OkStatus() : status;
}

}  // namespace dpcni::dataplane
