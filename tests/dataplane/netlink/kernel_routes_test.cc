// The node kernel's routes to other nodes through libnl, in a network namespace of the test's own:
// ours are found again by their protocol, replaced in place, removed; anyone else's are left alone.
// Needs root.
#include "netlink/kernel_routes.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <memory>
#include <string>

#include "ipam/ipv4.h"
#include "netns/netns.h"
#include "tests/dataplane/nat/scratch_netns.h"

namespace dpcni::dataplane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

KernelRoute Route(const char* prefix, const char* via) {
  auto parsed = Ipv4Prefix::Parse(prefix);
  EXPECT_TRUE(parsed.ok()) << prefix;
  return {parsed->network, parsed->length, *ParseIpv4(via), ""};
}

KernelRoute OnLink(const char* prefix, const char* device) {
  auto parsed = Ipv4Prefix::Parse(prefix);
  EXPECT_TRUE(parsed.ok()) << prefix;
  return {parsed->network, parsed->length, 0, device};
}

class KernelRoutesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // A link with an address (a veth: this kernel loads no dummy module), so that next hops on
    // 192.168.80.0/24 are reachable.
    ASSERT_EQ(netns_.Shell("ip link add eth0 type veth peer name eth0p && ip link set eth0p up && "
                           "ip addr add 192.168.80.1/24 dev eth0 && "
                           "ip link set eth0 up"),
              0);
  }

  // `ip -4 route show` of the namespace, the lines matching `filter`.
  std::string Show(const std::string& filter = "") {
    // One file per process: ctest runs each test of this suite as its own process, side by side.
    const std::string file =
        ::testing::TempDir() + "/routes-" + std::to_string(::getpid()) + ".txt";
    EXPECT_EQ(netns_.Shell("ip -4 route show " + filter + " > " + file), 0);
    std::string text;
    if (FILE* in = std::fopen(file.c_str(), "r")) {
      char buffer[4096];
      size_t read = 0;
      while ((read = std::fread(buffer, 1, sizeof(buffer), in)) > 0) text.append(buffer, read);
      std::fclose(in);
    }
    std::remove(file.c_str());
    return text;
  }

  template <typename Fn>
  absl::Status In(Fn fn) {
    return RunInNetns(netns_.path(), [&] { return fn(*table_); });
  }

  testing::ScratchNetns netns_;
  std::unique_ptr<KernelRouteTable> table_ = NetlinkKernelRoutes();
};

TEST_F(KernelRoutesTest, OnLinkRoutesOntoTheHostPortAreListedReplacedAndRemoved) {
  // With an uplink, another node's pod CIDR goes onto the host port, as `ip route add ... dev`.
  ASSERT_TRUE(
      In([](KernelRouteTable& t) { return t.Replace(OnLink("10.86.0.0/24", "eth0")); }).ok());
  EXPECT_EQ(Show("10.86.0.0/24"), "10.86.0.0/24 dev eth0 proto 220 scope link \n");
  std::vector<KernelRoute> listed;
  ASSERT_TRUE(In([&](KernelRouteTable& t) {
                auto routes = t.List();
                if (routes.ok()) listed = *routes;
                return routes.status();
              }).ok());
  EXPECT_THAT(listed, ElementsAre(OnLink("10.86.0.0/24", "eth0")));
  // The agent switched to no uplink: the same prefix now goes via the node, in place.
  ASSERT_TRUE(In([](KernelRouteTable& t) {
                return t.Replace(Route("10.86.0.0/24", "192.168.80.6"));
              }).ok());
  EXPECT_EQ(Show("10.86.0.0/24"), "10.86.0.0/24 via 192.168.80.6 dev eth0 proto 220 \n");
  ASSERT_TRUE(
      In([](KernelRouteTable& t) { return t.Replace(OnLink("10.86.0.0/24", "eth0")); }).ok());
  ASSERT_TRUE(
      In([](KernelRouteTable& t) { return t.Remove(OnLink("10.86.0.0/24", "eth0")); }).ok());
  EXPECT_EQ(Show("proto 220"), "");
  absl::Status missing =
      In([](KernelRouteTable& t) { return t.Replace(OnLink("10.86.0.0/24", "nosuch0")); });
  EXPECT_EQ(missing.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(missing.message(), HasSubstr("no interface nosuch0"));
}

TEST_F(KernelRoutesTest, OursCarryProtocol220AndAreReplacedInPlaceAndRemoved) {
  ASSERT_TRUE(In([](KernelRouteTable& t) {
                return t.Replace(Route("10.82.0.0/24", "192.168.80.2"));
              }).ok());
  ASSERT_TRUE(In([](KernelRouteTable& t) {
                return t.Replace(Route("10.84.0.0/24", "192.168.80.4"));
              }).ok());
  EXPECT_EQ(Show("proto 220"),
            "10.82.0.0/24 via 192.168.80.2 dev eth0 \n10.84.0.0/24 via 192.168.80.4 dev eth0 \n");
  std::vector<KernelRoute> listed;
  ASSERT_TRUE(In([&](KernelRouteTable& t) {
                auto routes = t.List();
                if (routes.ok()) listed = *routes;
                return routes.status();
              }).ok());
  EXPECT_THAT(listed, ElementsAre(Route("10.82.0.0/24", "192.168.80.2"),
                                  Route("10.84.0.0/24", "192.168.80.4")));

  // The node moved: the same route, another next hop, still one route.
  ASSERT_TRUE(In([](KernelRouteTable& t) {
                return t.Replace(Route("10.82.0.0/24", "192.168.80.22"));
              }).ok());
  EXPECT_EQ(Show("10.82.0.0/24"), "10.82.0.0/24 via 192.168.80.22 dev eth0 proto 220 \n");
  ASSERT_TRUE(In([](KernelRouteTable& t) {
                return t.Remove(Route("10.82.0.0/24", "192.168.80.22"));
              }).ok());
  // Removing what is gone is fine.
  ASSERT_TRUE(In([](KernelRouteTable& t) {
                return t.Remove(Route("10.82.0.0/24", "192.168.80.22"));
              }).ok());
  EXPECT_EQ(Show("proto 220"), "10.84.0.0/24 via 192.168.80.4 dev eth0 \n");
}

TEST_F(KernelRoutesTest, RoutesOfOthersAreNeitherListedNorReplacedNorRemoved) {
  ASSERT_EQ(netns_.Shell("ip route add 10.83.0.0/24 via 192.168.80.3 proto static"), 0);
  absl::Status refused =
      In([](KernelRouteTable& t) { return t.Replace(Route("10.83.0.0/24", "192.168.80.33")); });
  EXPECT_EQ(refused.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(refused.message(), HasSubstr("already routes 10.83.0.0/24"));
  EXPECT_THAT(refused.message(), HasSubstr("not dpcni's"));
  ASSERT_TRUE(
      In([](KernelRouteTable& t) { return t.Remove(Route("10.83.0.0/24", "192.168.80.3")); }).ok());
  EXPECT_EQ(Show("10.83.0.0/24"), "10.83.0.0/24 via 192.168.80.3 dev eth0 proto static \n");
  std::vector<KernelRoute> listed = {Route("1.0.0.0/8", "192.168.80.9")};
  ASSERT_TRUE(In([&](KernelRouteTable& t) {
                auto routes = t.List();
                if (routes.ok()) listed = *routes;
                return routes.status();
              }).ok());
  EXPECT_THAT(listed, IsEmpty());
}

TEST_F(KernelRoutesTest, AnUnreachableNextHopIsAnErrorThatSaysSo) {
  absl::Status failed =
      In([](KernelRouteTable& t) { return t.Replace(Route("10.85.0.0/24", "172.16.0.5")); });
  EXPECT_FALSE(failed.ok());
  EXPECT_THAT(failed.message(), HasSubstr("add kernel route 10.85.0.0/24 via 172.16.0.5"));
  EXPECT_THAT(failed.message(), HasSubstr("reachable"));
  EXPECT_EQ(Show("proto 220"), "");
}

}  // namespace
}  // namespace dpcni::dataplane
