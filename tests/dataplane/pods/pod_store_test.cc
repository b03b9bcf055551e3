#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "common/atomic_file.h"
#include "pods/pod_record.h"

namespace dpcni::dataplane {
namespace {

TEST(PodStoreTest, RecordsRoundTripThroughTheStateFile) {
  const std::string path = testing::TempDir() + "/pods_" + std::to_string(::getpid()) + ".json";
  PodStore store(path);
  PodRecord record;
  record.container_id = "c0ffee";
  record.ifname = "eth0";
  record.netns_path = "/var/run/netns/pod-a";
  record.pod_namespace = "default";
  record.pod_name = "web-0";
  record.pod_uid = "uid-1";
  record.network = "dpcni";
  record.mac = "02:dc:0a:f4:00:05";
  record.mtu = 1500;
  record.addresses = {{"10.244.0.5", "10.244.0.0/24"}};
  record.routes = {"0.0.0.0/0", "10.96.0.0/12"};
  record.port.backend = PortBackend::kVhostNet;
  PodRecord second = record;
  second.ifname = "net1";
  second.routes = {};       // a second interface without routes of its own stays without them
  second.complete = false;  // an ADD under way (its write-ahead record)
  ASSERT_TRUE(store.Save({{record.Key(), record}, {second.Key(), second}}).ok());

  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->size(), 2u);
  EXPECT_TRUE(loaded->at("c0ffee/net1").routes.empty());
  EXPECT_FALSE(loaded->at("c0ffee/net1").complete);
  const PodRecord& back = loaded->at("c0ffee/eth0");
  EXPECT_TRUE(back.complete);
  EXPECT_EQ(back.routes, record.routes);
  EXPECT_EQ(back.netns_path, record.netns_path);
  EXPECT_EQ(back.DisplayName(), "default/web-0");
  EXPECT_EQ(back.mac, record.mac);
  EXPECT_EQ(back.addresses.front().address, "10.244.0.5");
  EXPECT_EQ(back.port.backend, PortBackend::kVhostNet);
  std::filesystem::remove(path);
}

TEST(PodStoreTest, RecordOfAnOlderAgentHasTheDefaultRoute) {
  const std::string path = testing::TempDir() + "/pods_old_" + std::to_string(::getpid()) + ".json";
  ASSERT_TRUE(WriteFileAtomically(path, R"({"pods": [{"container_id": "c0ffee", "ifname": "eth0",
      "netns": "/var/run/netns/pod-a", "mac": "02:dc:0a:f4:00:05", "mtu": 1500,
      "addresses": [{"address": "10.244.0.5", "pool": "10.244.0.0/24"}], "backend": "tap"}]})")
                  .ok());
  auto loaded = PodStore(path).Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->at("c0ffee/eth0").routes, std::vector<std::string>{"0.0.0.0/0"});
  // The file of that agent had no version (0): written back, it is version 1 and reads the same.
  ASSERT_TRUE(PodStore(path).Save(*loaded).ok());
  auto content = ReadFile(path);
  ASSERT_TRUE(content.ok());
  EXPECT_NE(content->find("\"version\": 1"), std::string::npos) << *content;
  auto again = PodStore(path).Load();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->at("c0ffee/eth0").addresses.front().address, "10.244.0.5");
  std::filesystem::remove(path);
}

TEST(PodStoreTest, StateOfANewerVersionIsRefusedNamingIt) {
  const std::string path = testing::TempDir() + "/pods_newer_" + std::to_string(::getpid());
  ASSERT_TRUE(WriteFileAtomically(path, R"({"version": 2, "pods": []})").ok());
  auto loaded = PodStore(path).Load();
  EXPECT_TRUE(absl::IsFailedPrecondition(loaded.status())) << loaded.status();
  EXPECT_NE(loaded.status().message().find("version 2"), std::string::npos) << loaded.status();
  std::filesystem::remove(path);
}

TEST(PodStoreTest, NoFileMeansNoPodsAndGarbageIsDataLoss) {
  const std::string path = testing::TempDir() + "/pods_garbage_" + std::to_string(::getpid());
  EXPECT_TRUE(PodStore(path).Load()->empty());
  ASSERT_TRUE(WriteFileAtomically(path, "{not json").ok());
  EXPECT_TRUE(absl::IsDataLoss(PodStore(path).Load().status()));
  std::filesystem::remove(path);
}

// A record of the wrong shape is refused naming the file and the record, never an uncaught
// exception out of nlohmann that would end the agent at start.
class MalformedPodState : public testing::TestWithParam<std::string> {};

TEST_P(MalformedPodState, IsDataLossNamingTheFileAndTheFix) {
  const std::string path = testing::TempDir() + "/pods_malformed_" + std::to_string(::getpid());
  ASSERT_TRUE(WriteFileAtomically(path, GetParam()).ok());
  absl::StatusOr<std::map<std::string, PodRecord>> loaded = PodStore(path).Load();
  EXPECT_TRUE(absl::IsDataLoss(loaded.status())) << loaded.status();
  EXPECT_NE(loaded.status().message().find(path), std::string::npos) << loaded.status();
  EXPECT_NE(loaded.status().message().find("repair it"), std::string::npos) << loaded.status();
  std::filesystem::remove(path);
}

INSTANTIATE_TEST_SUITE_P(
    PodStoreTest, MalformedPodState,
    testing::Values(
        R"([1, 2])", R"({"pods": {"a": 1}})", R"({"pods": [7]})",
        R"({"pods": [{"container_id": "c", "ifname": "eth0", "mtu": "1500"}]})",
        R"({"pods": [{"container_id": 5, "ifname": "eth0"}]})",
        R"({"pods": [{"container_id": "c", "ifname": "eth0", "addresses": [3]}]})",
        R"({"pods": [{"container_id": "c", "ifname": "eth0", "addresses": 3}]})",
        R"({"pods": [{"container_id": "c", "ifname": "eth0", "routes": [1]}]})",
        R"({"pods": [{"container_id": "c", "ifname": "eth0", "backend": "carrier-pigeon"}]})",
        R"({"pods": [{"ifname": "eth0"}]})",
        R"({"pods": [{"container_id": "c", "ifname": "eth0", "adding": "yes"}]})",
        // Numbers the record's fields cannot hold (found by tests/fuzz/dataplane/pods_json_fuzz.cc:
        // a float beyond int64 was undefined behaviour in the conversion).
        R"({"pods": [{"container_id": "c", "ifname": "eth0", "added_unix_nanos": 1e300}]})",
        R"({"pods": [{"container_id": "c", "ifname": "eth0", "mtu": 1e30}]})",
        R"({"pods": [{"container_id": "c", "ifname": "eth0", "mtu": -1}]})",
        R"({"pods": [{"container_id": "c", "ifname": "eth0", "mtu": 1500.5}]})",
        // One attachment twice: the second record silently replaced the first.
        R"({"pods": [{"container_id": "c", "ifname": "eth0"}, {"container_id": "c", "ifname": "eth0"}]})"));

}  // namespace
}  // namespace dpcni::dataplane
