#include "dataplane/engine/neighbour_table.h"

#include <rte_errno.h>

#include <algorithm>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace dpcni::dataplane {
namespace {

// The link word keeps the MAC in its first six bytes in memory and the state in its top byte.
static_assert(RTE_BYTE_ORDER == RTE_LITTLE_ENDIAN, "link word layout assumes little endian");

std::string StateName(NeighbourState state) {
  switch (state) {
    case NeighbourState::kIncomplete:
      return "incomplete";
    case NeighbourState::kReachable:
      return "reachable";
    case NeighbourState::kStale:
      return "stale";
  }
  return "unknown";
}

}  // namespace

NeighbourTable::NeighbourTable(uint32_t capacity, uint32_t positions)
    : capacity_(capacity), positions_(positions), entries_(new Entry[positions]) {}

NeighbourTable::~NeighbourTable() = default;

absl::StatusOr<std::unique_ptr<NeighbourTable>> NeighbourTable::Create(const std::string& name,
                                                                       uint32_t capacity,
                                                                       rte_rcu_qsbr* rcu) {
  absl::StatusOr<RcuHash> hash =
      CreateRcuHash(name, "neighbour table", capacity, sizeof(rte_be32_t), rcu);
  if (!hash.ok()) {
    return hash.status();
  }
  std::unique_ptr<NeighbourTable> table(new NeighbourTable(capacity, hash->positions));
  table->hash_ = std::move(hash->hash);
  return table;
}

uint64_t NeighbourTable::Link(const rte_ether_addr& mac, NeighbourState state) {
  uint64_t link = static_cast<uint64_t>(state) << 56;
  std::memcpy(&link, mac.addr_bytes, RTE_ETHER_ADDR_LEN);
  return link;
}

absl::StatusOr<uint32_t> NeighbourTable::Add(rte_be32_t ip, uint64_t now) {
  if (count_ == capacity_) {
    return absl::ResourceExhaustedError(
        absl::StrCat("neighbour table holds its capacity of ", capacity_));
  }
  int32_t position = rte_hash_add_key(hash_.get(), &ip);
  if (position < 0) {
    return absl::ResourceExhaustedError(
        absl::StrCat("adding a neighbour failed: ", rte_strerror(-position)));
  }
  // The entry is still cleared (incomplete) from its last removal, so readers that find the new
  // key before these stores see an incomplete neighbour.
  Entry& entry = entries_[position];
  entry.confirmed.store(now, std::memory_order_relaxed);
  entry.ip.store(ip, std::memory_order_relaxed);
  ++count_;
  return static_cast<uint32_t>(position);
}

void NeighbourTable::Remove(uint32_t position) {
  Entry& entry = entries_[position];
  rte_be32_t ip = entry.ip.load(std::memory_order_relaxed);
  // Cleared first: a worker that already found this position reads an incomplete neighbour.
  entry.link.store(0, std::memory_order_release);
  entry.wanted.store(false, std::memory_order_relaxed);
  entry.ip.store(0, std::memory_order_relaxed);
  rte_hash_del_key(hash_.get(), &ip);
  --count_;
}

void NeighbourTable::Confirm(uint32_t position, const rte_ether_addr& mac, uint64_t now) {
  Entry& entry = entries_[position];
  entry.link.store(Link(mac, NeighbourState::kReachable), std::memory_order_release);
  entry.wanted.store(false, std::memory_order_relaxed);
  entry.confirmed.store(now, std::memory_order_relaxed);
}

void NeighbourTable::MarkStale(uint32_t position) {
  Entry& entry = entries_[position];
  uint64_t link = entry.link.load(std::memory_order_relaxed);
  link = (link & ~(uint64_t{0xff} << 56)) | static_cast<uint64_t>(NeighbourState::kStale) << 56;
  entry.link.store(link, std::memory_order_release);
}

bool NeighbourTable::TakeWanted(uint32_t position) {
  Entry& entry = entries_[position];
  if (!entry.wanted.load(std::memory_order_relaxed)) {
    return false;
  }
  entry.wanted.store(false, std::memory_order_relaxed);
  return true;
}

std::vector<NeighbourInfo> NeighbourTable::List(uint64_t now, uint64_t tsc_hz) const {
  std::vector<std::pair<uint32_t, NeighbourInfo>> found;
  for (uint32_t position = 0; position < positions_; ++position) {
    const Entry& entry = entries_[position];
    uint32_t ip = rte_be_to_cpu_32(entry.ip.load(std::memory_order_relaxed));
    if (ip == 0) {
      continue;
    }
    uint64_t link = entry.link.load(std::memory_order_acquire);
    uint64_t since = entry.confirmed.load(std::memory_order_relaxed);
    NeighbourState state = StateOf(link);
    NeighbourInfo info;
    info.ip =
        absl::StrFormat("%d.%d.%d.%d", ip >> 24, (ip >> 16) & 0xff, (ip >> 8) & 0xff, ip & 0xff);
    if (state != NeighbourState::kIncomplete) {
      uint8_t mac[RTE_ETHER_ADDR_LEN];
      std::memcpy(mac, &link, RTE_ETHER_ADDR_LEN);
      info.mac = absl::StrFormat("%02x:%02x:%02x:%02x:%02x:%02x", mac[0], mac[1], mac[2], mac[3],
                                 mac[4], mac[5]);
    }
    info.state = StateName(state);
    info.age_ms = now > since ? (now - since) * 1000 / tsc_hz : 0;
    found.emplace_back(ip, std::move(info));
  }
  std::sort(found.begin(), found.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  std::vector<NeighbourInfo> listed;
  listed.reserve(found.size());
  for (auto& [ip, info] : found) {
    listed.push_back(std::move(info));
  }
  return listed;
}

}  // namespace dpcni::dataplane
