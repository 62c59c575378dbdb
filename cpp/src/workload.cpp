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
}

void CudaWorkload::set_inner_events(cudaEvent_t start, cudaEvent_t end) noexcept {
  inner_start_ = start;
  inner_end_ = end;
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
  if (resident_) return __atomic_load_n(&resident_->words().done_gt, __ATOMIC_ACQUIRE);
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
  if (armed_) throw WaitTimeout(waited + ": it is armed and was not released (release() opens the gate)");
  throw WaitTimeout(waited +
                    ": the GPU has not finished it (is a device-wide synchronize, or other work on its "
                    "stream or device, holding it?)");
}

uint64_t CudaWorkload::gate_seen_gt() const noexcept {
  if (resident_) return resident_->words().seen_gt;
  return gate_ ? gate_->words().seen_gt : 0;
}

void CudaWorkload::wait_resident(int64_t deadline_ns) {
  last_wait_ = WaitStats{};
  last_relaunched_ = false;
  const uint32_t frame = released_seq_;
  if (!frame) {  // nothing in flight: the last frame is complete, or the armed one not released
    if (armed_) throw WaitTimeout("nothing was released: it is armed and was not released (release() opens the gate)");
    return;
  }
  // The loop's stream is busy while it runs: "not ready" is the stream check's normal answer, and
  // "finished" means the loop ended, which the next poll says.
  StreamCheck check{deadline_ns};
  for (;;) {
    const ResidentLoop::Progress p = resident_->poll(frame);
    if (p == ResidentLoop::Progress::done) break;
    if (p == ResidentLoop::Progress::ended) {
      // It ended (idle timeout) just before the release: launched again, it sees the release at once.
      ++gate_timeouts_;
      last_relaunched_ = true;
      resident_->ensure_running();
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
  if (!seq || !gate_ || gate_->words().timed_out_seq != seq) return;
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

InbandProbe& CudaWorkload::make_probe() {
  probe_ = std::make_unique<InbandProbe>();
  return *probe_;
}

namespace {
std::vector<cudaGraphNode_t> graph_nodes(cudaGraph_t graph) {
  size_t n = 0;
  TRTPACE_CUDA_CHECK(cudaGraphGetNodes(graph, nullptr, &n));
  std::vector<cudaGraphNode_t> nodes(n);
  if (n) TRTPACE_CUDA_CHECK(cudaGraphGetNodes(graph, nodes.data(), &n));
  return nodes;
}

size_t dependents(cudaGraphNode_t node) {
  size_t n = 0;
  TRTPACE_CUDA_CHECK(TRTPACE_GRAPH_V2(cudaGraphNodeGetDependentNodes)(node, nullptr, nullptr, &n));
  return n;
}

size_t dependencies(cudaGraphNode_t node) {
  size_t n = 0;
  TRTPACE_CUDA_CHECK(TRTPACE_GRAPH_V2(cudaGraphNodeGetDependencies)(node, nullptr, nullptr, &n));
  return n;
}

bool is_kernel(cudaGraphNode_t node) {
  cudaGraphNodeType type{};
  TRTPACE_CUDA_CHECK(cudaGraphNodeGetType(node, &type));
  return type == cudaGraphNodeTypeKernel;
}

// from -> to; a programmatic edge lets `to` launch once every block of `from` has triggered
// (griddepcontrol.launch_dependents) instead of once `from` has exited.
void add_edge(cudaGraph_t graph, cudaGraphNode_t from, cudaGraphNode_t to, bool programmatic) {
  cudaGraphEdgeData edge{};
  if (programmatic) {
    edge.from_port = cudaGraphKernelNodePortProgrammatic;
    edge.type = cudaGraphDependencyTypeProgrammatic;
  }
  TRTPACE_CUDA_CHECK(TRTPACE_GRAPH_V2(cudaGraphAddDependencies)(graph, &from, &to, &edge, 1));
}
}  // namespace

Graph CudaWorkload::timed_graph(cudaGraph_t model, const ArmedGate* gate, bool pdl) {
  if (!timed_start_) timed_start_ = make_event();
  if (!timed_end_) timed_end_ = make_event();
  const InbandProbe& probe = probe_ ? *probe_ : make_probe();
  set_inner_events(timed_start_.get(), timed_end_.get());
  cudaGraphNode_t start = nullptr, end = nullptr;
  if (!gate || !pdl) {
    // [gate ->] start event -> {probe, model as a child graph} ; model -> end event. The probe
    // node is made before the model's: this is the layout whose in-band clock reading was checked
    // against NVML under load (tests/test_gpu.py); with the probe added after a flat copy of the
    // model's nodes it read 1.2-1.3 GHz on an H100 at 1.98 GHz.
    cudaGraph_t raw = nullptr;
    TRTPACE_CUDA_CHECK(cudaGraphCreate(&raw, 0));
    Graph graph(raw);
    cudaGraphNode_t gate_node = gate ? gate->add_gate_node(raw) : nullptr;
    TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&start, raw, &gate_node, gate_node ? 1 : 0, timed_start_.get()));
    probe.add_node(raw, &start, 1);
    cudaGraphNode_t body = nullptr;
    TRTPACE_CUDA_CHECK(cudaGraphAddChildGraphNode(&body, raw, &start, 1, model));  // clones `model`
    TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&end, raw, &body, 1, timed_end_.get()));
    return graph;
  }
  // Armed with programmatic edges, which only join kernel nodes: the model's nodes are cloned to
  // the top level, the gate is the one root, the model's first kernels and the probe launch on
  // the gate's trigger, and the start event follows the gate's exit beside them.
  cudaGraph_t raw = nullptr;
  TRTPACE_CUDA_CHECK(cudaGraphClone(&raw, model));
  Graph graph(raw);
  std::vector<cudaGraphNode_t> roots, leaves;  // the model's first and last nodes
  for (cudaGraphNode_t node : graph_nodes(raw)) {
    if (!dependencies(node)) roots.push_back(node);
    if (!dependents(node)) leaves.push_back(node);
  }
  cudaGraphNode_t gate_node = gate->add_gate_node(raw);
  TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&start, raw, &gate_node, 1, timed_start_.get()));
  add_edge(raw, gate_node, probe.add_node(raw, nullptr, 0), true);
  for (cudaGraphNode_t root : roots) add_edge(raw, gate_node, root, is_kernel(root));
  TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&end, raw, leaves.data(), leaves.size(), timed_end_.get()));
  return graph;
}

void CudaWorkload::launch() {
  last_was_armed_graph_ = false;
  last_was_resident_ = false;
  fault_check(FaultPoint::launch);
  // A plain launch behind the running loop would wait for it to end: the loop ends first (the
  // next arm launches it again).
  if (resident_ && resident_->running()) end_armed();
  const cudaStream_t s = stream();
  if (!inner_start_) TRTPACE_CUDA_CHECK(cudaEventRecord(outer_start_.get(), s));
  enqueue(s);
  if (!inner_start_) TRTPACE_CUDA_CHECK(cudaEventRecord(outer_end_.get(), s));
  mark_completion(s);
}

void CudaWorkload::wait_complete() {
  fault_check(FaultPoint::wait);
  if (resident_) return wait_resident(0);
  wait_stream(0);
  relaunch_if_gate_timed_out(0);
}

void CudaWorkload::wait_complete_for(int64_t timeout_ns) {
  if (timeout_ns <= 0) throw std::invalid_argument("a wait timeout must be > 0 ns");
  fault_check(FaultPoint::wait);
  const int64_t deadline = now_ns() + timeout_ns;
  try {
    if (resident_) return wait_resident(deadline);
    wait_stream(deadline);
    relaunch_if_gate_timed_out(deadline);
  } catch (const WaitTimeout& e) {
    if (*e.what()) throw;  // it says what it waited for already (a resident frame never released)
    throw_timeout(timeout_ns);
  }
}

cudaEvent_t CudaWorkload::last_start_event() const noexcept {
  if (last_was_armed_graph_) return armed_start_.get();  // the cancellable armed graph times itself
  return inner_start_ ? inner_start_ : outer_start_.get();
}

cudaEvent_t CudaWorkload::last_end_event() const noexcept {
  if (last_was_armed_graph_) return armed_end_.get();
  return inner_end_ ? inner_end_ : outer_end_.get();
}

double CudaWorkload::last_device_us() {
  if (last_was_resident_) return resident_->last_device_us();
  const cudaEvent_t start = last_start_event();
  const cudaEvent_t end = last_end_event();
  // With the flag the host may see the word before the driver has noted the end event; it has
  // happened on the GPU, so this returns at once.
  if (sync_ == SyncMode::flag) TRTPACE_CUDA_CHECK(cudaEventSynchronize(end));
  return elapsed_us(start, end);
}

const char* CudaWorkload::device_timing() const {
  if (resident_) return "resident-globaltimer";  // from the release seen to the done word, on the GPU
  return inner_start_ ? "graph-event-nodes" : "stream-events";
}

void Workload::enable_arming(const ArmOptions&) {
  throw TrtpaceError(describe() + " cannot be armed: armed launch needs a GPU workload");
}
void Workload::arm() { throw TrtpaceError("arm() before enable_arming()"); }
void Workload::release() { throw TrtpaceError("release() without an armed inference"); }
void Workload::cancel() {}

CudaWorkload::~CudaWorkload() { end_armed(); }

std::string CudaWorkload::resident_unavailable_why() const {
  if (!body_graph())
    return describe() +
           " is not a CUDA graph (the loop runs the model as one: from_graph, from_torch, synthetic graph)";
  if (const Features f = device_features(device_); !f.conditional_nodes.on) return f.conditional_nodes.why;
  return "";
}

void CudaWorkload::enable_arming(const ArmOptions& requested) {
  if (armed_) throw TrtpaceError("cannot change arming while an inference is armed");
  DeviceGuard guard(device_);
  ArmOptions options = requested;
  resident_fallback_why_.clear();
  if (options.gate == GateKind::resident) {
    if (options.cancellable)
      throw std::invalid_argument(
          "armed:resident has no cancellable form: the loop runs nothing until a release (cancel() ends the loop)");
    resident_fallback_why_ = resident_unavailable_why();
    if (resident_fallback_why_.empty()) {
      end_armed();
      gate_.reset();
      armed_exec_ = GraphExec();
      resident_ = std::make_unique<ResidentLoop>(device_, stream(), body_graph(), options.timeout_ns);
      return;
    }
    options.gate = GateKind::kernel;  // per-frame arming: what resident_fallback_why() says
  }
  end_armed();
  resident_.reset();
  auto gate = std::make_unique<ArmedGate>(device_, options);
  GraphExec exec;
  bool programmatic = false;
  if (options.cancellable) {
    const cudaGraph_t body = body_graph();
    if (!body)
      throw TrtpaceError(describe() +
                         " cannot be armed cancellably: that needs the model as a CUDA graph "
                         "(synthetic graph workloads, from_graph, from_torch); use the non-cancellable form");
    if (const Features f = device_features(device_); !f.conditional_nodes.on)
      throw TrtpaceError("armed cancellable is not available here: " + f.conditional_nodes.why);
    if (!armed_start_) armed_start_ = make_event();
    if (!armed_end_) armed_end_ = make_event();
    cudaGraph_t raw = nullptr;
    TRTPACE_CUDA_CHECK(cudaGraphCreate(&raw, 0));
    Graph graph(raw);
    cudaGraphConditionalHandle handle{};
    TRTPACE_CUDA_CHECK(cudaGraphConditionalHandleCreate(&handle, raw, 0, cudaGraphCondAssignDefault));
    const cudaGraphNode_t gate_node = gate->add_condition_node(raw, handle);
    cudaGraphNode_t start = nullptr, cond = nullptr, end = nullptr, child = nullptr;
    // Event nodes stay outside the conditional body (a body may not hold them).
    TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&start, raw, &gate_node, 1, armed_start_.get()));
    cudaGraphNodeParams cp{};
    cp.type = cudaGraphNodeTypeConditional;
    cp.conditional.handle = handle;
    cp.conditional.type = cudaGraphCondTypeIf;
    cp.conditional.size = 1;
    TRTPACE_CUDA_CHECK(TRTPACE_GRAPH_V2(cudaGraphAddNode)(&cond, raw, &start, nullptr, 1, &cp));
    TRTPACE_CUDA_CHECK(cudaGraphAddChildGraphNode(&child, cp.conditional.phGraph_out[0], nullptr, 0, body));
    TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&end, raw, &cond, 1, armed_end_.get()));
    exec = instantiate(raw);
    TRTPACE_CUDA_CHECK(cudaGraphUpload(exec.get(), stream()));
    TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream()));
  } else if (options.gate == GateKind::kernel && body_graph()) {
    // One graph: the gate node first, then the inference's graph (timed_graph), so arming is one
    // launch and the release reaches the work with no second submission behind it. Programmatic
    // edges where the GPU takes them (a driver may refuse them for some kernels: plain edges then).
    bool pdl = device_features(device_).programmatic_edges.on;
    try {
      exec = instantiate(timed_graph(armed_body_graph(), gate.get(), pdl).get());
    } catch (const CudaError&) {
      if (!pdl) throw;
      (void)cudaGetLastError();
      pdl = false;
      exec = instantiate(timed_graph(armed_body_graph(), gate.get(), false).get());
    }
    programmatic = pdl;
    TRTPACE_CUDA_CHECK(cudaGraphUpload(exec.get(), stream()));
    TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream()));
    gate->set_in_graph(true);
  }
  gate_ = std::move(gate);
  armed_exec_ = std::move(exec);
  armed_programmatic_ = programmatic;
}

void CudaWorkload::arm() {
  if (!gate_ && !resident_) throw TrtpaceError("arm() before enable_arming()");
  if (armed_) throw TrtpaceError("already armed: release() or cancel() the armed inference first");
  if (resident_) {  // the loop waits for the next frame already, unless it is not running yet or ended
    resident_->ensure_running();
    last_was_armed_graph_ = true;  // its body has no marks (last_copies_us)
    last_was_resident_ = true;
    armed_ = true;
    return;
  }
  last_was_resident_ = false;
  const cudaStream_t s = stream();
  const uint32_t seq = gate_->next_seq();
  gate_->set_armed(seq);
  gate_->enqueue(s, seq);
  if (armed_exec_) {
    TRTPACE_CUDA_CHECK(cudaGraphLaunch(armed_exec_.get(), s));
    mark_completion(s);
    // The cancellable graph times the device part with its own events; the one-graph form runs
    // the inference's graph, whose inner events do.
    last_was_armed_graph_ = gate_->options().cancellable;
  } else {
    launch();
  }
  armed_ = true;
}

void CudaWorkload::release() {
  if (!armed_) throw TrtpaceError("release() without an armed inference: arm() first");
  released_seq_ = resident_ ? resident_->release() : gate_->release();
  armed_ = false;
}

void CudaWorkload::cancel() {
  if (resident_) {  // ends the loop, armed or not: nothing is left spinning (the next arm relaunches it)
    end_armed();
    return;
  }
  if (!armed_) return;  // nothing armed: cancelling twice is harmless
  gate_->cancel();
  armed_ = false;
  released_seq_ = 0;
  TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream()));
}

void CudaWorkload::end_armed() noexcept {
  if (resident_) {
    resident_->stop();
    armed_ = false;
    released_seq_ = 0;
    return;
  }
  if (!armed_ || !gate_) return;
  gate_->cancel();  // never leave the stream blocked behind a gate nobody will open
  armed_ = false;
  TRTPACE_CUDA_CHECK_NOEXCEPT(cudaStreamSynchronize(stream()));
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
  const Graph timed = timed_graph(child_);
  exec_ = instantiate(timed.get());
}

bool GraphWorkload::last_copies_us(double& in_us, double& out_us) {
  if (!mark_in_ || last_was_cancellable_graph()) return false;
  in_us = elapsed_us(last_start_event(), mark_in_.get());
  out_us = elapsed_us(mark_out_.get(), last_end_event());
  return true;
}

void GraphWorkload::enqueue(cudaStream_t stream) { TRTPACE_CUDA_CHECK(cudaGraphLaunch(exec_.get(), stream)); }

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
