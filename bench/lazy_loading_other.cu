// The second module of bench/lazy_loading.cu: a kernel in another translation unit is loaded on
// its own, as trtpace's done-word writer (kernels.cu) is apart from its gate (armed.cu).
#include <cuda_runtime.h>

#include <cstdio>
#include <cstdlib>

__global__ void other_module_kernel(unsigned* out) { *out = 7; }

void launch_other_module(unsigned* out, cudaStream_t stream) { other_module_kernel<<<1, 1, 0, stream>>>(out); }

void load_other_module() {
  cudaFuncAttributes attr{};
  if (cudaFuncGetAttributes(&attr, other_module_kernel) != cudaSuccess) {
    std::fprintf(stderr, "cudaFuncGetAttributes failed\n");
    std::exit(1);
  }
}
