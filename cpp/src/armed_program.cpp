// ArmedProgram (armed.hpp): the four forms of an armed launch, built once, armed per inference.
#include <stdexcept>
#include <string>

#include "cuda_compat.hpp"
#include "features.hpp"
#include "trtpace/armed.hpp"
#include "trtpace/cuda_check.hpp"
#include "trtpace/errors.hpp"

namespace trtpace {

std::string ArmedProgram::resident_unavailable_why(int device, const Model& model) {
  if (!model.body)
    return model.name +
           " is not a CUDA graph (the loop runs the model as one: from_graph, from_torch, synthetic graph)";
  if (const Features f = device_features(device); !f.conditional_nodes.on) return f.conditional_nodes.why;
  return "";
}

ArmedProgram::ArmedProgram(int device, cudaStream_t stream, const ArmOptions& requested, const Model& model)
    : stream_(stream), options_(requested) {
  DeviceGuard guard(device);
  if (options_.gate == GateKind::resident) {
    if (options_.cancellable)
      throw std::invalid_argument(
          "armed:resident has no cancellable form: the loop runs nothing until a release (cancel() ends the loop)");
    fallback_why_ = resident_unavailable_why(device, model);
    if (fallback_why_.empty()) {
      resident_ = std::make_unique<ResidentLoop>(device, stream_, model.body, options_.timeout_ns);
      return;
    }
    options_.gate = GateKind::kernel;  // per-frame arming: what fallback_why() says
  }
  gate_ = std::make_unique<ArmedGate>(device, options_);
  if (options_.cancellable) {
    build_cancellable(device, model);
  } else if (options_.gate == GateKind::kernel && model.armed_body) {
    build_one_graph(device, model);
    gate_->set_in_graph(true);
  }
}

void ArmedProgram::build_cancellable(int device, const Model& model) {
  if (!model.body)
    throw TrtpaceError(model.name +
                       " cannot be armed cancellably: that needs the model as a CUDA graph "
                       "(synthetic graph workloads, from_graph, from_torch); use the non-cancellable form");
  if (const Features f = device_features(device); !f.conditional_nodes.on)
    throw TrtpaceError("armed cancellable is not available here: " + f.conditional_nodes.why);
  cancellable_start_ = make_event();
  cancellable_end_ = make_event();
  cudaGraph_t raw = nullptr;
  TRTPACE_CUDA_CHECK(cudaGraphCreate(&raw, 0));
  Graph graph(raw);
  cudaGraphConditionalHandle handle{};
  TRTPACE_CUDA_CHECK(cudaGraphConditionalHandleCreate(&handle, raw, 0, cudaGraphCondAssignDefault));
  const cudaGraphNode_t gate_node = gate_->add_condition_node(raw, handle);
  cudaGraphNode_t start = nullptr, cond = nullptr, end = nullptr, child = nullptr;
  // Event nodes stay outside the conditional body (a body may not hold them).
  TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&start, raw, &gate_node, 1, cancellable_start_.get()));
  cudaGraphNodeParams cp{};
  cp.type = cudaGraphNodeTypeConditional;
  cp.conditional.handle = handle;
  cp.conditional.type = cudaGraphCondTypeIf;
  cp.conditional.size = 1;
  TRTPACE_CUDA_CHECK(TRTPACE_GRAPH_V2(cudaGraphAddNode)(&cond, raw, &start, nullptr, 1, &cp));
  TRTPACE_CUDA_CHECK(cudaGraphAddChildGraphNode(&child, cp.conditional.phGraph_out[0], nullptr, 0, model.body));
  TRTPACE_CUDA_CHECK(cudaGraphAddEventRecordNode(&end, raw, &cond, 1, cancellable_end_.get()));
  cancellable_ = instantiate(raw);
  TRTPACE_CUDA_CHECK(cudaGraphUpload(cancellable_.get(), stream_));
  TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void ArmedProgram::build_one_graph(int device, const Model& model) {
  // Programmatic edges where the GPU takes them (a driver may refuse them for some kernels: plain
  // edges then).
  if (!model.probe) throw std::logic_error("the one-graph armed form needs the workload's probe");
  bool pdl = device_features(device).programmatic_edges.on;
  try {
    one_graph_ = make_timed_graph(model.armed_body, *model.probe, gate_.get(), pdl);
  } catch (const CudaError&) {
    if (!pdl) throw;
    (void)cudaGetLastError();
    pdl = false;
    one_graph_ = make_timed_graph(model.armed_body, *model.probe, gate_.get(), false);
  }
  programmatic_ = pdl;
  TRTPACE_CUDA_CHECK(cudaGraphUpload(one_graph_.exec.get(), stream_));
  TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

ArmedProgram::~ArmedProgram() { end(); }

ArmedProgram::Then ArmedProgram::arm() {
  if (armed_) throw TrtpaceError("already armed: release() or cancel() the armed inference first");
  if (resident_) {  // the loop waits for the next frame already, unless it is not running yet or ended
    resident_->ensure_running();
    armed_ = true;
    return Then::nothing;
  }
  const uint32_t seq = gate_->next_seq();
  gate_->set_armed(seq);
  gate_->enqueue(stream_, seq);
  Then then = Then::launch;
  if (const cudaGraphExec_t exec = cancellable_ ? cancellable_.get() : one_graph_.exec.get()) {
    TRTPACE_CUDA_CHECK(cudaGraphLaunch(exec, stream_));
    then = Then::mark_completion;
  }
  armed_ = true;
  return then;
}

uint32_t ArmedProgram::release() noexcept {
  armed_ = false;
  return resident_ ? resident_->release() : gate_->release();
}

void ArmedProgram::cancel() {
  if (resident_) {  // ends the loop, armed or not: nothing is left spinning (the next arm relaunches it)
    end();
    return;
  }
  if (!armed_) return;  // nothing armed: cancelling twice is harmless
  gate_->cancel();
  armed_ = false;
  TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream_));
}

void ArmedProgram::end() noexcept {
  if (resident_) {
    resident_->stop();
    armed_ = false;
    return;
  }
  if (!armed_) return;
  gate_->cancel();  // never leave the stream blocked behind a gate nobody will open
  armed_ = false;
  TRTPACE_CUDA_CHECK_NOEXCEPT(cudaStreamSynchronize(stream_));
}

std::optional<EventPair> ArmedProgram::timing() const noexcept {
  if (cancellable_) return EventPair{cancellable_start_.get(), cancellable_end_.get()};
  if (one_graph_) return one_graph_.events();
  return std::nullopt;
}

bool ArmedProgram::gate_timed_out(uint32_t seq) const noexcept { return gate_ && gate_->words().timed_out_seq == seq; }

uint64_t ArmedProgram::seen_gt() const noexcept {
  if (resident_) return resident_->words().seen_gt;
  return gate_ ? gate_->words().seen_gt : 0;
}

}  // namespace trtpace
