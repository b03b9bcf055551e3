#include "dataplane/engine/flow_table.h"

#include <rte_cycles.h>
#include <rte_errno.h>
#include <rte_ip.h>

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace dpcni::dataplane {
namespace {

uint64_t ToCycles(std::chrono::seconds duration) {
  return static_cast<uint64_t>(duration.count()) * rte_get_tsc_hz();
}

}  // namespace

FlowTable::FlowTable(const FlowTableConfig& config, uint32_t positions, unsigned workers)
    : capacity_(config.capacity),
      positions_(positions),
      tcp_established_(ToCycles(config.timeouts.tcp_established)),
      tcp_transitory_(ToCycles(config.timeouts.tcp_transitory)),
      udp_(ToCycles(config.timeouts.udp)),
      udp_stream_(ToCycles(config.timeouts.udp_stream)),
      icmp_(ToCycles(config.timeouts.icmp)),
      other_(ToCycles(config.timeouts.other)),
      refresh_cycles_(rte_get_tsc_hz() / 10),
      entries_(new Entry[positions]),
      watched_(new std::atomic<uint32_t>[RTE_MAX_ETHPORTS]()),
      filter_(new std::atomic<uint8_t>[kFilterSize]()),
      hits_(new WorkerHits[workers]),
      workers_(workers),
      sweep_period_(static_cast<uint64_t>(kSweepPeriod.count()) * rte_get_tsc_hz() / 1000) {}

FlowTable::~FlowTable() = default;

absl::StatusOr<std::unique_ptr<FlowTable>> FlowTable::Create(const std::string& name,
                                                             const FlowTableConfig& config,
                                                             unsigned workers, rte_rcu_qsbr* rcu) {
  if (config.capacity == 0 || workers == 0) {
    return absl::InvalidArgumentError("flow table: capacity and workers must be positive");
  }
  absl::StatusOr<RcuHash> hash =
      CreateRcuHash(name, "flow table", config.capacity, sizeof(FlowKey), rcu);
  if (!hash.ok()) {
    return hash.status();
  }
  std::unique_ptr<FlowTable> table(new FlowTable(config, hash->positions, workers));
  table->hash_ = std::move(hash->hash);
  const std::string ring_name = name + "_in";
  table->offered_.reset(rte_ring_create_elem(ring_name.c_str(), sizeof(KernelFlow), kOfferRingSize,
                                             SOCKET_ID_ANY, RING_F_SP_ENQ | RING_F_SC_DEQ));
  if (table->offered_ == nullptr) {
    return absl::ResourceExhaustedError(absl::StrCat("engine: creating the ring ", ring_name,
                                                     " failed: ", rte_strerror(rte_errno)));
  }
  return table;
}

FlowKey FlowTable::KeyOf(const Entry& entry) {
  uint64_t words[2] = {entry.key_words[0].load(std::memory_order_relaxed),
                       entry.key_words[1].load(std::memory_order_relaxed)};
  FlowKey key;
  std::memcpy(&key, words, sizeof(key));
  return key;
}

bool FlowTable::Offer(const KernelFlow& flow) {
  KernelFlow copy = flow;  // DPDK 22.11 takes the element through a non-const pointer
  return rte_ring_enqueue_elem(offered_.get(), &copy, sizeof(KernelFlow)) == 0;
}

void FlowTable::TakeOffered(uint64_t now) {
  constexpr unsigned kOfferBatch = 64;
  KernelFlow flows[kOfferBatch];
  const unsigned taken =
      rte_ring_dequeue_burst_elem(offered_.get(), flows, sizeof(KernelFlow), kOfferBatch, nullptr);
  for (unsigned i = 0; i < taken; ++i) {
    Track(flows[i], now);
  }
}

void FlowTable::FilterAdd(uint32_t hash) {
  for (uint32_t slot : FilterSlots(hash)) {
    const uint8_t count = filter_[slot].load(std::memory_order_relaxed);
    if (count != std::numeric_limits<uint8_t>::max()) {
      filter_[slot].store(count + 1, std::memory_order_relaxed);
    }
  }
}

void FlowTable::FilterRemove(uint32_t hash) {
  for (uint32_t slot : FilterSlots(hash)) {
    const uint8_t count = filter_[slot].load(std::memory_order_relaxed);
    if (count != std::numeric_limits<uint8_t>::max()) {
      filter_[slot].store(count - 1, std::memory_order_relaxed);
    }
  }
}

bool FlowTable::MatchReply(const FlowKey& key, uint8_t tcp_flags, uint64_t now) {
  const uint32_t hash = Hash(key);
  if (!MayHold(hash)) {
    return false;
  }
  const int32_t position = rte_hash_lookup_with_hash(hash_.get(), &key, hash);
  if (position < 0) {
    return false;
  }
  Entry& entry = entries_[position];
  // Removed since the lookup found it: the position is cleared before the key is deleted.
  if (entry.state.load(std::memory_order_acquire) == 0 ||
      entry.superseded.load(std::memory_order_relaxed) != 0) {
    return false;
  }
  Refresh(entry, now);
  if (entry.replied.load(std::memory_order_relaxed) == 0) {
    entry.replied.store(1, std::memory_order_relaxed);
  }
  if ((tcp_flags & (kTcpFin | kTcpRst)) != 0 &&
      entry.reply_closing.load(std::memory_order_relaxed) == 0) {
    entry.reply_closing.store(1, std::memory_order_relaxed);
  }
  return true;
}

void FlowTable::NoteDirectOpening(const FlowKey& reply) {
  const uint32_t hash = Hash(reply);
  if (!MayHold(hash)) {
    return;
  }
  const int32_t position = rte_hash_lookup_with_hash(hash_.get(), &reply, hash);
  if (position < 0) {
    return;
  }
  Entry& entry = entries_[position];
  if (entry.state.load(std::memory_order_acquire) == 0 ||
      entry.superseded.load(std::memory_order_relaxed) != 0 || !Closing(entry)) {
    return;
  }
  entry.superseded.store(1, std::memory_order_relaxed);
}

void FlowTable::Track(const KernelFlow& flow, uint64_t now) {
  const uint32_t signature = Hash(flow.reply);
  int32_t position = rte_hash_lookup_with_hash(hash_.get(), &flow.reply, signature);
  if (position < 0) {
    if (count_.load(std::memory_order_relaxed) >= capacity_ && !EvictOne(now)) {
      insert_failures_.Add(1);
      return;
    }
    position = rte_hash_add_key_with_hash(hash_.get(), &flow.reply, signature);
    if (position < 0) {
      // The cuckoo table found no slot although fewer than capacity flows are kept.
      insert_failures_.Add(1);
      return;
    }
    FilterAdd(signature);
    // The entry is still cleared from its last removal (state zero), so a reader that finds the
    // new key before these stores treats it as absent.
    Entry& entry = entries_[position];
    uint64_t words[2];
    std::memcpy(words, &flow.reply, sizeof(words));
    entry.key_words[0].store(words[0], std::memory_order_relaxed);
    entry.key_words[1].store(words[1], std::memory_order_relaxed);
    entry.seen.store(now, std::memory_order_relaxed);
    entry.reply_port.store(flow.reply_port, std::memory_order_relaxed);
    entry.replied.store(flow.answered ? 1 : 0, std::memory_order_relaxed);
    entry.reply_closing.store(0, std::memory_order_relaxed);
    entry.superseded.store(0, std::memory_order_relaxed);
    entry.state.store(kInUse, std::memory_order_release);
    // Published before the packet that made it is sent, so before any reply to it can arrive.
    AddWatch(flow.reply_port, +1);
    count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
    inserts_.Add(1);
  }
  Entry& entry = entries_[position];
  // The same reply key now answered on another port: a pod re-made with the address.
  if (const uint16_t port = entry.reply_port.load(std::memory_order_relaxed);
      port != flow.reply_port) {
    AddWatch(flow.reply_port, +1);
    entry.reply_port.store(flow.reply_port, std::memory_order_relaxed);
    AddWatch(port, -1);
  }
  const uint8_t seen_state = entry.state.load(std::memory_order_relaxed);
  uint8_t state = seen_state;
  if (flow.reply.protocol == IPPROTO_TCP) {
    if ((flow.tcp_flags & kTcpSyn) != 0) {
      state |= kSawSyn;
    } else if ((flow.tcp_flags & kTcpAck) != 0) {
      state |= kSawAck;
    }
    if ((flow.tcp_flags & kTcpFin) != 0) state |= kClosing;
    if ((flow.tcp_flags & kTcpRst) != 0) state |= kReset;
    // A new SYN on a closed or reset 4-tuple opens a new connection.
    if ((flow.tcp_flags & (kTcpSyn | kTcpAck)) == kTcpSyn) {
      state = static_cast<uint8_t>((state & ~(kClosing | kReset | kSawAck)) | kSawSyn);
      entry.reply_closing.store(0, std::memory_order_relaxed);
      entry.replied.store(0, std::memory_order_relaxed);
      entry.superseded.store(0, std::memory_order_relaxed);
    }
  }
  // Written only when it changes: readers share the entry's cache line.
  if (state != seen_state) {
    entry.state.store(state, std::memory_order_relaxed);
  }
  Refresh(entry, now);
}

bool FlowTable::Closing(const Entry& entry) const {
  return (entry.state.load(std::memory_order_relaxed) & (kClosing | kReset)) != 0 ||
         entry.reply_closing.load(std::memory_order_relaxed) != 0;
}

bool FlowTable::Established(const Entry& entry) const {
  const uint8_t state = entry.state.load(std::memory_order_relaxed);
  if (entry.replied.load(std::memory_order_relaxed) == 0 ||
      entry.superseded.load(std::memory_order_relaxed) != 0) {
    return false;
  }
  if (KeyOf(entry).protocol != IPPROTO_TCP) {
    return true;  // answered
  }
  return (state & kSawAck) != 0 && (state & (kClosing | kReset)) == 0 &&
         entry.reply_closing.load(std::memory_order_relaxed) == 0;
}

uint64_t FlowTable::TimeoutOf(const Entry& entry) const {
  if (entry.superseded.load(std::memory_order_relaxed) != 0) {
    return 0;  // gone at the next sweep
  }
  const bool replied = entry.replied.load(std::memory_order_relaxed) != 0;
  switch (KeyOf(entry).protocol) {
    case IPPROTO_TCP:
      return Established(entry) ? tcp_established_ : tcp_transitory_;
    case IPPROTO_UDP:
      return replied ? udp_stream_ : udp_;
    case IPPROTO_ICMP:
      return icmp_;
    default:
      return other_;
  }
}

std::string FlowTable::StateName(const Entry& entry) const {
  if (entry.superseded.load(std::memory_order_relaxed) != 0) {
    return "superseded";
  }
  if (Closing(entry)) {
    return "closing";
  }
  if (Established(entry)) {
    return KeyOf(entry).protocol == IPPROTO_TCP ? "established" : "replied";
  }
  return entry.replied.load(std::memory_order_relaxed) != 0 ? "replied" : "new";
}

void FlowTable::Remove(uint32_t position) {
  Entry& entry = entries_[position];
  const FlowKey key = KeyOf(entry);
  const uint16_t port = entry.reply_port.load(std::memory_order_relaxed);
  // Cleared first: a reader that already found this position treats it as absent.
  entry.state.store(0, std::memory_order_release);
  const uint32_t hash = Hash(key);
  rte_hash_del_key_with_hash(hash_.get(), &key, hash);
  FilterRemove(hash);
  AddWatch(port, -1);
  count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
}

bool FlowTable::EvictOne(uint64_t now) {
  uint32_t victim = positions_;
  uint64_t victim_left = std::numeric_limits<uint64_t>::max();
  uint32_t sampled = 0;
  // Visits at most every position once; a full table has a flow in every other one on average.
  for (uint32_t visited = 0; visited < positions_ && sampled < kEvictionSample; ++visited) {
    const uint32_t position = eviction_cursor_;
    eviction_cursor_ = eviction_cursor_ + 1 == positions_ ? 0 : eviction_cursor_ + 1;
    const Entry& entry = entries_[position];
    if (entry.state.load(std::memory_order_relaxed) == 0) {
      continue;
    }
    ++sampled;
    if (Established(entry)) {
      continue;
    }
    const uint64_t seen = entry.seen.load(std::memory_order_relaxed);
    const uint64_t deadline = seen + TimeoutOf(entry);
    const uint64_t left = deadline > now ? deadline - now : 0;
    if (left < victim_left) {
      victim = position;
      victim_left = left;
    }
  }
  if (victim == positions_) {
    return false;
  }
  Remove(victim);
  evictions_.Add(1);
  return true;
}

void FlowTable::Sweep(uint64_t now) {
  if (now <= swept_until_) {
    return;
  }
  // Catch up at most one period: after a long stall every position is due once, not many times.
  swept_until_ = std::max(swept_until_, now - std::min(now, sweep_period_));
  const uint64_t due = std::min<uint64_t>(
      {(now - swept_until_) * positions_ / sweep_period_, kMaxSweepBatch, positions_});
  if (due == 0) {
    return;
  }
  swept_until_ += due * sweep_period_ / positions_;
  for (uint32_t i = 0; i < due; ++i) {
    const uint32_t position = sweep_cursor_;
    sweep_cursor_ = sweep_cursor_ + 1 == positions_ ? 0 : sweep_cursor_ + 1;
    const Entry& entry = entries_[position];
    if (entry.state.load(std::memory_order_relaxed) == 0) {
      continue;
    }
    const uint64_t seen = entry.seen.load(std::memory_order_relaxed);
    if (now > seen && now - seen > TimeoutOf(entry)) {
      Remove(position);
      expiries_.Add(1);
    }
  }
}

FlowTableStats FlowTable::Stats() const {
  FlowTableStats stats{.entries = count_.load(std::memory_order_relaxed),
                       .capacity = capacity_,
                       .inserts = inserts_.Read(),
                       .expiries = expiries_.Read(),
                       .evictions = evictions_.Read(),
                       .insert_failures = insert_failures_.Read()};
  for (unsigned worker = 0; worker < workers_; ++worker) {
    stats.hits += hits_[worker].value.Read();
  }
  return stats;
}

std::vector<FlowInfo> FlowTable::List(uint64_t now, uint64_t tsc_hz, uint32_t limit) const {
  std::vector<FlowInfo> flows;
  for (uint32_t position = 0; position < positions_; ++position) {
    if (limit != 0 && flows.size() == limit) {
      break;
    }
    const Entry& entry = entries_[position];
    if (entry.state.load(std::memory_order_acquire) == 0) {
      continue;
    }
    const uint64_t seen = entry.seen.load(std::memory_order_relaxed);
    flows.push_back(FlowInfo{.reply = KeyOf(entry),
                             .reply_port = entry.reply_port.load(std::memory_order_relaxed),
                             .state = StateName(entry),
                             .age_ms = now > seen ? (now - seen) * 1000 / tsc_hz : 0,
                             .timeout_ms = TimeoutOf(entry) * 1000 / tsc_hz});
  }
  return flows;
}

}  // namespace dpcni::dataplane
