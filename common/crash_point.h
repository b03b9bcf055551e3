// Fault injection for the crash-consistency tests: the process dies at a named step, exactly as a
// kill -9 there would (no destructor, no flush, state files as they are on disk), when the
// environment variable DPCNI_CRASH_POINT names that step. Without it a call costs one comparison.
// The steps are listed in docs/testing.md ("Crash points"); tests/e2e/crash_points_test.cc kills
// the agent at each of them and checks what a restarted agent makes of it.
#pragma once

#include "absl/strings/string_view.h"

namespace dpcni {

void CrashPoint(absl::string_view step);

}  // namespace dpcni
