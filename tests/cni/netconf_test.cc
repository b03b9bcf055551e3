#include "cni/netconf.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "cni/cni_error.h"

namespace dpcni::cni {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

nlohmann::json MinimalConf() {
  return {{"cniVersion", "1.0.0"}, {"name", "k8s-pod-network"}, {"type", "dpcni"}};
}

absl::StatusOr<NetConf> Parse(const nlohmann::json& conf) { return ParseNetConf(conf.dump()); }

// Asserts that `result` failed with `code` and a message containing `message_part`.
void ExpectError(const absl::StatusOr<NetConf>& result, ErrorCode code,
                 const std::string& message_part) {
  ASSERT_FALSE(result.ok());
  EXPECT_EQ(CniErrorCodeOf(result.status()), code) << result.status();
  EXPECT_THAT(std::string(result.status().message()), HasSubstr(message_part));
}

TEST(ParseNetConf, MinimalConfGetsDefaults) {
  absl::StatusOr<NetConf> conf = Parse(MinimalConf());
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(conf->cni_version, "1.0.0");
  EXPECT_EQ(conf->name, "k8s-pod-network");
  EXPECT_EQ(conf->agent_socket, "/run/dpcni/dpcni.sock");
  EXPECT_EQ(conf->mtu, 0u);
  EXPECT_EQ(conf->requested_mac, "");
  EXPECT_TRUE(conf->requested_ips.empty());
  EXPECT_FALSE(conf->prev_result.has_value());
  EXPECT_TRUE(conf->valid_attachments.empty());
  EXPECT_FALSE(conf->routes.has_value());  // the agent decides: default on the first interface
}

TEST(ParseNetConf, ReadsEveryField) {
  nlohmann::json json = MinimalConf();
  json["agentSocket"] = "/var/run/dpcni/agent.sock";
  json["mtu"] = 1400;
  json["runtimeConfig"] = {{"mac", "02:42:AC:11:00:02"},
                           {"ips", {"10.244.1.7/24", "10.244.1.8/24"}}};
  json["prevResult"] = {{"cniVersion", "1.0.0"},
                        {"interfaces", {{{"name", "eth0"}, {"sandbox", "/var/run/netns/x"}}}},
                        {"ips", {{{"address", "10.244.1.7/24"}, {"interface", 0}}}}};
  json["cni.dev/valid-attachments"] = {{{"containerID", "c1"}, {"ifname", "eth0"}},
                                       {{"containerID", "c2"}, {"ifname", "net1"}}};
  json["routes"] = {{{"dst", "0.0.0.0/0"}}, {{"dst", "10.96.0.0/12"}, {"gw", "169.254.1.1"}}};
  json["somethingElse"] = {{"ignored", true}};
  absl::StatusOr<NetConf> conf = Parse(json);
  ASSERT_TRUE(conf.ok()) << conf.status();
  EXPECT_EQ(conf->agent_socket, "/var/run/dpcni/agent.sock");
  EXPECT_EQ(conf->mtu, 1400u);
  EXPECT_EQ(conf->requested_mac, "02:42:AC:11:00:02");
  EXPECT_THAT(conf->requested_ips, ElementsAre("10.244.1.7/24", "10.244.1.8/24"));
  ASSERT_TRUE(conf->prev_result.has_value());
  ASSERT_EQ(conf->prev_result->ips.size(), 1u);
  EXPECT_EQ(conf->prev_result->ips[0].address, "10.244.1.7/24");
  ASSERT_EQ(conf->valid_attachments.size(), 2u);
  EXPECT_EQ(conf->valid_attachments[1].container_id, "c2");
  EXPECT_EQ(conf->valid_attachments[1].ifname, "net1");
  ASSERT_TRUE(conf->routes.has_value());
  ASSERT_EQ(conf->routes->size(), 2u);
  EXPECT_EQ((*conf->routes)[0].dst, "0.0.0.0/0");
  EXPECT_EQ((*conf->routes)[0].gw, "");
  EXPECT_EQ((*conf->routes)[1].dst, "10.96.0.0/12");
  EXPECT_EQ((*conf->routes)[1].gw, "169.254.1.1");
}

TEST(ParseNetConf, EmptyRoutesAreKeptApartFromNoRoutes) {
  nlohmann::json json = MinimalConf();
  json["routes"] = nlohmann::json::array();
  absl::StatusOr<NetConf> conf = Parse(json);
  ASSERT_TRUE(conf.ok()) << conf.status();
  ASSERT_TRUE(conf->routes.has_value());  // "no routes on this interface", not "agent decides"
  EXPECT_TRUE(conf->routes->empty());
}

TEST(ParseNetConf, UndecodableInputIsError6) {
  ExpectError(ParseNetConf(""), ErrorCode::kDecodingFailure, "cannot decode");
  ExpectError(ParseNetConf("{\"cniVersion\": "), ErrorCode::kDecodingFailure, "cannot decode");
  ExpectError(ParseNetConf("[1, 2]"), ErrorCode::kDecodingFailure, "not a JSON object");
  // nlohmann throws out_of_range, not parse_error, for a number no double holds.
  ExpectError(ParseNetConf(R"({"cniVersion": "1.0.0", "mtu": 1e999})"), ErrorCode::kDecodingFailure,
              "cannot decode");
}

TEST(ParseNetConf, UnsupportedVersionIsError1) {
  for (const char* version : {"0.1.0", "0.2.0", "1.2.0", "2.0.0", "one"}) {
    nlohmann::json json = MinimalConf();
    json["cniVersion"] = version;
    ExpectError(Parse(json), ErrorCode::kIncompatibleCniVersion, version);
  }
}

TEST(ParseNetConf, EverySupportedVersionIsAccepted) {
  for (const char* version : {"0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"}) {
    nlohmann::json json = MinimalConf();
    json["cniVersion"] = version;
    EXPECT_TRUE(Parse(json).ok()) << version;
  }
}

TEST(ParseNetConf, IpamIsError2NamingTheField) {
  nlohmann::json json = MinimalConf();
  json["ipam"] = {{"type", "host-local"}};
  absl::StatusOr<NetConf> conf = Parse(json);
  ExpectError(conf, ErrorCode::kUnsupportedField, "ipam");
  // The spec wants the key and the value of the unsupported field.
  EXPECT_EQ(FormatError(conf.status(), "1.0.0")["details"], "ipam={\"type\":\"host-local\"}");
}

TEST(ParseNetConf, RequiredFieldsAreError7) {
  for (const char* field : {"cniVersion", "name", "type"}) {
    nlohmann::json json = MinimalConf();
    json.erase(field);
    ExpectError(Parse(json), ErrorCode::kInvalidNetworkConfig, std::string(field) + " is required");
  }
}

struct InvalidFieldCase {
  const char* description;
  nlohmann::json patch;      // merged into the minimal conf
  std::string message_part;  // the field the message must name
};

class InvalidFieldTest : public ::testing::TestWithParam<InvalidFieldCase> {};

TEST_P(InvalidFieldTest, IsError7NamingTheField) {
  nlohmann::json json = MinimalConf();
  json.merge_patch(GetParam().patch);
  ExpectError(Parse(json), ErrorCode::kInvalidNetworkConfig, GetParam().message_part);
}

INSTANTIATE_TEST_SUITE_P(
    ParseNetConf, InvalidFieldTest,
    ::testing::Values(
        InvalidFieldCase{"NameWithSlash", {{"name", "a/b"}}, "name"},
        InvalidFieldCase{"NameNotString", {{"name", 7}}, "name must be a string"},
        InvalidFieldCase{"OtherType", {{"type", "bridge"}}, "type must be \"dpcni\""},
        InvalidFieldCase{"VersionNotString", {{"cniVersion", 1}}, "cniVersion must be a string"},
        InvalidFieldCase{"RelativeSocket", {{"agentSocket", "run/dpcni.sock"}}, "agentSocket"},
        InvalidFieldCase{"SocketNotString", {{"agentSocket", true}}, "agentSocket"},
        InvalidFieldCase{"MtuTooSmall", {{"mtu", 67}}, "mtu"},
        InvalidFieldCase{"MtuTooLarge", {{"mtu", 65536}}, "mtu"},
        InvalidFieldCase{"MtuNegative", {{"mtu", -1}}, "mtu"},
        InvalidFieldCase{"MtuString", {{"mtu", "1500"}}, "mtu"},
        InvalidFieldCase{"RuntimeConfigNotObject", {{"runtimeConfig", "x"}}, "runtimeConfig"},
        InvalidFieldCase{
            "MacShort", {{"runtimeConfig", {{"mac", "02:42:ac:11:00"}}}}, "runtimeConfig.mac"},
        InvalidFieldCase{
            "MacNotHex", {{"runtimeConfig", {{"mac", "02:42:ac:11:00:zz"}}}}, "runtimeConfig.mac"},
        InvalidFieldCase{"MacMulticast",
                         {{"runtimeConfig", {{"mac", "01:00:5e:00:00:01"}}}},
                         "runtimeConfig.mac"},
        InvalidFieldCase{
            "IpsNotArray", {{"runtimeConfig", {{"ips", "10.0.0.1/24"}}}}, "runtimeConfig.ips"},
        InvalidFieldCase{"IpWithoutPrefix",
                         {{"runtimeConfig", {{"ips", {"10.0.0.1"}}}}},
                         "runtimeConfig.ips[0]"},
        InvalidFieldCase{"Ipv4PrefixTooLong",
                         {{"runtimeConfig", {{"ips", {"10.0.0.1/33"}}}}},
                         "runtimeConfig.ips[0]"},
        InvalidFieldCase{"Ipv6PrefixTooLong",
                         {{"runtimeConfig", {{"ips", {"10.0.0.1/24", "fd00::2/129"}}}}},
                         "runtimeConfig.ips[1]"},
        InvalidFieldCase{"Ipv6NotYet",
                         {{"runtimeConfig", {{"ips", {"10.0.0.1/24", "fd00::2/64"}}}}},
                         "runtimeConfig.ips[1] is an IPv6 address: dpcni assigns IPv4 addresses"},
        InvalidFieldCase{
            "IpNotAddress", {{"runtimeConfig", {{"ips", {"pod-a/24"}}}}}, "runtimeConfig.ips[0]"},
        InvalidFieldCase{"RoutesNotArray", {{"routes", {{"dst", "0.0.0.0/0"}}}}, "routes"},
        InvalidFieldCase{"RouteWithoutDst",
                         {{"routes", {{{"gw", "169.254.1.1"}}}}},
                         "routes[0].dst is required"},
        InvalidFieldCase{"RouteDstNotCidr", {{"routes", {{{"dst", "default"}}}}}, "routes[0].dst"},
        InvalidFieldCase{"RouteDstIpv6", {{"routes", {{{"dst", "::/0"}}}}}, "routes[0].dst"},
        InvalidFieldCase{"PrevResultNotObject", {{"prevResult", 3}}, "prevResult"},
        InvalidFieldCase{"PrevResultIpWithoutAddress",
                         {{"prevResult", {{"ips", {{{"gateway", "10.0.0.1"}}}}}}},
                         "prevResult.ips[0].address is required"},
        InvalidFieldCase{"ValidAttachmentsNotArray",
                         {{"cni.dev/valid-attachments", {{"a", 1}}}},
                         "cni.dev/valid-attachments"},
        InvalidFieldCase{"ValidAttachmentWithoutIfname",
                         {{"cni.dev/valid-attachments", {{{"containerID", "c1"}}}}},
                         "cni.dev/valid-attachments[0].ifname is required"}),
    [](const ::testing::TestParamInfo<InvalidFieldCase>& info) {
      return std::string(info.param.description);
    });

TEST(ReplyCniVersion, EchoesASupportedVersionOtherwiseTheLatest) {
  EXPECT_EQ(ReplyCniVersion(R"({"cniVersion":"0.4.0"})"), "0.4.0");
  EXPECT_EQ(ReplyCniVersion(R"({"cniVersion":"0.2.0"})"), "1.1.0");
  EXPECT_EQ(ReplyCniVersion(R"({"cniVersion":4})"), "1.1.0");
  EXPECT_EQ(ReplyCniVersion("not json"), "1.1.0");
  EXPECT_EQ(ReplyCniVersion(""), "1.1.0");
}

}  // namespace
}  // namespace dpcni::cni
