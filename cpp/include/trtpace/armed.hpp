#pragma once
// Armed launch: the next inference is queued on the GPU behind a gate before its input arrives,
// and the input's arrival is a single release-ordered store to host-mapped memory. After an idle
// gap the host's launch path (submission, driver, GPU front end) is what makes an inference slow;
// arming pays that cost during the gap, so the critical path is one store.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "trtpace/cuda_raii.hpp"
#include "trtpace/resident.hpp"
#include "trtpace/timed_graph.hpp"

namespace trtpace {

enum class GateKind {
  wait,    // cuStreamWaitValue32 on the host-mapped flag (the GPU front end polls it; no SM used)
  kernel,  // a one-thread kernel that polls the flag with __nanosleep (holds one SM slot while armed)
  // the kernel gate inside a loop launched once (resident.hpp): no launch per frame; falls back to
  // `kernel` where the model is no CUDA graph or the GPU has no conditional nodes
  resident,
};
GateKind parse_gate_kind(const std::string& name);
const char* to_string(GateKind kind);

// Words the host and the gate share, in host-mapped memory.
// Sequence numbers wrap around and are compared by signed difference.
struct GateWords {
  uint32_t armed_seq;      // host, before each arm: the release this arm waits for
  uint32_t release_seq;    // host: the last release (the one store on the critical path)
  uint32_t skip_seq;       // host: equal to the release's sequence when that release is a cancel
  uint32_t seen_seq;       // gate: the last release it let through (or timed out on)
  uint64_t seen_gt;        // gate: %globaltimer when it saw the release. Units: ns.
  uint32_t timed_out_seq;  // gate: the last arm it let go by itself after the arm timeout
  uint32_t pad;
};

struct ArmOptions {
  GateKind gate = GateKind::kernel;
  // Cancellable: the model sits in a conditional graph node that the gate opens (run) or skips
  // (cancel); needs the workload's cudaGraph_t. Otherwise a cancel releases the model, which runs
  // on whatever input is staged and its output is discarded.
  bool cancellable = false;
  // Kernel gate only: after this long armed, the gate lets go by itself (skip when cancellable,
  // run otherwise), so a forgotten arm never holds the stream for ever. 0 = no timeout. Units: ns.
  // Resident: the loop ends after this long without a release (the next arm launches it again).
  int64_t timeout_ns = 0;
};

// The gate half of an armed launch: shared words, the driver entry point for stream waits, and
// the gate kernel. The workload owns one and puts the gate in front of its work (workload.hpp).
class ArmedGate {
 public:
  ArmedGate(int device, ArmOptions options);
  ArmedGate(const ArmedGate&) = delete;
  ArmedGate& operator=(const ArmedGate&) = delete;

  const ArmOptions& options() const noexcept { return options_; }
  // The sequence number the next arm waits for.
  uint32_t next_seq() const noexcept { return seq_ + 1; }
  // Enqueues the stream-side gate for release `seq` (wait: a stream wait; kernel: the polling
  // kernel, non-cancellable form). Cancellable kernel gates live inside the workload's graph.
  void enqueue(cudaStream_t stream, uint32_t seq);
  // The one store: the gate opens. Release ordering makes every host write before it (the staged
  // input) visible to work the gate lets through. Returns the sequence released.
  uint32_t release() noexcept;
  // Releases in skip mode (cancellable) or discard mode: the armed work ends either way.
  uint32_t cancel() noexcept;
  GateWords* words_device() const noexcept { return words_.device(); }
  const volatile GateWords& words() const noexcept { return *words_.host(); }
  // Records the sequence the next enqueued gate waits for (written before the launch, so the gate
  // reads it when it starts).
  void set_armed(uint32_t seq) noexcept;

  // Adds the cancellable gate as the first node of `graph`: a kernel that polls (kernel gate) or
  // only reads (wait gate: the stream wait enqueued before the launch did the waiting) and sets
  // `handle` to run or skip the conditional node that holds the model.
  cudaGraphNode_t add_condition_node(cudaGraph_t graph, cudaGraphConditionalHandle handle) const;
  // Adds the non-cancellable kernel gate as the first node of `graph` (the one-graph form).
  cudaGraphNode_t add_gate_node(cudaGraph_t graph) const;
  // Whether the gate is a node of the armed graph (no stream-side gate to enqueue).
  bool in_graph() const noexcept { return in_graph_; }
  void set_in_graph(bool v) noexcept { in_graph_ = v; }

 private:
  int device_;
  ArmOptions options_;
  MappedHostBuffer<GateWords> words_{1};
  uint32_t seq_ = 0;               // last armed sequence
  void* wait_value_fn_ = nullptr;  // cuStreamWaitValue32, through cudaGetDriverEntryPointByVersion
  bool in_graph_ = false;
};

// What one arm() puts on the GPU, built once by CudaWorkload::enable_arming, in one of four forms:
//   stream gate  the gate on the stream (a stream wait, or the polling kernel), then the inference
//                launched as usual; for workloads that are no CUDA graph;
//   one graph    [kernel gate -> the inference's timed graph], programmatic edges where the GPU
//                takes them: arming is one launch, and the release reaches the model directly;
//   cancellable  [gate -> start event -> IF(model) -> end event]: a cancel skips the model;
//   resident     the loop of resident.hpp, launched once: no launch per frame.
// It owns the gate, the armed graph and the resident loop; the workload owns the stream and the
// waits. Not thread-safe: one thread arms, releases and waits.
class ArmedProgram {
 public:
  // What the workload offers the program.
  struct Model {
    cudaGraph_t body = nullptr;          // the model alone, no event nodes (cancellable, resident); null: none
    cudaGraph_t armed_body = nullptr;    // the model for the one-graph form (event nodes allowed)
    const InbandProbe* probe = nullptr;  // run beside the model in the one-graph form
    std::string name;                    // the workload's describe(), for messages
  };
  // `requested.gate == resident` runs the per-frame kernel gate where the loop cannot run
  // (fallback_why() then says why). Throws TrtpaceError where the requested form is unavailable.
  ArmedProgram(int device, cudaStream_t stream, const ArmOptions& requested, const Model& model);
  ~ArmedProgram();  // end()
  ArmedProgram(const ArmedProgram&) = delete;
  ArmedProgram& operator=(const ArmedProgram&) = delete;
  // Why `model` cannot run the resident loop on `device`; empty where it can.
  static std::string resident_unavailable_why(int device, const Model& model);

  // What the workload enqueues after arm(): the completion mark behind the armed graph, the
  // inference itself behind the stream gate, or nothing (the resident loop writes its own word).
  enum class Then { mark_completion, launch, nothing };
  Then arm();
  // The one store; returns the sequence (frame) released. Only while armed().
  uint32_t release() noexcept;
  // Ends the armed inference (skipped when cancellable, else run and discarded) or the resident
  // loop, and waits for the stream; harmless when nothing is armed.
  void cancel();
  // cancel() that never throws (destructors).
  void end() noexcept;
  bool armed() const noexcept { return armed_; }

  // The events that time an inference this program ran: the one-graph form's timed graph, the
  // cancellable graph's; none for the stream gate (the inference's own) and the resident loop.
  std::optional<EventPair> timing() const noexcept;
  // The armed inference runs a body with no copy marks (cancellable, resident).
  bool unmarked() const noexcept { return options_.cancellable || resident_ != nullptr; }
  // Whether the gate of `seq` had let go by itself (the arm timeout) before its release.
  bool gate_timed_out(uint32_t seq) const noexcept;
  // The gate's %globaltimer stamp of the last release it saw (0: none). Units: ns.
  uint64_t seen_gt() const noexcept;

  const ArmOptions& options() const noexcept { return options_; }
  const ArmedGate* gate() const noexcept { return gate_.get(); }
  ResidentLoop* resident() const noexcept { return resident_.get(); }
  bool programmatic() const noexcept { return programmatic_; }
  const std::string& fallback_why() const noexcept { return fallback_why_; }

 private:
  cudaStream_t stream_;
  ArmOptions options_;  // as built: a resident request that fell back says kernel
  std::string fallback_why_;
  std::unique_ptr<ArmedGate> gate_;         // every form but resident
  std::unique_ptr<ResidentLoop> resident_;  // resident
  TimedGraph one_graph_;                    // one graph: [gate -> timed inference graph]
  GraphExec cancellable_;                   // cancellable: [gate -> start -> IF(model) -> end]
  Event cancellable_start_, cancellable_end_;
  bool programmatic_ = false;
  bool armed_ = false;
  void build_cancellable(int device, const Model& model);
  void build_one_graph(int device, const Model& model);
};

// Whether this GPU and driver support stream memory waits on host memory; `why` says why not.
bool stream_wait_supported(int device, std::string* why);

// Test hook: a one-thread kernel that increments *counter (a model body whose runs can be counted).
void enqueue_count_kernel(uint32_t* counter_dev, cudaStream_t stream);

}  // namespace trtpace
