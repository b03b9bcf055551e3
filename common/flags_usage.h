// What our binaries' --help shows. abseil's --help lists the flags of files named after the
// program (dpcnictl.cc) and finds none in our main.cc files, printing "No flags matched".
#pragma once

#include "absl/strings/string_view.h"

namespace dpcni {

// Makes --help list the flags defined in `main_file`, given as its path in the source tree
// ("dataplane/agent/main.cc"), and name it by that path rather than the builder's absolute one.
// Call before absl::ParseCommandLine.
void ListFlagsOf(absl::string_view main_file);

}  // namespace dpcni
