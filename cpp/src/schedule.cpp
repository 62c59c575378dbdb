#include "trtpace/schedule.hpp"

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>

namespace trtpace {

Schedule Schedule::closed_gap(int64_t gap_ns) {
  if (gap_ns < 0) throw std::invalid_argument("gap must be >= 0, got " + std::to_string(gap_ns) + " ns");
  Schedule s;
  s.gap_ns_ = gap_ns;
  s.label_ = "gap " + std::to_string(gap_ns) + " ns";
  return s;
}

Schedule Schedule::periodic(int64_t period_ns, size_t count) {
  if (period_ns <= 0) throw std::invalid_argument("period must be > 0 ns");
  Schedule s;
  s.open_loop_ = true;
  s.offsets_ns_.resize(count);
  for (size_t i = 0; i < count; ++i) s.offsets_ns_[i] = int64_t(i) * period_ns;
  s.label_ = "period " + std::to_string(period_ns) + " ns";
  return s;
}

Schedule Schedule::poisson(double rate_hz, uint64_t seed, size_t count) {
  if (!(rate_hz > 0.0) || !std::isfinite(rate_hz)) throw std::invalid_argument("rate must be a finite number > 0 Hz");
  Schedule s;
  s.open_loop_ = true;
  s.offsets_ns_.resize(count);
  // mt19937_64 and the inversion below are fully specified, so a seed gives the same arrivals
  // on every platform (std::exponential_distribution is not).
  std::mt19937_64 rng(seed);
  double t_s = 0.0;
  for (size_t i = 0; i < count; ++i) {
    s.offsets_ns_[i] = int64_t(std::llround(t_s * 1e9));
    const double u = (double(rng() >> 11) + 0.5) * 0x1.0p-53;  // uniform in (0, 1)
    t_s += -std::log(u) / rate_hz;
  }
  s.label_ = "poisson " + std::to_string(rate_hz) + " Hz seed " + std::to_string(seed);
  return s;
}

Schedule Schedule::trace(std::vector<int64_t> offsets_ns) {
  if (offsets_ns.empty()) throw std::invalid_argument("a trace needs at least one due time");
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

std::string Schedule::describe() const { return label_; }

}  // namespace trtpace
