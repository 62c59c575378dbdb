#pragma once
// Host-side launchers for trtpace's CUDA kernels (kernels.cu).
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstdint>

namespace trtpace::kernels {

// Fills `data` with pseudo-random values in [0.5, 1.5): synthetic work never runs on zeros.
void fill_random(float* data, size_t count, uint32_t seed, cudaStream_t stream);

// One synthetic kernel: `blocks` x `threads` threads, each running `iters` dependent FMA steps
// on its element of `data` (blocks * threads elements) and writing the result back.
void busy(float* data, int blocks, int threads, int iters, cudaStream_t stream);

// The word the GPU writes when an inference is complete, in host-mapped memory. The host spins on
// `seq`; `done_gt` is visible once `seq` is (written before the system fence).
struct DoneWord {
  uint32_t seq;  // the completed inference's number
  uint32_t pad;
  uint64_t done_gt;  // %globaltimer when the writer ran, right after the inference. Units: ns.
};

// One thread that stamps and writes `value` into host-mapped `word_device` once everything before
// it on the stream has finished: the host sees an inference complete without asking the driver.
void signal_done(DoneWord* word_device, uint32_t value, cudaStream_t stream);

// One block that spins on %globaltimer for `ns` nanoseconds: filler work of a fixed duration
// whatever the clock.
void spin_for(uint64_t ns, cudaStream_t stream);

}  // namespace trtpace::kernels
