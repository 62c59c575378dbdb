#pragma once
// The workload interface the paced runner drives, and the workloads that need no model.
#include <cuda_runtime_api.h>

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "trtpace/armed.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/cuda_raii.hpp"
#include "trtpace/enum_names.hpp"
#include "trtpace/kernels.hpp"
#include "trtpace/probe.hpp"
#include "trtpace/resident.hpp"
#include "trtpace/timed_graph.hpp"

namespace trtpace {

// How the host waits for an inference to complete.
enum class SyncMode {
  spin,   // poll cudaStreamQuery in a tight loop: lowest wake-up latency, one core busy
  block,  // cudaEventSynchronize on a cudaEventBlockingSync event: the thread sleeps
  yield,  // poll cudaStreamQuery, sched_yield() between polls
  // poll a host-mapped word that a one-thread kernel behind the inference writes: no driver call
  // while waiting (the first driver call after an idle gap can take tens of us; for an armed
  // inference, whose release is a plain store, the completion poll would be that call). Costs one
  // small kernel per inference, enqueued with it (armed: at arm time, off the critical path).
  flag,
};
inline constexpr std::array<EnumName<SyncMode>, 4> kSyncModeNames{
    {{SyncMode::spin, "spin"}, {SyncMode::block, "block"}, {SyncMode::yield, "yield"}, {SyncMode::flag, "flag"}}};
inline SyncMode parse_sync_mode(const std::string& name) { return parse_enum(kSyncModeNames, name, "sync mode"); }
inline const char* to_string(SyncMode mode) noexcept { return enum_to_string(kSyncModeNames, mode); }

// What the last completion wait spent in the driver: its stream queries (flag: one per 200 us of
// polling, so a failure raises instead of hanging; spin/yield: every poll).
struct WaitStats {
  uint32_t driver_calls = 0;
  // flag and block: time inside those calls; spin/yield (and block with a deadline), whose polls
  // are the wait: the whole wait, timed once rather than per poll. Units: ns.
  int64_t driver_ns = 0;
};

// Test-only fault injection (TRTPACE_TEST_HOOKS builds): where an injected TrtpaceError is thrown,
// so the error paths of the runner and of the Python layers above it can be exercised on any
// machine. Without the hooks, fault_check() is an empty inline function: the checks compile out.
enum class FaultPoint { none, launch, wait, filler };
inline constexpr std::array<EnumName<FaultPoint>, 4> kFaultPointNames{{{FaultPoint::none, "none"},
                                                                       {FaultPoint::launch, "launch"},
                                                                       {FaultPoint::wait, "wait"},
                                                                       {FaultPoint::filler, "filler"}}};
inline FaultPoint parse_fault_point(const std::string& name) {
  return parse_enum(kFaultPointNames, name, "fault point");
}
inline const char* to_string(FaultPoint point) noexcept { return enum_to_string(kFaultPointNames, point); }

class Workload {
 public:
  virtual ~Workload() = default;
  // Called once before a run, on the runner's thread, with the device already current.
  virtual void prepare(SyncMode sync) = 0;
  // Submits one inference; returns when the submission call returned.
  virtual void launch() = 0;
  // Returns once the last launched inference has completed.
  virtual void wait_complete() = 0;
  // Device execution time of the last completed inference. Units: us.
  virtual double last_device_us() = 0;
  // How last_device_us is measured: "graph-event-nodes", "stream-events" or "host".
  virtual const char* device_timing() const = 0;
  // The last completed inference's copy-in and copy-out times, where the workload runs them as
  // their own timed parts of its graph (GraphWorkload with copy graphs). Units: us.
  virtual bool last_copies_us(double& /*in_us*/, double& /*out_us*/) { return false; }
  // CUDA device ordinal, or -1 for a host-only workload.
  virtual int device() const = 0;
  // Whether launches carry the in-band probe (graph workloads do).
  virtual bool has_probe() const { return false; }
  // The probe reading of the last completed inference; false when there is none.
  virtual bool take_probe(ProbeReading&) { return false; }
  // Pre-warm on the inference's own path: `work_ns` of filler on its stream, or (graph_upload)
  // cudaGraphUpload of its graph. Returns false where the workload has no such path.
  virtual bool prewarm_own_path(int64_t /*work_ns*/, bool /*graph_upload*/) { return false; }
  // Whether prewarm_own_path can do it: filler on the own stream (GPU workloads), a graph upload
  // (only those launched from a graph executable).
  virtual bool can_prewarm_own_path(bool /*graph_upload*/) const { return false; }
  virtual std::string describe() const = 0;

  // Armed launch (armed.hpp): arm() queues the next inference behind a gate, release() opens it
  // with one store (the whole critical path), cancel() ends an armed inference without waiting
  // for an input. GPU workloads only; the defaults refuse.
  virtual void enable_arming(const ArmOptions& options);
  virtual void arm();
  virtual void release();
  virtual void cancel();
  virtual bool armed() const noexcept { return false; }
  virtual bool arming_enabled() const noexcept { return false; }
  // The gate's %globaltimer stamp of the last release it saw (0: none). Units: ns.
  virtual uint64_t gate_seen_gt() const noexcept { return 0; }
#ifdef TRTPACE_TEST_HOOKS
  // Test hook: the nth call at `point` after this one (n >= 1) throws TrtpaceError instead of
  // doing its work, once. Launches and completion waits check it in every workload; filler fires
  // are checked by the runner. FaultPoint::none disarms. Not thread-safe: arm before a run.
  void inject_fault(FaultPoint point, uint64_t n);
  // Counts a call at `point`; throws on the armed one. One compare when nothing is armed.
  void fault_check(FaultPoint point) {
    if (fault_point_ == point) fault_hit();
  }

 private:
  void fault_hit();
  FaultPoint fault_point_ = FaultPoint::none;
  uint64_t fault_countdown_ = 0;
#else
  // No test hooks in this build: nothing to count.
  static constexpr void fault_check(FaultPoint /*point*/) noexcept {}
#endif
};

// Base of every GPU workload: owns the stream it runs on, the events that time it, its armed
// program and the device memory its subclasses need. Subclasses enqueue work; one launched as a
// timed graph (use_timed_graph) is timed by the graph's own event nodes, which exclude the host's
// submission time. Otherwise the workload's events bracket the submission on the stream, so a
// device time can include the GPU waiting for the host to finish submitting.
//
// Destruction: the base's destructor ends armed work (cancels a gate, stops the resident loop)
// before any device memory it owns is freed; freeing memory waits for the device, which would
// wait for ever behind a closed gate. So subclasses keep device memory in the base
// (own_device_memory) and need no destructor of their own.
class CudaWorkload : public Workload {
 public:
  void prepare(SyncMode sync) override;
  void launch() final;
  void wait_complete() final;
  // wait_complete that gives up after timeout_ns (> 0): throws WaitTimeout naming what it waited
  // for (an armed inference not yet released, or work the GPU has not finished).
  void wait_complete_for(int64_t timeout_ns);
  double last_device_us() final;
  const char* device_timing() const override;
  int device() const override { return device_; }
  bool has_probe() const override { return probe_ != nullptr; }
  bool take_probe(ProbeReading& out) override { return probe_ && probe_->take(out); }
  bool prewarm_own_path(int64_t work_ns, bool graph_upload) override;
  bool can_prewarm_own_path(bool graph_upload) const override { return !graph_upload || graph_exec() != nullptr; }
  // The stream every inference runs on: the workload's own, or one its creator lent it.
  cudaStream_t stream() const noexcept { return lent_stream_ ? lent_stream_ : stream_.get(); }

  // Armed launch (armed.hpp): the program is built here, once, and armed per inference.
  void enable_arming(const ArmOptions& options) override;
  void arm() override;
  void release() override;
  void cancel() override;
  bool armed() const noexcept override { return program_ && program_->armed(); }
  bool arming_enabled() const noexcept override { return program_ != nullptr; }
  uint64_t gate_seen_gt() const noexcept override { return program_ ? program_->seen_gt() : 0; }
  // SyncMode::flag: %globaltimer when the done word of the last inference was written (0 before
  // any, or with another sync mode). Units: ns. No driver call: a read of mapped memory.
  uint64_t last_done_gt() const noexcept;
  // The driver calls the last wait made: after a gap the first one is slow, and a done word that
  // arrives during one is seen only when it returns.
  const WaitStats& last_wait_stats() const noexcept { return last_wait_; }
  const ArmedGate* gate() const noexcept { return program_ ? program_->gate() : nullptr; }
  // GateKind::resident: the loop (null where arming fell back to per-frame, or another gate).
  const ResidentLoop* resident() const noexcept { return program_ ? program_->resident() : nullptr; }
  // Why this workload cannot run the resident loop (it then arms per frame); empty where it can.
  std::string resident_unavailable_why() const;
  // Why the last enable_arming(resident) armed per frame instead; empty where it did not.
  std::string resident_fallback_why() const { return program_ ? program_->fallback_why() : std::string(); }
  // Released inferences whose gate had let go by itself (the arm timeout) before the release: the
  // armed work ran on whatever input was staged then, so the wait ran the inference again, plainly,
  // on the released input (resident: the loop had ended, so it was launched again and ran the
  // frame). last_relaunched: the last completed inference was one of them.
  uint64_t gate_timeouts() const noexcept { return gate_timeouts_; }
  bool last_relaunched() const noexcept { return last_relaunched_; }
  // Whether the armed graph releases the model through programmatic (PDL) edges.
  bool armed_programmatic() const noexcept { return program_ && program_->programmatic(); }
  ~CudaWorkload() override;

 protected:
  // `lent_stream`: run on this stream instead of one of the workload's own; its owner keeps it
  // alive for as long as the workload lives (a framework's stream, whose allocator records
  // events on it after the workload is gone).
  explicit CudaWorkload(int device, cudaStream_t lent_stream = nullptr);
  virtual void enqueue(cudaStream_t stream) = 0;
  // `bytes` of device memory owned by the base (see Destruction above).
  void* own_device_memory(size_t bytes);
  // Makes `model` (cloned) the inference: a timed graph with the in-band probe (timed_graph.hpp),
  // uploaded; launch_timed_graph() runs it, graph_exec() returns it.
  void use_timed_graph(cudaGraph_t model);
  void launch_timed_graph(cudaStream_t stream);
  // The events that timed the last completed inference, and whether its body had no copy marks
  // (the cancellable armed form or the resident loop).
  EventPair last_timing() const noexcept { return last_timing_; }
  bool last_ran_unmarked() const noexcept { return last_unmarked_; }
  // The graph executable launched per inference, for cudaGraphUpload pre-warm (null: none).
  virtual cudaGraphExec_t graph_exec() const { return timed_.exec.get(); }
  // The model's work alone as a graph (no event nodes, no probe), for the cancellable armed form
  // and the resident loop: a conditional node's body may hold kernels, copies and child graphs but
  // no event nodes.
  virtual cudaGraph_t body_graph() const { return nullptr; }
  // The model's work as a graph for the one-graph armed form, where event nodes may stay
  // (GraphWorkload's copy marks); the body graph unless a subclass has more.
  virtual cudaGraph_t armed_body_graph() const { return body_graph(); }

 private:
  int device_;
  SyncMode sync_ = SyncMode::spin;
  Stream stream_;
  cudaStream_t lent_stream_ = nullptr;
  std::vector<DeviceBuffer> owned_memory_;  // freed after the armed program has ended
  Event outer_start_, outer_end_, done_blocking_;
  MappedHostBuffer<kernels::DoneWord> done_word_;  // SyncMode::flag: written by the GPU after each inference
  uint32_t done_seq_ = 0;
  WaitStats last_wait_;
  std::unique_ptr<InbandProbe> probe_;
  TimedGraph timed_;         // use_timed_graph's
  EventPair last_timing_{};  // the events that timed the last inference (set by launch and arm)
  bool last_unmarked_ = false;
  bool last_resident_ = false;  // the last inference ran in the resident loop (its stamps time it)
  std::unique_ptr<ArmedProgram> program_;
  uint32_t released_seq_ = 0;  // the last released armed sequence not yet waited for
  uint64_t gate_timeouts_ = 0;
  bool last_relaunched_ = false;

  // Behind an enqueued inference, what the sync mode's wait needs: the blocking-sync event
  // (block) or the kernel that writes the inference's number (flag).
  void mark_completion(cudaStream_t s);
  // Waits for the last enqueued work; deadline_ns 0: no deadline (else WaitTimeout past it).
  void wait_stream(int64_t deadline_ns);
  void wait_done_word(int64_t deadline_ns);
  // Between polls of mapped memory: every 200 us asks the stream, so a failed inference (whose
  // word never comes) raises its CUDA error instead of hanging, and checks the deadline
  // (WaitTimeout past it). now_and_then() returns whether the stream has finished.
  struct StreamCheck {
    static constexpr int64_t kAskEveryNs = 200'000;
    int64_t deadline_ns;  // 0: none
    int64_t ask_at = now_ns() + kAskEveryNs;
    bool now_and_then(CudaWorkload& w);
  };
  [[noreturn]] void throw_timeout(int64_t timeout_ns) const;
  // After a released inference completed: runs it again if its gate had timed out first.
  void relaunch_if_gate_timed_out(int64_t deadline_ns);
  // The resident loop's wait for the released frame: polls its done word, relaunches the loop
  // where it ended (idle timeout) before it ran the frame; deadline_ns 0: none.
  void wait_resident(int64_t deadline_ns);
  // What the armed program gets from this workload (its graphs, its probe, its name).
  ArmedProgram::Model armed_model();
  // The in-band probe, made at its first use (the timed graph and the one-graph armed form share it).
  InbandProbe& probe();
};

// A CUDA graph executable owned by someone else (PyTorch, TensorRT): launched, never freed.
class GraphExecWorkload final : public CudaWorkload {
 public:
  GraphExecWorkload(int device, uintptr_t graph_exec);
  std::string describe() const override;

 protected:
  cudaGraphExec_t graph_exec() const override { return exec_; }

 private:
  void enqueue(cudaStream_t stream) override;
  cudaGraphExec_t exec_;
};

// A CUDA graph owned by someone else, cloned into an executable trtpace owns with event record
// nodes at its start and end (use_timed_graph), so its device time excludes host submission; the
// in-band probe runs beside it. With copy graphs (an app's input copy in and output copy out,
// captured on their own), the inference runs [copy in -> mark -> model -> mark -> copy out] and
// the marks time the copies apart from the model (last_copies_us).
class GraphWorkload final : public CudaWorkload {
 public:
  GraphWorkload(int device, uintptr_t graph, uintptr_t copy_in = 0, uintptr_t copy_out = 0);
  std::string describe() const override;
  uintptr_t graph_exec_handle() const noexcept { return reinterpret_cast<uintptr_t>(graph_exec()); }
  bool last_copies_us(double& in_us, double& out_us) override;

 protected:
  // The cancellable armed form's conditional body may hold no event nodes: the chain without marks.
  cudaGraph_t body_graph() const override { return plain_chain_ ? plain_chain_.get() : child_; }
  cudaGraph_t armed_body_graph() const override { return child_; }

 private:
  void enqueue(cudaStream_t stream) override;
  cudaGraph_t child_ = nullptr;       // borrowed, or the marked chain below; its owner keeps it alive
  Graph marked_chain_, plain_chain_;  // with copy graphs: [in, mark, model, mark, out] and [in, model, out]
  Event mark_in_, mark_out_;
};

// Work enqueued by a callable on the workload's stream (a Python function, through the bindings).
class CallableWorkload final : public CudaWorkload {
 public:
  using Enqueue = std::function<void(uintptr_t stream)>;
  CallableWorkload(int device, Enqueue fn, std::string name, cudaStream_t lent_stream = nullptr);
  std::string describe() const override { return name_; }

 private:
  void enqueue(cudaStream_t stream) override;
  Enqueue fn_;
  std::string name_;
};

// Host-only busy work of a fixed duration: exercises the paced loop on machines with no GPU.
class HostWorkload final : public Workload {
 public:
  static constexpr double kMaxBusyUs = 3.6e9;  // one hour
  // busy_us: finite, 0 to kMaxBusyUs.
  explicit HostWorkload(double busy_us);
  void prepare(SyncMode) override {}
  void launch() override;
  void wait_complete() override { fault_check(FaultPoint::wait); }
  double last_device_us() override { return last_us_; }
  const char* device_timing() const override { return "host"; }
  int device() const override { return -1; }
  std::string describe() const override;

 private:
  int64_t busy_ns_;
  double last_us_ = 0.0;
};

}  // namespace trtpace
