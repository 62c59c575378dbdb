#include <cstdint>
#include <cstring>
#include <stdexcept>

#include "trtpace/clock.hpp"
#include "trtpace/cuda_check.hpp"
#include "trtpace/probe.hpp"

namespace trtpace {
namespace {

__device__ __forceinline__ uint64_t globaltimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

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

template <typename T>
T* mapped_alloc(size_t count, T** device_ptr) {
  void* host = nullptr;
  TRTPACE_CUDA_CHECK(cudaHostAlloc(&host, count * sizeof(T), cudaHostAllocMapped));
  std::memset(host, 0, count * sizeof(T));
  TRTPACE_CUDA_CHECK(cudaHostGetDevicePointer(reinterpret_cast<void**>(device_ptr), host, 0));
  return static_cast<T*>(host);
}

}  // namespace

InbandProbe::InbandProbe() { host_ = mapped_alloc<ProbeSlot>(1, &device_); }

InbandProbe::~InbandProbe() {
  if (host_) TRTPACE_CUDA_CHECK_NOEXCEPT(cudaFreeHost(host_));
}

void InbandProbe::enqueue(cudaStream_t stream) const {
  inband_probe_kernel<<<1, 32, 0, stream>>>(device_, kWindowNs);
  TRTPACE_CUDA_CHECK(cudaGetLastError());
}

bool InbandProbe::take(ProbeReading& out) noexcept {
  const volatile ProbeSlot* s = host_;
  const uint64_t seq = s->seq;
  if (seq == seen_seq_) return false;
  seen_seq_ = seq;
  const uint64_t span = s->edge1_gt - s->edge0_gt;
  out.start_gt = s->start_gt;
  out.sm_mhz = span ? double(s->cycles) * 1e3 / double(span) : 0.0;
  return true;
}

ClockSync sync_globaltimer(int device, int rounds) {
  DeviceGuard guard(device);
  unsigned* flag_dev = nullptr;
  uint64_t* stamps_dev = nullptr;
  unsigned* flag = mapped_alloc<unsigned>(1, &flag_dev);
  uint64_t* stamps = mapped_alloc<uint64_t>(size_t(rounds) + 1, &stamps_dev);
  struct Free {
    void* a;
    void* b;
    ~Free() {
      TRTPACE_CUDA_CHECK_NOEXCEPT(cudaFreeHost(a));
      TRTPACE_CUDA_CHECK_NOEXCEPT(cudaFreeHost(b));
    }
  } free_on_exit{flag, stamps};
  Stream stream = make_stream();
  clock_sync_kernel<<<1, 32, 0, stream.get()>>>(flag_dev, stamps_dev, rounds);
  TRTPACE_CUDA_CHECK(cudaGetLastError());
  volatile unsigned* vflag = flag;
  volatile uint64_t* vstamps = stamps;
  auto wait_for = [&](int index) {
    const int64_t give_up = now_ns() + 2'000'000'000;
    while (vstamps[index] == 0) {
      if (now_ns() > give_up) {
        *vflag = unsigned(rounds);  // release the kernel before failing
        throw std::runtime_error("globaltimer sync: the GPU did not answer within 2 s");
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
  DeviceGuard guard(device);
  uint64_t* dev = nullptr;
  uint64_t* host = mapped_alloc<uint64_t>(1, &dev);
  timer_resolution_kernel<<<1, 1>>>(dev);
  const cudaError_t st = cudaDeviceSynchronize();
  const int64_t result = int64_t(*static_cast<volatile uint64_t*>(host));
  cudaFreeHost(host);
  if (st != cudaSuccess) throw_cuda_error(st, "cudaDeviceSynchronize()", __FILE__, __LINE__);
  return result;
}

}  // namespace trtpace
