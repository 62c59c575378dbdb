#pragma once
// When each inference is due: closed loop (a gap after the previous completion) or open loop
// (a due time fixed in advance, as MLPerf LoadGen does, so a late issue shows in the latency).
#include <climits>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace trtpace {

// Factories throw std::invalid_argument for a schedule whose last due time would lie more than
// kMaxHorizonNs (10 years) after t0, or that holds more than kMaxInferences due times.
class Schedule {
 public:
  // Idle `gap_ns` from observed completion of inference i to the issue of inference i+1.
  static Schedule closed_gap(int64_t gap_ns);
  // Inference i due at t0 + i * period_ns.
  static Schedule periodic(int64_t period_ns, size_t count);
  // Poisson arrivals at `rate_hz` (exponential inter-arrival times), reproducible from `seed`;
  // the first inference is due at t0.
  static Schedule poisson(double rate_hz, uint64_t seed, size_t count);
  // Inference i due at t0 + offsets_ns[i]; offsets must be non-negative and non-decreasing.
  static Schedule trace(std::vector<int64_t> offsets_ns);

  bool open_loop() const noexcept { return open_loop_; }
  int64_t gap_ns() const noexcept { return gap_ns_; }
  // How many inferences an open-loop schedule defines (unbounded for closed loop).
  size_t capacity() const noexcept;
  const std::vector<int64_t>& offsets_ns() const noexcept { return offsets_ns_; }
  std::string describe() const;

  // Due time of inference i, given the run's start and the previous inference's completion.
  // Unchecked, for the runner's loop: i < capacity() and monotonic-clock times.
  int64_t due_ns(size_t i, int64_t t0_ns, int64_t prev_done_ns) const noexcept {
    if (open_loop_) return t0_ns + offsets_ns_[i];
    return i == 0 ? t0_ns : prev_done_ns + gap_ns_;
  }
  // due_ns for callers outside the loop: std::out_of_range for i >= capacity(),
  // std::invalid_argument for times outside [0, kMaxTimeNs].
  static constexpr int64_t kMaxTimeNs = INT64_MAX / 2;
  int64_t checked_due_ns(size_t i, int64_t t0_ns, int64_t prev_done_ns) const;

 private:
  bool open_loop_ = false;
  int64_t gap_ns_ = 0;
  std::vector<int64_t> offsets_ns_;
  std::string label_;
};

}  // namespace trtpace
