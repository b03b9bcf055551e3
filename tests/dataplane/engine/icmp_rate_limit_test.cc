// The ICMP error token bucket, on a clock the test drives.
#include "dataplane/engine/icmp_rate_limit.h"

#include "gtest/gtest.h"

namespace dpcni::dataplane {
namespace {

constexpr uint64_t kHz = 1'000'000;  // a 1 MHz "TSC": one tick a microsecond
constexpr uint64_t kStart = 5 * kHz;

int Allowed(IcmpRateLimit& limit, uint64_t now, int tries) {
  int allowed = 0;
  for (int i = 0; i < tries; ++i) {
    allowed += limit.Allow(now) ? 1 : 0;
  }
  return allowed;
}

TEST(IcmpRateLimitTest, StartsWithAFullBurst) {
  IcmpRateLimit limit(/*per_second=*/100, /*burst=*/50, kHz);
  EXPECT_EQ(Allowed(limit, kStart, 80), 50);
}

TEST(IcmpRateLimitTest, RefillsAtTheRate) {
  IcmpRateLimit limit(100, 50, kHz);
  ASSERT_EQ(Allowed(limit, kStart, 50), 50);
  EXPECT_FALSE(limit.Allow(kStart + 9'999));  // a token takes 10 ms
  EXPECT_TRUE(limit.Allow(kStart + 10'000));
  EXPECT_FALSE(limit.Allow(kStart + 10'000));
  // Half a second later: 50 tokens, as many as the bucket holds.
  EXPECT_EQ(Allowed(limit, kStart + 510'000, 80), 50);
}

TEST(IcmpRateLimitTest, KeepsTimeShorterThanAToken) {
  IcmpRateLimit limit(100, 1, kHz);
  ASSERT_TRUE(limit.Allow(kStart));
  // Four calls 3 ms apart: the third token's worth of time is there at 12 ms, not lost in steps.
  EXPECT_FALSE(limit.Allow(kStart + 3'000));
  EXPECT_FALSE(limit.Allow(kStart + 6'000));
  EXPECT_FALSE(limit.Allow(kStart + 9'000));
  EXPECT_TRUE(limit.Allow(kStart + 12'000));
}

TEST(IcmpRateLimitTest, SavesNoMoreThanTheBurstOverALongQuietSpell) {
  IcmpRateLimit limit(100, 5, kHz);
  ASSERT_EQ(Allowed(limit, kStart, 5), 5);
  EXPECT_EQ(Allowed(limit, kStart + 3600 * kHz, 100), 5);
}

TEST(IcmpRateLimitTest, ZeroPerSecondAllowsNothing) {
  IcmpRateLimit limit(0, 50, kHz);
  EXPECT_EQ(Allowed(limit, kStart, 10), 0);
  EXPECT_EQ(Allowed(limit, kStart + 100 * kHz, 10), 0);
}

TEST(IcmpRateLimitTest, IgnoresAClockThatStepsBack) {
  IcmpRateLimit limit(100, 1, kHz);
  ASSERT_TRUE(limit.Allow(kStart));
  EXPECT_FALSE(limit.Allow(kStart - 1'000'000));
  EXPECT_TRUE(limit.Allow(kStart + 10'000));
}

}  // namespace
}  // namespace dpcni::dataplane
