#include "trtpace/checked.hpp"

#include <cmath>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace trtpace {
namespace {
std::string number(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}
}  // namespace

int64_t checked_ns(double value, double ns_per_unit, const char* what, int64_t min_ns, int64_t max_ns) {
  const double ns = value * ns_per_unit;
  // The comparisons are false for NaN, so NaN is rejected with the rest.
  if (!(std::isfinite(ns) && ns >= double(min_ns) && ns <= double(max_ns)))
    throw std::invalid_argument(std::string(what) + " must be a finite number in [" +
                                number(double(min_ns) / ns_per_unit) + ", " + number(double(max_ns) / ns_per_unit) +
                                "], got " + number(value));
  return std::llround(ns);
}

void check_ns_range(int64_t value_ns, const char* what, int64_t min_ns, int64_t max_ns) {
  if (value_ns < min_ns || value_ns > max_ns)
    throw std::invalid_argument(std::string(what) + " must be in [" + std::to_string(min_ns) + ", " +
                                std::to_string(max_ns) + "] ns, got " + std::to_string(value_ns));
}

}  // namespace trtpace
