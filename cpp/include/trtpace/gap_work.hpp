#pragma once
// What an app does during the gap, and the input write that follows it.
//
// An idle sleep leaves the loop's core, caches and TLB as the last inference left them; an app's
// gap does not: it decodes the next frame, streams through its pixels, runs Python. GapWork is
// that work. The runner starts it so that it ends when the inference is due (from its recent
// durations) and issues the inference the moment it ends, as an app issues once its frame is
// ready. StageCopy is the app's write of the finished input into the memory the inference reads
// (a pinned buffer the graph copies in): after the gap, on the critical path.
#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace trtpace {

enum class GapWorkKind { none, busy, memory, callable };

struct GapWork {
  GapWorkKind kind = GapWorkKind::none;
  int64_t busy_ns = 0;       // busy: dependent integer arithmetic for this long. Units: ns.
  size_t memory_bytes = 0;   // memory: every cache line of a buffer this large read and written
  std::function<void()> fn;  // callable: the app's own work (a JPEG decode from Python, say)
  // callable, optional, both or neither: what the app's thread holds from its gap work until its
  // inference is launched (for Python: the GIL, so that no other thread takes it in between, as
  // none can in an app's own loop). hold() runs before fn, let_go() after the launch.
  std::function<void()> hold, let_go;
  std::string label;  // what the results say the gap did
};

// Longest busy work and largest buffer one gap may ask for.
inline constexpr int64_t kMaxGapBusyNs = 60'000'000'000;  // one minute
inline constexpr size_t kMaxGapMemoryBytes = size_t(16) << 30;

// Runs one gap's work at a time and keeps an estimate of how long it takes.
class GapWorker {
 public:
  explicit GapWorker(GapWork work);  // validates; allocates and touches the memory buffer
  bool active() const noexcept { return work_.kind != GapWorkKind::none; }
  // The duration to start the work ahead of the due time: the median of the last kRecentRuns
  // runs. Units: ns.
  int64_t expected_ns() const noexcept { return expected_ns_; }
  // Runs the work once; returns how long it took. Units: ns.
  int64_t run();
  const GapWork& work() const noexcept { return work_; }
  // The work's hold()/let_go() (none: nothing); the runner calls them in pairs, let_go() also on
  // an error between them (GapHold below).
  void hold() const {
    if (work_.hold) work_.hold();
  }
  void let_go() const noexcept {
    if (work_.let_go) work_.let_go();
  }

 private:
  GapWork work_;
  std::vector<uint64_t> buffer_;
  uint64_t sink_ = 0;
  static constexpr size_t kRecentRuns = 15;
  std::array<int64_t, kRecentRuns> recent_{};
  size_t next_ = 0;  // runs so far; the next one goes to recent_[next_ % kRecentRuns]
  int64_t expected_ns_ = 0;
};

// One input buffer written before each inference: from sources[i % 2] (two, so every write
// carries new bytes as a new frame does) into dst.
struct StageCopy {
  void* dst = nullptr;
  const void* src[2] = {nullptr, nullptr};
  size_t bytes = 0;
};

// Holds a gap worker's hold() from take() until give_back() or the end of its scope.
class GapHold {
 public:
  explicit GapHold(const GapWorker& worker) noexcept : worker_(worker) {}
  GapHold(const GapHold&) = delete;
  GapHold& operator=(const GapHold&) = delete;
  ~GapHold() { give_back(); }
  void take() {
    worker_.hold();
    held_ = true;
  }
  void give_back() noexcept {
    if (held_) worker_.let_go();
    held_ = false;
  }

 private:
  const GapWorker& worker_;
  bool held_ = false;
};

}  // namespace trtpace
