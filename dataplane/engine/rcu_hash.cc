#include "dataplane/engine/rcu_hash.h"

#include <rte_errno.h>
#include <rte_hash_crc.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace dpcni::dataplane {
namespace {

// rte_hash refuses fewer entries than one bucket holds (8, internal to the library).
constexpr uint32_t kMinimumHashEntries = 8;

}  // namespace

absl::StatusOr<RcuHash> CreateRcuHash(const std::string& name, const std::string& what,
                                      uint32_t capacity, uint32_t key_length, rte_rcu_qsbr* rcu) {
  // Twice the slots the owner keeps keys in: deleted positions wait out a grace period before they
  // are free again, and a cuckoo table fills up before every slot is taken.
  RcuHash table;
  table.positions = std::max<uint32_t>(2 * capacity, kMinimumHashEntries);
  rte_hash_parameters parameters{};
  parameters.name = name.c_str();
  parameters.entries = table.positions;
  parameters.key_len = key_length;
  parameters.hash_func = rte_hash_crc;
  parameters.socket_id = SOCKET_ID_ANY;
  parameters.extra_flag = RTE_HASH_EXTRA_FLAGS_RW_CONCURRENCY_LF;
  table.hash.reset(rte_hash_create(&parameters));
  if (table.hash == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("engine: creating ", what, " ", name, " failed: ", rte_strerror(rte_errno)));
  }
  rte_hash_rcu_config rcu_config{};
  rcu_config.v = rcu;
  rcu_config.mode = RTE_HASH_QSBR_MODE_DQ;
  if (rte_hash_rcu_qsbr_add(table.hash.get(), &rcu_config) != 0) {
    return absl::InternalError(absl::StrCat("engine: attaching RCU to ", what, " ", name,
                                            " failed: ", rte_strerror(rte_errno)));
  }
  return table;
}

}  // namespace dpcni::dataplane
