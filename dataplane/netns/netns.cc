#include "netns/netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"

namespace dpcni::dataplane {

absl::Status RunInNetns(const std::string& netns_path, absl::FunctionRef<absl::Status()> fn) {
  int fd = ::open(netns_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const std::string reason = std::strerror(errno);
    if (errno == ENOENT) return absl::NotFoundError(absl::StrCat("netns ", netns_path, " does not exist"));
    return absl::InvalidArgumentError(absl::StrCat("cannot open netns ", netns_path, ": ", reason));
  }
  absl::Cleanup close_fd = [fd] { ::close(fd); };

  absl::Status result;
  std::thread worker([&] {
    if (::setns(fd, CLONE_NEWNET) != 0) {
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
