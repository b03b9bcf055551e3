// CNI spec versions this plugin speaks, and the VERSION verb's result.
#pragma once

#include <array>

#include <absl/strings/string_view.h>
#include <nlohmann/json.hpp>

namespace dpcni::cni {

// In ascending order. 0.1.0/0.2.0 are left out: their result type has no interfaces list, so the
// runtime could not learn the pod's interface from it.
inline constexpr std::array<absl::string_view, 5> kSupportedCniVersions = {
    "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"};
inline constexpr absl::string_view kLatestCniVersion = "1.1.0";

bool IsSupportedCniVersion(absl::string_view version);

// Semantic-version comparison of "major.minor.patch" strings; a malformed version is never at
// least anything.
bool CniVersionAtLeast(absl::string_view version, absl::string_view minimum);

// The VERSION result, stamped with `cni_version` (the spec echoes the version given on stdin).
nlohmann::json FormatVersionResult(absl::string_view cni_version);

}  // namespace dpcni::cni
