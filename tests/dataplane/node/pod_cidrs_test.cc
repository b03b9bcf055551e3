#include "node/pod_cidrs.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/atomic_file.h"

namespace dpcni::dataplane {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::string MessageOf(const absl::Status& status) { return std::string(status.message()); }

TEST(AcceptPodCidrs, TakesIpv4PrefixesInCanonicalForm) {
  auto accepted = AcceptPodCidrs({"10.244.1.0/24", "10.245.0.0/16"});
  ASSERT_TRUE(accepted.ok()) << accepted.status();
  EXPECT_THAT(accepted->ipv4, ElementsAre("10.244.1.0/24", "10.245.0.0/16"));
  EXPECT_THAT(accepted->ignored, IsEmpty());
}

TEST(AcceptPodCidrs, DualStackTakesTheIpv4PrefixAndSetsTheIpv6OneAside) {
  // A dual-stack Node object lists both families, in either order.
  for (const auto& cidrs : {std::vector<std::string>{"10.244.1.0/24", "fd00:10:244:1::/64"},
                            std::vector<std::string>{"fd00:10:244:1::/64", "10.244.1.0/24"}}) {
    auto accepted = AcceptPodCidrs(cidrs);
    ASSERT_TRUE(accepted.ok()) << accepted.status();
    EXPECT_THAT(accepted->ipv4, ElementsAre("10.244.1.0/24"));
    EXPECT_THAT(accepted->ignored, ElementsAre("fd00:10:244:1::/64"));
  }
}

TEST(AcceptPodCidrs, Ipv6OnlyIsRefusedSayingIpv6IsNotSupportedYet) {
  auto accepted = AcceptPodCidrs({"fd00:10:244:1::/64"});
  ASSERT_EQ(accepted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(accepted.status()), HasSubstr("fd00:10:244:1::/64"));
  EXPECT_THAT(MessageOf(accepted.status()), HasSubstr("IPv6 is not supported yet"));
}

TEST(AcceptPodCidrs, EmptyListNamesWhereKubernetesAllocatesPodCidrs) {
  auto accepted = AcceptPodCidrs({});
  ASSERT_EQ(accepted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(MessageOf(accepted.status()), HasSubstr("--allocate-node-cidrs"));
}

TEST(AcceptPodCidrs, GarbageHostBitsAndOverlapsAreInvalidArguments) {
  struct Case {
    std::vector<std::string> cidrs;
    std::string says;
  };
  for (const Case& bad : std::vector<Case>{
           {{"garbage"}, "not an IPv4 prefix: \"garbage\""},
           {{"10.244.1.0"}, "not an IPv4 prefix"},
           {{"10.244.1.0/33"}, "not an IPv4 prefix"},
           {{"10.244.1.1/24"}, "did you mean 10.244.1.0/24?"},
           {{"10.244.1.0/24", "fd00::1/64"}, "host bits"},
           {{"10.244.1.0/24", "fd00::zz/64"}, "not an IPv4 or IPv6 prefix"},
           {{"10.244.1.0/24", "fd00::/129"}, "not an IPv4 or IPv6 prefix"},
           {{"10.244.0.0/16", "10.244.1.0/24"}, "10.244.0.0/16 and 10.244.1.0/24 overlap"},
           {{"10.244.1.0/24", "10.244.1.0/24"}, "overlap"},
       }) {
    auto accepted = AcceptPodCidrs(bad.cidrs);
    EXPECT_EQ(accepted.status().code(), absl::StatusCode::kInvalidArgument) << bad.says;
    EXPECT_THAT(MessageOf(accepted.status()), HasSubstr(bad.says));
  }
}

TEST(ValidatePodCidrs, NamesTheListAndRefusesEmptyOnes) {
  EXPECT_TRUE(ValidatePodCidrs({"10.244.1.0/24"}, "pod_cidrs").ok());
  EXPECT_THAT(MessageOf(ValidatePodCidrs({}, "pod_cidrs")), HasSubstr("pod_cidrs is empty"));
  EXPECT_THAT(MessageOf(ValidatePodCidrs({"fd00::/64"}, "pod_cidrs")),
              HasSubstr("pod_cidrs: not an IPv4 prefix"));
}

TEST(CheckPodCidrsUnchanged, SameCidrsAreOkInAnyOrderAndWithIpv6Beside) {
  const std::vector<std::string> current = {"10.244.1.0/24", "10.245.1.0/24"};
  EXPECT_TRUE(CheckPodCidrsUnchanged(current, PodCidrsOrigin::kRecorded, "/s/node.json",
                                     {"10.245.1.0/24", "10.244.1.0/24"})
                  .ok());
  EXPECT_TRUE(CheckPodCidrsUnchanged(current, PodCidrsOrigin::kRecorded, "/s/node.json",
                                     {"10.244.1.0/24", "fd00::/64", "10.245.1.0/24"})
                  .ok());
}

TEST(CheckPodCidrsUnchanged, OtherCidrsAreFailedPreconditionNamingBothAndTheFix) {
  absl::Status recorded = CheckPodCidrsUnchanged({"10.244.1.0/24"}, PodCidrsOrigin::kRecorded,
                                                 "/state/node.json", {"10.244.2.0/24"});
  EXPECT_EQ(recorded.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(recorded), HasSubstr("are 10.244.1.0/24, recorded in /state/node.json"));
  EXPECT_THAT(MessageOf(recorded), HasSubstr("not 10.244.2.0/24"));
  EXPECT_THAT(MessageOf(recorded), HasSubstr("remove /state/node.json"));

  absl::Status configured = CheckPodCidrsUnchanged({"10.244.1.0/24"}, PodCidrsOrigin::kConfig,
                                                   "/state/node.json", {"10.244.2.0/24"});
  EXPECT_EQ(configured.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(MessageOf(configured), HasSubstr("from the agent's config (pod_cidrs)"));
  EXPECT_THAT(MessageOf(configured), HasSubstr("remove pod_cidrs from the config"));

  // A subset is a change too.
  EXPECT_EQ(CheckPodCidrsUnchanged({"10.244.1.0/24", "10.245.1.0/24"}, PodCidrsOrigin::kConfig,
                                   "/state/node.json", {"10.244.1.0/24"})
                .code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(CheckPodCidrsUnchanged, BadInputIsInvalidArgumentEvenWhenCidrsAreSet) {
  EXPECT_EQ(CheckPodCidrsUnchanged({"10.244.1.0/24"}, PodCidrsOrigin::kRecorded, "/s/node.json",
                                   {"fd00::/64"})
                .code(),
            absl::StatusCode::kInvalidArgument);
}

class PodCidrsRecordTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = (std::filesystem::temp_directory_path() / "dpcni-node-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }

  void Write(const std::string& content) { std::ofstream(dir_ / "node.json") << content; }

  std::filesystem::path dir_;
};

TEST_F(PodCidrsRecordTest, NothingRecordedIsNoCidrs) {
  PodCidrsRecord record(dir_.string());
  EXPECT_EQ(record.path(), (dir_ / "node.json").string());
  auto loaded = record.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_FALSE(loaded->has_value());
}

TEST_F(PodCidrsRecordTest, SavedCidrsLoadBackWithAVersion) {
  PodCidrsRecord record(dir_.string());
  ASSERT_TRUE(record.Save({"10.244.1.0/24", "10.245.1.0/24"}).ok());
  auto loaded = record.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_TRUE(loaded->has_value());
  EXPECT_THAT(**loaded, ElementsAre("10.244.1.0/24", "10.245.1.0/24"));
  auto text = ReadFile(record.path());
  ASSERT_TRUE(text.ok());
  EXPECT_THAT(*text, HasSubstr("\"version\": 1"));
  // Only the file itself: the temporary file of the atomic write is gone.
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir_), {}), 1);
}

TEST_F(PodCidrsRecordTest, RemoveUndoesASaveAndToleratesNothing) {
  PodCidrsRecord record(dir_.string());
  ASSERT_TRUE(record.Save({"10.244.1.0/24"}).ok());
  ASSERT_TRUE(record.Remove().ok());
  EXPECT_FALSE(std::filesystem::exists(record.path()));
  EXPECT_TRUE(record.Remove().ok());
}

TEST_F(PodCidrsRecordTest, SaveRefusesInvalidCidrsAndWritesNothing) {
  PodCidrsRecord record(dir_.string());
  EXPECT_EQ(record.Save({"10.244.1.1/24"}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(record.path()));
}

TEST_F(PodCidrsRecordTest, UnreadableRecordsAreErrorsNamingTheFileAndTheFix) {
  PodCidrsRecord record(dir_.string());
  struct Case {
    std::string content;
    absl::StatusCode code;
    std::string says;
  };
  for (const Case& bad : std::vector<Case>{
           {"{\"version\": 1, \"pod_c", absl::StatusCode::kDataLoss, "not valid JSON"},
           {"{\"pod_cidrs\": [\"10.244.1.0/24\"]}", absl::StatusCode::kDataLoss, "no version"},
           {"{\"version\": 2, \"pod_cidrs\": [\"10.244.1.0/24\"]}",
            absl::StatusCode::kFailedPrecondition, "is version 2, this agent reads version 1"},
           {"{\"version\": 1}", absl::StatusCode::kDataLoss, "no pod_cidrs"},
           {"{\"version\": 1, \"pod_cidrs\": [7]}", absl::StatusCode::kDataLoss, "non-string"},
           {"{\"version\": 1, \"pod_cidrs\": []}", absl::StatusCode::kDataLoss, "is empty"},
           {"{\"version\": 1, \"pod_cidrs\": [\"10.244.1.1/24\"]}", absl::StatusCode::kDataLoss,
            "host bits"},
       }) {
    Write(bad.content);
    auto loaded = record.Load();
    EXPECT_EQ(loaded.status().code(), bad.code) << bad.content << ": " << loaded.status();
    EXPECT_THAT(MessageOf(loaded.status()), HasSubstr(bad.says)) << bad.content;
    EXPECT_THAT(MessageOf(loaded.status()), HasSubstr(record.path()));
    EXPECT_THAT(MessageOf(loaded.status()), HasSubstr("wait for SetPodCidrs again"));
  }
}

}  // namespace
}  // namespace dpcni::dataplane
