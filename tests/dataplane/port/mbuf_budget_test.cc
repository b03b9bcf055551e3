#include "port/mbuf_budget.h"

#include <rte_mbuf.h>
#include <rte_mempool.h>

#include <string>

#include "gtest/gtest.h"

namespace dpcni::dataplane {
namespace {

AgentConfig Node(uint32_t max_pods) {
  AgentConfig config;
  config.pod_cidrs = {"10.244.0.0/22"};
  config.max_pods = max_pods;
  return config;
}

TEST(MbufBudgetTest, PoolHoldsEveryPortsQueuesAndABurstPerPortBeyond) {
  for (PortBackend backend : {PortBackend::kTap, PortBackend::kVhostNet}) {
    for (uint32_t pods : {1u, 30u, 500u}) {
      AgentConfig config = Node(pods);
      const uint32_t held = KernelPortHeldMbufs(backend, config.pod_queue_size, 1);
      const uint32_t ports = pods + 1;  // and the host port
      EXPECT_GE(PlanMbufPool(config, backend).mbufs,
                uint64_t{ports} * held + uint64_t{ports} * config.burst_size)
          << PortBackendName(backend) << " " << pods;
    }
  }
}

TEST(MbufBudgetTest, AnUplinkAndMoreWorkersTakeMore) {
  AgentConfig config = Node(100);
  const uint32_t base = PlanMbufPool(config, PortBackend::kVhostNet).mbufs;
  config.uplink.type = UplinkType::kAfPacket;
  EXPECT_GT(PlanMbufPool(config, PortBackend::kVhostNet).mbufs, base);
  config.uplink.type = UplinkType::kNone;
  config.worker_lcores = {1, 2};
  EXPECT_GT(PlanMbufPool(config, PortBackend::kVhostNet).mbufs, base);
}

TEST(MbufBudgetTest, TapPortsKeepOneLargestFrameVirtioAFullRing) {
  // vnet_tap keeps the mbufs of one 64 KiB GSO packet posted, whatever the queue size;
  // virtio-user posts one on every ring descriptor.
  // (On Debian's DPDK the tap backend is net_tap: one mbuf.)
  const uint32_t tap_held = DPCNI_VNET_TAP ? 33 : 1;
  EXPECT_EQ(KernelPortRxDescriptors(PortBackend::kTap, 512), 1);
  EXPECT_EQ(KernelPortHeldMbufs(PortBackend::kTap, 512, 2), tap_held);
  EXPECT_EQ(KernelPortHeldMbufs(PortBackend::kTap, 4096, 8), tap_held);
  EXPECT_EQ(KernelPortRxDescriptors(PortBackend::kVhostNet, 512), 512);
  EXPECT_LT(KernelPortHeldMbufs(PortBackend::kVhostNet, 512, 2), 512 + 2 * 512);
}

TEST(MbufBudgetTest, EalMemoryCoversThePoolAndGrowsWithMaxPods) {
  for (PortBackend backend : {PortBackend::kTap, PortBackend::kVhostNet}) {
    AgentConfig config = Node(500);
    // Without hugepages no mbuf straddles a 4 KiB page: each takes a page of its own.
    const uint64_t pool_bytes = uint64_t{PlanMbufPool(config, backend).mbufs} * 4096;
    const uint32_t needed = EalMemoryMbNeeded(config, backend);
    EXPECT_GT(uint64_t{needed} << 20, pool_bytes) << PortBackendName(backend);
    EXPECT_LT(EalMemoryMbNeeded(Node(10), backend), needed) << PortBackendName(backend);
  }
}

TEST(MbufBudgetTest, EalMemoryMakesRoomForTheFlowTable) {
  AgentConfig without = Node(10);
  without.flow_table.capacity = 0;
  AgentConfig with = Node(10);
  with.flow_table.capacity = 1 << 20;
  EXPECT_EQ(FlowTableMemoryBytes(0), 0u);
  EXPECT_GE(uint64_t{EalMemoryMbNeeded(with, PortBackend::kTap) -
                     EalMemoryMbNeeded(without, PortBackend::kTap)}
                << 20,
            FlowTableMemoryBytes(1 << 20));
}

TEST(MbufBudgetTest, UnsetEalMemoryIsSizedAndTooLittleIsRefusedWithTheFigure) {
  AgentConfig derived = Node(500);
  ASSERT_TRUE(SizeEalMemory(derived, PortBackend::kTap).ok());
  EXPECT_EQ(derived.eal.memory_mb, EalMemoryMbNeeded(derived, PortBackend::kTap));

  AgentConfig small = Node(500);
  small.eal.memory_mb = 64;
  absl::Status refused = SizeEalMemory(small, PortBackend::kVhostNet);
  EXPECT_TRUE(absl::IsInvalidArgument(refused)) << refused;
  const std::string needed = std::to_string(EalMemoryMbNeeded(small, PortBackend::kVhostNet));
  EXPECT_NE(refused.message().find("need " + needed + " MB"), std::string::npos) << refused;
  EXPECT_NE(refused.message().find("max_pods 500"), std::string::npos) << refused;

  AgentConfig ample = Node(10);
  ample.eal.memory_mb = 4096;
  ASSERT_TRUE(SizeEalMemory(ample, PortBackend::kVhostNet).ok());
  EXPECT_EQ(ample.eal.memory_mb, 4096u);  // an explicit value is kept

  AgentConfig hugepages = Node(500);
  hugepages.eal.hugepages = true;
  ASSERT_TRUE(SizeEalMemory(hugepages, PortBackend::kVhostNet).ok());
  EXPECT_EQ(hugepages.eal.memory_mb, 0u);  // EAL takes hugepages as it goes: no -m
}

}  // namespace
}  // namespace dpcni::dataplane
