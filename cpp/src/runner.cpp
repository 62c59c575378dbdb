#include "trtpace/runner.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>
#include <string>

#include "trtpace/clock.hpp"
#include "trtpace/cuda_raii.hpp"

namespace trtpace {

Records::Records(size_t capacity)
    : due_ns(capacity),
      issue_ns(capacity),
      submitted_ns(capacity),
      done_ns(capacity),
      device_us(capacity),
      gpu_start_ns(capacity, 0),
      inband_mhz(capacity, std::numeric_limits<double>::quiet_NaN()),
      armed_ns(capacity, 0),
      gate_ns(capacity, 0) {}

Runner::Runner(std::shared_ptr<Workload> workload, RunConfig config)
    : workload_(std::move(workload)),
      config_(std::move(config)),
      records_(config_.warmup + config_.iterations),
      waiter_(config_.wait, config_.hybrid_margin_ns) {
  if (!workload_) throw std::invalid_argument("runner needs a workload");
  if (config_.iterations < 1) throw std::invalid_argument("iterations must be >= 1");
  const bool remedies = config_.keepwarm_period_ns > 0 || config_.prewarm_lead_ns > 0;
  if (remedies && workload_->device() < 0) throw std::invalid_argument("keep-warm and pre-warm need a GPU workload");
  if (config_.keepwarm_period_ns < 0 || config_.prewarm_lead_ns < 0 || config_.keepwarm_work_ns < 0 ||
      config_.prewarm_work_ns < 0)
    throw std::invalid_argument("keep-warm and pre-warm times must be >= 0");
  if (config_.armed && workload_->device() < 0) throw std::invalid_argument("armed launch needs a GPU workload");
  if (config_.schedule.capacity() < total())
    throw std::invalid_argument("the schedule defines " + std::to_string(config_.schedule.capacity()) +
                                " due times, fewer than warm-up + iterations = " + std::to_string(total()));
}

void Runner::run() {
  if (completed() != 0 || stop_requested()) throw std::logic_error("a Runner runs once; create another");
  Workload& w = *workload_;
  const Schedule& schedule = config_.schedule;
  const size_t n = total();
  int64_t* due = records_.due_ns.data();
  int64_t* issue = records_.issue_ns.data();
  int64_t* submitted = records_.submitted_ns.data();
  int64_t* done = records_.done_ns.data();
  double* device = records_.device_us.data();

  // Host workloads (device -1) have no CUDA device to make current.
  std::unique_ptr<DeviceGuard> guard;
  if (w.device() >= 0) guard = std::make_unique<DeviceGuard>(w.device());
  w.prepare(config_.sync);
  if (config_.keepwarm_period_ns > 0 || config_.prewarm_lead_ns > 0) filler_ = std::make_unique<Filler>(w.device());
  const bool armed = config_.armed;
  if (armed && !w.arming_enabled()) w.enable_arming(config_.arm);
  const bool probe = w.has_probe() || armed;
  if (probe) sync_before_ = sync_globaltimer(w.device());
  int64_t* gpu_start = records_.gpu_start_ns.data();
  double* mhz = records_.inband_mhz.data();
  int64_t* armed_at = records_.armed_ns.data();
  int64_t* gate = records_.gate_ns.data();
  ProbeReading reading;
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

  const int64_t cpu0 = thread_cpu_ns();
  const int64_t t0 = now_ns() + (schedule.open_loop() ? config_.start_delay_ns : 0);
  int64_t prev_done = t0;
  for (size_t i = 0; i < n && !stop_requested(); ++i) {
    due[i] = schedule.due_ns(i, t0, prev_done);
    if (armed && !w.armed()) {
      armed_at[i] = now_ns();
      w.arm();
    }
    wait_for_due(due[i]);
    issue[i] = now_ns();
    if (armed)
      w.release();
    else
      w.launch();
    submitted[i] = now_ns();
    w.wait_complete();
    done[i] = now_ns();
    prev_done = done[i];
    // Read after `done` is stamped: the event query is bookkeeping, not part of the latency.
    device[i] = w.last_device_us();
    if (probe && w.take_probe(reading)) {
      gpu_start[i] = int64_t(reading.start_gt);  // mapped to the host clock below
      mhz[i] = reading.sm_mhz;
    }
    if (armed) gate[i] = int64_t(w.gate_seen_gt());
    completed_.store(i + 1, std::memory_order_release);
    // Queue the next inference now, during the gap, off the critical path.
    if (armed && i + 1 < n && !stop_requested()) {
      armed_at[i + 1] = now_ns();
      w.arm();
    }
  }
  cpu_ns_ = thread_cpu_ns() - cpu0;
  if (filler_) filler_->wait_idle();
  if (!probe) return;
  // Map %globaltimer to the host clock, interpolating the offset between the two syncs so that
  // drift between the clocks over a long condition cancels.
  sync_after_ = sync_globaltimer(w.device());
  const double span = double(sync_after_.host_ns - sync_before_.host_ns);
  const double drift = span > 0 ? double(sync_after_.offset_ns - sync_before_.offset_ns) / span : 0.0;
  for (size_t i = 0, n_done = completed(); i < n_done; ++i) {
    if (!gpu_start[i]) continue;
    const double offset = double(sync_before_.offset_ns) + drift * double(issue[i] - sync_before_.host_ns);
    gpu_start[i] -= int64_t(offset);
  }
  for (size_t i = 0, n_done = completed(); armed && i < n_done; ++i) {
    if (!gate[i]) continue;
    const double offset = double(sync_before_.offset_ns) + drift * double(issue[i] - sync_before_.host_ns);
    gate[i] -= int64_t(offset);
  }
}

void Runner::wait_for_due(int64_t due_ns) {
  if (filler_) {
    const int64_t lead = config_.prewarm_lead_ns;
    if (config_.keepwarm_period_ns > 0) {
      // The last filler must end before the inference is due (and before any pre-warm).
      const int64_t stop_at = due_ns - std::max(config_.keepwarm_work_ns + kGuardNs, lead);
      int64_t next = now_ns();
      for (int64_t t = next; t < stop_at; t = now_ns()) {
        if (t >= next) {
          filler_->fire(config_.keepwarm_work_ns);
          next = t + config_.keepwarm_period_ns;
        }
        waiter_.wait_until(std::min(next, stop_at));
      }
    }
    if (lead > 0 && due_ns - now_ns() > lead) {
      waiter_.wait_until(due_ns - lead);
      using Target = RunConfig::PrewarmTarget;
      if (config_.prewarm_target == Target::filler)
        filler_->fire(config_.prewarm_work_ns);
      else
        workload_->prewarm_own_path(config_.prewarm_work_ns, config_.prewarm_target == Target::graph);
    }
  }
  waiter_.wait_until(due_ns);
}

InferenceRecord infer_once(Workload& workload, SyncMode sync) {
  std::unique_ptr<DeviceGuard> guard;
  if (workload.device() >= 0) guard = std::make_unique<DeviceGuard>(workload.device());
  workload.prepare(sync);
  InferenceRecord r;
  r.issue_ns = now_ns();
  workload.launch();
  r.submitted_ns = now_ns();
  workload.wait_complete();
  r.done_ns = now_ns();
  r.device_us = workload.last_device_us();
  return r;
}

}  // namespace trtpace
