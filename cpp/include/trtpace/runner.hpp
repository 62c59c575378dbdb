#pragma once
// The paced loop: wait until each inference is due, submit it, wait for completion, record.
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "trtpace/checked.hpp"  // kMaxHorizonNs, kMaxInferences: RunConfig's limits
#include "trtpace/gap_work.hpp"
#include "trtpace/probe.hpp"
#include "trtpace/records.hpp"
#include "trtpace/schedule.hpp"
#include "trtpace/wait.hpp"
#include "trtpace/warm.hpp"
#include "trtpace/workload.hpp"

namespace trtpace {
namespace nvtx {
class Ranges;
}

struct RunConfig {
  Schedule schedule = Schedule::closed_gap(0);
  size_t warmup = 0;      // leading inferences at the same pacing, flagged as warm-up
  size_t iterations = 0;  // measured inferences after the warm-up
  WaitMode wait = WaitMode::hybrid;
  SyncMode sync = SyncMode::spin;
  int64_t hybrid_margin_ns = 0;        // initial hybrid margin; <= 0: default_hybrid_margin_ns()
  int64_t start_delay_ns = 1'000'000;  // open loop: t0 = start of run + this (0 to kMaxHorizonNs)
  // Remedies (GPU workloads only; 0 = off). Keep-warm fires keepwarm_work_ns of filler every
  // keepwarm_period_ns during each gap and stops kGuardNs + its work before the due time;
  // pre-warm fires prewarm_work_ns once, prewarm_lead_ns before the due time. Work: 0 to
  // kMaxFillerNs; period: 0 to kMaxKeepWarmPeriodNs; lead: 0 to kMaxHorizonNs.
  int64_t keepwarm_period_ns = 0;
  int64_t keepwarm_work_ns = 0;
  int64_t prewarm_lead_ns = 0;
  int64_t prewarm_work_ns = 0;
  PrewarmTarget prewarm_target = PrewarmTarget::filler;
  // Armed launch: each inference is queued behind a gate as soon as the previous one completed
  // (armed_ns), and issuing it is the gate's release: one store (issue_ns to submitted_ns).
  bool armed = false;
  ArmOptions arm;
  // NVTX ranges for profilers (Nsight Systems): one per condition, named nvtx_name (empty:
  // "trtpace: " + the workload's description), and one per inference, "inference i", from issue
  // to done, with the wait until it was due ("until due") and armed queuing ("arm") beside it.
  // Off: the loop holds no NVTX call at all (a separate instantiation).
  bool nvtx = false;
  std::string nvtx_name;
  // The app's gap (gap_work.hpp): CPU work that ends when each inference is issued. Remedies
  // (keep-warm, pre-warm) run in the idle part of the gap before it.
  GapWork gap_work;
  // The input write after the gap (gap_work.hpp), between issue and launch (or release).
  std::vector<StageCopy> staging;
};

// The one home of "armed launch and pre-warm exclude each other" (the armed work is already queued
// when a pre-warm would fire): throws UsageError when both are asked for. The Runner checks its
// config with it; policies and trtpace.Pacer call it through the bindings.
void check_remedy_combination(bool armed, int64_t prewarm_lead_ns);

// One inference outside a paced loop (trtpace.Pacer): host times on the monotonic clock.
struct InferenceRecord {
  int64_t issue_ns = 0, submitted_ns = 0, done_ns = 0;
  double device_us = 0.0;
};
// timeout_ns > 0 bounds the completion wait of a GPU workload (WaitTimeout past it). device_time
// false: device_us stays NaN (no event query after the wait; Workload::last_device_us later).
InferenceRecord infer_once(Workload& workload, SyncMode sync, int64_t timeout_ns = 0, bool device_time = true);

class Runner {
 public:
  // Throws std::invalid_argument for a config out of range (see RunConfig; warm-up + iterations:
  // 1 to kMaxInferences).
  Runner(std::shared_ptr<Workload> workload, RunConfig config);
  // Runs on the calling thread until every inference is done or request_stop() is called; a stop
  // requested before it starts makes it return at once with no records. Holds no Python state:
  // the bindings release the GIL around it. When a launch, completion wait or filler throws, the
  // error propagates after clean-up, and the rows completed before it stay published and correct
  // (gpu_start_ns mapped to the host clock, or 0 when the mapping failed).
  void run();
  // Thread-safe: the loop ends after the inference in flight completes, or within 50 ms when it
  // is waiting in a gap (that inference is then not issued).
  void request_stop() noexcept { stop_.store(true, std::memory_order_relaxed); }
  size_t completed() const noexcept { return completed_.load(std::memory_order_acquire); }
  size_t total() const noexcept { return config_.warmup + config_.iterations; }
  bool stop_requested() const noexcept { return stop_.load(std::memory_order_relaxed); }
  const Records& records() const noexcept { return records_; }
  // %globaltimer-to-host syncs before and after the loop (probe workloads only).
  const ClockSync& sync_before() const noexcept { return sync_before_; }
  const ClockSync& sync_after() const noexcept { return sync_after_; }
  const RunConfig& config() const noexcept { return config_; }
  const Workload& workload() const noexcept { return *workload_; }
  // CPU time the runner's thread used during the loop (waits, submissions, completion polls). Units: ns.
  int64_t cpu_ns() const noexcept { return cpu_ns_; }
  uint64_t fillers_fired() const noexcept { return filler_ ? filler_->fired() : 0; }
  // Filler kernel work launched (keep-warm and pre-warm, on the filler's or the inference's
  // stream); each filler holds one SM while it runs. Units: ns.
  int64_t filler_work_ns() const noexcept { return (filler_ ? filler_->fired_work_ns() : 0) + own_stream_prewarm_ns_; }
  // Where this run's pre-warm goes (resolve_prewarm_target): the configured target, or filler
  // where the workload cannot take it; meaningful only with a pre-warm lead.
  PrewarmTarget prewarm_target() const noexcept { return prewarm_target_; }
  static constexpr int64_t kGuardNs = 100'000;
  // The hybrid margin at the end of the run (it adapts during the run). Units: ns.
  int64_t hybrid_margin_ns() const noexcept { return waiter_.hybrid_margin_ns(); }

 private:
  std::shared_ptr<Workload> workload_;
  RunConfig config_;
  Records records_;
  std::vector<uint64_t> gpu_start_gt_;  // raw %globaltimer probe stamps; 0 when none
  std::vector<uint64_t> gate_gt_;       // raw %globaltimer stamps of the armed gate seeing each release; 0 when none
  template <bool kNvtx>
  void loop(bool probe, nvtx::Ranges* ranges);
  void wait_for_due(int64_t due_ns);
  void wait_until(int64_t t_ns);  // the waiter's wait, ended early by a stop request
  void fire_filler(int64_t work_ns);
  void map_gpu_starts();
  Waiter waiter_;
  GapWorker gap_worker_;
  ClockSync sync_before_, sync_after_;
  std::unique_ptr<Filler> filler_;
  int64_t cpu_ns_ = 0;
  int64_t own_stream_prewarm_ns_ = 0;
  PrewarmTarget prewarm_target_ = PrewarmTarget::filler;
  std::atomic<size_t> completed_{0};
  std::atomic<bool> stop_{false};
  std::atomic<bool> started_{false};
};

}  // namespace trtpace
