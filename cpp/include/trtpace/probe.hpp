#pragma once
// In-band measurement on the GPU: the SM clock an inference actually ran at, when it started on
// the GPU, and the mapping from the GPU's %globaltimer to the host monotonic clock.
#include <cuda_runtime_api.h>

#include <cstdint>

#include "trtpace/cuda_raii.hpp"

namespace trtpace {

// Written by the probe kernel into host-mapped memory; read by the host after completion.
struct ProbeSlot {
  uint64_t start_gt;  // %globaltimer when the probe started (the inference's GPU start). Units: ns.
  uint64_t edge0_gt;  // first global-timer tick edge of the measuring window. Units: ns.
  uint64_t edge1_gt;  // last tick edge. Units: ns.
  uint64_t cycles;    // SM clock cycles (clock64) between the two edges
  uint64_t seq;       // incremented by every probe run, so a stale slot is detected
};

struct ProbeReading {
  uint64_t start_gt = 0;
  double sm_mhz = 0.0;  // cycles per microsecond between the edges
};

// Host-mapped probe slot and the probe kernel (one warp, ~window_ns long), added to graphs.
class InbandProbe {
 public:
  static constexpr uint64_t kWindowNs = 8'000;
  InbandProbe() : slot_(1) {}
  // Adds the probe kernel to `graph` as a kernel node depending on `deps` (count of them).
  cudaGraphNode_t add_node(cudaGraph_t graph, const cudaGraphNode_t* deps, size_t count) const;
  // The reading of the last completed probe run, or false when it has not run since last time.
  bool take(ProbeReading& out) noexcept;

 private:
  MappedHostBuffer<ProbeSlot> slot_;
  uint64_t seen_seq_ = 0;
};

// %globaltimer minus the host monotonic clock, measured by ping-pong through mapped memory;
// the round with the shortest round trip wins. Units: ns.
struct ClockSync {
  int64_t host_ns = 0;         // host time of the winning round's midpoint
  int64_t offset_ns = 0;       // globaltimer - monotonic at host_ns
  int64_t uncertainty_ns = 0;  // half the winning round trip
};
// rounds: 1 to kMaxSyncRounds.
inline constexpr int kMaxSyncRounds = 1000;
ClockSync sync_globaltimer(int device, int rounds = 16);

// Smallest step of %globaltimer seen in a tight loop on the GPU. Units: ns.
int64_t globaltimer_resolution_ns(int device);

}  // namespace trtpace
