// Flows the node's kernel forwarded into the dataplane, kept so that their replies go back through
// the kernel.
//
// kube-proxy NATs Services in the node's kernel: a ClusterIP, NodePort or hostPort flow is DNATed
// there and sent to its endpoint through the host port. The kernel's conntrack can reverse that NAT
// only if the replies pass through it again; switched straight to the client they carry the
// endpoint's address, which the client never talked to. So every flow that comes in from the host
// port, and whose replies would otherwise bypass the kernel, leaves its reply 5-tuple here, and a
// packet from a pod or the uplink that matches one is steered to the host port instead of its
// direct route (docs/engine.md, "Services").
//
// Like NeighbourTable, an RcuHash (rcu_hash.h) maps a key to a position that indexes this table's
// own entries. One thread writes: the worker
// that polls the host port, which sees every flow the kernel forwards; it inserts, refreshes and
// expires entries. Every worker reads without locks, and refreshes the entries its packets answer
// with plain stores. Entries time out like conntrack's, by protocol and TCP state.
//
// A pod whose port no tracked flow answers through pays one load per packet: `Watched` counts, per
// port, the flows whose replies come in on it, and only a watched port's packets are looked up. A
// watched port's other traffic (a Service endpoint's own connections) pays the key's hash and two
// loads: a counting filter over the tracked keys rules out almost every key the table does not
// hold before the hash table is searched.
#pragma once

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_config.h>
#include <rte_hash.h>
#include <rte_hash_crc.h>
#include <rte_rcu_qsbr.h>
#include <rte_ring.h>
#include <rte_ring_elem.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/engine/counters.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/rcu_hash.h"

namespace dpcni::dataplane {

// The addresses and ports of one direction of a flow, network byte order. For ICMP echo both ports
// carry the identifier, so that a key and its reverse describe the request and its reply; protocols
// without ports have zeros. Aligned to 8: rte_hash_crc (DPDK 22.11, rte_hash_crc.h) reads a key as
// 64-bit words, and a key only 4-aligned (one in an array of KernelFlow) makes that a misaligned
// load, undefined behaviour that UBSan stops the sanitizer lane on.
struct alignas(8) FlowKey {
  rte_be32_t source = 0;
  rte_be32_t destination = 0;
  rte_be16_t source_port = 0;
  rte_be16_t destination_port = 0;
  uint8_t protocol = 0;
  uint8_t padding[3] = {};  // zero: the hash and the comparison see all 16 bytes

  FlowKey Reversed() const {
    return {.source = destination,
            .destination = source,
            .source_port = destination_port,
            .destination_port = source_port,
            .protocol = protocol};
  }
  bool operator==(const FlowKey&) const = default;
};
static_assert(sizeof(FlowKey) == 16);

// TCP flags the table follows (the low byte of the TCP header's flags).
inline constexpr uint8_t kTcpFin = 0x01;
inline constexpr uint8_t kTcpSyn = 0x02;
inline constexpr uint8_t kTcpRst = 0x04;
inline constexpr uint8_t kTcpAck = 0x10;

// What a forwarded packet from the host port asks the table to keep: the key its replies carry, and
// the port they come in on.
struct KernelFlow {
  FlowKey reply{};
  uint16_t reply_port = 0;
  uint8_t tcp_flags = 0;  // of the forwarded packet
  bool answered = false;  // known to be answered already (a connection conntrack saw replied)
};
static_assert(sizeof(KernelFlow) % 4 == 0, "rte_ring elements are multiples of 4 bytes");

struct FlowInfo {
  FlowKey reply{};
  uint16_t reply_port = 0;
  std::string state;  // "new", "replied", "established", "closing", "superseded"
  uint64_t age_ms = 0;
  uint64_t timeout_ms = 0;
};

class FlowTable {
 public:
  // The sweep visits every position once per kSweepPeriod, at most kMaxSweepBatch per call; a
  // full table samples kEvictionSample entries for a victim.
  static constexpr std::chrono::milliseconds kSweepPeriod{1000};
  static constexpr uint32_t kMaxSweepBatch = 256;
  static constexpr uint32_t kEvictionSample = 16;

  // A table of config.capacity flows for `workers` reading workers; deleted positions are recycled
  // through `rcu`.
  static absl::StatusOr<std::unique_ptr<FlowTable>> Create(const std::string& name,
                                                           const FlowTableConfig& config,
                                                           unsigned workers, rte_rcu_qsbr* rcu);
  ~FlowTable();
  FlowTable(const FlowTable&) = delete;
  FlowTable& operator=(const FlowTable&) = delete;

  // Any worker, within a poll round.
  // Whether any tracked flow's replies come in on `port_id`: only then are its packets looked up.
  bool Watched(uint16_t port_id) const {
    return watched_[port_id].load(std::memory_order_acquire) != 0;
  }
  // Whether `key` is the reply of a tracked flow. A hit refreshes the flow at `now` (TSC) and notes
  // that it was answered; `tcp_flags` of a reply that closes or resets it shorten its timeout.
  bool MatchReply(const FlowKey& key, uint8_t tcp_flags, uint64_t now);
  // Whether the table holds any flow: only then does a connection opened directly pay a lookup.
  bool Empty() const { return count_.load(std::memory_order_relaxed) == 0; }
  // A SYN switched directly (not forwarded by the kernel) opens a connection whose replies carry
  // `reply`. A tracked flow with that reply key that is closing or reset is over: a client that
  // reached an endpoint through a Service may open a direct connection to it from the same port
  // once that one closed (the two differ before the DNAT, not after), and its replies must not be
  // steered to the kernel, whose conntrack would undo the old NAT on them. The flow stops matching
  // and goes at the next sweep; a kernel-forwarded SYN on the key makes it a tracked flow again.
  // A flow still open keeps its key: the two connections clash, and the NATed one keeps working.
  void NoteDirectOpening(const FlowKey& reply);
  // Counts a reply steered to the kernel by worker `worker` (each worker writes its own counter).
  void CountHit(unsigned worker) { hits_[worker].value.Add(1); }

  // The writer only (the worker that polls the host port).
  // Records or refreshes a flow the kernel forwarded at `now`. When the table is full, an entry
  // that is not established and nearest its expiry makes room; without one the flow is counted in
  // insert_failures and not kept.
  void Track(const KernelFlow& flow, uint64_t now);
  // Expires the flows that went unseen past their timeout among the positions due at `now`: the
  // sweep advances with time, not with calls, so that it costs the same however often the worker
  // polls (a busy worker runs millions of rounds a second), and flows expire at most a sweep
  // period late.
  void Sweep(uint64_t now);

  // Flows the control plane hands the writer (SeedKernelFlows), through a ring: one producer (the
  // control plane, under the engine's lock) and one consumer (the writer).
  static constexpr unsigned kOfferRingSize = 4096;
  // Control plane: false when the ring is full (the writer takes up to kOfferBatch a round).
  bool Offer(const KernelFlow& flow);
  // The writer: tracks what was offered, as if the kernel had forwarded it at `now`.
  void TakeOffered(uint64_t now);

  // Control plane.
  FlowTableStats Stats() const;
  // Up to `limit` flows (0: every one), with their age at `now`.
  std::vector<FlowInfo> List(uint64_t now, uint64_t tsc_hz, uint32_t limit) const;

 private:
  struct RingDeleter {
    void operator()(rte_ring* ring) const { rte_ring_free(ring); }
  };
  struct alignas(RTE_CACHE_LINE_SIZE) WorkerHits {
    SingleWriterCounter value;
  };

  // Bits of Entry::state.
  static constexpr uint8_t kInUse = 1 << 0;
  static constexpr uint8_t kSawSyn = 1 << 1;   // forward SYN
  static constexpr uint8_t kSawAck = 1 << 2;   // forward ACK without SYN: past the handshake
  static constexpr uint8_t kClosing = 1 << 3;  // forward FIN
  static constexpr uint8_t kReset = 1 << 4;    // forward RST

  // Written by the writer; `seen`, `replied`, `reply_closing` and `superseded` also by readers,
  // with plain stores. The key lives in two words so that the control plane can copy it with atomic
  // loads.
  struct Entry {
    std::atomic<uint64_t> key_words[2] = {};
    std::atomic<uint64_t> seen{0};  // TSC when last seen in either direction
    std::atomic<uint16_t> reply_port{0};
    std::atomic<uint8_t> state{0};          // the writer's bits; zero while the position is free
    std::atomic<uint8_t> replied{0};        // a reader saw a reply
    std::atomic<uint8_t> reply_closing{0};  // a reader saw a reply with FIN or RST
    std::atomic<uint8_t> superseded{0};     // a direct connection took the key (closing only)
  };

  FlowTable(const FlowTableConfig& config, uint32_t positions, unsigned workers);

  static FlowKey KeyOf(const Entry& entry);
  static uint32_t Hash(const FlowKey& key) { return rte_hash_crc(&key, sizeof(key), 0); }
  // How long the entry may stay unseen, in TSC cycles, from its state.
  uint64_t TimeoutOf(const Entry& entry) const;
  bool Established(const Entry& entry) const;
  bool Closing(const Entry& entry) const;
  // The counting filter: two counters per key, picked from its hash; a key the table holds has
  // both non-zero. A counter that reaches its maximum stays there (a permanent false positive for
  // the keys that share it, never a false negative).
  static constexpr uint32_t kFilterSize = 1u << 18;
  static std::array<uint32_t, 2> FilterSlots(uint32_t hash) {
    return {hash & (kFilterSize - 1), (hash * 0x9e3779b1u) >> (32 - 18)};
  }
  bool MayHold(uint32_t hash) const {
    const std::array<uint32_t, 2> slots = FilterSlots(hash);
    return filter_[slots[0]].load(std::memory_order_relaxed) != 0 &&
           filter_[slots[1]].load(std::memory_order_relaxed) != 0;
  }
  void FilterAdd(uint32_t hash);
  void FilterRemove(uint32_t hash);

  // Stores `now` as the entry's last sighting, unless one less than refresh_cycles_ old is there.
  void Refresh(Entry& entry, uint64_t now) const {
    if (now > entry.seen.load(std::memory_order_relaxed) + refresh_cycles_) {
      entry.seen.store(now, std::memory_order_relaxed);
    }
  }
  void AddWatch(uint16_t port_id, int32_t change) {
    watched_[port_id].store(watched_[port_id].load(std::memory_order_relaxed) + change,
                            std::memory_order_release);
  }
  // Removes the flow at `position` (writer only).
  void Remove(uint32_t position);
  // Removes the entry nearest its expiry among a sample that is not established; false if none.
  bool EvictOne(uint64_t now);
  std::string StateName(const Entry& entry) const;

  const uint32_t capacity_;
  const uint32_t positions_;
  // Timeouts in TSC cycles.
  const uint64_t tcp_established_;
  const uint64_t tcp_transitory_;
  const uint64_t udp_;
  const uint64_t udp_stream_;
  const uint64_t icmp_;
  const uint64_t other_;
  // Readers refresh `seen` at most this often, so that a busy reply stream does not write the
  // entry's cache line on every packet.
  const uint64_t refresh_cycles_;
  std::unique_ptr<rte_hash, RteHashDeleter> hash_;
  std::unique_ptr<rte_ring, RingDeleter> offered_;
  std::unique_ptr<Entry[]> entries_;
  std::unique_ptr<std::atomic<uint32_t>[]> watched_;  // per port id
  std::unique_ptr<std::atomic<uint8_t>[]> filter_;    // kFilterSize counters
  std::unique_ptr<WorkerHits[]> hits_;
  const unsigned workers_;

  const uint64_t sweep_period_;  // kSweepPeriod in TSC cycles

  // Writer-only state; the counters are read by the control plane.
  uint32_t sweep_cursor_ = 0;
  uint64_t swept_until_ = 0;  // the TSC the sweep has caught up with
  uint32_t eviction_cursor_ = 0;
  std::atomic<uint32_t> count_{0};
  SingleWriterCounter inserts_;
  SingleWriterCounter expiries_;
  SingleWriterCounter evictions_;
  SingleWriterCounter insert_failures_;
};

}  // namespace dpcni::dataplane
