#include "dataplane/engine/next_hop_table.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace dpcni::dataplane {

NextHopTable::NextHopTable(uint32_t capacity) : entries_(new NextHop[capacity]) {
  free_ids_.reserve(capacity);
  for (uint32_t id = capacity; id > 0; --id) {
    free_ids_.push_back(id - 1);
  }
}

absl::StatusOr<uint32_t> NextHopTable::Allocate(const NextHop& hop) {
  if (free_ids_.empty()) {
    return absl::ResourceExhaustedError(
        absl::StrCat("next-hop table full while adding a next hop to port ", hop.port_id));
  }
  uint32_t id = free_ids_.back();
  free_ids_.pop_back();
  entries_[id] = hop;
  return id;
}

void NextHopTable::Release(uint32_t id) {
  entries_[id] = NextHop{};
  free_ids_.push_back(id);
}

}  // namespace dpcni::dataplane
