// Which Rx offloads a port asks its device for (no EAL, no device: DPDK's flags only).
#include <rte_ethdev.h>

#include "gtest/gtest.h"
#include "port/ethdev_setup.h"
#include "uplink/uplink_port.h"

namespace dpcni::dataplane {
namespace {

constexpr uint64_t kChecksums =
    RTE_ETH_RX_OFFLOAD_IPV4_CKSUM | RTE_ETH_RX_OFFLOAD_UDP_CKSUM | RTE_ETH_RX_OFFLOAD_TCP_CKSUM;
// What a NIC such as an Intel 82599 offers: checksums, LRO and more we never ask for.
constexpr uint64_t kNicCapabilities = kChecksums | RTE_ETH_RX_OFFLOAD_TCP_LRO |
                                      RTE_ETH_RX_OFFLOAD_VLAN_STRIP | RTE_ETH_RX_OFFLOAD_SCATTER |
                                      RTE_ETH_RX_OFFLOAD_RSS_HASH;

TEST(RxOffloadsTest, PodPortsAskForLroAndChecksumsWhereTheDeviceHasThem) {
  const PortQueues pod{};
  EXPECT_EQ(RxOffloadsFor(pod, kNicCapabilities), kChecksums | RTE_ETH_RX_OFFLOAD_TCP_LRO);
  // virtio-user on vhost-net without guest offloads, or a tap: only what it has.
  EXPECT_EQ(RxOffloadsFor(pod, RTE_ETH_RX_OFFLOAD_TCP_CKSUM), RTE_ETH_RX_OFFLOAD_TCP_CKSUM);
  EXPECT_EQ(RxOffloadsFor(pod, 0), 0u);
}

TEST(RxOffloadsTest, TheUplinkNeverAsksForLroEvenWhenTheNicHasIt) {
  PortQueues pod{};
  pod.mtu = 1450;
  pod.tx_queues = 2;
  const PortQueues uplink = UplinkPortQueues(pod, 9000);
  EXPECT_FALSE(uplink.rx_lro);
  EXPECT_EQ(uplink.mtu, 9000u);
  EXPECT_EQ(uplink.tx_queues, 2);
  EXPECT_EQ(RxOffloadsFor(uplink, kNicCapabilities), kChecksums);
  EXPECT_EQ(RxOffloadsFor(uplink, kNicCapabilities) & RTE_ETH_RX_OFFLOAD_TCP_LRO, 0u);
}

}  // namespace
}  // namespace dpcni::dataplane
