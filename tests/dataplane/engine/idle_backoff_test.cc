#include "dataplane/engine/idle_backoff.h"

#include "gtest/gtest.h"

namespace dpcni::dataplane {
namespace {

using std::chrono::microseconds;

TEST(IdleBackoffTest, DoublesFromOneMicrosecondUpToTheCeiling) {
  IdleBackoff backoff(microseconds(200));
  std::vector<int64_t> sleeps;
  for (int i = 0; i < 10; ++i) {
    sleeps.push_back(backoff.NextSleep().count());
  }
  EXPECT_EQ(sleeps, (std::vector<int64_t>{1, 2, 4, 8, 16, 32, 64, 128, 200, 200}));
}

TEST(IdleBackoffTest, TrafficStartsTheBackoffOver) {
  IdleBackoff backoff(microseconds(200));
  for (int i = 0; i < 20; ++i) {
    backoff.NextSleep();
  }
  backoff.Traffic();
  EXPECT_EQ(backoff.NextSleep(), microseconds(1));
  EXPECT_EQ(backoff.NextSleep(), microseconds(2));
}

TEST(IdleBackoffTest, ZeroCeilingMeansBusyPolling) {
  EXPECT_FALSE(IdleBackoff(microseconds(0)).enabled());
  EXPECT_TRUE(IdleBackoff(microseconds(1)).enabled());
  IdleBackoff tiny(microseconds(1));
  EXPECT_EQ(tiny.NextSleep(), microseconds(1));
  EXPECT_EQ(tiny.NextSleep(), microseconds(1));
}

using Step = IdleBackoff::Step;

// Idle rounds until the backoff reaches its ceiling: 1 + 2 + ... + 128 µs of naps.
void NapUpToTheCeiling(IdleBackoff& backoff, bool ports_interrupt) {
  for (int64_t expected : {1, 2, 4, 8, 16, 32, 64, 128}) {
    ASSERT_EQ(backoff.AfterIdleRound(ports_interrupt), Step::kNap);
    ASSERT_EQ(backoff.nap(), microseconds(expected));
  }
}

TEST(IdleBackoffTest, BusyPollingNeverSleepsNorArms) {
  IdleBackoff backoff(microseconds(0));
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(backoff.AfterIdleRound(true), Step::kPoll);
  }
  EXPECT_FALSE(backoff.armed());
}

TEST(IdleBackoffTest, ArmsAtTheCeilingThenPollsOnceMoreBeforeBlocking) {
  IdleBackoff backoff(microseconds(200));
  NapUpToTheCeiling(backoff, true);
  // Arming is a step of its own: the worker polls again after it, which is what catches a packet
  // that arrived between the last poll and the arming (it raised no interrupt).
  EXPECT_EQ(backoff.AfterIdleRound(true), Step::kArm);
  EXPECT_TRUE(backoff.armed());
  EXPECT_EQ(backoff.AfterIdleRound(true), Step::kBlock);
}

TEST(IdleBackoffTest, APacketFoundByThePollAfterArmingDisarms) {
  IdleBackoff backoff(microseconds(200));
  NapUpToTheCeiling(backoff, true);
  ASSERT_EQ(backoff.AfterIdleRound(true), Step::kArm);
  // The poll after arming received something: the worker must disarm, and naps start over.
  EXPECT_TRUE(backoff.Traffic());
  EXPECT_FALSE(backoff.armed());
  EXPECT_EQ(backoff.AfterIdleRound(true), Step::kNap);
  EXPECT_EQ(backoff.nap(), microseconds(1));
}

TEST(IdleBackoffTest, TrafficWhileNotArmedAsksForNoDisarm) {
  IdleBackoff backoff(microseconds(200));
  backoff.AfterIdleRound(true);
  EXPECT_FALSE(backoff.Traffic());
}

TEST(IdleBackoffTest, AWorkerWithAPortWithoutInterruptsNeverBlocks) {
  IdleBackoff backoff(microseconds(200));
  NapUpToTheCeiling(backoff, false);
  for (int i = 0; i < 100; ++i) {
    ASSERT_EQ(backoff.AfterIdleRound(false), Step::kNap);
    ASSERT_EQ(backoff.nap(), microseconds(200));  // its wait stays bounded by the ceiling
  }
  EXPECT_FALSE(backoff.armed());
}

TEST(IdleBackoffTest, AnInterruptDisarmsAndRestartsTheShortNaps) {
  IdleBackoff backoff(microseconds(200));
  NapUpToTheCeiling(backoff, true);
  ASSERT_EQ(backoff.AfterIdleRound(true), Step::kArm);
  ASSERT_EQ(backoff.AfterIdleRound(true), Step::kBlock);
  EXPECT_TRUE(backoff.AfterBlock(/*woken=*/true));
  EXPECT_FALSE(backoff.armed());
  // net_tap may not show the packet behind the interrupt to the first poll: short naps follow.
  EXPECT_EQ(backoff.AfterIdleRound(true), Step::kNap);
  EXPECT_EQ(backoff.nap(), microseconds(1));
}

TEST(IdleBackoffTest, TheHousekeepingTickKeepsThePortsArmed) {
  IdleBackoff backoff(microseconds(200));
  NapUpToTheCeiling(backoff, true);
  ASSERT_EQ(backoff.AfterIdleRound(true), Step::kArm);
  ASSERT_EQ(backoff.AfterIdleRound(true), Step::kBlock);
  EXPECT_FALSE(backoff.AfterBlock(/*woken=*/false));
  EXPECT_TRUE(backoff.armed());
  // One housekeeping poll, then straight back to blocking: no re-arming, no naps.
  EXPECT_EQ(backoff.AfterIdleRound(true), Step::kBlock);
}

}  // namespace
}  // namespace dpcni::dataplane
