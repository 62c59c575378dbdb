#pragma once
// The GPU's nanosecond clock, read in device code (private to the CUDA sources).
#include <cstdint>

namespace trtpace {

// %globaltimer: ns since an epoch the driver sets; its resolution varies by GPU (32 ns to 1 us).
__device__ __forceinline__ uint64_t globaltimer() {
  uint64_t t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

}  // namespace trtpace
