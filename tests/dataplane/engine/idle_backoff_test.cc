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
  backoff.Reset();
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

}  // namespace
}  // namespace dpcni::dataplane
