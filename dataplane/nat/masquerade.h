// Masquerade: pod traffic leaving the cluster carries the node's address. Pods reach the node's
// kernel through the host port; what the kernel then routes out of the node toward a destination
// outside the cluster CIDRs gets the source address of the interface it leaves by.
//
// Installed with libnftables as one table of our own, `ip dpcni`, holding a `postrouting` nat chain
// (priority srcnat) and one rule:
//   ip saddr { <pod CIDRs> } ip daddr != { <cluster CIDRs> } masquerade
// Owning a whole table keeps us out of other tools' rules and makes removal a single delete.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace dpcni::dataplane {

inline constexpr char kMasqueradeTable[] = "dpcni";
inline constexpr char kMasqueradeChain[] = "postrouting";

class Masquerade {
 public:
  // Installs the table in the calling thread's network namespace, replacing one a crashed agent
  // left behind (in the same transaction, so there is never a moment with two rules or none).
  // `cluster_cidrs` empty means the pod CIDRs. Every CIDR must be IPv4 ("10.244.0.0/16").
  static absl::StatusOr<std::unique_ptr<Masquerade>> Install(
      const std::vector<std::string>& pod_cidrs, const std::vector<std::string>& cluster_cidrs);

  // Deletes the table, in the namespace it was installed in, whichever thread this runs on.
  ~Masquerade();
  Masquerade(const Masquerade&) = delete;
  Masquerade& operator=(const Masquerade&) = delete;

 private:
  explicit Masquerade(int netns_fd) : netns_fd_(netns_fd) {}

  const int netns_fd_;  // the namespace the table lives in
};

}  // namespace dpcni::dataplane
