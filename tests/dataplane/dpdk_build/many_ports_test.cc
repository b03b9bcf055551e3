// Our DPDK build (tools/build-dpdk.sh) exists so that one agent process holds an ethdev for every
// pod of a large node; Debian's build refuses the 33rd. These tests run in one EAL per process
// (dpcni_test_eal) and check the build where it counts: in the libraries and drivers a process
// actually loads.
#include <rte_dev.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"

namespace dpcni::dataplane {
namespace {

// More ports than Debian's build allows, as many pods as a busy Kubernetes node runs.
constexpr uint16_t kPorts = 100;

// Configures and starts a net_null port and receives one packet from it, which its Rx makes up.
void ExpectPortPassesPackets(const std::string& name, uint16_t port, rte_mempool* pool) {
  rte_eth_conf conf{};
  ASSERT_EQ(rte_eth_dev_configure(port, 1, 1, &conf), 0) << name;
  ASSERT_EQ(rte_eth_rx_queue_setup(port, 0, 64, SOCKET_ID_ANY, nullptr, pool), 0) << name;
  ASSERT_EQ(rte_eth_tx_queue_setup(port, 0, 64, SOCKET_ID_ANY, nullptr), 0) << name;
  ASSERT_EQ(rte_eth_dev_start(port), 0) << name;
  rte_mbuf* packet = nullptr;
  EXPECT_EQ(rte_eth_rx_burst(port, 0, &packet, 1), 1) << name;
  rte_pktmbuf_free(packet);
  EXPECT_EQ(rte_eth_dev_stop(port), 0) << name;
}

TEST(DpdkBuild, OneProcessHoldsAHundredPorts) {
  rte_mempool* pool = rte_pktmbuf_pool_create("dpdk-build-test", 1023, 0, 0,
                                              RTE_MBUF_DEFAULT_BUF_SIZE, SOCKET_ID_ANY);
  ASSERT_NE(pool, nullptr) << rte_strerror(rte_errno);
  std::vector<std::string> names;
  for (uint16_t i = 0; i < kPorts; ++i) {
    names.push_back(absl::StrCat("net_null", i));
    ASSERT_EQ(rte_eal_hotplug_add("vdev", names.back().c_str(), ""), 0)
        << "port " << i + 1 << " of " << kPorts << " (" << names.back() << ")";
  }
  EXPECT_EQ(rte_eth_dev_count_avail(), kPorts);

  for (const std::string& name : names) {
    uint16_t port = 0;
    ASSERT_EQ(rte_eth_dev_get_port_by_name(name.c_str(), &port), 0) << name;
    ExpectPortPassesPackets(name, port, pool);
  }

  for (const std::string& name : names) {
    EXPECT_EQ(rte_eal_hotplug_remove("vdev", name.c_str()), 0) << name;
  }
  EXPECT_EQ(rte_eth_dev_count_avail(), 0);
  rte_mempool_free(pool);
}

// The files of DPDK libraries and drivers this process has mapped.
std::set<std::string> MappedDpdkFiles() {
  std::ifstream maps("/proc/self/maps");
  EXPECT_TRUE(maps.is_open());
  std::set<std::string> files;
  for (std::string line; std::getline(maps, line);) {
    std::string::size_type path_start = line.find('/');
    if (path_start != std::string::npos && absl::StrContains(line, "/librte_")) {
      files.insert(line.substr(path_start));
    }
  }
  return files;
}

bool AnyStartsWith(const std::set<std::string>& paths, const std::string& prefix) {
  return std::any_of(paths.begin(), paths.end(),
                     [&prefix](const std::string& path) { return absl::StartsWith(path, prefix); });
}

// Debian's libraries have the same sonames and its drivers sit in the default driver directory; a
// process that loaded any of them would have 32 ports again, or two copies of a library.
TEST(DpdkBuild, LoadsOnlyOurLibrariesAndDrivers) {
  const std::set<std::string> dpdk_files = MappedDpdkFiles();
  const std::string our_libraries = DPCNI_DPDK_PREFIX "/lib/";
  for (const std::string& path : dpdk_files) {
    EXPECT_TRUE(absl::StartsWith(path, our_libraries)) << path << " is not under " << our_libraries;
  }
  EXPECT_TRUE(AnyStartsWith(dpdk_files, our_libraries + "librte_eal.so"))
      << "no librte_eal from " << our_libraries << " in /proc/self/maps";
  EXPECT_TRUE(AnyStartsWith(dpdk_files, RTE_EAL_PMD_PATH "/librte_net_null.so"))
      << "EAL did not load net_null from " RTE_EAL_PMD_PATH;
}

}  // namespace
}  // namespace dpcni::dataplane
