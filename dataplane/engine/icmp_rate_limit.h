// How many ICMP errors one worker may send: a token bucket on the TSC. Without a limit, a flood of
// packets with TTL 1 (or of oversized ones with DF) would have the engine answer each one, and a
// forged source address would turn it into an amplifier aimed at someone else.
#pragma once

#include <algorithm>
#include <cstdint>

namespace dpcni::dataplane {

class IcmpRateLimit {
 public:
  // `per_second` tokens a second, at most `burst` saved up, on a clock of `hz` ticks a second (the
  // TSC's). The bucket starts full. per_second = 0 allows nothing.
  IcmpRateLimit(uint32_t per_second, uint32_t burst, uint64_t hz)
      : ticks_per_token_(per_second == 0 ? 0 : std::max<uint64_t>(hz / per_second, 1)),
        capacity_(ticks_per_token_ * burst),
        credit_(capacity_) {}

  // Takes a token at `now` (ticks, never going backwards on one worker); false when none is left.
  bool Allow(uint64_t now) {
    if (ticks_per_token_ == 0) {
      return false;
    }
    if (now > last_) {
      // Saturating: a long quiet spell fills the bucket, never more.
      credit_ = std::min(capacity_, credit_ + std::min(now - last_, capacity_));
      last_ = now;
    }
    if (credit_ < ticks_per_token_) {
      return false;
    }
    credit_ -= ticks_per_token_;
    return true;
  }

 private:
  // The credit is kept in clock ticks rather than whole tokens, so that time between two calls
  // shorter than one token's worth is not lost.
  uint64_t ticks_per_token_;
  uint64_t capacity_;
  uint64_t credit_;
  uint64_t last_ = 0;
};

}  // namespace dpcni::dataplane
