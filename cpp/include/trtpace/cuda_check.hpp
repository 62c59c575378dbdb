#pragma once
// CUDA runtime calls go through TRTPACE_CUDA_CHECK: a failure throws CudaError naming the call and
// CUDA's own error string, which reaches Python as trtpace.CudaError. Destructors use
// TRTPACE_CUDA_CHECK_NOEXCEPT. The exceptions, where a status is an answer rather than a failure:
// cudaStreamQuery (cudaErrorNotReady means "still running"; other statuses go to
// throw_cuda_error), cudaStreamEndCapture in CaptureScope::end (a failure there is a CaptureError),
// probe_cuda (reports statuses, never throws), and cudaGetLastError, which only clears errors.
#include <cuda_runtime_api.h>

#include <string>

#include "trtpace/errors.hpp"

namespace trtpace {

class CudaError : public TrtpaceError {
 public:
  CudaError(cudaError_t code, const char* call, const char* file, int line);
  cudaError_t code() const noexcept { return code_; }
  // Where the failed call is in trtpace's source: kept out of the one-line message, for bug reports.
  const char* file() const noexcept { return file_; }
  int line() const noexcept { return line_; }

 private:
  cudaError_t code_;
  const char* file_;  // __FILE__: a string literal, alive for the program's life
  int line_;
};

[[noreturn]] void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line);

}  // namespace trtpace

#define TRTPACE_CUDA_CHECK(call)                                                                                 \
  do {                                                                                                           \
    const cudaError_t trtpace_status_ = (call);                                                                  \
    if (trtpace_status_ != cudaSuccess) ::trtpace::throw_cuda_error(trtpace_status_, #call, __FILE__, __LINE__); \
  } while (false)

// For destructors: a failure there cannot be thrown, so it is cleared and dropped.
#define TRTPACE_CUDA_CHECK_NOEXCEPT(call)                \
  do {                                                   \
    if ((call) != cudaSuccess) (void)cudaGetLastError(); \
  } while (false)
