#include <gtest/gtest.h>

#include <filesystem>

#include "pods/pod_record.h"
#include "common/atomic_file.h"

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
  record.port.backend = PortBackend::kVhostNet;
  ASSERT_TRUE(store.Save({{record.Key(), record}}).ok());

  auto loaded = store.Load();
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ASSERT_EQ(loaded->size(), 1u);
  const PodRecord& back = loaded->at("c0ffee/eth0");
  EXPECT_EQ(back.netns_path, record.netns_path);
  EXPECT_EQ(back.DisplayName(), "default/web-0");
  EXPECT_EQ(back.mac, record.mac);
  EXPECT_EQ(back.addresses.front().address, "10.244.0.5");
  EXPECT_EQ(back.port.backend, PortBackend::kVhostNet);
  std::filesystem::remove(path);
}

TEST(PodStoreTest, NoFileMeansNoPodsAndGarbageIsDataLoss) {
  const std::string path = testing::TempDir() + "/pods_garbage_" + std::to_string(::getpid());
  EXPECT_TRUE(PodStore(path).Load()->empty());
  ASSERT_TRUE(WriteFileAtomically(path, "{not json").ok());
  EXPECT_TRUE(absl::IsDataLoss(PodStore(path).Load().status()));
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace dpcni::dataplane
