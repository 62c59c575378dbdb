#include "trtpace/gap_work.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

#include "trtpace/clock.hpp"

namespace trtpace {

GapWorker::GapWorker(GapWork work) : work_(std::move(work)) {
  switch (work_.kind) {
    case GapWorkKind::none:
      break;
    case GapWorkKind::busy:
      if (work_.busy_ns <= 0 || work_.busy_ns > kMaxGapBusyNs)
        throw std::invalid_argument("busy gap work must be > 0 and at most 60 s");
      break;
    case GapWorkKind::memory:
      if (work_.memory_bytes < 64 || work_.memory_bytes > kMaxGapMemoryBytes)
        throw std::invalid_argument("memory gap work needs 64 bytes to 16 GiB");
      buffer_.assign(work_.memory_bytes / sizeof(uint64_t), 1);  // touched: no page faults in the loop
      break;
    case GapWorkKind::callable:
      if (!work_.fn) throw std::invalid_argument("callable gap work needs a function");
      if (bool(work_.hold) != bool(work_.let_go))
        throw std::invalid_argument("callable gap work takes hold and let_go together or neither");
      break;
  }
}

int64_t GapWorker::run() {
  const int64_t start = now_ns();
  switch (work_.kind) {
    case GapWorkKind::none:
      return 0;
    case GapWorkKind::busy: {
      // A dependent multiply-xorshift chain: the core stays busy, nothing touches memory.
      uint64_t h = sink_ | 1;
      while (now_ns() - start < work_.busy_ns)
        for (int k = 0; k < 256; ++k) h = (h ^ (h >> 29)) * 0xbf58476d1ce4e5b9ull;
      sink_ = h;
      break;
    }
    case GapWorkKind::memory: {
      // One read and one write per 64-byte line, in order, as a decoder streaming through a
      // frame does: the caches and TLB then hold this buffer, not the loop's own data.
      uint64_t sum = 0;
      for (size_t i = 0; i < buffer_.size(); i += 8) {
        sum += buffer_[i];
        buffer_[i] = sum;
      }
      sink_ += sum;
      break;
    }
    case GapWorkKind::callable:
      work_.fn();
      break;
  }
  const int64_t took = now_ns() - start;
  // The median of the recent runs, not their mean: one slow run (a cold first one, a preempted
  // one) would pull a mean up for dozens of gaps, and every gap after it would end early.
  recent_[next_ % recent_.size()] = took;
  ++next_;
  std::array<int64_t, kRecentRuns> sorted = recent_;
  const size_t n = std::min(next_, recent_.size());
  std::nth_element(sorted.begin(), sorted.begin() + n / 2, sorted.begin() + n);
  expected_ns_ = sorted[n / 2];
  return took;
}

}  // namespace trtpace
