#include <cstdint>

#include "globaltimer.cuh"
#include "module_loading.hpp"
#include "trtpace/cuda_check.hpp"
#include "trtpace/kernels.hpp"

namespace trtpace::kernels {
namespace {

__global__ void fill_random_kernel(float* data, size_t count, uint32_t seed) {
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= count) return;
  uint32_t h = uint32_t(i) * 2654435761u ^ seed;  // integer hash (xorshift-multiply)
  h ^= h >> 16;
  h *= 0x7feb352du;
  h ^= h >> 15;
  h *= 0x846ca68bu;
  h ^= h >> 16;
  data[i] = 0.5f + float(h >> 8) * (1.0f / 16777216.0f);
}

// Four independent dependent chains per thread keep the FMA pipes busy; the contraction towards
// a fixed point keeps values finite for any iteration count.
__global__ void busy_kernel(float* __restrict__ data, int iters) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  const float x = data[i];
  float a = x, b = x * 0.75f, c = x * 0.5f, d = x * 0.25f;
  for (int k = 0; k < iters; ++k) {
    a = fmaf(a, 0.9990f, 0.0010f);
    b = fmaf(b, 0.9991f, 0.0009f);
    c = fmaf(c, 0.9992f, 0.0008f);
    d = fmaf(d, 0.9993f, 0.0007f);
  }
  data[i] = 0.25f * (a + b + c + d) + 0.5f;
}

__global__ void signal_done_kernel(DoneWord* word, uint32_t value) {
  volatile DoneWord* v = word;
  v->done_gt = globaltimer();
  __threadfence_system();  // the stamp and everything before this kernel reach the host before seq
  v->seq = value;
}

__global__ void spin_for_kernel(uint64_t ns) {
  const uint64_t start = globaltimer();
  while (globaltimer() - start < ns) {
  }
}

}  // namespace

void spin_for(uint64_t ns, cudaStream_t stream) {
  spin_for_kernel<<<1, 32, 0, stream>>>(ns);
  TRTPACE_CUDA_CHECK(cudaGetLastError());
}

void signal_done(DoneWord* word_device, uint32_t value, cudaStream_t stream) {
  signal_done_kernel<<<1, 1, 0, stream>>>(word_device, value);
  TRTPACE_CUDA_CHECK(cudaGetLastError());
}

void fill_random(float* data, size_t count, uint32_t seed, cudaStream_t stream) {
  const unsigned threads = 256;
  const unsigned blocks = unsigned((count + threads - 1) / threads);
  fill_random_kernel<<<blocks, threads, 0, stream>>>(data, count, seed);
  TRTPACE_CUDA_CHECK(cudaGetLastError());
}

void busy(float* data, int blocks, int threads, int iters, cudaStream_t stream) {
  busy_kernel<<<blocks, threads, 0, stream>>>(data, iters);
  TRTPACE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace trtpace::kernels

namespace trtpace::detail {
void load_work_kernels() {
  cudaFuncAttributes a{};
  TRTPACE_CUDA_CHECK(cudaFuncGetAttributes(&a, kernels::fill_random_kernel));
  TRTPACE_CUDA_CHECK(cudaFuncGetAttributes(&a, kernels::busy_kernel));
  TRTPACE_CUDA_CHECK(cudaFuncGetAttributes(&a, kernels::signal_done_kernel));
  TRTPACE_CUDA_CHECK(cudaFuncGetAttributes(&a, kernels::spin_for_kernel));
}
}  // namespace trtpace::detail
