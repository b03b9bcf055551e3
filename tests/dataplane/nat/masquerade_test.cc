#include "nat/masquerade.h"

#include <algorithm>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "ipam/ipv4.h"
#include "nat/nftables.h"
#include "netns/netns.h"
#include "nlohmann/json.hpp"
#include "tests/dataplane/nat/scratch_netns.h"

namespace dpcni::dataplane {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

// The table as nft lists it, in JSON; a failed listing (no such table) is its status.
absl::StatusOr<nlohmann::json> ListTable() {
  auto listing = Nftables(Nftables::Output::kJson).Run("list table ip dpcni");
  if (!listing.ok()) return listing.status();
  return nlohmann::json::parse(*listing);
}

// The objects of one kind ("chain", "rule") in a JSON listing.
std::vector<nlohmann::json> Objects(const nlohmann::json& listing, const std::string& kind) {
  std::vector<nlohmann::json> found;
  for (const nlohmann::json& entry : listing["nftables"]) {
    if (entry.contains(kind)) found.push_back(entry[kind]);
  }
  return found;
}

// The addresses a set of prefixes covers, as merged ranges "10.244.1.0-10.244.2.255": nft merges
// adjacent prefixes of an interval set into ranges, so rules are compared by what they match.
using Range = std::pair<uint32_t, uint32_t>;

std::vector<std::string> Merged(std::vector<Range> ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<Range> merged;
  for (const Range& range : ranges) {
    if (!merged.empty() && uint64_t{merged.back().second} + 1 >= range.first) {
      merged.back().second = std::max(merged.back().second, range.second);
    } else {
      merged.push_back(range);
    }
  }
  std::vector<std::string> printed;
  for (const auto& [first, last] : merged) {
    printed.push_back(Ipv4ToString(first) + "-" + Ipv4ToString(last));
  }
  return printed;
}

Range RangeOf(const std::string& cidr) {
  auto prefix = Ipv4Prefix::Parse(cidr);
  EXPECT_TRUE(prefix.ok()) << cidr;
  return {prefix->network, static_cast<uint32_t>(prefix->network + prefix->Size() - 1)};
}

std::vector<std::string> CoveredBy(const std::vector<std::string>& cidrs) {
  std::vector<Range> ranges;
  for (const std::string& cidr : cidrs) ranges.push_back(RangeOf(cidr));
  return Merged(ranges);
}

// What the right-hand side of a match covers: a set, or (for one element) a bare prefix; each
// element a prefix, a range or an address.
std::vector<std::string> Covered(const nlohmann::json& right) {
  const nlohmann::json elements =
      right.contains("set") ? right["set"] : nlohmann::json::array({right});
  std::vector<Range> ranges;
  for (const nlohmann::json& element : elements) {
    if (element.is_object() && element.contains("prefix")) {
      ranges.push_back(RangeOf(element["prefix"]["addr"].get<std::string>() + "/" +
                               std::to_string(element["prefix"]["len"].get<int>())));
    } else if (element.is_object() && element.contains("range")) {
      ranges.push_back({*ParseIpv4(element["range"][0].get<std::string>()),
                        *ParseIpv4(element["range"][1].get<std::string>())});
    } else {
      const uint32_t address = *ParseIpv4(element.get<std::string>());
      ranges.push_back({address, address});
    }
  }
  return Merged(ranges);
}

struct MasqueradeRule {
  std::vector<std::string> sources;           // ip saddr { ... }
  std::vector<std::string> not_destinations;  // ip daddr != { ... }
  bool masquerades = false;
};

MasqueradeRule ReadRule(const nlohmann::json& rule) {
  MasqueradeRule read;
  for (const nlohmann::json& expression : rule["expr"]) {
    if (expression.contains("masquerade")) read.masquerades = true;
    if (!expression.contains("match")) continue;
    const nlohmann::json& match = expression["match"];
    const std::string field = match["left"]["payload"]["field"];
    if (field == "saddr" && match["op"] == "==") read.sources = Covered(match["right"]);
    if (field == "daddr" && match["op"] == "!=") read.not_destinations = Covered(match["right"]);
  }
  return read;
}

class MasqueradeTest : public ::testing::Test {
 protected:
  // Runs `body` on a thread inside the test's namespace; fails the test if it could not enter.
  template <typename Body>
  void InNetns(Body body) {
    ASSERT_TRUE(RunInNetns(netns_.path(), [&] {
                  body();
                  return absl::OkStatus();
                }).ok());
  }

  testing::ScratchNetns netns_;
};

TEST_F(MasqueradeTest, InstallsOneSourceNatRuleForPodTrafficLeavingTheCluster) {
  InNetns([] {
    auto masquerade =
        Masquerade::Install({"10.244.1.0/24", "10.244.2.0/24"}, {"10.244.0.0/16", "10.96.0.0/12"});
    ASSERT_TRUE(masquerade.ok()) << masquerade.status();

    auto listing = ListTable();
    ASSERT_TRUE(listing.ok()) << listing.status();
    std::vector<nlohmann::json> chains = Objects(*listing, "chain");
    ASSERT_THAT(chains, SizeIs(1));
    EXPECT_EQ(chains[0]["name"], "postrouting");
    EXPECT_EQ(chains[0]["type"], "nat");
    EXPECT_EQ(chains[0]["hook"], "postrouting");
    EXPECT_EQ(chains[0]["prio"], 100);  // srcnat
    std::vector<nlohmann::json> rules = Objects(*listing, "rule");
    ASSERT_THAT(rules, SizeIs(1));
    MasqueradeRule rule = ReadRule(rules[0]);
    EXPECT_EQ(rule.sources, CoveredBy({"10.244.1.0/24", "10.244.2.0/24"}));
    EXPECT_EQ(rule.not_destinations, CoveredBy({"10.244.0.0/16", "10.96.0.0/12"}));
    EXPECT_TRUE(rule.masquerades);
  });
}

TEST_F(MasqueradeTest, WithoutClusterCidrsThePodCidrsAreTheCluster) {
  InNetns([] {
    auto masquerade = Masquerade::Install({"10.244.1.0/24"}, {});
    ASSERT_TRUE(masquerade.ok()) << masquerade.status();
    auto listing = ListTable();
    ASSERT_TRUE(listing.ok()) << listing.status();
    std::vector<nlohmann::json> rules = Objects(*listing, "rule");
    ASSERT_THAT(rules, SizeIs(1));
    MasqueradeRule rule = ReadRule(rules[0]);
    EXPECT_EQ(rule.sources, CoveredBy({"10.244.1.0/24"}));
    EXPECT_EQ(rule.not_destinations, CoveredBy({"10.244.1.0/24"}));
  });
}

TEST_F(MasqueradeTest, DestroyingDeletesTheTable) {
  InNetns([] {
    auto masquerade = Masquerade::Install({"10.244.1.0/24"}, {"10.244.0.0/16"});
    ASSERT_TRUE(masquerade.ok()) << masquerade.status();
    ASSERT_TRUE(ListTable().ok());
    masquerade->reset();
    EXPECT_THAT(ListTable().status().message(), HasSubstr("No such file or directory"));
  });
}

TEST_F(MasqueradeTest, DestroyedFromAnotherNamespaceDeletesWhereItWasInstalled) {
  std::unique_ptr<Masquerade> masquerade;
  InNetns([&] {
    auto installed = Masquerade::Install({"10.244.1.0/24"}, {"10.244.0.0/16"});
    ASSERT_TRUE(installed.ok()) << installed.status();
    masquerade = *std::move(installed);
  });
  ASSERT_NE(masquerade, nullptr);
  masquerade.reset();  // on the test's own thread, outside the namespace
  InNetns([] { EXPECT_FALSE(ListTable().ok()); });
}

TEST_F(MasqueradeTest, ReplacesATableLeftByACrashedAgent) {
  InNetns([] {
    // What an earlier agent with another pod CIDR left: its chain, its rule, and a chain we never
    // make.
    auto stale = Nftables().Run(
        "add table ip dpcni\n"
        "add chain ip dpcni postrouting { type nat hook postrouting priority srcnat; }\n"
        "add rule ip dpcni postrouting ip saddr 10.99.0.0/24 ip daddr != 10.99.0.0/16 masquerade\n"
        "add chain ip dpcni leftover\n");
    ASSERT_TRUE(stale.ok()) << stale.status();

    auto masquerade = Masquerade::Install({"10.244.1.0/24"}, {"10.244.0.0/16"});
    ASSERT_TRUE(masquerade.ok()) << masquerade.status();
    auto listing = ListTable();
    ASSERT_TRUE(listing.ok()) << listing.status();
    EXPECT_THAT(Objects(*listing, "chain"), SizeIs(1));
    std::vector<nlohmann::json> rules = Objects(*listing, "rule");
    ASSERT_THAT(rules, SizeIs(1));
    EXPECT_EQ(ReadRule(rules[0]).sources, CoveredBy({"10.244.1.0/24"}));
  });
}

TEST_F(MasqueradeTest, RejectsWhatIsNotAnIpv4PrefixBeforeTouchingNftables) {
  InNetns([] {
    auto masquerade = Masquerade::Install({"10.244.1.0/24"}, {"10.244.0.0/16; flush ruleset"});
    EXPECT_EQ(masquerade.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(masquerade.status().message(), HasSubstr("cluster CIDRs"));
    EXPECT_FALSE(ListTable().ok());
  });
}

TEST(Nftables, ErrorsCarryNftsMessage) {
  testing::ScratchNetns netns;
  ASSERT_TRUE(RunInNetns(netns.path(), [] {
                auto result = Nftables().Run("delete table ip no_such_table");
                EXPECT_FALSE(result.ok());
                EXPECT_THAT(result.status().message(), HasSubstr("No such file or directory"));
                EXPECT_THAT(result.status().message(), HasSubstr("no_such_table"));
                return absl::OkStatus();
              }).ok());
}

}  // namespace
}  // namespace dpcni::dataplane
