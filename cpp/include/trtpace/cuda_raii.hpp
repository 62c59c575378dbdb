#pragma once
// Owning, move-only wrappers for the CUDA objects trtpace creates. Handles that come from
// PyTorch or TensorRT are borrowed as raw handles and never pass through these types.
#include <cuda_runtime_api.h>

#include <cstddef>
#include <cstring>
#include <type_traits>
#include <utility>

#include "trtpace/cuda_check.hpp"

namespace trtpace {

template <typename Handle, cudaError_t (*Destroy)(Handle)>
class CudaHandle {
 public:
  CudaHandle() = default;
  explicit CudaHandle(Handle h) : h_(h) {}
  ~CudaHandle() { reset(); }
  CudaHandle(const CudaHandle&) = delete;
  CudaHandle& operator=(const CudaHandle&) = delete;
  CudaHandle(CudaHandle&& o) noexcept : h_(std::exchange(o.h_, nullptr)) {}
  CudaHandle& operator=(CudaHandle&& o) noexcept {
    if (this != &o) {
      reset();
      h_ = std::exchange(o.h_, nullptr);
    }
    return *this;
  }
  Handle get() const noexcept { return h_; }
  explicit operator bool() const noexcept { return h_ != nullptr; }
  void reset() noexcept {
    if (h_) TRTPACE_CUDA_CHECK_NOEXCEPT(Destroy(h_));
    h_ = nullptr;
  }

 private:
  Handle h_ = nullptr;
};

using Stream = CudaHandle<cudaStream_t, cudaStreamDestroy>;
using Event = CudaHandle<cudaEvent_t, cudaEventDestroy>;
using Graph = CudaHandle<cudaGraph_t, cudaGraphDestroy>;
using GraphExec = CudaHandle<cudaGraphExec_t, cudaGraphExecDestroy>;

// A non-blocking stream at the given priority (lower number = higher priority).
Stream make_stream(int priority = 0);
Event make_event(unsigned flags = cudaEventDefault);
GraphExec instantiate(cudaGraph_t graph);
// Adds a kernel node of one block of `threads` threads to `graph`, after `count` dependencies
// (trtpace's gates, probe and loop steps are all one small block).
cudaGraphNode_t add_one_block_kernel_node(cudaGraph_t graph, const cudaGraphNode_t* deps, size_t count,
                                          const void* func, void** args, unsigned threads = 1);

// Device memory owned by trtpace.
class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  explicit DeviceBuffer(size_t bytes);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : ptr_(std::exchange(o.ptr_, nullptr)), bytes_(std::exchange(o.bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& o) noexcept {
    std::swap(ptr_, o.ptr_);
    std::swap(bytes_, o.bytes_);
    return *this;
  }
  void* get() const noexcept { return ptr_; }
  size_t bytes() const noexcept { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

// `count` zero-initialised Ts in page-locked host memory mapped into the device's address space
// (cudaHostAllocMapped): the GPU writes through device(), the host reads through host() without
// a copy. Flags and stamps shared by a running kernel and the host live here.
template <typename T>
class MappedHostBuffer {
  static_assert(std::is_trivially_copyable_v<T>, "mapped memory is zeroed with memset and shared with the GPU");

 public:
  MappedHostBuffer() = default;
  explicit MappedHostBuffer(size_t count) {
    void* host = nullptr;
    TRTPACE_CUDA_CHECK(cudaHostAlloc(&host, count * sizeof(T), cudaHostAllocMapped));
    host_ = static_cast<T*>(host);  // owned from here: reset() frees it if the next call throws
    count_ = count;
    std::memset(host, 0, count * sizeof(T));
    void* device = nullptr;
    try {
      TRTPACE_CUDA_CHECK(cudaHostGetDevicePointer(&device, host, 0));
    } catch (...) {
      reset();  // a throwing constructor runs no destructor
      throw;
    }
    device_ = static_cast<T*>(device);
  }
  ~MappedHostBuffer() { reset(); }
  MappedHostBuffer(const MappedHostBuffer&) = delete;
  MappedHostBuffer& operator=(const MappedHostBuffer&) = delete;
  MappedHostBuffer(MappedHostBuffer&& o) noexcept
      : host_(std::exchange(o.host_, nullptr)),
        device_(std::exchange(o.device_, nullptr)),
        count_(std::exchange(o.count_, 0)) {}
  MappedHostBuffer& operator=(MappedHostBuffer&& o) noexcept {
    if (this != &o) {
      reset();
      host_ = std::exchange(o.host_, nullptr);
      device_ = std::exchange(o.device_, nullptr);
      count_ = std::exchange(o.count_, 0);
    }
    return *this;
  }
  // The GPU writes behind the compiler's back: read and write through volatile pointers.
  T* host() const noexcept { return host_; }
  T* device() const noexcept { return device_; }
  size_t count() const noexcept { return count_; }
  void reset() noexcept {
    if (host_) TRTPACE_CUDA_CHECK_NOEXCEPT(cudaFreeHost(host_));
    host_ = device_ = nullptr;
    count_ = 0;
  }

 private:
  T* host_ = nullptr;
  T* device_ = nullptr;
  size_t count_ = 0;
};

// Stream capture that always ends: begins capturing `stream` on construction; end() returns the
// captured graph. If end() is never reached (an exception on the way), the destructor ends the
// capture and destroys the partial graph, so the stream is usable again.
class CaptureScope {
 public:
  explicit CaptureScope(cudaStream_t stream, cudaStreamCaptureMode mode = cudaStreamCaptureModeThreadLocal);
  ~CaptureScope();
  CaptureScope(const CaptureScope&) = delete;
  CaptureScope& operator=(const CaptureScope&) = delete;
  // Ends the capture. Throws CaptureError when CUDA rejects it (e.g. the capture was invalidated
  // by a call that capture forbids).
  Graph end();

 private:
  cudaStream_t stream_;
  bool open_ = false;
};

// Makes `device` current on the calling thread for its lifetime and restores the previous one.
class DeviceGuard {
 public:
  explicit DeviceGuard(int device);
  ~DeviceGuard();
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;

 private:
  int previous_ = 0;
  bool changed_ = false;
};

// Elapsed time between two completed timing events. cudaEventElapsedTime resolves about 0.5 us.
// Units: us.
double elapsed_us(cudaEvent_t start, cudaEvent_t end);

}  // namespace trtpace
