// The gap worker: each kind runs, its estimate follows the runs, and bad work is refused.
#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>

#include "trtpace/clock.hpp"
#include "trtpace/gap_work.hpp"

namespace trtpace {
namespace {

void spin_for(int64_t ns) {
  const int64_t start = now_ns();
  while (now_ns() - start < ns) {
  }
}

TEST(GapWorker, BusyRunsAtLeastItsLengthAndEstimatesIt) {
  GapWork w;
  w.kind = GapWorkKind::busy;
  w.busy_ns = 200'000;
  GapWorker worker(w);
  ASSERT_TRUE(worker.active());
  for (int i = 0; i < 5; ++i) EXPECT_GE(worker.run(), 200'000);
  EXPECT_GE(worker.expected_ns(), 200'000);
}

TEST(GapWorker, OneSlowRunDoesNotMoveTheEstimate) {
  // A cold or preempted run 50x longer than the rest: a mean would start the next dozens of gaps'
  // work far too early (and the gaps would end early); the median stays with the usual run.
  int calls = 0;
  GapWork w;
  w.kind = GapWorkKind::callable;
  w.fn = [&] { spin_for(++calls == 2 ? 10'000'000 : 200'000); };
  GapWorker worker(w);
  for (int i = 0; i < 4; ++i) worker.run();
  EXPECT_LT(worker.expected_ns(), 2'000'000);
  EXPECT_GE(worker.expected_ns(), 200'000);
}

TEST(GapWorker, TheEstimateFollowsADrift) {
  int64_t length = 100'000;
  GapWork w;
  w.kind = GapWorkKind::callable;
  w.fn = [&] { spin_for(length); };
  GapWorker worker(w);
  for (int i = 0; i < 20; ++i) worker.run();
  EXPECT_LT(worker.expected_ns(), 1'000'000);
  length = 2'000'000;
  for (int i = 0; i < 20; ++i) worker.run();
  EXPECT_GE(worker.expected_ns(), 2'000'000);
}

TEST(GapWorker, MemoryTouchesItsBuffer) {
  GapWork w;
  w.kind = GapWorkKind::memory;
  w.memory_bytes = size_t(4) << 20;
  GapWorker worker(w);
  EXPECT_GT(worker.run(), 0);
}

TEST(GapWorker, CallableRunsTheAppsFunctionOncePerGap) {
  std::atomic<int> calls{0};
  GapWork w;
  w.kind = GapWorkKind::callable;
  w.fn = [&] { ++calls; };
  GapWorker worker(w);
  worker.run();
  worker.run();
  EXPECT_EQ(calls.load(), 2);
}

TEST(GapWorker, AnExceptionFromTheAppsWorkPropagates) {
  GapWork w;
  w.kind = GapWorkKind::callable;
  w.fn = [] { throw std::runtime_error("decode failed"); };
  GapWorker worker(w);
  EXPECT_THROW(worker.run(), std::runtime_error);
}

TEST(GapWorker, RefusesWorkOutOfRange) {
  GapWork busy;
  busy.kind = GapWorkKind::busy;
  busy.busy_ns = 0;
  EXPECT_THROW(GapWorker{busy}, std::invalid_argument);
  busy.busy_ns = kMaxGapBusyNs + 1;
  EXPECT_THROW(GapWorker{busy}, std::invalid_argument);
  GapWork mem;
  mem.kind = GapWorkKind::memory;
  mem.memory_bytes = 8;
  EXPECT_THROW(GapWorker{mem}, std::invalid_argument);
  GapWork fn;
  fn.kind = GapWorkKind::callable;
  EXPECT_THROW(GapWorker{fn}, std::invalid_argument);
}

TEST(GapWorker, NoneIsInactive) { EXPECT_FALSE(GapWorker(GapWork{}).active()); }

}  // namespace
}  // namespace trtpace
