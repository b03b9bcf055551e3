#include "cni/result.h"

#include <algorithm>

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cni/cni_error.h"

namespace dpcni::cni {
namespace {

using ::testing::HasSubstr;

CniResult DualStackPod() {
  CniResult result;
  result.interfaces.push_back(
      {.name = "eth0", .mac = "02:00:0a:f4:01:07", .sandbox = "/var/run/netns/cni-1", .mtu = 1450});
  result.ips.push_back({.address = "10.244.1.7/24", .gateway = "10.244.1.1", .interface = 0});
  result.ips.push_back({.address = "fd00:10:244:1::7/64", .gateway = "", .interface = 0});
  result.routes.push_back({.dst = "0.0.0.0/0", .gw = "10.244.1.1"});
  result.routes.push_back({.dst = "::/0", .gw = ""});
  return result;
}

// The layout every version shares; `ips` and `interfaces` differ per version.
nlohmann::json ExpectedResult(const std::string& version, nlohmann::json interfaces,
                              nlohmann::json ips) {
  return {
      {"cniVersion", version},
      {"interfaces", std::move(interfaces)},
      {"ips", std::move(ips)},
      {"routes", {{{"dst", "0.0.0.0/0"}, {"gw", "10.244.1.1"}}, {{"dst", "::/0"}}}},
      {"dns", nlohmann::json::object()},
  };
}

// "1.0.0" -> "v1_0_0": a test name may only hold letters, digits and '_'.
std::string VersionTestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string name = "v" + info.param;
  std::replace(name.begin(), name.end(), '.', '_');
  return name;
}

const nlohmann::json kInterfacesWithoutMtu = {
    {{"name", "eth0"}, {"mac", "02:00:0a:f4:01:07"}, {"sandbox", "/var/run/netns/cni-1"}}};

class PreOneVersionTest : public ::testing::TestWithParam<std::string> {};

TEST_P(PreOneVersionTest, IpsCarryTheirIpVersion) {
  nlohmann::json ips = {
      {{"version", "4"}, {"address", "10.244.1.7/24"}, {"gateway", "10.244.1.1"}, {"interface", 0}},
      {{"version", "6"}, {"address", "fd00:10:244:1::7/64"}, {"interface", 0}}};
  EXPECT_EQ(FormatResult(DualStackPod(), GetParam()),
            ExpectedResult(GetParam(), kInterfacesWithoutMtu, ips));
}

INSTANTIATE_TEST_SUITE_P(FormatResult, PreOneVersionTest,
                         ::testing::Values("0.3.0", "0.3.1", "0.4.0"), VersionTestName);

TEST(FormatResult, Version100HasNoIpVersionAndNoMtu) {
  nlohmann::json ips = {{{"address", "10.244.1.7/24"}, {"gateway", "10.244.1.1"}, {"interface", 0}},
                        {{"address", "fd00:10:244:1::7/64"}, {"interface", 0}}};
  EXPECT_EQ(FormatResult(DualStackPod(), "1.0.0"),
            ExpectedResult("1.0.0", kInterfacesWithoutMtu, ips));
}

TEST(FormatResult, Version110ReportsTheInterfaceMtu) {
  nlohmann::json interfaces = kInterfacesWithoutMtu;
  interfaces[0]["mtu"] = 1450;
  nlohmann::json ips = {{{"address", "10.244.1.7/24"}, {"gateway", "10.244.1.1"}, {"interface", 0}},
                        {{"address", "fd00:10:244:1::7/64"}, {"interface", 0}}};
  EXPECT_EQ(FormatResult(DualStackPod(), "1.1.0"), ExpectedResult("1.1.0", interfaces, ips));
}

TEST(FormatResult, AnEmptyResultStillHasEveryList) {
  nlohmann::json json = FormatResult(CniResult{}, "1.1.0");
  EXPECT_EQ(json["interfaces"], nlohmann::json::array());
  EXPECT_EQ(json["ips"], nlohmann::json::array());
  EXPECT_EQ(json["routes"], nlohmann::json::array());
  EXPECT_EQ(json["dns"], nlohmann::json::object());
}

class RoundTripTest : public ::testing::TestWithParam<std::string> {};

// CHECK reads back the result ADD printed, whatever version it was printed in.
TEST_P(RoundTripTest, ParseReadsWhatFormatWrote) {
  absl::StatusOr<CniResult> parsed =
      ParseResult(FormatResult(DualStackPod(), GetParam()), "prevResult");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_EQ(FormatResult(*parsed, GetParam()), FormatResult(DualStackPod(), GetParam()));
}

INSTANTIATE_TEST_SUITE_P(ParseResult, RoundTripTest,
                         ::testing::Values("0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"),
                         VersionTestName);

void ExpectInvalid(const nlohmann::json& json, const std::string& message_part) {
  absl::StatusOr<CniResult> parsed = ParseResult(json, "prevResult");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(CniErrorCodeOf(parsed.status()), ErrorCode::kInvalidNetworkConfig);
  EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(message_part));
}

TEST(ParseResult, NamesTheMalformedField) {
  ExpectInvalid({{"interfaces", {{{"mac", "02:00:00:00:00:01"}}}}},
                "prevResult.interfaces[0].name is required");
  ExpectInvalid({{"interfaces", "eth0"}}, "prevResult.interfaces must be an array");
  ExpectInvalid({{"ips", {{{"address", 10}}}}}, "prevResult.ips[0].address must be a string");
  ExpectInvalid({{"interfaces", {{{"name", "eth0"}}}},
                 {"ips", {{{"address", "10.0.0.2/24"}, {"interface", 1}}}}},
                "prevResult.ips[0].interface must be an integer from 0 to 0");
  ExpectInvalid({{"ips", {{{"address", "10.0.0.2/24"}, {"interface", 0}}}}},
                "prevResult.ips[0].interface refers to an interface but the result lists none");
  ExpectInvalid({{"routes", {{{"gw", "10.0.0.1"}}}}}, "prevResult.routes[0].dst is required");
}

TEST(ParseResult, IpsWithoutInterfaceIndexAreAccepted) {
  absl::StatusOr<CniResult> parsed =
      ParseResult({{"ips", {{{"address", "10.0.0.2/24"}}}}}, "prevResult");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_FALSE(parsed->ips[0].interface.has_value());
}

}  // namespace
}  // namespace dpcni::cni
