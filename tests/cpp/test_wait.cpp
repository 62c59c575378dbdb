// Waits: no mode ever returns before its deadline, and the hybrid margin stays in its bounds.
#include <gtest/gtest.h>

#include <cstdint>
#include <stdexcept>

#include "trtpace/clock.hpp"
#include "trtpace/wait.hpp"

namespace trtpace {
namespace {

class EveryMode : public ::testing::TestWithParam<WaitMode> {};

TEST_P(EveryMode, NeverReturnsBeforeTheDeadline) {
  Waiter waiter(GetParam());
  for (int i = 0; i < 200; ++i) {
    const int64_t deadline = now_ns() + 20'000 + int64_t(i % 7) * 37'000;
    waiter.wait_until(deadline);
    ASSERT_GE(now_ns(), deadline) << "wait " << i << " in mode " << to_string(GetParam());
  }
}

TEST_P(EveryMode, APastDeadlineReturnsAtOnce) {
  Waiter waiter(GetParam());
  const int64_t before = now_ns();
  waiter.wait_until(before - 1'000'000);
  waiter.wait_until(0);
  SUCCEED();
}

INSTANTIATE_TEST_SUITE_P(Modes, EveryMode, ::testing::Values(WaitMode::sleep, WaitMode::spin, WaitMode::hybrid),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(Waiter, HybridMarginIsAFloorWhenGivenAndRefusedAboveTheMaximum) {
  Waiter given(WaitMode::hybrid, 300'000);
  EXPECT_GE(given.hybrid_margin_ns(), 300'000);
  for (int i = 0; i < 20; ++i) given.wait_until(now_ns() + 1'000'000);
  EXPECT_GE(given.hybrid_margin_ns(), 300'000);  // it may widen, never shrink below the floor
  EXPECT_THROW(Waiter(WaitMode::hybrid, INT64_MAX), std::invalid_argument);
}

TEST(Wait, ParsesEveryModeByName) {
  for (WaitMode m : {WaitMode::sleep, WaitMode::spin, WaitMode::hybrid}) EXPECT_EQ(parse_wait_mode(to_string(m)), m);
  EXPECT_THROW(parse_wait_mode("nap"), std::invalid_argument);
}

}  // namespace
}  // namespace trtpace
