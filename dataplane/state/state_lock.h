// One agent per state dir. Two agents on one node's state would attach the same persistent taps,
// overwrite each other's state files, and the first to exit would remove the other's socket; the
// agent therefore holds an exclusive lock on its state dir for its whole life, and removes its
// socket on exit only if the path still names the socket it made.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "common/unique_fd.h"

namespace dpcni::dataplane {

class StateDirLock {
 public:
  // Makes `state_dir` if missing and takes an exclusive flock(2) on its `agent.lock`, then writes
  // this process's PID into it. While another process holds it: FailedPrecondition naming that
  // process's PID, so the operator knows which agent to stop.
  static absl::StatusOr<StateDirLock> Acquire(const std::string& state_dir);

  const std::string& path() const { return path_; }

 private:
  StateDirLock(UniqueFd fd, std::string path) : fd_(std::move(fd)), path_(std::move(path)) {}

  UniqueFd fd_;  // the lock lives as long as this open file description
  std::string path_;
};

// Fails (FailedPrecondition) when a process accepts connections on the unix socket at `path`:
// another agent serves there, and removing its socket would cut it off from kubelet's plugin. A
// socket nobody listens on is what an agent that did not stop cleanly leaves, and may be replaced.
absl::Status CheckSocketUnserved(const std::string& path);

// What a path names: a device, an inode and the inode's change time, to tell later whether it still
// names the same file. The inode alone is not enough: tmpfs (where /run lives) hands a freed inode
// number to the next file made, so a socket made right after ours was removed can have its number.
struct FileIdentity {
  dev_t device = 0;
  ino_t inode = 0;
  timespec changed{};
};

absl::StatusOr<FileIdentity> IdentityOf(const std::string& path);

// Removes `path` only while it still names `identity`; true when it did. A newer agent may have
// replaced the file (its socket) in the meantime.
bool RemoveIfStillSame(const std::string& path, const FileIdentity& identity);

}  // namespace dpcni::dataplane
