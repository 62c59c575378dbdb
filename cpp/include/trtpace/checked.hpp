#pragma once
// Limits on the numbers callers pass in, checked before any conversion or arithmetic: turning a
// NaN, infinite or out-of-range double into an integer is undefined behaviour, and so is an
// int64 sum that overflows.
#include <cstddef>
#include <cstdint>

namespace trtpace {

// Ten years: the furthest due time, gap or wait trtpace accepts. Sums of a few such values and a
// monotonic timestamp stay far from int64's limit. Units: ns.
inline constexpr int64_t kMaxHorizonNs = int64_t(10) * 365 * 24 * 3600 * 1'000'000'000;
// Most inferences one schedule or one run may hold (each costs ~120 bytes of records).
inline constexpr size_t kMaxInferences = 100'000'000;

// `value` (in units of `ns_per_unit` ns) as integer ns; throws std::invalid_argument naming
// `what` unless it is finite and within [min_ns, max_ns].
int64_t checked_ns(double value, double ns_per_unit, const char* what, int64_t min_ns = 0,
                   int64_t max_ns = kMaxHorizonNs);
// Throws std::invalid_argument naming `what` unless min_ns <= value_ns <= max_ns.
void check_ns_range(int64_t value_ns, const char* what, int64_t min_ns = 0, int64_t max_ns = kMaxHorizonNs);

}  // namespace trtpace
