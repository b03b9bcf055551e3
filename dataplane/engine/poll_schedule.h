// Which of its ports a worker polls in each round, so that a worker holding hundreds of pods spends
// its rounds on the few that send, not on Rx bursts that come back empty.
//
// Ports are *active* (polled every round) or *idle*. A round polls every active port, then sweeps
// the next kSweepWidth idle ports round-robin; an idle port that receives turns active at once, an
// active one that received nothing for `idle_after` turns idle. A busy round therefore costs
// (active ports + kSweepWidth) polls however many quiet pods the worker holds. When the worker has
// time to spare, a round polls every port: when no port is active, or when the previous round
// received nothing (the worker is between packets, or sleeping in its idle backoff), so a quiet
// pod's packet waits for a partial sweep only while the worker is kept busy by others.
//
// Everything is plain memory owned by the worker: no locks, no syscalls, no allocation after
// construction. The state is kept per port id, so a new poll list keeps what the schedule knew of
// the ports it carries over; ports the list added since the last one adopted start active. The
// schedule sees positions in the poll list and a callable that polls one, never an ethdev, so it
// can be tested without DPDK ports.
#pragma once

#include <rte_config.h>

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>
#include <vector>

namespace dpcni::dataplane {

// Idle ports swept per busy round. Each costs one empty Rx burst (about 7 ns for a net_ring port in
// bench/engine, more for ports whose driver does more per burst) on every busy round, next to the
// tens of packets the busy ports hand over; and an idle port is polled at least every ceil(idle
// ports / kSweepWidth) busy rounds, which bounds how long a quiet pod's packet waits while others
// keep the worker busy (500 pods: 63 rounds of a few microseconds).
inline constexpr size_t kSweepWidth = 8;

// How long an active port may receive nothing before it is only swept. Time, not rounds: a busy
// worker runs a round in microseconds, a sleeping one in up to idle_sleep_max, and a port's
// quietness is about its traffic, not about how often we looked. Long enough that a port carrying
// a flow (gaps of microseconds) never drops out, so a busy port never waits for a sweep; short
// enough that ports that fell quiet stop costing every round soon after. A port that turns quiet
// for longer (an interactive flow between messages) pays at most one sweep cycle on its next
// packet, and only while other ports keep the worker busy.
inline constexpr std::chrono::microseconds kPortIdleAfter{1000};

// A port of a poll list as the schedule sees it.
struct ScheduledPort {
  uint16_t port_id = 0;
  // The generation of the first poll list that held the port (since it was last attached).
  uint64_t since_generation = 0;
};

class PollSchedule {
 public:
  struct RoundResult {
    size_t polled = 0;      // Rx bursts attempted
    bool received = false;  // any of them returned packets
    bool full = false;      // every port was polled
  };

  // `idle_after`: kPortIdleAfter in the time unit of the `now` passed to the calls below.
  explicit PollSchedule(uint64_t idle_after);

  // The generation of the poll list adopted last (0: none yet).
  uint64_t generation() const { return generation_; }
  size_t active_ports() const { return active_.size(); }

  // Takes over a newly published poll list, in poll-list order: positions passed to `poll` from now
  // on index `ports`. Ports added since the list adopted last start active; ports carried over keep
  // their state; ports no longer listed are never polled again.
  void Adopt(uint64_t generation, std::span<const ScheduledPort> ports, uint64_t now);

  // One round: calls `poll(position)` (returning whether the port received) for this round's ports.
  template <typename PollPosition>
  RoundResult Round(uint64_t now, PollPosition&& poll);

 private:
  // The round when the worker has time to spare: every port, and the active set rebuilt.
  template <typename PollPosition>
  RoundResult PollEvery(uint64_t now, PollPosition& poll);
  // The busy round: every active port, then the sweep.
  template <typename PollPosition>
  RoundResult PollActiveAndSweep(uint64_t now, PollPosition& poll);
  bool QuietTooLong(uint16_t port_id, uint64_t now) const {
    // Not on a clock that seems to step back (a worker thread moved to a CPU whose TSC lags).
    return now > last_received_[port_id] && now - last_received_[port_id] > idle_after_;
  }

  const uint64_t idle_after_;
  uint64_t generation_ = 0;
  bool previous_round_received_ = false;
  size_t sweep_cursor_ = 0;         // the next position the sweep looks at
  std::vector<uint16_t> port_ids_;  // by position in the adopted list
  std::vector<uint16_t> active_;    // positions of the active ports, in no particular order
  std::array<bool, RTE_MAX_ETHPORTS> is_active_{};
  std::array<uint64_t, RTE_MAX_ETHPORTS> last_received_{};  // or when the port turned active
};

template <typename PollPosition>
PollSchedule::RoundResult PollSchedule::Round(uint64_t now, PollPosition&& poll) {
  RoundResult result = active_.empty() || !previous_round_received_ ? PollEvery(now, poll)
                                                                    : PollActiveAndSweep(now, poll);
  previous_round_received_ = result.received;
  return result;
}

template <typename PollPosition>
PollSchedule::RoundResult PollSchedule::PollEvery(uint64_t now, PollPosition& poll) {
  RoundResult result{.polled = port_ids_.size(), .full = true};
  active_.clear();
  for (size_t position = 0; position < port_ids_.size(); ++position) {
    const uint16_t port_id = port_ids_[position];
    if (poll(position)) {
      result.received = true;
      is_active_[port_id] = true;
      last_received_[port_id] = now;
    } else if (is_active_[port_id] && QuietTooLong(port_id, now)) {
      is_active_[port_id] = false;
    }
    if (is_active_[port_id]) {
      active_.push_back(static_cast<uint16_t>(position));
    }
  }
  return result;
}

template <typename PollPosition>
PollSchedule::RoundResult PollSchedule::PollActiveAndSweep(uint64_t now, PollPosition& poll) {
  RoundResult result{.polled = active_.size()};
  // Every active port. One quiet for too long is swapped behind `still_active`, where the sweep
  // still sees it as active (no port is polled twice in a round), and dropped after the sweep.
  size_t still_active = active_.size();
  for (size_t i = 0; i < still_active;) {
    const uint16_t position = active_[i];
    const uint16_t port_id = port_ids_[position];
    if (poll(position)) {
      result.received = true;
      last_received_[port_id] = now;
    } else if (QuietTooLong(port_id, now)) {
      std::swap(active_[i], active_[--still_active]);
      continue;
    }
    ++i;
  }
  const size_t demoted_end = active_.size();

  // The next kSweepWidth idle ports, looking at each position at most once.
  const size_t ports = port_ids_.size();
  size_t swept = 0;
  for (size_t looked = 0; looked < ports && swept < kSweepWidth; ++looked) {
    const size_t position = sweep_cursor_;
    sweep_cursor_ = position + 1 == ports ? 0 : position + 1;
    const uint16_t port_id = port_ids_[position];
    if (is_active_[port_id]) {
      continue;
    }
    ++swept;
    if (poll(position)) {
      result.received = true;
      is_active_[port_id] = true;
      last_received_[port_id] = now;
      active_.push_back(static_cast<uint16_t>(position));
    }
  }
  result.polled += swept;

  for (size_t i = still_active; i < demoted_end; ++i) {
    is_active_[port_ids_[active_[i]]] = false;
  }
  active_.erase(active_.begin() + static_cast<ptrdiff_t>(still_active),
                active_.begin() + static_cast<ptrdiff_t>(demoted_end));
  return result;
}

}  // namespace dpcni::dataplane
