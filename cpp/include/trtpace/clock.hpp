#pragma once
// One host clock for every timestamp trtpace records.
#include <cstdint>
#include <ctime>

namespace trtpace {

// CLOCK_MONOTONIC, the clock behind Python's time.monotonic_ns(), so C++ and Python
// timestamps share one time base. Units: ns.
inline int64_t now_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// CPU time consumed by the calling thread. Units: ns.
inline int64_t thread_cpu_ns() noexcept {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return int64_t(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

// Tells the core we are busy-waiting: frees pipeline resources for the sibling hyperthread.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

// Sleeps about `ns` (at least; the kernel's timer slack may add tens of us).
inline void sleep_ns(int64_t ns) noexcept {
  if (ns <= 0) return;
  timespec ts{time_t(ns / 1'000'000'000), long(ns % 1'000'000'000)};
  nanosleep(&ts, nullptr);
}

}  // namespace trtpace
