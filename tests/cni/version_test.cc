#include "cni/version.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

namespace dpcni::cni {
namespace {

TEST(CniVersionAtLeast, ComparesNumerically) {
  EXPECT_TRUE(CniVersionAtLeast("0.4.0", "0.4.0"));
  EXPECT_TRUE(CniVersionAtLeast("1.0.0", "0.4.0"));
  EXPECT_TRUE(CniVersionAtLeast("0.10.0", "0.4.0"));
  EXPECT_FALSE(CniVersionAtLeast("0.3.1", "0.4.0"));
  EXPECT_FALSE(CniVersionAtLeast("1.0.0", "1.1.0"));
  EXPECT_FALSE(CniVersionAtLeast("1.1", "1.0.0"));
  EXPECT_FALSE(CniVersionAtLeast("", "0.3.0"));
}

TEST(IsSupportedCniVersion, KnowsExactlyTheListedVersions) {
  for (absl::string_view version : kSupportedCniVersions) {
    EXPECT_TRUE(IsSupportedCniVersion(version)) << version;
  }
  EXPECT_FALSE(IsSupportedCniVersion("0.2.0"));
  EXPECT_FALSE(IsSupportedCniVersion("1.1"));
}

TEST(FormatVersionResult, ListsSupportedVersionsUnderTheGivenVersion) {
  nlohmann::json expected = {{"cniVersion", "0.4.0"},
                             {"supportedVersions", {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}}};
  EXPECT_EQ(FormatVersionResult("0.4.0"), expected);
}

}  // namespace
}  // namespace dpcni::cni
