#pragma once
// Armed launch: the next inference is queued on the GPU behind a gate before its input arrives,
// and the input's arrival is a single release-ordered store to host-mapped memory. After an idle
// gap the host's launch path (submission, driver, GPU front end) is what makes an inference slow;
// arming pays that cost during the gap, so the critical path is one store.
#include <cuda_runtime_api.h>

#include <cstdint>
#include <string>

#include "trtpace/cuda_raii.hpp"

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

// Whether this GPU and driver support stream memory waits on host memory; `why` says why not.
bool stream_wait_supported(int device, std::string* why);

// Test hook: a one-thread kernel that increments *counter (a model body whose runs can be counted).
void enqueue_count_kernel(uint32_t* counter_dev, cudaStream_t stream);

}  // namespace trtpace
