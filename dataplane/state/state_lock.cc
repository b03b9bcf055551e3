#include "state/state_lock.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/atomic_file.h"

namespace dpcni::dataplane {

absl::StatusOr<StateDirLock> StateDirLock::Acquire(const std::string& state_dir) {
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  if (ec) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot make the state dir ", state_dir, ": ", ec.message()));
  }
  const std::string path = state_dir + "/agent.lock";
  // O_CLOEXEC: a child that inherited the descriptor (anything the agent runs) would hold the lock
  // after the agent died, and keep every later agent out.
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot open ", path, ": ", std::strerror(errno)));
  }
  // flock, not fcntl's record locks: those belong to the process and go away when any descriptor
  // of the file is closed by it, and are not exclusive between threads of one process.
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    const int error = errno;
    if (error != EWOULDBLOCK) {
      return absl::FailedPreconditionError(
          absl::StrCat("cannot lock ", path, ": ", std::strerror(error)));
    }
    // The holder writes its PID right after it locks; an empty file means it is just starting.
    absl::StatusOr<std::string> content = ReadFile(path);
    std::string holder = "an unknown PID";
    int pid = 0;
    if (content.ok() && absl::SimpleAtoi(absl::StripAsciiWhitespace(*content), &pid) && pid > 0) {
      holder = absl::StrCat("PID ", pid);
    }
    return absl::FailedPreconditionError(absl::StrCat(
        "state dir ", state_dir, " is in use by another dpcni-agent (", holder, ", holding ", path,
        "): stop that agent first, or give this one its own state_dir, socket and "
        "eal.file_prefix"));
  }
  // Written only under the lock: truncating before it would erase the holder's PID.
  const std::string pid = absl::StrCat(::getpid(), "\n");
  if (::ftruncate(fd.get(), 0) != 0 ||
      ::pwrite(fd.get(), pid.data(), pid.size(), 0) != static_cast<ssize_t>(pid.size())) {
    return absl::FailedPreconditionError(
        absl::StrCat("cannot write the PID into ", path, ": ", std::strerror(errno)));
  }
  return StateDirLock(std::move(fd), path);
}

absl::Status CheckSocketUnserved(const std::string& path) {
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  if (path.size() >= sizeof(address.sun_path)) {
    return absl::InvalidArgumentError(absl::StrCat("socket path ", path, " is longer than ",
                                                   sizeof(address.sun_path) - 1, " bytes"));
  }
  std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return absl::InternalError(absl::StrCat("socket: ", std::strerror(errno)));
  // A unix-socket connect never blocks for long: it succeeds at once while a listener's backlog has
  // room, and fails with ECONNREFUSED on a socket file nobody listens on.
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof(address)) == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("another process serves the socket ", path,
                     " (another dpcni-agent?): stop it first, or give this agent its own socket"));
  }
  return absl::OkStatus();
}

absl::StatusOr<FileIdentity> IdentityOf(const std::string& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot stat ", path, ": ", std::strerror(errno)));
  }
  return FileIdentity{.device = st.st_dev, .inode = st.st_ino, .changed = st.st_ctim};
}

bool RemoveIfStillSame(const std::string& path, const FileIdentity& identity) {
  absl::StatusOr<FileIdentity> now = IdentityOf(path);
  if (!now.ok() || now->device != identity.device || now->inode != identity.inode ||
      now->changed.tv_sec != identity.changed.tv_sec ||
      now->changed.tv_nsec != identity.changed.tv_nsec) {
    return false;
  }
  return ::unlink(path.c_str()) == 0;
}

}  // namespace dpcni::dataplane
