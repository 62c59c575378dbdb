#pragma once
// Waiting to an absolute deadline on the monotonic clock. No wait ever returns before its deadline.
#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "trtpace/enum_names.hpp"

namespace trtpace {

enum class WaitMode {
  sleep,   // clock_nanosleep(TIMER_ABSTIME): no CPU, wakes up late by the kernel's timer slack
  spin,    // busy-wait on the clock: one core at 100%, wakes up within ~100 ns
  hybrid,  // sleep until deadline - margin, then spin: little CPU, spin's precision
};

inline constexpr std::array<EnumName<WaitMode>, 3> kWaitModeNames{
    {{WaitMode::sleep, "sleep"}, {WaitMode::spin, "spin"}, {WaitMode::hybrid, "hybrid"}}};
inline WaitMode parse_wait_mode(const std::string& name) { return parse_enum(kWaitModeNames, name, "wait mode"); }
inline const char* to_string(WaitMode mode) noexcept { return enum_to_string(kWaitModeNames, mode); }

void sleep_until_ns(int64_t deadline_ns);
void spin_until_ns(int64_t deadline_ns);

// Waits in one mode. In hybrid mode the margin adapts: when a sleep overshoots more than half
// of it (long sleeps wake from deeper idle states and overshoot more than the short sleeps the
// margin was calibrated on), the margin widens to twice that overshoot, up to kMaxMarginNs; when a
// sleep ends with most of the margin to spare, it shrinks by 2% towards its floor: the calibrated
// margin, or the margin the caller gave. Later Waiters without a given margin start from the
// margin the last such Waiter ended with.
class Waiter {
 public:
  static constexpr int64_t kMaxMarginNs = 5'000'000;
  // hybrid_margin_ns <= 0: start from the calibrated or learned margin, whichever is wider;
  // > 0: spin at least this long before each deadline (a floor, e.g. to keep the core awake
  // longer before an inference); above kMaxMarginNs: std::invalid_argument.
  explicit Waiter(WaitMode mode, int64_t hybrid_margin_ns = 0);
  // deadline_ns >= 0 (callers outside the runner check it: a negative deadline would overflow).
  void wait_until(int64_t deadline_ns);
  WaitMode mode() const noexcept { return mode_; }
  int64_t hybrid_margin_ns() const noexcept { return margin_ns_; }

 private:
  WaitMode mode_;
  int64_t floor_ns_;  // the margin never shrinks below this
  bool given_;        // the caller chose the floor: what this Waiter learns is not shared
  int64_t margin_ns_;
};

// Hybrid margin from measured sleep overshoot on this machine: the largest overshoot of
// `samples` absolute sleeps (200 us, every tenth 2 ms), with headroom, clamped to [10 us, 2 ms]. Units: ns.
int64_t calibrate_hybrid_margin_ns(int samples = 100);
// calibrate_hybrid_margin_ns() measured once per process, on first use.
int64_t default_hybrid_margin_ns();

// Benchmark support: overshoot (actual wake-up minus deadline) of `count` waits of `wait_ns`
// each, by `method`: sleep, spin or hybrid (one Waiter for all `count` waits), or sleep_for,
// std::this_thread::sleep_for of the wait's length, as trtexec --idleTime waits. (MLPerf LoadGen
// waits with std::this_thread::sleep_until on each scheduled time: an absolute sleep, like
// `sleep`.) Returns overshoots in ns and the thread CPU time spent in ns.
struct WaitProbe {
  std::vector<int64_t> overshoot_ns;
  int64_t cpu_ns = 0;
  int64_t wall_ns = 0;
};
WaitProbe probe_waits(const std::string& method, int64_t wait_ns, int count);

}  // namespace trtpace
