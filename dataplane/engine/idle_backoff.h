// What an idle worker does between polls: exponential backoff from a microsecond up to a ceiling,
// reset by traffic, and, once the ceiling is reached on a worker whose every port can raise an Rx
// interrupt, a blocking wait for one. Sleeping trades a little wake-up latency for not burning a
// core on an idle node; blocking on interrupts takes most of that latency back.
//
// Pure state, no DPDK: the worker carries out the steps (worker.cc), the tests drive this alone.
#pragma once

#include <algorithm>
#include <chrono>

namespace dpcni::dataplane {

class IdleBackoff {
 public:
  enum class Step {
    kPoll,   // busy-polling: poll again at once
    kNap,    // sleep nap() (a port's interrupt or the worker's wake-up may end it early)
    kArm,    // arm every port's Rx interrupt, then poll once more before blocking (see below)
    kBlock,  // armed, and that poll found nothing: wait for an interrupt or the housekeeping tick
  };

  // A zero ceiling disables sleeping: the worker busy-polls.
  explicit IdleBackoff(std::chrono::microseconds ceiling) : ceiling_(ceiling) {}

  bool enabled() const { return ceiling_.count() > 0; }

  // The sleep after one more poll round that found nothing: 1, 2, 4, ... microseconds, capped.
  std::chrono::microseconds NextSleep() {
    std::chrono::microseconds sleep = std::min(next_, ceiling_);
    next_ = std::min(sleep * 2, ceiling_);
    return sleep;
  }

  // After a poll round that found nothing. `ports_interrupt`: every port the worker polls can wake
  // it with an Rx interrupt (a port that cannot would wait unseen until the next tick, so a worker
  // holding one keeps napping, each nap at most the ceiling). While armed it may only change after
  // Traffic(): the worker calls that when it takes a new poll list while armed.
  //
  // The race between arming and a packet: a packet that arrived after the last poll but before
  // the port was armed raises no interrupt (virtio only signals while its ring asks for it). So
  // arming is its own step, and the worker polls once more after it: what came before the arming
  // is found by that poll, what comes after it raises the interrupt that ends the block.
  Step AfterIdleRound(bool ports_interrupt) {
    if (!enabled()) return Step::kPoll;
    nap_ = NextSleep();
    if (!ports_interrupt || nap_ < ceiling_) return Step::kNap;
    if (!armed_) {
      armed_ = true;
      return Step::kArm;
    }
    return Step::kBlock;
  }

  std::chrono::microseconds nap() const { return nap_; }

  // Traffic arrived: the next idle round starts again from the shortest sleep. True if the ports
  // were armed: the worker disarms them, so a busy port raises no interrupts.
  bool Traffic() {
    next_ = kShortest;
    const bool was_armed = armed_;
    armed_ = false;
    return was_armed;
  }

  // A block ended. `woken`: by an event (an interrupt, a signal or the control plane's wake-up),
  // not the tick. An event disarms (as traffic does) and restarts the backoff from the shortest
  // nap: the packet behind an interrupt may not be visible to the next poll yet (net_tap reads
  // only after its Rx signal was handled, which can lag the wake-up), and short naps find it soon.
  // After a tick the ports stay armed and the worker polls once (housekeeping), then blocks again.
  bool AfterBlock(bool woken) {
    if (!woken) return false;
    return Traffic();
  }

  bool armed() const { return armed_; }

 private:
  static constexpr std::chrono::microseconds kShortest{1};

  std::chrono::microseconds ceiling_;
  std::chrono::microseconds next_ = kShortest;
  std::chrono::microseconds nap_{0};
  bool armed_ = false;
};

}  // namespace dpcni::dataplane
