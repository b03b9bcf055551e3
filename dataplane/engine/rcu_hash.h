// The hash tables the engine's workers read without locks while one thread writes: an rte_hash in
// lock-free reader/writer mode (RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF) whose integrated RCU (a
// defer queue on the engine's QSBR variable) reuses a deleted key's position only after a grace
// period. The position a lookup returns indexes the owner's own array of entries, which therefore
// has `positions` of them; a worker that found a position within its poll round reads that key's
// entry, or one the owner cleared before deleting the key, never another key's.
#pragma once

#include <rte_hash.h>
#include <rte_rcu_qsbr.h>

#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace dpcni::dataplane {

struct RteHashDeleter {
  void operator()(rte_hash* hash) const { rte_hash_free(hash); }
};

struct RcuHash {
  std::unique_ptr<rte_hash, RteHashDeleter> hash;
  uint32_t positions = 0;  // one past the highest position the hash returns
};

// A table for `capacity` keys of `key_length` bytes, hashed with rte_hash_crc. `what` names it in
// errors ("neighbour table").
absl::StatusOr<RcuHash> CreateRcuHash(const std::string& name, const std::string& what,
                                      uint32_t capacity, uint32_t key_length, rte_rcu_qsbr* rcu);

}  // namespace dpcni::dataplane
