#include "ipam/ipam.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>

namespace dpcni::dataplane {
namespace {

class IpamTest : public testing::Test {
 protected:
  void SetUp() override {
    state_file_ = (std::filesystem::path(testing::TempDir()) /
                   ("ipam_" + std::to_string(::getpid()) + "_" +
                    testing::UnitTest::GetInstance()->current_test_info()->name() + ".json"))
                      .string();
    std::filesystem::remove(state_file_);
  }
  void TearDown() override { std::filesystem::remove(state_file_); }

  std::unique_ptr<Ipam> Open(const std::string& cidr, std::vector<std::string> reserved = {}) {
    auto ipam = Ipam::Open({cidr}, reserved, state_file_);
    EXPECT_TRUE(ipam.ok()) << ipam.status();
    return ipam.ok() ? *std::move(ipam) : nullptr;
  }

  static std::string AddressOf(Ipam& ipam, const std::string& owner) {
    auto allocated = ipam.Allocate(owner, {});
    EXPECT_TRUE(allocated.ok()) << allocated.status();
    return allocated.ok() ? allocated->front().address : "";
  }

  std::string state_file_;
};

TEST_F(IpamTest, HandsOutDistinctUsableAddresses) {
  auto ipam = Open("10.244.0.0/29", {"10.244.0.1"});  // .1 is the node's
  std::set<std::string> seen;
  for (int pod = 0; pod < 5; ++pod) seen.insert(AddressOf(*ipam, "pod" + std::to_string(pod)));
  EXPECT_EQ(seen, (std::set<std::string>{"10.244.0.2", "10.244.0.3", "10.244.0.4", "10.244.0.5",
                                         "10.244.0.6"}));
  EXPECT_EQ(ipam->InUse(), 5u);
}

TEST_F(IpamTest, ExhaustionIsResourceExhaustedAndNamesThePool) {
  auto ipam = Open("10.244.0.0/30");
  AddressOf(*ipam, "a");
  AddressOf(*ipam, "b");
  auto third = ipam->Allocate("c", {});
  ASSERT_FALSE(third.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(third.status()));
  EXPECT_NE(third.status().message().find("10.244.0.0/30"), std::string::npos);
}

TEST_F(IpamTest, SameOwnerGetsItsAddressBack) {
  auto ipam = Open("10.244.0.0/24");
  const std::string first = AddressOf(*ipam, "c1/eth0");
  EXPECT_EQ(AddressOf(*ipam, "c1/eth0"), first);
  EXPECT_EQ(ipam->InUse(), 1u);
}

TEST_F(IpamTest, ReleasedAddressReturnsToThePoolAfterTheRest) {
  auto ipam = Open("10.244.0.0/29");
  const std::string first = AddressOf(*ipam, "a");
  ASSERT_TRUE(ipam->Release("a").ok());
  EXPECT_EQ(ipam->InUse(), 0u);
  EXPECT_NE(AddressOf(*ipam, "b"), first);  // next-fit: not reused at once
  for (const char* owner : {"c", "d", "e", "f"}) AddressOf(*ipam, owner);
  EXPECT_EQ(AddressOf(*ipam, "g"), first);  // but it is back in the pool
  EXPECT_TRUE(ipam->Release("never-allocated").ok());
}

TEST_F(IpamTest, AllocationsSurviveRestartAndAreNeverHandedOutTwice) {
  std::set<std::string> live;
  {
    auto ipam = Open("10.244.0.0/28");
    AddressOf(*ipam, "pod0");
    ASSERT_TRUE(ipam->Release("pod0").ok());  // free again: may be handed out later
    for (int pod = 1; pod < 6; ++pod) live.insert(AddressOf(*ipam, "pod" + std::to_string(pod)));
  }
  auto reopened = Open("10.244.0.0/28");
  EXPECT_EQ(reopened->InUse(), 5u);
  EXPECT_EQ(reopened->AllocationsOf("pod3").size(), 1u);
  for (int pod = 10; pod < 17; ++pod) {
    const std::string address = AddressOf(*reopened, "pod" + std::to_string(pod));
    EXPECT_FALSE(live.contains(address)) << address << " was handed out while still live";
  }
}

TEST_F(IpamTest, RequestedAddressIsHonouredOrRefusedClearly) {
  auto ipam = Open("10.244.0.0/24");
  auto exact = ipam->Allocate("a", {"10.244.0.50/24"});
  ASSERT_TRUE(exact.ok()) << exact.status();
  EXPECT_EQ(exact->front().address, "10.244.0.50");
  EXPECT_EQ(exact->front().pool, "10.244.0.0/24");

  auto taken = ipam->Allocate("b", {"10.244.0.50"});
  EXPECT_TRUE(absl::IsAlreadyExists(taken.status())) << taken.status();
  auto outside = ipam->Allocate("b", {"10.9.9.9"});
  EXPECT_TRUE(absl::IsInvalidArgument(outside.status())) << outside.status();
  auto broadcast = ipam->Allocate("b", {"10.244.0.255"});
  EXPECT_TRUE(absl::IsInvalidArgument(broadcast.status())) << broadcast.status();
  EXPECT_EQ(ipam->InUse(), 1u);  // failed requests leave nothing allocated
}

TEST_F(IpamTest, StateFromAnotherPodCidrIsRefused) {
  { Open("10.244.0.0/24")->Allocate("a", {}).IgnoreError(); }
  auto other = Ipam::Open({"10.245.0.0/24"}, {}, state_file_);
  ASSERT_FALSE(other.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(other.status()));
  EXPECT_NE(other.status().message().find("10.244.0.0/24"), std::string::npos);
}

TEST_F(IpamTest, OwnersListsEveryHolder) {
  auto ipam = Open("10.244.0.0/24");
  AddressOf(*ipam, "x");
  AddressOf(*ipam, "y");
  EXPECT_EQ(ipam->Owners(), (std::vector<std::string>{"x", "y"}));
}

// At start the recorded addresses are taken back and the result is on disk; an owner without a
// record keeps its address (GC decides, knowing the runtime's valid attachments).
TEST_F(IpamTest, ClaimRecordedTakesBackWhatThePodRecordsHold) {
  auto ipam = Open("10.1.0.0/24");
  ASSERT_NE(ipam, nullptr);
  const std::string unrecorded = AddressOf(*ipam, "unrecorded");
  const std::string kept = AddressOf(*ipam, "pod-a");
  auto claimed = ipam->ClaimRecorded({{"pod-a", {kept}}, {"pod-b", {"10.1.0.77"}}});
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_EQ(*claimed, std::vector<std::string>{"pod-b 10.1.0.77"});

  auto reopened = Open("10.1.0.0/24");
  ASSERT_NE(reopened, nullptr);
  ASSERT_EQ(reopened->AllocationsOf("unrecorded").size(), 1u);
  EXPECT_EQ(reopened->AllocationsOf("unrecorded")[0].address, unrecorded);
  ASSERT_EQ(reopened->AllocationsOf("pod-a").size(), 1u);
  EXPECT_EQ(reopened->AllocationsOf("pod-a")[0].address, kept);
  ASSERT_EQ(reopened->AllocationsOf("pod-b").size(), 1u);
  EXPECT_EQ(reopened->AllocationsOf("pod-b")[0].address, "10.1.0.77");
  // A later pod never gets a recorded address.
  for (int i = 0; i < 200; ++i) {
    const std::string next = AddressOf(*reopened, "new-" + std::to_string(i));
    ASSERT_NE(next, kept);
    ASSERT_NE(next, "10.1.0.77");
  }
}

TEST_F(IpamTest, ClaimRecordedRefusesAnAddressHeldByAnotherAndChangesNothing) {
  auto ipam = Open("10.1.0.0/24");
  ASSERT_NE(ipam, nullptr);
  const std::string a = AddressOf(*ipam, "pod-a");
  auto taken = ipam->ClaimRecorded({{"pod-b", {"10.1.0.50"}}, {"pod-c", {a}}});
  ASSERT_FALSE(taken.ok());
  EXPECT_TRUE(absl::IsDataLoss(taken.status())) << taken.status();
  EXPECT_NE(taken.status().message().find("pod-a"), std::string::npos) << taken.status();
  EXPECT_TRUE(ipam->AllocationsOf("pod-b").empty()) << "rolled back whole";

  auto outside = ipam->ClaimRecorded({{"pod-b", {"10.1.0.50"}}, {"pod-d", {"10.2.0.5"}}});
  ASSERT_FALSE(outside.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(outside.status())) << outside.status();
  EXPECT_TRUE(ipam->AllocationsOf("pod-b").empty());
}

// ipam.json of an agent before versioning (no "version": 0) reads as is and is written back as 1; a
// newer version is refused.
TEST_F(IpamTest, StateWithoutVersionMigratesAndANewerOneIsRefused) {
  std::ofstream(state_file_)
      << R"({"pools": [{"cidr": "10.1.0.0/24", "cursor": "10.1.0.9", "allocations": {"10.1.0.9": "old"}}]})";
  auto ipam = Open("10.1.0.0/24");
  ASSERT_NE(ipam, nullptr);
  ASSERT_EQ(ipam->AllocationsOf("old").size(), 1u);
  EXPECT_EQ(AddressOf(*ipam, "next"), "10.1.0.10") << "the cursor came along";
  std::ifstream written(state_file_);
  const std::string content((std::istreambuf_iterator<char>(written)), {});
  EXPECT_NE(content.find("\"version\": 1"), std::string::npos) << content;

  std::ofstream(state_file_) << R"({"version": 7, "pools": []})";
  auto newer = Ipam::Open({"10.1.0.0/24"}, {}, state_file_);
  ASSERT_FALSE(newer.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(newer.status())) << newer.status();
  EXPECT_NE(newer.status().message().find("version 7"), std::string::npos) << newer.status();
}

// Several pod CIDRs are one pool set (issue 13): a pod gets one address, from the first CIDR in the
// configured order that has room; a full one falls through to the next, and a freed address of an
// earlier CIDR is taken again before the later ones.
TEST_F(IpamTest, AFullFirstCidrFallsThroughToTheNextOneAddressPerPod) {
  auto ipam = Ipam::Open({"10.244.0.0/30", "10.244.1.0/30"}, {"10.244.0.1"}, state_file_);
  ASSERT_TRUE(ipam.ok()) << ipam.status();
  auto first = (*ipam)->Allocate("a", {});
  ASSERT_TRUE(first.ok()) << first.status();
  ASSERT_EQ(first->size(), 1u) << "one address per pod, not one per CIDR";
  EXPECT_EQ(first->front().address, "10.244.0.2");
  EXPECT_EQ(first->front().pool, "10.244.0.0/30");

  auto second = (*ipam)->Allocate("b", {});  // 10.244.0.0/30 is full: .1 is reserved
  ASSERT_TRUE(second.ok()) << second.status();
  ASSERT_EQ(second->size(), 1u);
  EXPECT_EQ(second->front().address, "10.244.1.1");
  EXPECT_EQ(second->front().pool, "10.244.1.0/30");
  EXPECT_EQ((*ipam)->InUse(), 2u);

  ASSERT_TRUE((*ipam)->Release("a").ok());
  auto third = (*ipam)->Allocate("c", {});
  ASSERT_TRUE(third.ok()) << third.status();
  ASSERT_EQ(third->size(), 1u);
  EXPECT_EQ(third->front().address, "10.244.0.2") << "the first CIDR has room again";
}

TEST_F(IpamTest, AnExhaustedPoolSetIsResourceExhaustedNamingEveryCidr) {
  auto ipam = Ipam::Open({"10.244.0.0/30", "10.244.1.0/30"}, {}, state_file_);
  ASSERT_TRUE(ipam.ok()) << ipam.status();
  for (const char* owner : {"a", "b", "c", "d"}) {
    auto allocated = (*ipam)->Allocate(owner, {});
    ASSERT_TRUE(allocated.ok()) << owner << ": " << allocated.status();
    EXPECT_EQ(allocated->size(), 1u) << owner;
  }
  auto refused = (*ipam)->Allocate("e", {});
  ASSERT_FALSE(refused.ok());
  EXPECT_TRUE(absl::IsResourceExhausted(refused.status())) << refused.status();
  EXPECT_NE(refused.status().message().find("10.244.0.0/30"), std::string::npos)
      << refused.status();
  EXPECT_NE(refused.status().message().find("10.244.1.0/30"), std::string::npos)
      << refused.status();
  EXPECT_EQ((*ipam)->InUse(), 4u);
  EXPECT_TRUE((*ipam)->AllocationsOf("e").empty());
}

// runtimeConfig.ips may name an address of any CIDR of the set, and only one: a pod has one
// address.
TEST_F(IpamTest, ARequestedAddressMayComeFromAnyCidrOfTheSet) {
  auto ipam = Ipam::Open({"10.244.0.0/24", "10.244.1.0/24"}, {}, state_file_);
  ASSERT_TRUE(ipam.ok()) << ipam.status();
  auto exact = (*ipam)->Allocate("a", {"10.244.1.9/24"});
  ASSERT_TRUE(exact.ok()) << exact.status();
  ASSERT_EQ(exact->size(), 1u);
  EXPECT_EQ(exact->front().address, "10.244.1.9");
  EXPECT_EQ(exact->front().pool, "10.244.1.0/24");

  auto two = (*ipam)->Allocate("b", {"10.244.0.7", "10.244.1.7"});
  ASSERT_FALSE(two.ok());
  EXPECT_TRUE(absl::IsInvalidArgument(two.status())) << two.status();
  EXPECT_NE(two.status().message().find("10.244.1.7"), std::string::npos) << two.status();
  EXPECT_TRUE((*ipam)->AllocationsOf("b").empty());
  EXPECT_EQ((*ipam)->InUse(), 1u);
}

// An agent before issue 13 gave a pod one address per CIDR. Its records restore with every address
// still held (the pod's interface still carries them, handing one out again would duplicate it),
// and they are all freed when the pod goes; new pods get one address.
TEST_F(IpamTest, AnOlderAgentsPodWithOneAddressPerCidrKeepsThemUntilItGoes) {
  std::ofstream(state_file_)
      << R"({"version": 1, "pools": [)"
      << R"({"cidr": "10.244.0.0/30", "cursor": "10.244.0.1", "allocations": {"10.244.0.1": "old"}},)"
      << R"({"cidr": "10.244.1.0/30", "cursor": "10.244.1.1", "allocations": {"10.244.1.1": "old"}}]})";
  auto ipam = Ipam::Open({"10.244.0.0/30", "10.244.1.0/30"}, {}, state_file_);
  ASSERT_TRUE(ipam.ok()) << ipam.status();
  auto claimed = (*ipam)->ClaimRecorded({{"old", {"10.244.0.1", "10.244.1.1"}}});
  ASSERT_TRUE(claimed.ok()) << claimed.status();
  EXPECT_TRUE(claimed->empty()) << "both were held already";
  auto held = (*ipam)->Allocate("old", {});  // a retried ADD gets what it holds
  ASSERT_TRUE(held.ok()) << held.status();
  EXPECT_EQ(held->size(), 2u);

  auto fresh = (*ipam)->Allocate("new", {});
  ASSERT_TRUE(fresh.ok()) << fresh.status();
  ASSERT_EQ(fresh->size(), 1u);
  EXPECT_EQ(fresh->front().address, "10.244.0.2");

  ASSERT_TRUE((*ipam)->Release("old").ok());
  EXPECT_EQ((*ipam)->InUse(), 1u);
}

// Taking a CIDR away while addresses of it are in use is refused at start, naming it: the pods
// holding them would lose track of their addresses.
TEST_F(IpamTest, DroppingACidrThatHoldsAddressesIsRefused) {
  {
    auto ipam = Ipam::Open({"10.244.0.0/30", "10.244.1.0/30"}, {}, state_file_);
    ASSERT_TRUE(ipam.ok()) << ipam.status();
    for (const char* owner : {"a", "b", "c"}) ASSERT_TRUE((*ipam)->Allocate(owner, {}).ok());
  }
  auto fewer = Ipam::Open({"10.244.0.0/30"}, {}, state_file_);
  ASSERT_FALSE(fewer.ok());
  EXPECT_TRUE(absl::IsFailedPrecondition(fewer.status())) << fewer.status();
  EXPECT_NE(fewer.status().message().find("10.244.1.0/30"), std::string::npos) << fewer.status();
}

// A state file of the wrong shape gives a start error naming it, never an uncaught exception out of
// nlohmann that would end the agent.
TEST_F(IpamTest, MalformedStateIsDataLossNamingTheFile) {
  for (const std::string& content :
       {std::string(R"({"pools": 3})"), std::string(R"({"pools": [5]})"),
        std::string(R"({"pools": [{"cidr": 10}]})"),
        std::string(R"({"pools": [{"cidr": "10.1.0.0/24", "allocations": {"10.1.0.2": 7}}]})"),
        std::string(R"({"pools": [{"cidr": "10.1.0.0/24", "cursor": 9}]})"),
        // Allocations that cannot be kept as listed (found by
        // tests/fuzz/dataplane/ipam_json_fuzz.cc): no address, one outside the pool, or a pool
        // listed twice, whose second entry replaced the first's allocations.
        std::string(R"({"pools": [{"cidr": "10.1.0.0/24", "allocations": {"10.1..2": "a"}}]})"),
        std::string(R"({"pools": [{"cidr": "10.1.0.0/24", "allocations": {"10.2.0.2": "a"}}]})"),
        std::string(R"({"pools": [{"cidr": "10.1.0.0/24", "allocations": {"10.1.0.2": "a"}},)"
                    R"( {"cidr": "10.1.0.0/24"}]})")}) {
    std::ofstream(state_file_) << content;
    auto ipam = Ipam::Open({"10.1.0.0/24"}, {}, state_file_);
    ASSERT_FALSE(ipam.ok()) << content;
    EXPECT_TRUE(absl::IsDataLoss(ipam.status())) << content << ": " << ipam.status();
    EXPECT_NE(ipam.status().message().find(state_file_), std::string::npos) << ipam.status();
  }
}

}  // namespace
}  // namespace dpcni::dataplane
