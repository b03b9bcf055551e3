// The shared mbuf pool and the EAL memory, sized from max_pods and what each port actually keeps of
// the pool, so that a node configured for hundreds of pods neither runs out of mbufs nor reserves
// gigabytes it never uses.
#pragma once

#include <cstdint>

#include "absl/status/status.h"
#include "config/agent_config.h"

namespace dpcni::dataplane {

// Rx descriptors a kernel port's queue is set up with. vnet_tap (the tap backend) has no ring and
// ignores the count: it keeps the mbufs of one largest frame posted (VnetTapRxHeldMbufs).
// virtio-user posts an mbuf on every descriptor of its Rx ring, which the kernel fills.
uint16_t KernelPortRxDescriptors(PortBackend backend, uint16_t queue_size);

// Used descriptors a virtio-user Tx queue lets accumulate before it frees their mbufs
// (PortQueues::tx_unreclaimed_max). The driver's default waits until all but 32 of the ring's
// descriptors are used, so an idle pod's Tx ring would keep up to queue_size - 32 mbufs of the last
// traffic sent to it, per worker: two thirds of the pool at 500 pods. The driver checks before it
// queues a burst, so the last burst sent stays on top of these until the next one; PlanMbufPool's
// burst per port in flight stands for it.
inline constexpr uint16_t kVirtioTxUnreclaimedMax = 32;

// Mbufs one kernel port keeps out of the pool while it exists: its Rx queue's, and what its Tx
// queues hold until reclaimed (vnet_tap frees each mbuf as it writes it).
uint32_t KernelPortHeldMbufs(PortBackend backend, uint16_t queue_size, uint16_t tx_queues);

// EAL memory the engine's flow table of `flows` entries takes (flow_table.size).
uint64_t FlowTableMemoryBytes(uint32_t flows);

struct MbufPoolPlan {
  uint32_t mbufs = 0;
  uint32_t cache_size = 0;  // per lcore
};

// The shared pool for max_pods pods on `pod_backend` (resolved, not auto), the host port (same
// backend) and the uplink.
MbufPoolPlan PlanMbufPool(const AgentConfig& config, PortBackend pod_backend);

// EAL memory (MiB) the agent needs without hugepages: the pool, the engine's tables and pools, and
// the drivers' per-port state.
uint32_t EalMemoryMbNeeded(const AgentConfig& config, PortBackend pod_backend);

// Without hugepages: sets eal.memory_mb to what is needed when it is 0, and refuses an explicit
// value below it with the figure needed. With hugepages EAL takes memory as it goes: nothing to
// size.
absl::Status SizeEalMemory(AgentConfig& config, PortBackend pod_backend);

}  // namespace dpcni::dataplane
