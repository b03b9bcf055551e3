#include "dataplane/engine/poll_schedule.h"

#include <algorithm>
#include <set>
#include <vector>

#include "gtest/gtest.h"

namespace dpcni::dataplane {
namespace {

constexpr uint64_t kIdleAfter = 100;  // ticks; each round below is one tick unless said otherwise
constexpr size_t kManyPorts = 500;
// Port ids differ from positions, as they do in a worker's poll list.
constexpr uint16_t kFirstPortId = 20;
constexpr uint16_t kBusyA = kFirstPortId + 7;
constexpr uint16_t kBusyB = kFirstPortId + 300;

size_t RoundsPerSweepCycle(size_t idle_ports) {
  return (idle_ports + kSweepWidth - 1) / kSweepWidth;
}

// A worker's view of its node: the published poll list, which ports always have packets (busy),
// which have one packet waiting, and a clock.
class PollScheduleTest : public ::testing::Test {
 protected:
  // Publishes a poll list of `port_ids`, in that order: ports not in the previous list are attached
  // in this list's generation. The schedule adopts it on the next round, as the worker does.
  void Publish(const std::vector<uint16_t>& port_ids) {
    ++generation_;
    std::vector<ScheduledPort> list;
    for (uint16_t port_id : port_ids) {
      auto carried = std::find_if(list_.begin(), list_.end(), [&](const ScheduledPort& port) {
        return port.port_id == port_id;
      });
      list.push_back(carried != list_.end()
                         ? *carried
                         : ScheduledPort{.port_id = port_id, .since_generation = generation_});
    }
    list_ = std::move(list);
  }

  static std::vector<uint16_t> ManyPortIds() {
    std::vector<uint16_t> port_ids;
    for (size_t i = 0; i < kManyPorts; ++i) {
      port_ids.push_back(static_cast<uint16_t>(kFirstPortId + i));
    }
    return port_ids;
  }

  // One round `ticks` after the previous one; returns the port ids it polled.
  std::vector<uint16_t> Round(uint64_t ticks = 1) {
    now_ += ticks;
    if (schedule_.generation() != generation_) {
      schedule_.Adopt(generation_, list_, now_);
    }
    std::vector<uint16_t> polled;
    PollSchedule::RoundResult result = schedule_.Round(now_, [&](size_t position) {
      const uint16_t port_id = list_.at(position).port_id;
      polled.push_back(port_id);
      return busy_.contains(port_id) || waiting_.erase(port_id) == 1;
    });
    EXPECT_EQ(result.polled, polled.size());
    EXPECT_EQ(std::set<uint16_t>(polled.begin(), polled.end()).size(), polled.size())
        << "a port polled twice in one round";
    return polled;
  }

  static bool Polled(const std::vector<uint16_t>& round, uint16_t port_id) {
    return std::find(round.begin(), round.end(), port_id) != round.end();
  }

  // The 500-port node with A and B busy, run until every other port has gone idle.
  void WarmUpTwoBusyOfMany() {
    busy_ = {kBusyA, kBusyB};
    Publish(ManyPortIds());
    for (uint64_t i = 0; i <= kIdleAfter + 1; ++i) {
      Round();
    }
    ASSERT_EQ(schedule_.active_ports(), 2u);
  }

  PollSchedule schedule_{kIdleAfter};
  uint64_t now_ = 1'000'000;
  uint64_t generation_ = 0;
  std::vector<ScheduledPort> list_;
  std::set<uint16_t> busy_;
  std::set<uint16_t> waiting_;
};

TEST_F(PollScheduleTest, ABusyRoundPollsTheBusyPortsAndOneSweepOfIdleOnes) {
  WarmUpTwoBusyOfMany();
  for (int i = 0; i < 1000; ++i) {
    std::vector<uint16_t> round = Round();
    ASSERT_LE(round.size(), 2 + kSweepWidth);
    ASSERT_TRUE(Polled(round, kBusyA));
    ASSERT_TRUE(Polled(round, kBusyB));
  }
}

TEST_F(PollScheduleTest, AnIdlePortThatReceivesIsPolledWithinOneSweepCycle) {
  WarmUpTwoBusyOfMany();
  const size_t bound = RoundsPerSweepCycle(kManyPorts - 2);
  for (uint16_t port_id : ManyPortIds()) {
    if (busy_.contains(port_id)) {
      continue;
    }
    SCOPED_TRACE(port_id);
    waiting_ = {port_id};
    size_t rounds = 1;
    while (!Polled(Round(), port_id)) {
      ++rounds;
      ASSERT_LE(rounds, bound);
    }
    // It received: polled every round from now on, until it has been quiet for kIdleAfter.
    ASSERT_TRUE(Polled(Round(), port_id));
    ASSERT_EQ(schedule_.active_ports(), 3u);
    for (uint64_t i = 0; i < kIdleAfter && schedule_.active_ports() == 3; ++i) {
      ASSERT_TRUE(Polled(Round(), port_id));
    }
    Round();
    ASSERT_EQ(schedule_.active_ports(), 2u);
  }
}

TEST_F(PollScheduleTest, ANewPortIsPolledInTheFirstRoundAfterPublication) {
  WarmUpTwoBusyOfMany();
  std::vector<uint16_t> port_ids = ManyPortIds();
  port_ids.push_back(900);
  Publish(port_ids);
  std::vector<uint16_t> round = Round();
  EXPECT_TRUE(Polled(round, 900));
  // The ports carried over kept their state: the idle ones are still only swept.
  EXPECT_LE(round.size(), 3 + kSweepWidth);
}

TEST_F(PollScheduleTest, APortReattachedInListsTheWorkerSkippedIsNew) {
  WarmUpTwoBusyOfMany();
  constexpr uint16_t kReattached = kFirstPortId + 50;  // idle now
  std::vector<uint16_t> port_ids = ManyPortIds();
  std::erase(port_ids, kReattached);
  Publish(port_ids);
  // Another pod takes the port id before the worker looks at the poll list again.
  port_ids.push_back(kReattached);
  Publish(port_ids);
  EXPECT_TRUE(Polled(Round(), kReattached));
}

TEST_F(PollScheduleTest, ARemovedPortIsNeverPolledAgain) {
  WarmUpTwoBusyOfMany();
  constexpr uint16_t kRemovedIdle = kFirstPortId + 40;
  std::vector<uint16_t> port_ids = ManyPortIds();
  std::erase(port_ids, kBusyA);
  std::erase(port_ids, kRemovedIdle);
  Publish(port_ids);
  waiting_ = {kRemovedIdle};
  // Many sweep cycles, with and without traffic (busy rounds and full ones).
  for (int i = 0; i < 1000; ++i) {
    std::vector<uint16_t> round = Round();
    ASSERT_FALSE(Polled(round, kBusyA));
    ASSERT_FALSE(Polled(round, kRemovedIdle));
    ASSERT_TRUE(Polled(round, kBusyB));
  }
  busy_.clear();
  for (int i = 0; i < 300; ++i) {
    std::vector<uint16_t> round = Round();
    ASSERT_FALSE(Polled(round, kBusyA));
    ASSERT_FALSE(Polled(round, kRemovedIdle));
  }
}

TEST_F(PollScheduleTest, WithNoActivePortEveryRoundPollsEveryPort) {
  Publish(ManyPortIds());
  for (uint64_t i = 0; i <= kIdleAfter + 1; ++i) {
    Round();
  }
  ASSERT_EQ(schedule_.active_ports(), 0u);
  for (int i = 0; i < 10; ++i) {
    std::vector<uint16_t> round = Round(1000);  // a sleeping worker: rounds far apart
    std::sort(round.begin(), round.end());
    ASSERT_EQ(round, ManyPortIds());
  }
}

TEST_F(PollScheduleTest, ARoundAfterOneThatReceivedNothingPollsEveryPort) {
  WarmUpTwoBusyOfMany();
  // A and B fall quiet: still active for kIdleAfter, but the worker has nothing else to do.
  busy_.clear();
  std::vector<uint16_t> busy_round = Round();  // finds nothing
  EXPECT_LE(busy_round.size(), 2 + kSweepWidth);
  EXPECT_EQ(Round().size(), kManyPorts);
  EXPECT_EQ(schedule_.active_ports(), 2u);
}

TEST_F(PollScheduleTest, AnActivePortGoesIdleAfterQuietTimeNotRounds) {
  WarmUpTwoBusyOfMany();
  busy_ = {kBusyB};  // A falls quiet, B keeps the rounds busy
  // Rounds a tick apart: A stays polled every round until kIdleAfter ticks have passed.
  for (uint64_t tick = 1; tick <= kIdleAfter; ++tick) {
    ASSERT_TRUE(Polled(Round(), kBusyA)) << tick;
  }
  Round();
  EXPECT_EQ(schedule_.active_ports(), 1u);

  // Rounds far apart: A quiet for two of them is quiet for longer than kIdleAfter.
  busy_ = {kBusyA, kBusyB};
  waiting_ = {};
  while (schedule_.active_ports() != 2) {
    Round();
  }
  busy_ = {kBusyB};
  Round(kIdleAfter / 2 + 1);
  EXPECT_EQ(schedule_.active_ports(), 2u);
  Round(kIdleAfter / 2 + 1);
  EXPECT_EQ(schedule_.active_ports(), 1u);
}

TEST_F(PollScheduleTest, EveryPortIsPolledWhileFewPortsAreListed) {
  busy_ = {kBusyA};
  Publish({kBusyA, kFirstPortId, kFirstPortId + 1});
  for (uint64_t i = 0; i <= kIdleAfter + 1; ++i) {
    Round();
  }
  // Fewer idle ports than a sweep takes: each round polls them all, once.
  for (int i = 0; i < 10; ++i) {
    std::vector<uint16_t> round = Round();
    std::sort(round.begin(), round.end());
    ASSERT_EQ(round, (std::vector<uint16_t>{kFirstPortId, kFirstPortId + 1, kBusyA}));
  }
}

}  // namespace
}  // namespace dpcni::dataplane
