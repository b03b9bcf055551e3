// How long an idle worker sleeps: exponential backoff from a microsecond up to a ceiling, reset by
// traffic. Sleeping trades a little wake-up latency for not burning a core on an idle node.
#pragma once

#include <algorithm>
#include <chrono>

namespace dpcni::dataplane {

class IdleBackoff {
 public:
  // A zero ceiling disables sleeping: the worker busy-polls.
  explicit IdleBackoff(std::chrono::microseconds ceiling) : ceiling_(ceiling) {}

  bool enabled() const { return ceiling_.count() > 0; }

  // The sleep after one more poll round that found nothing: 1, 2, 4, ... microseconds, capped.
  std::chrono::microseconds NextSleep() {
    std::chrono::microseconds sleep = std::min(next_, ceiling_);
    next_ = std::min(sleep * 2, ceiling_);
    return sleep;
  }

  // Traffic arrived: the next idle round starts again from the shortest sleep.
  void Reset() { next_ = kShortest; }

 private:
  static constexpr std::chrono::microseconds kShortest{1};

  std::chrono::microseconds ceiling_;
  std::chrono::microseconds next_ = kShortest;
};

}  // namespace dpcni::dataplane
