#pragma once
// One inference as a CUDA graph that times itself: event record nodes at its start and end, so its
// device time excludes the host's submission, and the in-band clock probe beside the model.
#include <cuda_runtime_api.h>

#include "trtpace/cuda_raii.hpp"

namespace trtpace {

class ArmedGate;
class InbandProbe;

// The two events that bracket one inference's device work (borrowed handles).
struct EventPair {
  cudaEvent_t start = nullptr;
  cudaEvent_t end = nullptr;
};

// An instantiated timed graph and the events it records.
struct TimedGraph {
  GraphExec exec;
  Event start, end;
  EventPair events() const noexcept { return {start.get(), end.get()}; }
  explicit operator bool() const noexcept { return bool(exec); }
};

// [gate ->] start event -> {probe, model} -> end event, instantiated. The model's graph is cloned.
// With `gate` (the kernel gate) the gate comes first; with `pdl` (compute capability 9.0+) the
// model's first kernels and the probe hang on it by programmatic edges, so they launch when the
// gate sees the release instead of after it has exited and the start event has been stamped (the
// start event then sits beside them: bench/gate_anatomy.cu measured gate -> model 3.1 -> 0.5 us).
TimedGraph make_timed_graph(cudaGraph_t model, const InbandProbe& probe, const ArmedGate* gate = nullptr,
                            bool pdl = false);

}  // namespace trtpace
