#include "trtpace/workload.hpp"

#include <sched.h>

#include <stdexcept>
#include <string>
#include <vector>

#include "cuda_compat.hpp"
#include "device.hpp"
#include "features.hpp"
#include "module_loading.hpp"
#include "trtpace/checked.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/errors.hpp"
#include "trtpace/kernels.hpp"
#include "trtpace/warm.hpp"

namespace trtpace {

#ifdef TRTPACE_TEST_HOOKS
void Workload::inject_fault(FaultPoint point, uint64_t n) {
  if (point != FaultPoint::none && n < 1) throw std::invalid_argument("inject_fault needs n >= 1");
  fault_point_ = point;
  fault_countdown_ = point == FaultPoint::none ? 0 : n;
}

void Workload::fault_hit() {
  if (--fault_countdown_ > 0) return;
  const FaultPoint point = fault_point_;
  fault_point_ = FaultPoint::none;
  throw TrtpaceError(std::string("injected fault at ") + to_string(point));
}
#endif

CudaWorkload::CudaWorkload(int device, cudaStream_t lent_stream) : device_(device), lent_stream_(lent_stream) {
  load_kernels(device);  // before any gate can spin on this device (module_loading.hpp)
  DeviceGuard guard(device);
  if (!lent_stream_) stream_ = make_stream();
  outer_start_ = make_event();
  outer_end_ = make_event();
  done_blocking_ = make_event(cudaEventBlockingSync | cudaEventDisableTiming);
  last_timing_ = {outer_start_.get(), outer_end_.get()};
}

void* CudaWorkload::own_device_memory(size_t bytes) {
  DeviceGuard guard(device_);
  owned_memory_.emplace_back(bytes);
  return owned_memory_.back().get();
}

void CudaWorkload::use_timed_graph(cudaGraph_t model) {
  DeviceGuard guard(device_);
  timed_ = make_timed_graph(model, probe());
  TRTPACE_CUDA_CHECK(cudaGraphUpload(timed_.exec.get(), stream()));
  TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void CudaWorkload::launch_timed_graph(cudaStream_t stream) {
  TRTPACE_CUDA_CHECK(cudaGraphLaunch(timed_.exec.get(), stream));
}

void CudaWorkload::prepare(SyncMode sync) {
  sync_ = sync;
  if (sync == SyncMode::flag && !done_word_.host()) {
    DeviceGuard guard(device_);  // mapped into this device's context
    done_word_ = MappedHostBuffer<kernels::DoneWord>(1);
  }
}

void CudaWorkload::mark_completion(cudaStream_t s) {
  if (sync_ == SyncMode::block) TRTPACE_CUDA_CHECK(cudaEventRecord(done_blocking_.get(), s));
  if (sync_ == SyncMode::flag) kernels::signal_done(done_word_.device(), ++done_seq_, s);
}

bool CudaWorkload::StreamCheck::now_and_then(CudaWorkload& w) {
  cpu_relax();
  const int64_t t = now_ns();
  if (t < ask_at) return false;
  const cudaError_t st = cudaStreamQuery(w.stream());
  ++w.last_wait_.driver_calls;
  w.last_wait_.driver_ns += now_ns() - t;
  if (st == cudaSuccess) return true;
  if (st != cudaErrorNotReady) throw_cuda_error(st, "cudaStreamQuery(stream)", __FILE__, __LINE__);
  if (deadline_ns && t > deadline_ns) throw WaitTimeout("");
  ask_at = now_ns() + kAskEveryNs;
  return false;
}

void CudaWorkload::wait_done_word(int64_t deadline_ns) {
  const uint32_t want = done_seq_;
  StreamCheck check{deadline_ns};
  while (__atomic_load_n(&done_word_.host()->seq, __ATOMIC_ACQUIRE) != want)
    if (check.now_and_then(*this)) return;  // a finished stream has written the word
}

uint64_t CudaWorkload::last_done_gt() const noexcept {
  if (const ResidentLoop* loop = resident()) return __atomic_load_n(&loop->words().done_gt, __ATOMIC_ACQUIRE);
  const kernels::DoneWord* w = done_word_.host();
  return w ? __atomic_load_n(&w->done_gt, __ATOMIC_ACQUIRE) : 0;
}

void CudaWorkload::wait_stream(int64_t deadline_ns) {
  last_wait_ = WaitStats{};
  if (sync_ == SyncMode::flag) return wait_done_word(deadline_ns);
  if (sync_ == SyncMode::block && !deadline_ns) {
    const int64_t t = now_ns();
    TRTPACE_CUDA_CHECK(cudaEventSynchronize(done_blocking_.get()));
    last_wait_ = WaitStats{1, now_ns() - t};
    return;
  }
  // A blocking-sync event cannot be waited on with a deadline: with one, it is polled, sleeping
  // between polls as the blocking wait would.
  // The polls are the wait: it is timed once, not per poll (no clock reads added to the loop).
  const bool sleepy = sync_ == SyncMode::block;
  const int64_t start = now_ns();
  cudaError_t st;
  const auto query = [&] {
    ++last_wait_.driver_calls;
    return sleepy ? cudaEventQuery(done_blocking_.get()) : cudaStreamQuery(stream());
  };
  while ((st = query()) == cudaErrorNotReady) {
    if (deadline_ns && now_ns() > deadline_ns) throw WaitTimeout("");
    if (sleepy)
      sleep_ns(20'000);
    else if (sync_ == SyncMode::yield)
      sched_yield();
    else
      cpu_relax();
  }
  last_wait_.driver_ns = now_ns() - start;
  if (st != cudaSuccess) throw_cuda_error(st, "cudaStreamQuery(stream)", __FILE__, __LINE__);
}

void CudaWorkload::throw_timeout(int64_t timeout_ns) const {
  const std::string waited =
      "waited " + std::to_string(double(timeout_ns) * 1e-9).substr(0, 5) + " s for " + describe() + "'s inference";
  if (armed()) throw WaitTimeout(waited + ": it is armed and was not released (release() opens the gate)");
  throw WaitTimeout(waited +
                    ": the GPU has not finished it (is a device-wide synchronize, or other work on its "
                    "stream or device, holding it?)");
}

void CudaWorkload::wait_resident(int64_t deadline_ns) {
  last_wait_ = WaitStats{};
  last_relaunched_ = false;
  ResidentLoop& loop = *program_->resident();
  const uint32_t frame = released_seq_;
  if (!frame) {  // nothing in flight: the last frame is complete, or the armed one not released
    if (armed()) throw WaitTimeout("nothing was released: it is armed and was not released (release() opens the gate)");
    return;
  }
  // The loop's stream is busy while it runs: "not ready" is the stream check's normal answer, and
  // "finished" means the loop ended, which the next poll says.
  StreamCheck check{deadline_ns};
  for (;;) {
    const ResidentLoop::Progress p = loop.poll(frame);
    if (p == ResidentLoop::Progress::done) break;
    if (p == ResidentLoop::Progress::ended) {
      // It ended (idle timeout) just before the release: launched again, it sees the release at once.
      ++gate_timeouts_;
      last_relaunched_ = true;
      loop.ensure_running();
      continue;
    }
    check.now_and_then(*this);
  }
  released_seq_ = 0;
}

void CudaWorkload::relaunch_if_gate_timed_out(int64_t deadline_ns) {
  last_relaunched_ = false;
  const uint32_t seq = released_seq_;
  released_seq_ = 0;
  if (!seq || !program_ || !program_->gate_timed_out(seq)) return;
  ++gate_timeouts_;
  launch();
  wait_stream(deadline_ns);
  last_relaunched_ = true;
}

bool CudaWorkload::prewarm_own_path(int64_t work_ns, bool graph_upload) {
  check_ns_range(work_ns, "pre-warm work", 0, kMaxFillerNs);
  DeviceGuard guard(device_);  // callable from any thread (trtpace.Pacer's pre-warm thread)
  if (graph_upload) {
    if (!graph_exec()) return false;
    TRTPACE_CUDA_CHECK(cudaGraphUpload(graph_exec(), stream()));
    return true;
  }
  kernels::spin_for(uint64_t(work_ns < 0 ? 0 : work_ns), stream());
  return true;
}

void CudaWorkload::launch() {
  last_unmarked_ = false;
  last_resident_ = false;
  fault_check(FaultPoint::launch);
  // A plain launch behind the running loop would wait for it to end: the loop ends first (the
  // next arm launches it again).
  if (const ResidentLoop* loop = resident(); loop && loop->running()) program_->end();
  const cudaStream_t s = stream();
  const bool outer = !timed_;  // a timed graph times itself
  if (outer) TRTPACE_CUDA_CHECK(cudaEventRecord(outer_start_.get(), s));
  enqueue(s);
  if (outer) TRTPACE_CUDA_CHECK(cudaEventRecord(outer_end_.get(), s));
  last_timing_ = outer ? EventPair{outer_start_.get(), outer_end_.get()} : timed_.events();
  mark_completion(s);
}

void CudaWorkload::wait_complete() {
  fault_check(FaultPoint::wait);
  if (resident()) return wait_resident(0);
  wait_stream(0);
  relaunch_if_gate_timed_out(0);
}

void CudaWorkload::wait_complete_for(int64_t timeout_ns) {
  if (timeout_ns <= 0) throw std::invalid_argument("a wait timeout must be > 0 ns");
  fault_check(FaultPoint::wait);
  const int64_t deadline = now_ns() + timeout_ns;
  try {
    if (resident()) return wait_resident(deadline);
    wait_stream(deadline);
    relaunch_if_gate_timed_out(deadline);
  } catch (const WaitTimeout& e) {
    if (*e.what()) throw;  // it says what it waited for already (a resident frame never released)
    throw_timeout(timeout_ns);
  }
}

double CudaWorkload::last_device_us() {
  if (last_resident_) {
    const ResidentLoop* loop = resident();
    return loop ? loop->last_device_us() : 0.0;
  }
  const cudaEvent_t start = last_timing_.start;
  const cudaEvent_t end = last_timing_.end;
  // With the flag the host may see the word before the driver has noted the end event; it has
  // happened on the GPU, so this returns at once.
  if (sync_ == SyncMode::flag) TRTPACE_CUDA_CHECK(cudaEventSynchronize(end));
  return elapsed_us(start, end);
}

const char* CudaWorkload::device_timing() const {
  if (resident()) return "resident-globaltimer";  // from the release seen to the done word, on the GPU
  return timed_ ? "graph-event-nodes" : "stream-events";
}

void Workload::enable_arming(const ArmOptions&) {
  throw TrtpaceError(describe() + " cannot be armed: armed launch needs a GPU workload");
}
void Workload::arm() { throw TrtpaceError("arm() before enable_arming()"); }
void Workload::release() { throw TrtpaceError("release() without an armed inference"); }
void Workload::cancel() {}

CudaWorkload::~CudaWorkload() {
  // Before any member is freed (freeing memory waits for the device): nothing armed stays
  // behind, here or in another workload's resident loop.
  program_.reset();
  ResidentLoop::stop_all_running();
}

InbandProbe& CudaWorkload::probe() {
  if (!probe_) probe_ = std::make_unique<InbandProbe>();
  return *probe_;
}

ArmedProgram::Model CudaWorkload::armed_model() {
  ArmedProgram::Model m{body_graph(), armed_body_graph(), nullptr, describe()};
  if (m.armed_body) m.probe = &probe();
  return m;
}

std::string CudaWorkload::resident_unavailable_why() const {
  return ArmedProgram::resident_unavailable_why(device_, {body_graph(), nullptr, nullptr, describe()});
}

void CudaWorkload::enable_arming(const ArmOptions& options) {
  if (armed()) throw TrtpaceError("cannot change arming while an inference is armed");
  DeviceGuard guard(device_);
  // The old program ends first (its destructor): a resident loop still running would hold the
  // stream the new program's upload waits for.
  program_.reset();
  released_seq_ = 0;
  program_ = std::make_unique<ArmedProgram>(device_, stream(), options, armed_model());
}

void CudaWorkload::arm() {
  if (!program_) throw TrtpaceError("arm() before enable_arming()");
  switch (program_->arm()) {
    case ArmedProgram::Then::mark_completion:
      mark_completion(stream());
      break;
    case ArmedProgram::Then::launch:
      launch();
      break;
    case ArmedProgram::Then::nothing:
      break;
  }
  if (const std::optional<EventPair> t = program_->timing()) last_timing_ = *t;
  last_unmarked_ = program_->unmarked();
  last_resident_ = program_->resident() != nullptr;
}

void CudaWorkload::release() {
  if (!armed()) throw TrtpaceError("release() without an armed inference: arm() first");
  released_seq_ = program_->release();
}

void CudaWorkload::cancel() {
  if (!program_) return;
  program_->cancel();
  released_seq_ = 0;
}

GraphExecWorkload::GraphExecWorkload(int device, uintptr_t graph_exec)
    : CudaWorkload(device), exec_(reinterpret_cast<cudaGraphExec_t>(graph_exec)) {
  if (!exec_) throw std::invalid_argument("graph exec handle is null");
}

void GraphExecWorkload::enqueue(cudaStream_t stream) { TRTPACE_CUDA_CHECK(cudaGraphLaunch(exec_, stream)); }

std::string GraphExecWorkload::describe() const { return "cuda graph exec (borrowed)"; }

namespace {
// [a -> (mark_a) -> b -> (mark_b) -> c] as child graph nodes (each cloned); marks may be null.
Graph chain_graph(cudaGraph_t a, cudaGraph_t b, cudaGraph_t c, cudaEvent_t mark_a, cudaEvent_t mark_b) {
  cudaGraph_t raw = nullptr;
  TRTPACE_CUDA_CHECK(cudaGraphCreate(&raw, 0));
  Graph graph(raw);
  cudaGraphNode_t prev = nullptr;
  auto add_child = [&](cudaGraph_t child) {
    cudaGraphNode_t node = nullptr;
    TRTPACE_CUDA_CHECK(cudaGraphAddChildGraphNode(&node, raw, &prev, prev ? 1 : 0, child));
    prev = node;
  };
  auto add_mark = [&](cudaEvent_t event) {
    if (!event) return;
    cudaGraphNode_t node = nullptr;
    TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&node, raw, &prev, 1, event));
    prev = node;
  };
  add_child(a);
  add_mark(mark_a);
  add_child(b);
  add_mark(mark_b);
  add_child(c);
  return graph;
}
}  // namespace

GraphWorkload::GraphWorkload(int device, uintptr_t graph, uintptr_t copy_in, uintptr_t copy_out)
    : CudaWorkload(device) {
  child_ = reinterpret_cast<cudaGraph_t>(graph);
  if (!child_) throw std::invalid_argument("graph handle is null");
  if (!copy_in != !copy_out) throw std::invalid_argument("copy graphs come in pairs: copy_in and copy_out");
  DeviceGuard guard(device);
  if (copy_in) {
    auto in = reinterpret_cast<cudaGraph_t>(copy_in);
    auto out = reinterpret_cast<cudaGraph_t>(copy_out);
    mark_in_ = make_event();
    mark_out_ = make_event();
    marked_chain_ = chain_graph(in, child_, out, mark_in_.get(), mark_out_.get());
    plain_chain_ = chain_graph(in, child_, out, nullptr, nullptr);
    child_ = marked_chain_.get();
  }
  use_timed_graph(child_);
}

bool GraphWorkload::last_copies_us(double& in_us, double& out_us) {
  if (!mark_in_ || last_ran_unmarked()) return false;
  in_us = elapsed_us(last_timing().start, mark_in_.get());
  out_us = elapsed_us(mark_out_.get(), last_timing().end);
  return true;
}

void GraphWorkload::enqueue(cudaStream_t stream) { launch_timed_graph(stream); }

std::string GraphWorkload::describe() const {
  return mark_in_ ? "cuda graph with copy graphs (wrapped with event nodes)" : "cuda graph (wrapped with event nodes)";
}

CallableWorkload::CallableWorkload(int device, Enqueue fn, std::string name, cudaStream_t lent_stream)
    : CudaWorkload(device, lent_stream), fn_(std::move(fn)), name_(std::move(name)) {}

void CallableWorkload::enqueue(cudaStream_t stream) { fn_(reinterpret_cast<uintptr_t>(stream)); }

HostWorkload::HostWorkload(double busy_us)
    : busy_ns_(checked_ns(busy_us, 1e3, "host workload busy_us", 0, int64_t(kMaxBusyUs * 1e3))) {}

void HostWorkload::launch() {
  fault_check(FaultPoint::launch);
  const int64_t start = now_ns();
  while (now_ns() - start < busy_ns_) cpu_relax();
  last_us_ = double(now_ns() - start) * 1e-3;
}

std::string HostWorkload::describe() const { return "host busy " + std::to_string(busy_ns_ / 1000) + " us"; }

}  // namespace trtpace
