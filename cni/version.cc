#include "cni/version.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <absl/strings/numbers.h>
#include <absl/strings/str_split.h>

namespace dpcni::cni {
namespace {

struct SemanticVersion {
  int major = 0;
  int minor = 0;
  int patch = 0;
  // NOLINTNEXTLINE(modernize-use-nullptr): clang-tidy 14 flags the synthesized comparison with 0.
  auto operator<=>(const SemanticVersion&) const = default;
};

std::optional<SemanticVersion> ParseSemanticVersion(absl::string_view text) {
  std::vector<absl::string_view> parts = absl::StrSplit(text, '.');
  SemanticVersion version;
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &version.major) ||
      !absl::SimpleAtoi(parts[1], &version.minor) || !absl::SimpleAtoi(parts[2], &version.patch)) {
    return std::nullopt;
  }
  return version;
}

}  // namespace

bool IsSupportedCniVersion(absl::string_view version) {
  return std::find(kSupportedCniVersions.begin(), kSupportedCniVersions.end(), version) !=
         kSupportedCniVersions.end();
}

bool CniVersionAtLeast(absl::string_view version, absl::string_view minimum) {
  std::optional<SemanticVersion> parsed = ParseSemanticVersion(version);
  std::optional<SemanticVersion> parsed_minimum = ParseSemanticVersion(minimum);
  return parsed.has_value() && parsed_minimum.has_value() && *parsed >= *parsed_minimum;
}

nlohmann::json FormatVersionResult(absl::string_view cni_version) {
  nlohmann::json supported = nlohmann::json::array();
  for (absl::string_view version : kSupportedCniVersions) {
    supported.push_back(std::string(version));
  }
  return {
      {"cniVersion", std::string(cni_version)},
      {"supportedVersions", supported},
  };
}

}  // namespace dpcni::cni
