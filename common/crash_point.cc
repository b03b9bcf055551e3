#include "common/crash_point.h"

#include <signal.h>
#include <unistd.h>

#include <cstdlib>

#include "common/log.h"

namespace dpcni {

void CrashPoint(absl::string_view step) {
  // Read once: the environment does not change under a running agent.
  static const char* const armed = std::getenv("DPCNI_CRASH_POINT");
  if (armed == nullptr || step != armed) return;
  DPCNI_LOG(kError, "crash-point", "DPCNI_CRASH_POINT=", step, ": killing this process");
  ::kill(::getpid(), SIGKILL);
  ::pause();  // SIGKILL cannot be caught: this is never left
}

}  // namespace dpcni
