// The kernel side of a pod's interface, as PodManager sees it: configured, read and deleted inside
// the pod's netns. An interface so that the pod lifecycle can be tested without root or netlink.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "netlink/interface.h"

namespace dpcni::dataplane {

class PodInterfaces {
 public:
  virtual ~PodInterfaces() = default;

  // ConfigureInterface(spec) inside the netns.
  virtual absl::Status Configure(const std::string& netns_path, const InterfaceSpec& spec) = 0;
  // ReadInterface inside the netns; NotFoundError when the netns or the link is gone.
  virtual absl::StatusOr<InterfaceState> Read(const std::string& netns_path,
                                              const std::string& ifname,
                                              const std::string& gateway) = 0;
  // Whether the netns routes a default already, through any interface.
  virtual absl::StatusOr<bool> HasDefaultRoute(const std::string& netns_path) = 0;
  // Deletes the link; a netns or link that is already gone is success.
  virtual absl::Status Delete(const std::string& netns_path, const std::string& ifname) = 0;
};

// The real one: rtnetlink on a thread inside the pod's netns.
class NetlinkPodInterfaces final : public PodInterfaces {
 public:
  absl::Status Configure(const std::string& netns_path, const InterfaceSpec& spec) override;
  absl::StatusOr<InterfaceState> Read(const std::string& netns_path, const std::string& ifname,
                                      const std::string& gateway) override;
  absl::StatusOr<bool> HasDefaultRoute(const std::string& netns_path) override;
  absl::Status Delete(const std::string& netns_path, const std::string& ifname) override;
};

}  // namespace dpcni::dataplane
