// The node's pod CIDRs: the config's pod_cidrs, or what Kubernetes allocated (the Node object's
// spec.podCIDRs) as SetPodCidrs delivers it, recorded in the state dir so that a restarted agent
// needs no second call. Checks and the record only; main.cc decides when to wait for them.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace dpcni::dataplane {

// What Status says and the pod RPCs answer (UNAVAILABLE) while the agent waits for SetPodCidrs.
inline constexpr char kWaitingForPodCidrs[] =
    "waiting for the node's pod CIDRs (SetPodCidrs; in Kubernetes the dpcni-k8s component sends "
    "them from the Node object's spec.podCIDRs)";

// Checks a list of IPv4 pod CIDRs (the config's pod_cidrs, a record, what SetPodCidrs accepted): at
// least one, each an IPv4 prefix with its host bits zero, no two overlapping (IPAM would hand out
// one address from both). `what` names the list in the error ("pod_cidrs").
absl::Status ValidatePodCidrs(const std::vector<std::string>& cidrs, const std::string& what);

struct AcceptedPodCidrs {
  std::vector<std::string> ipv4;     // canonical ("10.244.1.0/24"), in the order given
  std::vector<std::string> ignored;  // the IPv6 prefixes of a dual-stack node, set aside
};

// A SetPodCidrs request's list. A dual-stack node's Node object carries an IPv4 and an IPv6 prefix:
// the IPv4 ones are taken and the IPv6 ones set aside (dpcni is IPv4-only for now); a list with no
// IPv4 prefix, or with anything that is no prefix at all, is INVALID_ARGUMENT.
absl::StatusOr<AcceptedPodCidrs> AcceptPodCidrs(const std::vector<std::string>& requested);

// Where the pod CIDRs the agent runs with came from.
enum class PodCidrsOrigin { kConfig, kRecorded };

// The answer to a SetPodCidrs once the node has its pod CIDRs (`current`, canonical): the same set
// again is OK, as the Go component repeats it after its own restarts; a different set is
// FAILED_PRECONDITION naming the current ones and how to change them. `requested` is validated.
absl::Status CheckPodCidrsUnchanged(const std::vector<std::string>& current, PodCidrsOrigin origin,
                                    const std::string& record_path,
                                    const std::vector<std::string>& requested);

// The pod CIDRs received with SetPodCidrs, in <state_dir>/node.json:
//   {"version": 1, "pod_cidrs": ["10.244.1.0/24"]}
class PodCidrsRecord {
 public:
  static constexpr int kVersion = 1;

  explicit PodCidrsRecord(const std::string& state_dir);

  // The recorded CIDRs; nullopt when nothing is recorded. A file this agent cannot read (torn by
  // hand, a newer version, invalid CIDRs) is an error naming the file: guessing could give the node
  // other CIDRs than its pods hold.
  absl::StatusOr<std::optional<std::vector<std::string>>> Load() const;
  // Atomically, so a crash leaves the old record or the new one.
  absl::Status Save(const std::vector<std::string>& cidrs) const;
  // Undoes a Save whose node set-up failed; removing nothing is fine.
  absl::Status Remove() const;

  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

}  // namespace dpcni::dataplane
