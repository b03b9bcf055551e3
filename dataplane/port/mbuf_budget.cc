#include "port/mbuf_budget.h"

#include <rte_ether.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "port/vnet_tap.h"

namespace dpcni::dataplane {
namespace {

// vnet_tap has no descriptor ring: its Rx queue keeps the mbufs of one largest frame posted
// (VnetTapRxHeldMbufs), whatever the descriptor count.
constexpr uint16_t kTapRxDescriptors = 1;

constexpr uint32_t kCacheSize = 256;
// Packets in flight that no per-port bound covers: multi-segment packets (a burst of 64 KB GSO
// packets from one vhost-net pod is about a thousand mbufs) and the packets the engine holds for
// uplink neighbours it is still resolving (at most 1280). When a burst of busy pods exceeds it, the
// drivers count rx_nombuf and drop until mbufs come back: traffic slows, nothing wedges.
constexpr uint32_t kSharedHeadroom = 8192;

// EAL memory besides the pool: rte_lpm's tbl24 (2^24 four-byte entries, 64 MiB), the engine's GSO
// and ARP pools (about 9 MiB), the ethdev data of all RTE_MAX_ETHPORTS ports (6 MiB), the mempool's
// per-lcore cache structures and EAL's own allocations. Measured: 80 MiB of EAL's heap besides the
// pool and the host port (telemetry /eal/heap_info, an agent with no pods, 1024-port build).
constexpr uint32_t kBaseMemoryMb = 96;

#if !DPCNI_VNET_TAP
// Built on Debian's DPDK the tap backend is DPDK's net_tap, which gives every port a private pool
// for its software GSO: 512 mbufs of 128 data bytes with a per-lcore cache, whose header alone
// holds a cache structure for each of RTE_MAX_LCORE lcores (about 1 MiB with 128).
constexpr uint32_t kTapGsoMbufs = 512;
constexpr uint32_t kTapGsoDataRoom = RTE_PKTMBUF_HEADROOM + 128;
#endif
// Driver state per queue pair: queues, the ethdev's private data, allocator headers; for
// virtio-user its vrings and Tx header regions (about 100 KiB for a 512-entry queue pair), for
// vnet_tap far less (no ring, no private pool of its own, unlike DPDK's net_tap).
constexpr uint64_t kQueuePairStateBytes = 128 << 10;

uint64_t PortStateBytes(uint16_t tx_queues) { return kQueuePairStateBytes * (1 + tx_queues); }

// The memory a mempool of `count` objects of `element_size` bytes takes without hugepages. EAL's
// memory is then 4 KiB pages that need not be contiguous in IO addresses, so no object may straddle
// a page: a 2.3 KiB mbuf takes a whole page (measured: 9983 mbufs, 39 MiB), not its 2.5 KiB size.
uint64_t PoolBytes(uint32_t count, uint32_t element_size) {
  rte_mempool_objsz size{};
  rte_mempool_calc_obj_size(element_size, 0, &size);
  const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
  const uint64_t per_page = std::max<uint64_t>(1, page / size.total_size);
  const uint64_t pages_per_object = (size.total_size + page - 1) / page;
  const uint64_t objects = size.total_size > page
                               ? uint64_t{count} * pages_per_object * page
                               : (uint64_t{count} + per_page - 1) / per_page * page;
  // The ring of free-object pointers behind them (a power of two).
  return objects + uint64_t{rte_align32pow2(count + 1)} * sizeof(void*);
}

}  // namespace

uint64_t FlowTableMemoryBytes(uint32_t flows) {
  // The engine's flow table is an rte_hash of twice `flows` slots (flow_table.h). Per slot: a key
  // entry (16-byte key, data pointer, aligned: 32 bytes), a share of the 64-byte buckets (8 slots
  // each, but up to twice as many buckets as slots need, from the power-of-two rounding), its free
  // ring's slot and the RCU defer queue's (the rings rounded up to powers of two).
  constexpr uint64_t kPerSlot = 32 + 2 * 64 / 8 + 2 * 4 + 2 * 16;
  return flows == 0 ? 0 : uint64_t{2} * flows * kPerSlot + (1 << 20);
}

namespace {

uint64_t PerPortMemoryBytes(PortBackend backend, uint16_t tx_queues) {
#if !DPCNI_VNET_TAP
  if (backend == PortBackend::kTap) {
    const uint64_t header = sizeof(rte_mempool) + sizeof(rte_mempool_cache) * RTE_MAX_LCORE;
    return header + PoolBytes(kTapGsoMbufs, sizeof(rte_mbuf) + kTapGsoDataRoom) +
           PortStateBytes(tx_queues);
  }
#endif
  static_cast<void>(backend);
  return PortStateBytes(tx_queues);
}

uint32_t PortCount(const AgentConfig& config) {
  return config.max_pods + InfrastructurePortCount(config);
}

uint32_t DivideRoundingUp(uint64_t value, uint64_t divisor) {
  return static_cast<uint32_t>((value + divisor - 1) / divisor);
}

}  // namespace

uint16_t KernelPortRxDescriptors(PortBackend backend, uint16_t queue_size) {
  return backend == PortBackend::kTap ? kTapRxDescriptors : queue_size;
}

uint32_t KernelPortHeldMbufs(PortBackend backend, uint16_t queue_size, uint16_t tx_queues) {
  // vnet_tap: the Rx queue's posted spares; its Tx writes and frees each packet at once. net_tap
  // (on Debian's DPDK): its one-descriptor Rx queue's mbuf, and it frees each mbuf as it writes it.
  if (backend == PortBackend::kTap) {
    return DPCNI_VNET_TAP ? VnetTapRxHeldMbufs(RTE_MBUF_DEFAULT_DATAROOM) : kTapRxDescriptors;
  }
  return KernelPortRxDescriptors(backend, queue_size) +
         uint32_t{tx_queues} * kVirtioTxUnreclaimedMax;
}

MbufPoolPlan PlanMbufPool(const AgentConfig& config, PortBackend pod_backend) {
  const auto workers = static_cast<uint16_t>(config.worker_lcores.size());
  const uint32_t per_kernel_port = KernelPortHeldMbufs(pod_backend, config.pod_queue_size, workers);
  // The pods' ports and the host port, which uses the pods' backend.
  uint64_t held = uint64_t{config.max_pods + 1} * per_kernel_port;
  if (config.uplink.type != UplinkType::kNone) {
    // A NIC's Rx ring keeps an mbuf on every descriptor; its Tx rings keep sent ones until the
    // driver reclaims them.
    held += uint64_t{config.pod_queue_size} * (1 + workers);
  }
  // A worker reads at most one burst from each port per poll round and holds it in its Tx buffers
  // until the round ends.
  const uint64_t in_flight = uint64_t{config.burst_size} * PortCount(config) + kSharedHeadroom;
  // Every lcore that touches the pool (the workers, the main lcore) keeps a cache that fills up to
  // 1.5 times its size before it flushes.
  const uint64_t cached = uint64_t{workers + 1u} * kCacheSize * 3 / 2;
  return {static_cast<uint32_t>(held + in_flight + cached), kCacheSize};
}

uint32_t EalMemoryMbNeeded(const AgentConfig& config, PortBackend pod_backend) {
  const uint64_t pool_bytes = PoolBytes(PlanMbufPool(config, pod_backend).mbufs,
                                        sizeof(rte_mbuf) + RTE_MBUF_DEFAULT_BUF_SIZE);
  // The pods' ports and the host port on the pods' backend; the uplink counted like a virtio port.
  const auto workers = static_cast<uint16_t>(config.worker_lcores.size());
  const uint64_t ports_bytes =
      uint64_t{config.max_pods + 1} * PerPortMemoryBytes(pod_backend, workers) +
      (InfrastructurePortCount(config) - 1) * PortStateBytes(workers);
  return DivideRoundingUp(
             pool_bytes + ports_bytes + FlowTableMemoryBytes(config.flow_table.capacity), 1 << 20) +
         kBaseMemoryMb;
}

absl::Status SizeEalMemory(AgentConfig& config, PortBackend pod_backend) {
  if (config.eal.hugepages) return absl::OkStatus();
  const uint32_t needed = EalMemoryMbNeeded(config, pod_backend);
  if (config.eal.memory_mb == 0) {
    config.eal.memory_mb = needed;
    return absl::OkStatus();
  }
  if (config.eal.memory_mb < needed) {
    return absl::InvalidArgumentError(absl::StrCat(
        "eal.memory_mb ", config.eal.memory_mb, " is too small for max_pods ", config.max_pods,
        " with ", PortBackendName(pod_backend), " ports of pod_queue_size ", config.pod_queue_size,
        ": they need ", needed, " MB (", PlanMbufPool(config, pod_backend).mbufs,
        " mbufs and the engine's tables); leave eal.memory_mb out to size it automatically"));
  }
  return absl::OkStatus();
}

}  // namespace dpcni::dataplane
