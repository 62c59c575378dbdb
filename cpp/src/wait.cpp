#include "trtpace/wait.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <ctime>
#include <stdexcept>
#include <string>
#include <thread>

#include "trtpace/checked.hpp"
#include "trtpace/clock.hpp"

namespace trtpace {

void sleep_until_ns(int64_t deadline_ns) {
  timespec ts{time_t(deadline_ns / 1'000'000'000), long(deadline_ns % 1'000'000'000)};
  // EINTR (a signal) ends the sleep early: go back to sleep until the deadline has truly passed.
  while (now_ns() < deadline_ns) {
    const int rc = clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    if (rc != 0 && rc != EINTR) break;
  }
  spin_until_ns(deadline_ns);
}

void spin_until_ns(int64_t deadline_ns) {
  while (now_ns() < deadline_ns) cpu_relax();
}

namespace {
// The margin the last hybrid Waiter of this process ended with, so that a new Waiter (a new
// condition) starts from it instead of missing its first long sleep again.
std::atomic<int64_t> g_learned_margin_ns{0};
}  // namespace

Waiter::Waiter(WaitMode mode, int64_t hybrid_margin_ns)
    : mode_(mode), floor_ns_(0), given_(hybrid_margin_ns > 0), margin_ns_(hybrid_margin_ns) {
  if (hybrid_margin_ns > kMaxMarginNs)
    throw std::invalid_argument("hybrid margin must be at most " + std::to_string(kMaxMarginNs) + " ns, got " +
                                std::to_string(hybrid_margin_ns));
  if (mode != WaitMode::hybrid) return;
  floor_ns_ = given_ ? hybrid_margin_ns : default_hybrid_margin_ns();
  if (!given_) margin_ns_ = std::max(floor_ns_, g_learned_margin_ns.load(std::memory_order_relaxed));
}

void Waiter::wait_until(int64_t deadline_ns) {
  switch (mode_) {
    case WaitMode::sleep:
      sleep_until_ns(deadline_ns);
      return;
    case WaitMode::spin:
      spin_until_ns(deadline_ns);
      return;
    case WaitMode::hybrid:
      break;
  }
  const int64_t wake_ns = deadline_ns - margin_ns_;
  if (wake_ns > now_ns()) {
    sleep_until_ns(wake_ns);
    const int64_t late_ns = now_ns() - wake_ns;
    if (late_ns > margin_ns_ / 2) {
      margin_ns_ = std::min(2 * late_ns, kMaxMarginNs);
    } else if (late_ns < margin_ns_ / 4) {
      // On time with room to spare: give back 2% per wait, down to the floor, so one
      // outlier does not leave the margin (and its spinning) wide for the rest of the process.
      margin_ns_ = std::max(floor_ns_, margin_ns_ - margin_ns_ / 50);
    }
    if (!given_) g_learned_margin_ns.store(margin_ns_, std::memory_order_relaxed);
  }
  spin_until_ns(deadline_ns);
}

int64_t calibrate_hybrid_margin_ns(int samples) {
  int64_t worst = 0;
  for (int i = 0; i < std::max(samples, 1); ++i) {
    // Mostly short sleeps, one in ten longer: longer sleeps reach deeper idle states and
    // overshoot more.
    const int64_t deadline = now_ns() + (i % 10 == 9 ? 2'000'000 : 200'000);
    timespec ts{time_t(deadline / 1'000'000'000), long(deadline % 1'000'000'000)};
    clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nullptr);
    worst = std::max(worst, now_ns() - deadline);
  }
  // Headroom over the worst overshoot seen: a sleep that overshoots the margin makes the
  // inference late, while a margin that is too large only costs a little spinning.
  return std::clamp<int64_t>(worst + worst / 2 + 5'000, 10'000, 2'000'000);
}

int64_t default_hybrid_margin_ns() {
  static const int64_t margin = calibrate_hybrid_margin_ns();
  return margin;
}

WaitProbe probe_waits(const std::string& method, int64_t wait_ns, int count) {
  if (count <= 0) throw std::invalid_argument("probe_waits needs count > 0");
  check_ns_range(wait_ns, "probe_waits wait_ns");
  const bool use_sleep_for = method == "sleep_for";
  Waiter waiter(use_sleep_for ? WaitMode::sleep : parse_wait_mode(method));
  WaitProbe probe;
  probe.overshoot_ns.reserve(size_t(count));
  const int64_t cpu0 = thread_cpu_ns(), wall0 = now_ns();
  for (int i = 0; i < count; ++i) {
    const int64_t deadline = now_ns() + wait_ns;
    if (use_sleep_for)
      std::this_thread::sleep_for(std::chrono::nanoseconds(wait_ns));
    else
      waiter.wait_until(deadline);
    probe.overshoot_ns.push_back(now_ns() - deadline);
  }
  probe.cpu_ns = thread_cpu_ns() - cpu0;
  probe.wall_ns = now_ns() - wall0;
  return probe;
}

}  // namespace trtpace
