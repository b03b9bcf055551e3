#include "ipam/ipv4.h"

#include <gtest/gtest.h>

namespace dpcni::dataplane {
namespace {

TEST(Ipv4Test, ParsesAndPrintsAddresses) {
  ASSERT_TRUE(ParseIpv4("10.244.0.5").ok());
  EXPECT_EQ(*ParseIpv4("10.244.0.5"), 0x0af40005u);
  EXPECT_EQ(Ipv4ToString(0x0af40005u), "10.244.0.5");
  EXPECT_FALSE(ParseIpv4("10.244.0").ok());
  EXPECT_FALSE(ParseIpv4("fd00::1").ok());
}

TEST(Ipv4Test, PrefixRejectsHostBitsAndNamesTheFix) {
  auto prefix = Ipv4Prefix::Parse("10.244.0.0/24");
  ASSERT_TRUE(prefix.ok());
  EXPECT_TRUE(prefix->Contains(*ParseIpv4("10.244.0.255")));
  EXPECT_FALSE(prefix->Contains(*ParseIpv4("10.244.1.0")));
  EXPECT_EQ(prefix->ToString(), "10.244.0.0/24");

  auto bad = Ipv4Prefix::Parse("10.244.0.1/24");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("10.244.0.0/24"), std::string::npos);
  EXPECT_FALSE(Ipv4Prefix::Parse("10.244.0.0/33").ok());
  EXPECT_FALSE(Ipv4Prefix::Parse("10.244.0.0").ok());
}

}  // namespace
}  // namespace dpcni::dataplane
