#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "globaltimer.cuh"
#include "module_loading.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/cuda_check.hpp"
#include "trtpace/errors.hpp"
#include "trtpace/probe.hpp"

namespace trtpace {
namespace {

// Counts SM cycles between two tick edges of %globaltimer, so the count is exact whatever the
// timer's resolution (32 ns on some GPUs, 1 us on others).
__global__ void inband_probe_kernel(ProbeSlot* slot, uint64_t window_ns) {
  if (threadIdx.x != 0) return;
  const uint64_t start = globaltimer();
  uint64_t edge0 = start, t;
  while ((t = globaltimer()) == edge0) {
  }
  const long long c0 = clock64();
  edge0 = t;
  while ((t = globaltimer()) < edge0 + window_ns) {
  }
  const long long c1 = clock64();
  volatile ProbeSlot* s = slot;
  s->start_gt = start;
  s->edge0_gt = edge0;
  s->edge1_gt = t;
  s->cycles = uint64_t(c1 - c0);
  __threadfence_system();
  s->seq = s->seq + 1;
}

__global__ void clock_sync_kernel(volatile unsigned* flag, volatile uint64_t* stamps, int rounds) {
  if (threadIdx.x != 0) return;
  stamps[rounds] = 1;  // alive
  __threadfence_system();
  for (int k = 1; k <= rounds; ++k) {
    while (*flag < unsigned(k)) {
    }
    stamps[k - 1] = globaltimer();
    __threadfence_system();
  }
}

__global__ void timer_resolution_kernel(uint64_t* out) {
  uint64_t best = ~0ull, prev = globaltimer();
  for (int i = 0; i < 20000; ++i) {
    const uint64_t t = globaltimer();
    if (t != prev && t - prev < best) best = t - prev;
    prev = t;
  }
  *out = best;
}

}  // namespace

namespace detail {
void load_probe_kernels() {
  cudaFuncAttributes a{};
  TRTPACE_CUDA_CHECK(cudaFuncGetAttributes(&a, inband_probe_kernel));
  TRTPACE_CUDA_CHECK(cudaFuncGetAttributes(&a, clock_sync_kernel));
  TRTPACE_CUDA_CHECK(cudaFuncGetAttributes(&a, timer_resolution_kernel));
}
}  // namespace detail

cudaGraphNode_t InbandProbe::add_node(cudaGraph_t graph, const cudaGraphNode_t* deps, size_t count) const {
  ProbeSlot* slot = slot_.device();
  uint64_t window = kWindowNs;
  void* args[] = {&slot, &window};
  return add_one_block_kernel_node(graph, deps, count, reinterpret_cast<const void*>(inband_probe_kernel), args, 32);
}

bool InbandProbe::take(ProbeReading& out) noexcept {
  const volatile ProbeSlot* s = slot_.host();
  const uint64_t seq = s->seq;
  if (seq == seen_seq_) return false;
  seen_seq_ = seq;
  const uint64_t span = s->edge1_gt - s->edge0_gt;
  out.start_gt = s->start_gt;
  out.sm_mhz = span ? double(s->cycles) * 1e3 / double(span) : 0.0;
  return true;
}

ClockSync sync_globaltimer(int device, int rounds) {
  if (rounds < 1 || rounds > kMaxSyncRounds)
    throw std::invalid_argument("globaltimer sync needs 1 to " + std::to_string(kMaxSyncRounds) + " rounds, got " +
                                std::to_string(rounds));
  load_kernels(device);
  DeviceGuard guard(device);
  // Freed on every exit, the timeout path included (the kernel is released first, below).
  MappedHostBuffer<unsigned> flag(1);
  MappedHostBuffer<uint64_t> stamps(size_t(rounds) + 1);
  Stream stream = make_stream();
  clock_sync_kernel<<<1, 32, 0, stream.get()>>>(flag.device(), stamps.device(), rounds);
  TRTPACE_CUDA_CHECK(cudaGetLastError());
  volatile unsigned* vflag = flag.host();
  volatile uint64_t* vstamps = stamps.host();
  auto wait_for = [&](int index) {
    const int64_t give_up = now_ns() + 2'000'000'000;
    while (vstamps[index] == 0) {
      if (now_ns() > give_up) {
        *vflag = unsigned(rounds);  // release the kernel before failing
        throw TrtpaceError("globaltimer sync: the GPU did not answer within 2 s");
      }
    }
  };
  wait_for(rounds);
  ClockSync best;
  int64_t best_rtt = INT64_MAX;
  for (int k = 1; k <= rounds; ++k) {
    const int64_t t1 = now_ns();
    *vflag = unsigned(k);
    wait_for(k - 1);
    const int64_t t2 = now_ns();
    if (t2 - t1 < best_rtt) {
      best_rtt = t2 - t1;
      best.host_ns = t1 + (t2 - t1) / 2;
      best.offset_ns = int64_t(vstamps[k - 1]) - best.host_ns;
      best.uncertainty_ns = (t2 - t1 + 1) / 2;
    }
  }
  TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
  return best;
}

int64_t globaltimer_resolution_ns(int device) {
  load_kernels(device);
  DeviceGuard guard(device);
  MappedHostBuffer<uint64_t> out(1);
  timer_resolution_kernel<<<1, 1>>>(out.device());
  TRTPACE_CUDA_CHECK(cudaGetLastError());
  TRTPACE_CUDA_CHECK(cudaDeviceSynchronize());
  return int64_t(*static_cast<volatile uint64_t*>(out.host()));
}

}  // namespace trtpace
