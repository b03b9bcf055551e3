// The neighbours on the uplink network: IPv4 address -> MAC and state, read by every worker.
//
// An rte_hash in lock-free reader/writer mode (RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF) maps an
// address to a position, and the position indexes this table's own array of entries. One thread
// writes: the worker that polls the uplink, through NeighbourResolver. Every worker reads, without
// locks; the control plane reads only the entries array, for listings. The hash's integrated RCU
// (a defer queue on the engine's QSBR variable) reuses a deleted address's position only after a
// grace period, and the entry is cleared before the delete, so a worker that found a position in
// its poll round reads that neighbour's entry or a cleared one, never another neighbour's.
#pragma once

#include <rte_byteorder.h>
#include <rte_common.h>
#include <rte_ether.h>
#include <rte_hash.h>
#include <rte_rcu_qsbr.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "dataplane/engine/engine.h"
#include "dataplane/engine/rcu_hash.h"

namespace dpcni::dataplane {

enum class NeighbourState : uint8_t {
  kIncomplete = 0,  // asked for with ARP, no answer yet: packets wait for it
  kReachable = 1,   // MAC confirmed less than the neighbour timeout ago
  kStale = 2,       // MAC still used, but to be confirmed again when it is
};

class NeighbourTable {
 public:
  // Tracks up to `capacity` neighbours; deleted positions are recycled through `rcu`.
  static absl::StatusOr<std::unique_ptr<NeighbourTable>> Create(const std::string& name,
                                                                uint32_t capacity,
                                                                rte_rcu_qsbr* rcu);
  ~NeighbourTable();
  NeighbourTable(const NeighbourTable&) = delete;
  NeighbourTable& operator=(const NeighbourTable&) = delete;

  // Any worker, within a poll round: writes the MAC to use for `ip` into `mac` and returns true if
  // one is known (reachable or stale). Using a stale entry marks it wanted, for the owner to
  // confirm.
  bool Resolve(rte_be32_t ip, rte_ether_addr* mac) {
    int32_t position = rte_hash_lookup(hash_.get(), &ip);
    if (position < 0) {
      return false;
    }
    Entry& entry = entries_[position];
    uint64_t link = entry.link.load(std::memory_order_acquire);
    NeighbourState state = StateOf(link);
    if (state == NeighbourState::kIncomplete) {
      return false;
    }
    if (state == NeighbourState::kStale && !entry.wanted.load(std::memory_order_relaxed)) {
      entry.wanted.store(true, std::memory_order_relaxed);
    }
    std::memcpy(mac->addr_bytes, &link, RTE_ETHER_ADDR_LEN);
    return true;
  }

  // The owner only (the worker that polls the uplink).
  // The position of `ip`, or -1.
  int32_t Find(rte_be32_t ip) const { return rte_hash_lookup(hash_.get(), &ip); }
  // Adds `ip` as incomplete at `now` (TSC) and returns its position.
  absl::StatusOr<uint32_t> Add(rte_be32_t ip, uint64_t now);
  void Remove(uint32_t position);
  // The neighbour answered: reachable with `mac` from `now` on.
  void Confirm(uint32_t position, const rte_ether_addr& mac, uint64_t now);
  void MarkStale(uint32_t position);
  // Whether a worker used the stale entry since the last call; clears the mark.
  bool TakeWanted(uint32_t position);
  NeighbourState State(uint32_t position) const {
    return StateOf(entries_[position].link.load(std::memory_order_relaxed));
  }
  rte_be32_t Address(uint32_t position) const {
    return entries_[position].ip.load(std::memory_order_relaxed);
  }
  uint64_t ConfirmedAt(uint32_t position) const {
    return entries_[position].confirmed.load(std::memory_order_relaxed);
  }
  // One past the highest position the hash can return (sizes the owner's per-position arrays).
  uint32_t positions() const { return positions_; }

  // Control plane: every tracked neighbour with its age at `now` (TSC), ordered by address.
  std::vector<NeighbourInfo> List(uint64_t now, uint64_t tsc_hz) const;

 private:
  // Written by the owner; read by workers (link, wanted) and the control plane (all). A cache line
  // each, so that workers reading one neighbour do not share a line the owner keeps writing.
  struct alignas(RTE_CACHE_LINE_SIZE) Entry {
    // The MAC in the low six bytes (memory order), the state in the top byte: workers read both in
    // one load.
    std::atomic<uint64_t> link{0};
    std::atomic<bool> wanted{false};     // set by a worker that used the entry while stale
    std::atomic<rte_be32_t> ip{0};       // zero while the position is free
    std::atomic<uint64_t> confirmed{0};  // TSC of the last confirmation (or of the first request)
  };

  static NeighbourState StateOf(uint64_t link) { return static_cast<NeighbourState>(link >> 56); }
  static uint64_t Link(const rte_ether_addr& mac, NeighbourState state);

  NeighbourTable(uint32_t capacity, uint32_t positions);

  const uint32_t capacity_;
  const uint32_t positions_;
  uint32_t count_ = 0;  // owner only
  std::unique_ptr<rte_hash, RteHashDeleter> hash_;
  std::unique_ptr<Entry[]> entries_;
};

}  // namespace dpcni::dataplane
