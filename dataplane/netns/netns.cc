#include "netns/netns.h"

#include <fcntl.h>
#include <linux/nsfs.h>
#include <sched.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace dpcni::dataplane {
namespace {

// The kernel's own links to a namespace: /proc/<pid>/ns/net (Docker and cri-dockerd hand these to
// CNI plugins), /proc/self/ns/net and /proc/self/fd/<n> (how the agent names its own netns or one
// it holds open). Every other path must be the namespace file itself.
bool IsProcNetnsLink(const std::string& path) {
  std::vector<absl::string_view> parts = absl::StrSplit(path, '/');
  if (parts.size() != 5 || !parts[0].empty() || parts[1] != "proc") return false;
  uint32_t number = 0;
  if (parts[2] != "self" && parts[2] != "thread-self" && !absl::SimpleAtoi(parts[2], &number)) {
    return false;
  }
  return (parts[3] == "ns" && parts[4] == "net") ||
         (parts[3] == "fd" && absl::SimpleAtoi(parts[4], &number));
}

}  // namespace

absl::StatusOr<int> OpenNetns(const std::string& netns_path) {
  // The path comes from the container runtime and is opened by the agent as root, so:
  // - O_NONBLOCK: opening a FIFO for reading waits for a writer. A FIFO given as CNI_NETNS would
  // hang
  //   this ADD while it holds the attachment's lock, then every later call and the agent's
  //   shutdown. A namespace file ignores the flag.
  // - O_NOFOLLOW: a symlink there could point the pod's setup at the node's own netns.
  const int flags =
      O_RDONLY | O_CLOEXEC | O_NONBLOCK | (IsProcNetnsLink(netns_path) ? 0 : O_NOFOLLOW);
  const int fd = ::open(netns_path.c_str(), flags);
  if (fd < 0) {
    const int error = errno;
    if (error == ENOENT) {
      return absl::NotFoundError(absl::StrCat("netns ", netns_path, " does not exist"));
    }
    if (error == ELOOP) {
      return absl::InvalidArgumentError(absl::StrCat(
          "netns ", netns_path, " is a symbolic link: give the namespace file itself"));
    }
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open netns ", netns_path, ": ", std::strerror(error)));
  }
  absl::Cleanup close_fd = [fd] { ::close(fd); };
  // NS_GET_NSTYPE answers only on namespace (nsfs) files, with the namespace's type: this refuses a
  // regular file, a FIFO or a device, and a mount or PID namespace, before setns() sees them.
  const int type = ::ioctl(fd, NS_GET_NSTYPE);
  if (type != CLONE_NEWNET) {
    return absl::InvalidArgumentError(absl::StrCat(
        "netns ", netns_path,
        type < 0 ? " is not a namespace file (expected a bind mount of /proc/<pid>/ns/net, as "
                   "ip netns add and container runtimes make)"
                 : " is a namespace, but not a network namespace"));
  }
  std::move(close_fd).Cancel();
  return fd;
}

absl::Status RunInNetns(const std::string& netns_path, absl::FunctionRef<absl::Status()> fn) {
  auto fd = OpenNetns(netns_path);
  if (!fd.ok()) return fd.status();
  absl::Cleanup close_fd = [fd = *fd] { ::close(fd); };

  absl::Status result;
  std::thread worker([&] {
    if (::setns(*fd, CLONE_NEWNET) != 0) {
      result = absl::InvalidArgumentError(
          absl::StrCat("cannot enter netns ", netns_path, ": ", std::strerror(errno)));
      return;
    }
    result = fn();
  });
  worker.join();
  return result;
}

bool NetnsExists(const std::string& netns_path) {
  struct stat info {};
  return !netns_path.empty() && ::stat(netns_path.c_str(), &info) == 0;
}

}  // namespace dpcni::dataplane
