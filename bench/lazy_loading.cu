// Why the first armed call of a fresh process hung: with lazy module loading (CUDA's default since
// 12.2), a kernel's first launch loads it, and the load waits for the device to go idle. A gate
// kernel spinning on a host flag keeps it busy, so the launch blocks until the gate lets go.
//
// A one-thread "gate" spins on a host-mapped flag on stream A; then a kernel never launched before
// is launched on stream B: one from the same module (translation unit) as the gate, and one from
// another module (bench/lazy_loading_other.cu), as trtpace's done-word writer is to its gate. A watchdog thread opens
// the gate after 2 s. The program prints how long the launch call itself took, without and with the kernel loaded first
// (cudaFuncGetAttributes), which is what trtpace now does for every kernel of its own before any gate can spin.
//
//   nvcc -O2 -std=c++17 -arch=native -o /tmp/lazy_loading bench/lazy_loading.cu bench/lazy_loading_other.cu
//   CUDA_MODULE_LOADING=LAZY /tmp/lazy_loading preload=0   # the launch waits ~2000 ms for the gate
//   CUDA_MODULE_LOADING=LAZY /tmp/lazy_loading preload=1   # loaded first: the launch returns at once
//   CUDA_MODULE_LOADING=EAGER /tmp/lazy_loading preload=0  # everything loaded at start: at once
#include <cuda_runtime.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <thread>

#define CHECK(call)                                                    \
  do {                                                                 \
    cudaError_t e_ = (call);                                           \
    if (e_ != cudaSuccess) {                                           \
      std::fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(e_)); \
      std::exit(1);                                                    \
    }                                                                  \
  } while (0)

__global__ void gate(volatile unsigned* flag) {
  while (*flag == 0) __nanosleep(100);
}

__global__ void never_launched_before(unsigned* out) { *out = 42; }

// In bench/lazy_loading_other.cu: another module.
void launch_other_module(unsigned* out, cudaStream_t stream);
void load_other_module();

int main(int argc, char** argv) {
  const bool preload = argc > 1 && std::strcmp(argv[1], "preload=1") == 0;
  const char* mode = std::getenv("CUDA_MODULE_LOADING");
  unsigned* flag = nullptr;
  unsigned* out = nullptr;
  CHECK(cudaHostAlloc(&flag, sizeof(unsigned), cudaHostAllocMapped));
  CHECK(cudaMalloc(&out, sizeof(unsigned)));
  unsigned* flag_dev = nullptr;
  CHECK(cudaHostGetDevicePointer(&flag_dev, flag, 0));
  cudaStream_t a, b;
  CHECK(cudaStreamCreateWithFlags(&a, cudaStreamNonBlocking));
  CHECK(cudaStreamCreateWithFlags(&b, cudaStreamNonBlocking));
  if (preload) {
    cudaFuncAttributes attr{};
    CHECK(cudaFuncGetAttributes(&attr, never_launched_before));
    load_other_module();
  }
  for (int which = 0; which < 2; ++which) {
    *flag = 0;
    gate<<<1, 1, 0, a>>>(flag_dev);
    CHECK(cudaGetLastError());
    std::this_thread::sleep_for(std::chrono::milliseconds(50));  // the gate is spinning
    std::thread watchdog([flag] {
      std::this_thread::sleep_for(std::chrono::seconds(2));
      __atomic_store_n(flag, 1u, __ATOMIC_RELEASE);
    });
    const auto t0 = std::chrono::steady_clock::now();
    if (which == 0)
      never_launched_before<<<1, 1, 0, b>>>(out);
    else
      launch_other_module(out, b);
    CHECK(cudaGetLastError());
    const auto t1 = std::chrono::steady_clock::now();
    watchdog.join();
    CHECK(cudaDeviceSynchronize());
    const double ms = std::chrono::duration<double, std::milli>(t1 - t0).count();
    std::printf(
        "CUDA_MODULE_LOADING=%s preload=%d, kernel of the %s module: first launch while a gate spins took "
        "%.1f ms%s\n",
        mode ? mode : "(unset)", preload ? 1 : 0, which == 0 ? "gate's" : "other", ms,
        ms > 1000 ? " (it waited for the gate: the watchdog opened it after 2000 ms)" : "");
  }
  return 0;
}
