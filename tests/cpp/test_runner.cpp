// The paced runner driving a host workload (no GPU): records in order, stops on request from
// another thread (TSan checks the handshake), and keeps the rows completed before a failure.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include "trtpace/clock.hpp"
#include "trtpace/errors.hpp"
#include "trtpace/gap_work.hpp"
#include "trtpace/runner.hpp"
#include "trtpace/workload.hpp"

namespace trtpace {
namespace {

RunConfig config(Schedule schedule, size_t iterations, WaitMode wait = WaitMode::hybrid) {
  RunConfig c;
  c.schedule = std::move(schedule);
  c.iterations = iterations;
  c.warmup = 2;
  c.wait = wait;
  return c;
}

void expect_ordered(const Records& r, size_t n) {
  for (size_t i = 0; i < n; ++i) {
    EXPECT_GE(r.issue_ns[i], r.due_ns[i]) << i;  // never issued before it was due
    EXPECT_GE(r.submitted_ns[i], r.issue_ns[i]) << i;
    EXPECT_GE(r.done_ns[i], r.submitted_ns[i]) << i;
    EXPECT_GE(r.device_us[i], 20.0) << i;  // the host workload busy-waits 20 us
    if (i > 0) {
      EXPECT_GE(r.due_ns[i], r.done_ns[i - 1]) << i;  // closed loop: after the previous one
    }
  }
}

class EveryWait : public ::testing::TestWithParam<WaitMode> {};

TEST_P(EveryWait, ClosedLoopRecordsEveryInferenceInOrder) {
  Runner runner(std::make_shared<HostWorkload>(20.0), config(Schedule::closed_gap(200'000), 30, GetParam()));
  runner.run();
  ASSERT_EQ(runner.completed(), runner.total());
  expect_ordered(runner.records(), runner.total());
  EXPECT_GT(runner.cpu_ns(), 0);
}

INSTANTIATE_TEST_SUITE_P(Modes, EveryWait, ::testing::Values(WaitMode::sleep, WaitMode::spin, WaitMode::hybrid),
                         [](const auto& info) { return std::string(to_string(info.param)); });

TEST(Runner, OpenLoopIsDueOnItsSchedule) {
  Runner runner(std::make_shared<HostWorkload>(20.0), config(Schedule::periodic(300'000, 22), 20));
  runner.run();
  const Records& r = runner.records();
  ASSERT_EQ(runner.completed(), 22u);
  for (size_t i = 1; i < 22; ++i) EXPECT_EQ(r.due_ns[i] - r.due_ns[i - 1], 300'000);
}

TEST(Runner, AStopFromAnotherThreadEndsALongGap) {
  // A one-hour gap: only the stop request can end this run.
  Runner runner(std::make_shared<HostWorkload>(20.0), config(Schedule::closed_gap(3'600'000'000'000), 5));
  std::thread stopper([&] {
    while (runner.completed() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    runner.request_stop();
  });
  runner.run();
  stopper.join();
  EXPECT_TRUE(runner.stop_requested());
  EXPECT_EQ(runner.completed(), 1u);  // the first ran at once; the second was never issued
}

TEST(Runner, AStopBeforeTheRunMakesItReturnWithNoRecords) {
  Runner runner(std::make_shared<HostWorkload>(20.0), config(Schedule::closed_gap(0), 5));
  runner.request_stop();
  runner.run();
  EXPECT_EQ(runner.completed(), 0u);
}

TEST(Runner, AFailedWaitPropagatesAndKeepsTheRowsBeforeIt) {
  auto work = std::make_shared<HostWorkload>(20.0);
  work->inject_fault(FaultPoint::wait, 6);
  Runner runner(work, config(Schedule::closed_gap(100'000), 10));
  EXPECT_THROW(runner.run(), TrtpaceError);
  ASSERT_EQ(runner.completed(), 5u);
  expect_ordered(runner.records(), 5);
}

TEST(Runner, GapWorkEndsWhenTheInferenceIsIssued) {
  RunConfig c = config(Schedule::closed_gap(2'000'000), 10);
  c.gap_work.kind = GapWorkKind::busy;
  c.gap_work.busy_ns = 500'000;
  Runner runner(std::make_shared<HostWorkload>(20.0), c);
  runner.run();
  const Records& r = runner.records();
  for (size_t i = 0; i < runner.total(); ++i) EXPECT_GE(r.gap_work_ns[i], 500'000) << i;
}

TEST(Runner, RefusesRemediesAndArmingForAHostWorkload) {
  RunConfig warm = config(Schedule::closed_gap(1'000'000), 3);
  warm.keepwarm_period_ns = 1'000'000;
  warm.keepwarm_work_ns = 10'000;
  EXPECT_THROW(Runner(std::make_shared<HostWorkload>(20.0), warm), std::invalid_argument);
  RunConfig armed = config(Schedule::closed_gap(1'000'000), 3);
  armed.armed = true;
  EXPECT_THROW(Runner(std::make_shared<HostWorkload>(20.0), armed), std::invalid_argument);
  EXPECT_THROW(Runner(std::make_shared<HostWorkload>(20.0), config(Schedule::closed_gap(0), 0)), std::invalid_argument);
}

TEST(HostWorkload, RefusesABusyTimeThatCannotBeConverted) {
  EXPECT_THROW(HostWorkload(std::nan("")), std::invalid_argument);
  EXPECT_THROW(HostWorkload(-1.0), std::invalid_argument);
  EXPECT_THROW(HostWorkload(HostWorkload::kMaxBusyUs * 2), std::invalid_argument);
}

TEST(Runner, WhatTheGapWorkHoldsStaysHeldUntilTheLaunch) {
  // For Python gap work the hold is the GIL: taken before the work, given back after the launch
  // (submitted stamped), never between the work and the launch.
  std::vector<int64_t> held, let_go, worked;
  RunConfig c = config(Schedule::closed_gap(300'000), 10);
  c.gap_work.kind = GapWorkKind::callable;
  c.gap_work.fn = [&] { worked.push_back(now_ns()); };
  c.gap_work.hold = [&] { held.push_back(now_ns()); };
  c.gap_work.let_go = [&] { let_go.push_back(now_ns()); };
  Runner runner(std::make_shared<HostWorkload>(20.0), c);
  runner.run();
  const Records& r = runner.records();
  const size_t n = runner.total();
  ASSERT_EQ(runner.completed(), n);
  // the worker's own warm-up runs (2) come before the loop and hold nothing
  ASSERT_EQ(worked.size(), n + 2);
  ASSERT_EQ(held.size(), n);
  ASSERT_EQ(let_go.size(), n);
  for (size_t i = 0; i < n; ++i) {
    EXPECT_LE(held[i], worked[i + 2]) << i;
    EXPECT_LE(worked[i + 2], r.issue_ns[i]) << i;
    EXPECT_GE(let_go[i], r.submitted_ns[i]) << i;
    EXPECT_LE(let_go[i], r.done_ns[i]) << i;
  }
}

TEST(Runner, AFailedLaunchStillGivesBackWhatTheGapWorkHolds) {
  int held = 0, let_go = 0;
  RunConfig c = config(Schedule::closed_gap(100'000), 10);
  c.gap_work.kind = GapWorkKind::callable;
  c.gap_work.fn = [] {};
  c.gap_work.hold = [&] { ++held; };
  c.gap_work.let_go = [&] { ++let_go; };
  auto w = std::make_shared<HostWorkload>(20.0);
  w->inject_fault(FaultPoint::launch, 5);
  Runner runner(w, c);
  EXPECT_ANY_THROW(runner.run());
  EXPECT_GT(held, 0);
  EXPECT_EQ(held, let_go);
}

TEST(GapWorker, RefusesAHoldWithoutALetGo) {
  GapWork w;
  w.kind = GapWorkKind::callable;
  w.fn = [] {};
  w.hold = [] {};
  EXPECT_THROW(GapWorker{w}, std::invalid_argument);
}

}  // namespace
}  // namespace trtpace
