// What the agent knows about one pod attachment, persisted so that a restarted agent can find and
// clean up (or re-attach) every pod it made.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "config/agent_config.h"
#include "ipam/ipam.h"
#include "port/kernel_ports.h"

namespace dpcni::dataplane {

struct PodRecord {
  // The CNI identity of an attachment is (container id, ifname).
  std::string container_id;
  std::string ifname;
  std::string netns_path;
  std::string pod_namespace;
  std::string pod_name;
  std::string pod_uid;
  std::string infra_container_id;
  std::string network;
  std::string mac;
  uint32_t mtu = 0;
  std::vector<Allocation> addresses;
  // The prefixes routed through the gateway on this interface ("0.0.0.0/0": the default route), as
  // ADD decided them; a restored pod gets the same. Records of older agents read as the default.
  std::vector<std::string> routes;
  // When ADD made the attachment (wall clock, ns since the epoch); 0 in records of older agents. A
  // DEL the plugin queued while the agent was away applies only to an attachment older than it.
  int64_t added_unix_nanos = 0;
  KernelPort port;  // port_id and device_name are only meaningful while this agent process runs
  // false: an ADD recorded its intent (address taken, nothing else made yet) and has not finished.
  // A restarted agent finding such a record undoes whatever of it exists (PodManager::Restore).
  bool complete = true;
  // Not persisted. Set while the pod is recorded but not attached to the dataplane: its re-attach
  // after an agent restart failed with this error. It keeps its interface and addresses, has no
  // DPDK port (device_name empty), and the agent retries (PodManager::RetryDegraded).
  std::string degraded_reason;
  uint32_t attach_attempts = 0;  // failed re-attaches since the agent started, while degraded

  bool degraded() const { return !degraded_reason.empty(); }

  std::string Key() const { return AttachmentKey(container_id, ifname); }
  std::string DisplayName() const;
  static std::string AttachmentKey(const std::string& container_id, const std::string& ifname) {
    return container_id + "/" + ifname;
  }
};

// The records of all pods, stored as one JSON file replaced atomically on every change.
class PodStore {
 public:
  explicit PodStore(std::string path) : path_(std::move(path)) {}

  absl::StatusOr<std::map<std::string, PodRecord>> Load() const;
  absl::Status Save(const std::map<std::string, PodRecord>& records) const;

 private:
  const std::string path_;
};

}  // namespace dpcni::dataplane
