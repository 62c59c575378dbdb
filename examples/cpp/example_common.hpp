#pragma once
// What the example programs share: command-line numbers and the median latency of a run.
#include <algorithm>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <vector>

#include "trtpace/runner.hpp"

// argv[i] as a number >= 0, or `fallback` when there are fewer arguments.
inline double arg(int argc, char** argv, int i, double fallback) {
  if (argc <= i) return fallback;
  char* end = nullptr;
  const double v = std::strtod(argv[i], &end);
  if (end == argv[i] || *end != '\0' || v < 0)
    throw std::invalid_argument(std::string("not a number >= 0: ") + argv[i]);
  return v;
}

// Median end-to-end latency (issue to observed completion) of a finished run's measured
// inferences, and how many there were. Units: us.
struct MedianE2e {
  double p50_us;
  size_t count;
};
inline MedianE2e median_e2e(const trtpace::Runner& runner) {
  const trtpace::Records& r = runner.records();
  std::vector<double> e2e_us;
  for (size_t i = runner.config().warmup; i < runner.completed(); ++i)
    e2e_us.push_back(double(r.done_ns[i] - r.issue_ns[i]) / 1e3);
  if (e2e_us.empty()) throw std::runtime_error("no inference completed");
  std::nth_element(e2e_us.begin(), e2e_us.begin() + e2e_us.size() / 2, e2e_us.end());
  return {e2e_us[e2e_us.size() / 2], e2e_us.size()};
}
