#include "trtpace/schedule.hpp"

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

#include "trtpace/checked.hpp"

namespace trtpace {

namespace {
void check_count(size_t count) {
  if (count > kMaxInferences)
    throw std::invalid_argument("a schedule holds at most " + std::to_string(kMaxInferences) +
                                " due times, asked for " + std::to_string(count));
}

[[noreturn]] void throw_horizon(const std::string& what) {
  throw std::invalid_argument(what + " would be due more than 10 years (" + std::to_string(kMaxHorizonNs) +
                              " ns) after the start");
}
}  // namespace

Schedule Schedule::closed_gap(int64_t gap_ns) {
  if (gap_ns < 0) throw std::invalid_argument("gap must be >= 0, got " + std::to_string(gap_ns) + " ns");
  if (gap_ns > kMaxHorizonNs)
    throw std::invalid_argument("gap must be at most 10 years (" + std::to_string(kMaxHorizonNs) + " ns), got " +
                                std::to_string(gap_ns) + " ns");
  Schedule s;
  s.gap_ns_ = gap_ns;
  s.label_ = "gap " + std::to_string(gap_ns) + " ns";
  return s;
}

Schedule Schedule::periodic(int64_t period_ns, size_t count) {
  if (period_ns <= 0) throw std::invalid_argument("period must be > 0 ns");
  check_count(count);
  // (count - 1) * period_ns, compared by division so the check itself cannot overflow.
  if (count > 1 && period_ns > kMaxHorizonNs / int64_t(count - 1))
    throw_horizon("the last of " + std::to_string(count) + " inferences every " + std::to_string(period_ns) + " ns");
  Schedule s;
  s.open_loop_ = true;
  s.offsets_ns_.resize(count);
  for (size_t i = 0; i < count; ++i) s.offsets_ns_[i] = int64_t(i) * period_ns;
  s.label_ = "period " + std::to_string(period_ns) + " ns";
  return s;
}

Schedule Schedule::poisson(double rate_hz, uint64_t seed, size_t count) {
  if (!(rate_hz > 0.0) || !std::isfinite(rate_hz)) throw std::invalid_argument("rate must be a finite number > 0 Hz");
  check_count(count);
  Schedule s;
  s.open_loop_ = true;
  s.offsets_ns_.resize(count);
  // mt19937_64 and the inversion below are fully specified, so a seed gives the same arrivals
  // on every platform (std::exponential_distribution is not).
  std::mt19937_64 rng(seed);
  double t_s = 0.0;
  for (size_t i = 0; i < count; ++i) {
    // Checked before the conversion: past int64's range llround is undefined.
    if (!(t_s * 1e9 <= double(kMaxHorizonNs)))
      throw_horizon("inference " + std::to_string(i) + " of a Poisson schedule at " + std::to_string(rate_hz) + " Hz");
    s.offsets_ns_[i] = int64_t(std::llround(t_s * 1e9));
    const double u = (double(rng() >> 11) + 0.5) * 0x1.0p-53;  // uniform in (0, 1)
    t_s += -std::log(u) / rate_hz;
  }
  s.label_ = "poisson " + std::to_string(rate_hz) + " Hz seed " + std::to_string(seed);
  return s;
}

Schedule Schedule::trace(std::vector<int64_t> offsets_ns) {
  if (offsets_ns.empty()) throw std::invalid_argument("a trace needs at least one due time");
  check_count(offsets_ns.size());
  if (offsets_ns.back() > kMaxHorizonNs) throw_horizon("the last entry of the trace");
  for (size_t i = 0; i < offsets_ns.size(); ++i) {
    if (offsets_ns[i] < 0) throw std::invalid_argument("trace due times must be >= 0");
    if (i && offsets_ns[i] < offsets_ns[i - 1])
      throw std::invalid_argument("trace due times must not decrease (entry " + std::to_string(i) + ")");
  }
  Schedule s;
  s.open_loop_ = true;
  s.offsets_ns_ = std::move(offsets_ns);
  s.label_ = "trace of " + std::to_string(s.offsets_ns_.size());
  return s;
}

size_t Schedule::capacity() const noexcept {
  return open_loop_ ? offsets_ns_.size() : std::numeric_limits<size_t>::max();
}

int64_t Schedule::checked_due_ns(size_t i, int64_t t0_ns, int64_t prev_done_ns) const {
  if (i >= capacity())
    throw std::out_of_range("inference " + std::to_string(i) + " is past the schedule's " + std::to_string(capacity()) +
                            " due times");
  check_ns_range(t0_ns, "t0_ns", 0, kMaxTimeNs);
  check_ns_range(prev_done_ns, "prev_done_ns", 0, kMaxTimeNs);
  return due_ns(i, t0_ns, prev_done_ns);
}

std::string Schedule::describe() const { return label_; }

}  // namespace trtpace
