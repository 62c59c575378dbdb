#pragma once
// Remedies that keep the GPU and its driver path warm without root: small filler work on a
// low-priority stream, fired periodically during a gap (keep-warm) or once shortly before a
// known due time (pre-warm).
#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "trtpace/cuda_raii.hpp"
#include "trtpace/enum_names.hpp"
#include "trtpace/wait.hpp"
#include "trtpace/workload.hpp"

namespace trtpace {

// Longest filler or pre-warm work one fire may ask for: the GPU spins for it. Units: ns.
inline constexpr int64_t kMaxFillerNs = 1'000'000'000;
// Longest keep-warm period. Units: ns.
inline constexpr int64_t kMaxKeepWarmPeriodNs = 3'600'000'000'000;

// Small kernels (one block, timed on the GPU's clock) on the lowest-priority stream of the
// device, so they yield to the app's own work.
class Filler {
 public:
  explicit Filler(int device);
  // Launches `work_ns` (0 to kMaxFillerNs) of filler unless the previous one still runs (never
  // queues up work).
  void fire(int64_t work_ns);
  // Waits for the last filler to finish (not for anything else on the device).
  void wait_idle();
  int device() const noexcept { return device_; }
  uint64_t fired() const noexcept { return fired_; }
  // The work of all fillers fired: each holds one SM (one block) that long. Units: ns.
  int64_t fired_work_ns() const noexcept { return fired_work_ns_; }

 private:
  int device_;
  Stream stream_;
  uint64_t fired_ = 0;
  int64_t fired_work_ns_ = 0;
};

// Where pre-warm goes: the filler's own low-priority stream, the inference's stream, or a
// cudaGraphUpload of the inference's graph.
enum class PrewarmTarget { filler, stream, graph };
inline constexpr std::array<EnumName<PrewarmTarget>, 3> kPrewarmTargetNames{
    {{PrewarmTarget::filler, "filler"}, {PrewarmTarget::stream, "stream"}, {PrewarmTarget::graph, "graph"}}};
inline PrewarmTarget parse_prewarm_target(const std::string& name) {
  return parse_enum(kPrewarmTargetNames, name, "pre-warm target");
}
inline const char* to_string(PrewarmTarget target) noexcept { return enum_to_string(kPrewarmTargetNames, target); }

// The target a pre-warm really uses on one workload, decided once: `graph` needs the workload's
// graph executable (the eager and python launch paths have none) and `stream` a GPU workload;
// either falls back to `filler`. The paced loop and PrewarmWorker both fire through fire_prewarm,
// so the fallback is the same everywhere, and results record the target used (prewarm_path).
PrewarmTarget resolve_prewarm_target(const Workload& workload, PrewarmTarget requested);
// One pre-warm on a resolved target: filler work on `filler`'s stream, filler work on the
// workload's own stream, or a cudaGraphUpload. Counts as a filler fire for the workload's fault
// hook. Returns the filler work launched on the workload's own stream. Units: ns.
int64_t fire_prewarm(Workload& workload, PrewarmTarget target, int64_t work_ns, Filler& filler);

// Keep-warm from a background thread: fires a Filler every period until stopped; pause() makes it
// step aside (an app calls it around its own inference). A failure in the thread (a CUDA error)
// ends it; running() then reads false and the next pause(), resume(), start() or stop() rethrows
// the failure, once.
class KeepWarmThread {
 public:
  // period_ns: 1 to kMaxKeepWarmPeriodNs; work_ns: 0 to kMaxFillerNs.
  KeepWarmThread(int device, int64_t period_ns, int64_t work_ns);
  ~KeepWarmThread();  // stops; a failure not yet reported is dropped
  KeepWarmThread(const KeepWarmThread&) = delete;
  KeepWarmThread& operator=(const KeepWarmThread&) = delete;
  void start();
  void stop();  // joins the thread and waits for the last filler to finish
  // Returns once no filler launch is in flight, and none starts until resume(). A filler already
  // launched may still run on the GPU: it is short and on the lowest-priority stream.
  void pause();
  void resume();
  bool running() const noexcept { return running_.load(); }
  uint64_t fired() const noexcept { return fired_.load(); }
#ifdef TRTPACE_TEST_HOOKS
  // Test hook: the nth fire from now (n >= 1) throws TrtpaceError on the thread instead of
  // launching, once; n = 0 disarms.
  void inject_fault(uint64_t n);
#endif

 private:
  void loop(const std::shared_ptr<Filler>& filler);  // std::thread holds the copy that keeps it alive
  void rethrow_failure();                            // caller holds mutex_
  int device_;
  int64_t period_ns_;
  int64_t work_ns_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;  // stop requested
  std::condition_variable idle_;  // a fire ended, or the thread did
  bool stop_ = false;             // guarded by mutex_, as are the three below
  bool paused_ = false;
  bool firing_ = false;
#ifdef TRTPACE_TEST_HOOKS
  uint64_t fault_countdown_ = 0;
#endif
  std::exception_ptr failure_;
  std::atomic<bool> running_{false};
  std::atomic<uint64_t> fired_{0};
};

// Pre-warm for an app that drives its own loop (trtpace.Pacer.expect): one persistent thread that
// fires once at each scheduled time: cudaGraphUpload or filler on the workload's own path
// (PrewarmTarget graph or stream), else filler on a low-priority stream. A failure on the thread
// is stored and rethrown, once, by the next call. Each fire counts as a filler fire for the
// workload's fault hook (Workload::inject_fault).
class PrewarmWorker {
 public:
  // work_ns: 0 to kMaxFillerNs. `wait` is how the thread waits for a fire time; all modes can be
  // cancelled while they wait.
  PrewarmWorker(std::shared_ptr<Workload> workload, PrewarmTarget target, int64_t work_ns, WaitMode wait);
  ~PrewarmWorker();  // close(); a failure not yet reported is dropped
  PrewarmWorker(const PrewarmWorker&) = delete;
  PrewarmWorker& operator=(const PrewarmWorker&) = delete;
  // Fires at fire_at_ns (monotonic; now if already past), replacing a pending fire not yet started.
  void schedule(int64_t fire_at_ns);
  // Drops a pending fire and returns once none is in flight: the workload's stream is the
  // caller's again.
  void cancel();
  // Returns once the pending fire (if any) has fired.
  void wait_idle();
  // Cancels, ends the thread and waits for the last filler; idempotent.
  void close();
  uint64_t fired() const noexcept { return fired_.load(); }
  // The target the fires use (resolve_prewarm_target of the one asked for).
  PrewarmTarget target() const noexcept { return target_; }
  bool pending() const;

 private:
  void loop();
  void fire();
  void rethrow_failure();  // caller holds mutex_
  std::shared_ptr<Workload> workload_;
  PrewarmTarget target_;
  int64_t work_ns_;
  int64_t spin_margin_ns_;
  Filler filler_;
  std::thread thread_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;  // a new schedule, a cancel, or close
  std::condition_variable idle_;  // a fire ended or was dropped
  bool closing_ = false;          // guarded by mutex_, as are the four below
  bool pending_ = false;
  bool firing_ = false;
  int64_t fire_at_ns_ = 0;
  std::exception_ptr failure_;
  std::atomic<uint64_t> generation_{0};  // bumped by every schedule/cancel: ends a spin early
  std::atomic<uint64_t> fired_{0};
};

}  // namespace trtpace
