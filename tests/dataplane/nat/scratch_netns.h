// A network namespace of a test's own. It has no name under /var/run/netns: it lives as long as
// this object holds a descriptor of it, so a test that crashes leaves nothing behind.
#pragma once

#include <string>

namespace dpcni::dataplane::testing {

class ScratchNetns {
 public:
  ScratchNetns();
  ~ScratchNetns();
  ScratchNetns(const ScratchNetns&) = delete;
  ScratchNetns& operator=(const ScratchNetns&) = delete;

  // What RunInNetns takes: "/proc/self/fd/<n>".
  std::string path() const;
  // Runs `command` with /bin/sh inside the namespace; its exit status (-1: could not run it).
  int Shell(const std::string& command) const;

 private:
  int fd_ = -1;
};

}  // namespace dpcni::dataplane::testing
