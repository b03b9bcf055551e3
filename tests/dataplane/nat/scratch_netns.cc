#include "tests/dataplane/nat/scratch_netns.h"

#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <thread>

#include "netns/netns.h"

namespace dpcni::dataplane::testing {

ScratchNetns::ScratchNetns() {
  // unshare() moves only the calling thread, so a short-lived thread makes the namespace and the
  // descriptor keeps it alive after that thread is gone.
  std::string failure;
  std::thread maker([&] {
    if (::unshare(CLONE_NEWNET) != 0) {
      failure = std::string("unshare(CLONE_NEWNET): ") + std::strerror(errno);
      return;
    }
    fd_ = ::open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
    if (fd_ < 0) failure = std::string("open the new netns: ") + std::strerror(errno);
  });
  maker.join();
  if (!failure.empty()) throw std::runtime_error(failure);
  if (Shell("ip link set lo up") != 0)
    throw std::runtime_error("cannot set lo up in a scratch netns");
}

ScratchNetns::~ScratchNetns() { ::close(fd_); }

std::string ScratchNetns::path() const { return "/proc/self/fd/" + std::to_string(fd_); }

int ScratchNetns::Shell(const std::string& command) const {
  int exit_status = -1;
  // A child forked from a thread inside the namespace starts in that namespace.
  absl::Status entered = RunInNetns(path(), [&] {
    const int status = std::system(command.c_str());
    if (status != -1 && WIFEXITED(status)) exit_status = WEXITSTATUS(status);
    return absl::OkStatus();
  });
  return entered.ok() ? exit_status : -1;
}

}  // namespace dpcni::dataplane::testing
