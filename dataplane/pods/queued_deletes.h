// The DELs the plugin queued while the agent was away (proto's QueuedDelete): carried out before
// the agent serves pods again, so that kubelet's deletions during an agent restart or outage take
// effect.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"

namespace dpcni::dataplane {

class PodManager;

struct QueuedDeletesReplay {
  size_t applied = 0;  // attachments deleted
  size_t gone = 0;     // nothing left to delete: no such attachment
  size_t stale = 0;    // the attachment was added (again) after the DEL was queued: left alone
  // Kept in the queue for the next start: the DEL failed, or the file could not be read or removed.
  std::vector<std::string> failures;
  std::string Summary() const;  // "2 applied, 1 gone, 0 stale, 0 failed"
};

// What replaying needs of the pods: when an attachment was added (nullopt: there is none) and its
// deletion, idempotent like PodManager::Delete.
struct QueuedDeleteTarget {
  absl::FunctionRef<std::optional<int64_t>(const std::string& container_id,
                                           const std::string& ifname)>
      added_unix_nanos;
  absl::FunctionRef<absl::Status(const std::string& container_id, const std::string& ifname,
                                 const std::string& netns_path)>
      del;
};

// Replays every `*.del` file of `dir` (a missing dir is an empty queue) in name order, removing
// each one whose DEL was done or is moot. An unreadable or unparsable file is removed too, with a
// failure naming it: it can never apply.
QueuedDeletesReplay ReplayQueuedDeletes(const std::string& dir, const QueuedDeleteTarget& target);

// The same, on the agent's pods.
QueuedDeletesReplay ReplayQueuedDeletes(const std::string& dir, PodManager& pods);

}  // namespace dpcni::dataplane
