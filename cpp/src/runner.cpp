#include "trtpace/runner.hpp"

#include <algorithm>
#include <cstring>
#include <exception>
#include <limits>
#include <stdexcept>
#include <string>

#include "nvtx.hpp"
#include "trtpace/checked.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/cuda_raii.hpp"
#include "trtpace/errors.hpp"

namespace trtpace {

namespace {
// Checked before the records are allocated from it.
size_t checked_total(const RunConfig& c) {
  if (c.iterations < 1) throw std::invalid_argument("iterations must be >= 1");
  if (c.iterations > kMaxInferences || c.warmup > kMaxInferences - c.iterations)
    throw std::invalid_argument("warm-up + iterations must be at most " + std::to_string(kMaxInferences));
  return c.warmup + c.iterations;
}
}  // namespace

Runner::Runner(std::shared_ptr<Workload> workload, RunConfig config)
    : workload_(std::move(workload)),
      config_(std::move(config)),
      records_(checked_total(config_)),
      gpu_start_gt_(total(), 0),
      gate_gt_(total(), 0),
      waiter_(config_.wait, config_.hybrid_margin_ns),
      gap_worker_(config_.gap_work) {
  if (!workload_) throw std::invalid_argument("runner needs a workload");
  check_ns_range(config_.start_delay_ns, "start delay");
  check_ns_range(config_.keepwarm_period_ns, "keep-warm period", 0, kMaxKeepWarmPeriodNs);
  check_ns_range(config_.keepwarm_work_ns, "keep-warm work", 0, kMaxFillerNs);
  check_ns_range(config_.prewarm_lead_ns, "pre-warm lead");
  check_ns_range(config_.prewarm_work_ns, "pre-warm work", 0, kMaxFillerNs);
  const bool remedies = config_.keepwarm_period_ns > 0 || config_.prewarm_lead_ns > 0;
  if (remedies && workload_->device() < 0) throw std::invalid_argument("keep-warm and pre-warm need a GPU workload");
  if (config_.armed && workload_->device() < 0) throw std::invalid_argument("armed launch needs a GPU workload");
  check_remedy_combination(config_.armed, config_.prewarm_lead_ns);
  if (config_.prewarm_lead_ns > 0) prewarm_target_ = resolve_prewarm_target(*workload_, config_.prewarm_target);
  for (const StageCopy& c : config_.staging)
    if (!c.dst || !c.src[0] || !c.src[1] || !c.bytes)
      throw std::invalid_argument("a staging copy needs dst, two sources and bytes > 0");
  if (config_.schedule.capacity() < total())
    throw std::invalid_argument("the schedule defines " + std::to_string(config_.schedule.capacity()) +
                                " due times, fewer than warm-up + iterations = " + std::to_string(total()));
}

void Runner::run() {
  if (started_.exchange(true)) throw std::logic_error("a Runner runs once; create another");
  if (stop_requested()) return;  // stopped before it started: nothing to do, no records
  Workload& w = *workload_;
  // The condition's range spans the whole run, preparation and clean-up included; it and any
  // range the loop left open close when `ranges` goes, on every exit path.
  std::unique_ptr<nvtx::Ranges> ranges;
  std::string condition_name;
  if (config_.nvtx) {
    condition_name = config_.nvtx_name.empty() ? "trtpace: " + w.describe() : config_.nvtx_name;
    ranges = std::make_unique<nvtx::Ranges>();
    ranges->push(condition_name.c_str(), nvtx::Color::condition);
  }
  // Host workloads (device -1) have no CUDA device to make current.
  std::unique_ptr<DeviceGuard> guard;
  if (w.device() >= 0) guard = std::make_unique<DeviceGuard>(w.device());
  w.prepare(config_.sync);
  if (config_.keepwarm_period_ns > 0 || config_.prewarm_lead_ns > 0) filler_ = std::make_unique<Filler>(w.device());
  if (config_.armed && !w.arming_enabled()) w.enable_arming(config_.arm);
  // Armed runs sync the GPU clock too: the gate's stamps are mapped like the probe's.
  const bool probe = w.has_probe() || config_.armed;
  if (probe) sync_before_ = sync_globaltimer(w.device());
  // Two runs before the loop: the first pays its one-time costs, both seed the duration estimate.
  if (gap_worker_.active())
    for (int k = 0; k < 2; ++k) gap_worker_.run();

  // The clean-up below runs on every exit from the loop, so the rows published before a failure
  // stay right; the loop's own error wins over one from the clean-up.
  std::exception_ptr failure;
  const int64_t cpu0 = thread_cpu_ns();
  try {
    // Two instantiations: with NVTX off the loop has no NVTX code and no extra branch.
    if (ranges)
      loop<true>(probe, ranges.get());
    else
      loop<false>(probe, nullptr);
  } catch (...) {
    failure = std::current_exception();
  }
  cpu_ns_ = thread_cpu_ns() - cpu0;
  if (ranges) ranges->pop_to(1);  // an inference's ranges a failure left open; the condition's stays
  if (filler_) {
    try {
      filler_->wait_idle();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (probe) {
    try {
      map_gpu_starts();
    } catch (...) {
      if (!failure) failure = std::current_exception();
    }
  }
  if (failure) std::rethrow_exception(failure);
}

// One function on purpose: this is the timed loop, read top to bottom as one inference's life
// (due, gap work, issue, staging, launch or release, wait, record); helpers would hide the order.
template <bool kNvtx>
void Runner::loop(bool probe, [[maybe_unused]] nvtx::Ranges* ranges) {  // NOLINT(readability-function-size)
  Workload& w = *workload_;
  const Schedule& schedule = config_.schedule;
  const size_t n = total();
  int64_t* due = records_.due_ns.data();
  int64_t* issue = records_.issue_ns.data();
  int64_t* submitted = records_.submitted_ns.data();
  int64_t* done = records_.done_ns.data();
  double* device = records_.device_us.data();
  const bool armed = config_.armed;
  double* mhz = records_.inband_mhz.data();
  int64_t* armed_at = records_.armed_ns.data();
  int64_t* staged = records_.staged_ns.data();
  int64_t* gap_work = records_.gap_work_ns.data();
  const bool has_gap_work = gap_worker_.active();
  const std::vector<StageCopy>& staging = config_.staging;
  auto* cuda_workload = dynamic_cast<CudaWorkload*>(&w);
  ProbeReading reading;
  [[maybe_unused]] nvtx::InferenceName inference_name;
  // An armed inference left behind by a stop or an error is cancelled: no stream stays blocked.
  struct CancelArmed {
    Workload& w;
    ~CancelArmed() {
      try {
        w.cancel();
      } catch (...) {
      }
    }
  } cancel_armed{w};

  const int64_t t0 = now_ns() + (schedule.open_loop() ? config_.start_delay_ns : 0);
  int64_t prev_done = t0;
  for (size_t i = 0; i < n && !stop_requested(); ++i) {
    due[i] = schedule.due_ns(i, t0, prev_done);
    if (armed && !w.armed()) {
      if constexpr (kNvtx) ranges->push("arm", nvtx::Color::arm, i);
      armed_at[i] = now_ns();
      w.arm();
      if constexpr (kNvtx) ranges->pop();
    }
    // NVTX calls sit outside issue..done, so a profiler's cost stays out of the records; the
    // name is formatted while the inference is not yet due.
    if constexpr (kNvtx) {
      inference_name.set(i);
      ranges->push("until due", nvtx::Color::due, i);
    }
    // What the gap work holds (Python's GIL) stays held until this inference is launched.
    GapHold gap_hold(gap_worker_);
    if (has_gap_work) {
      // Started so that it ends when the inference is due; the inference is issued when it ends.
      wait_for_due(due[i] - gap_worker_.expected_ns());
      if (!stop_requested()) {
        gap_hold.take();
        gap_work[i] = gap_worker_.run();
      }
    } else {
      wait_for_due(due[i]);
    }
    if (stop_requested()) break;  // a stop during the gap: this inference is not issued
    if constexpr (kNvtx) {
      ranges->pop();
      ranges->push(inference_name.c_str(), nvtx::Color::inference, i);
    }
    issue[i] = now_ns();
    if (!staging.empty()) {
      for (const StageCopy& c : staging) std::memcpy(c.dst, c.src[i & 1], c.bytes);
      staged[i] = now_ns();
    }
    if (armed)
      w.release();
    else
      w.launch();
    submitted[i] = now_ns();
    gap_hold.give_back();
    w.wait_complete();
    done[i] = now_ns();
    if constexpr (kNvtx) ranges->pop();
    prev_done = done[i];
    // Read after `done` is stamped: the event query is bookkeeping, not part of the latency.
    device[i] = w.last_device_us();
    w.last_copies_us(records_.copy_in_us[i], records_.copy_out_us[i]);
    if (probe && w.take_probe(reading)) {
      gpu_start_gt_[i] = reading.start_gt;  // mapped to the host clock after the loop
      mhz[i] = reading.sm_mhz;
    }
    if (armed) gate_gt_[i] = w.gate_seen_gt();  // mapped to the host clock after the loop
    if (armed && cuda_workload) records_.relaunched[i] = cuda_workload->last_relaunched() ? 1 : 0;
    completed_.store(i + 1, std::memory_order_release);
    // Queue the next inference now, during the gap, off the critical path.
    if (armed && i + 1 < n && !stop_requested()) {
      if constexpr (kNvtx) ranges->push("arm", nvtx::Color::arm, i + 1);
      armed_at[i + 1] = now_ns();
      w.arm();
      if constexpr (kNvtx) ranges->pop();
    }
  }
}

void Runner::map_gpu_starts() {
  const size_t n_done = completed();
  if (n_done == 0) return;
  // Until this sync succeeds gpu_start_ns keeps its 0s (unknown): a raw %globaltimer value is
  // never published as a host time.
  sync_after_ = sync_globaltimer(workload_->device());
  // Interpolate the offset between the two syncs so that drift between the clocks over a long
  // condition cancels.
  const double span = double(sync_after_.host_ns - sync_before_.host_ns);
  const double drift = span > 0 ? double(sync_after_.offset_ns - sync_before_.offset_ns) / span : 0.0;
  for (size_t i = 0; i < n_done; ++i) {
    const double offset = double(sync_before_.offset_ns) + drift * double(records_.issue_ns[i] - sync_before_.host_ns);
    if (gpu_start_gt_[i]) records_.gpu_start_ns[i] = int64_t(gpu_start_gt_[i]) - int64_t(offset);
    if (gate_gt_[i]) records_.gate_ns[i] = int64_t(gate_gt_[i]) - int64_t(offset);
  }
}

void Runner::fire_filler(int64_t work_ns) {
  workload_->fault_check(FaultPoint::filler);
  filler_->fire(work_ns);
}

void Runner::wait_until(int64_t t_ns) {
  // A long wait is cut into slices so that a stop request (Ctrl-C, SIGTERM) ends it within one
  // slice; the last stretch goes to the waiter whole, so its timing (and a hybrid margin's
  // learning) is what it would be without the slices.
  constexpr int64_t kSliceNs = 50'000'000;
  for (int64_t t = now_ns(); t_ns - t > 2 * kSliceNs && !stop_requested(); t = now_ns()) {
    if (config_.wait == WaitMode::spin)
      spin_until_ns(t + kSliceNs);
    else
      sleep_until_ns(t + kSliceNs);
  }
  if (!stop_requested()) waiter_.wait_until(t_ns);
}

void Runner::wait_for_due(int64_t due_ns) {
  if (filler_) {
    const int64_t lead = config_.prewarm_lead_ns;
    if (config_.keepwarm_period_ns > 0) {
      // The last filler must end before the inference is due (and before any pre-warm).
      const int64_t stop_at = due_ns - std::max(config_.keepwarm_work_ns + kGuardNs, lead);
      int64_t next = now_ns();
      for (int64_t t = next; t < stop_at && !stop_requested(); t = now_ns()) {
        if (t >= next) {
          fire_filler(config_.keepwarm_work_ns);
          next = t + config_.keepwarm_period_ns;
        }
        wait_until(std::min(next, stop_at));
      }
    }
    if (lead > 0 && due_ns - now_ns() > lead && !stop_requested()) {
      wait_until(due_ns - lead);
      if (stop_requested()) return;
      own_stream_prewarm_ns_ += fire_prewarm(*workload_, prewarm_target_, config_.prewarm_work_ns, *filler_);
    }
  }
  wait_until(due_ns);
}

void check_remedy_combination(bool armed, int64_t prewarm_lead_ns) {
  if (armed && prewarm_lead_ns > 0)
    throw UsageError("armed launch and pre-warm exclude each other: the armed work is already queued");
}

InferenceRecord infer_once(Workload& workload, SyncMode sync, int64_t timeout_ns, bool device_time) {
  std::unique_ptr<DeviceGuard> guard;
  if (workload.device() >= 0) guard = std::make_unique<DeviceGuard>(workload.device());
  workload.prepare(sync);
  InferenceRecord r;
  r.issue_ns = now_ns();
  workload.launch();
  r.submitted_ns = now_ns();
  auto* cuda = dynamic_cast<CudaWorkload*>(&workload);
  if (cuda && timeout_ns > 0)
    cuda->wait_complete_for(timeout_ns);
  else
    workload.wait_complete();
  r.done_ns = now_ns();
  r.device_us = device_time ? workload.last_device_us() : std::numeric_limits<double>::quiet_NaN();
  return r;
}

}  // namespace trtpace
