// Schedules: due times, reproducible Poisson arrivals, and refusals of what would overflow.
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>
#include <vector>

#include "trtpace/checked.hpp"
#include "trtpace/schedule.hpp"

namespace trtpace {
namespace {

TEST(Schedule, ClosedGapIsDueAGapAfterThePreviousCompletion) {
  const Schedule s = Schedule::closed_gap(1'000);
  EXPECT_FALSE(s.open_loop());
  EXPECT_EQ(s.checked_due_ns(3, 100, 5'000), 6'000);
}

TEST(Schedule, PeriodicIsFixedInAdvance) {
  const Schedule s = Schedule::periodic(250, 4);
  ASSERT_TRUE(s.open_loop());
  ASSERT_EQ(s.capacity(), 4u);
  for (size_t i = 0; i < 4; ++i) EXPECT_EQ(s.checked_due_ns(i, 1'000, 999'999), 1'000 + int64_t(i) * 250);
  EXPECT_THROW(s.checked_due_ns(4, 0, 0), std::out_of_range);
}

TEST(Schedule, PoissonIsReproducibleFromItsSeedAndNeverDecreases) {
  const Schedule a = Schedule::poisson(1'000.0, 42, 10'000);
  const Schedule b = Schedule::poisson(1'000.0, 42, 10'000);
  const Schedule c = Schedule::poisson(1'000.0, 43, 10'000);
  EXPECT_EQ(a.offsets_ns(), b.offsets_ns());
  EXPECT_NE(a.offsets_ns(), c.offsets_ns());
  for (size_t i = 1; i < a.offsets_ns().size(); ++i) ASSERT_LE(a.offsets_ns()[i - 1], a.offsets_ns()[i]);
  // 10,000 arrivals at 1 kHz span about 10 s: the mean inter-arrival time is the rate's inverse
  const double mean_s = double(a.offsets_ns().back()) / 1e9 / 10'000;
  EXPECT_NEAR(mean_s, 1e-3, 0.1e-3);
}

TEST(Schedule, RefusesWhatWouldOverflow) {
  EXPECT_THROW(Schedule::closed_gap(-1), std::invalid_argument);
  EXPECT_THROW(Schedule::closed_gap(kMaxHorizonNs + 1), std::invalid_argument);
  EXPECT_THROW(Schedule::periodic(0, 3), std::invalid_argument);
  EXPECT_THROW(Schedule::periodic(kMaxHorizonNs, 3), std::invalid_argument);
  EXPECT_THROW(Schedule::periodic(1, kMaxInferences + 1), std::invalid_argument);
  EXPECT_THROW(Schedule::poisson(0.0, 1, 3), std::invalid_argument);
  EXPECT_THROW(Schedule::poisson(1e-12, 1, 3), std::invalid_argument);
  EXPECT_THROW(Schedule::trace({}), std::invalid_argument);
  EXPECT_THROW(Schedule::trace({5, 3}), std::invalid_argument);
  EXPECT_THROW(Schedule::trace({-1}), std::invalid_argument);
}

}  // namespace
}  // namespace trtpace
