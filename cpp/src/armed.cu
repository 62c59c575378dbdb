#include <cuda.h>  // driver API types only: the entry point is fetched at run time, libcuda is not linked

#include <atomic>
#include <cstring>
#include <stdexcept>
#include <string>

#include "features.hpp"
#include "globaltimer.cuh"
#include "module_loading.hpp"
#include "trtpace/armed.hpp"
#include "trtpace/cuda_check.hpp"
#include "trtpace/errors.hpp"

namespace trtpace {
namespace {

// Waits for release_seq to reach armed_seq; stamps when it did. Returns whether the model should
// run: false on a cancel (skip_seq == the release) or, when `skip_on_timeout`, after the timeout.
// The words live in host memory: every read after the release is a PCIe round trip on the
// critical path, so the gate only stores (posted writes) once it has seen the release, and reads
// skip_seq only when it can skip. Kernel completion makes the stores visible to the host.
// The poll's own read takes about a microsecond on a discrete GPU, so the sleep between reads is
// short (measured: 0, 50 and 200 ns differ by < 0.3 us; bench/gate_anatomy.cu).
__device__ bool gate_pass(GateWords* w, bool poll, uint64_t timeout_ns, bool can_skip) {
  volatile GateWords* v = w;
  const uint32_t seq = v->armed_seq;
  const uint64_t start = globaltimer();
  bool timed_out = false;
  while (poll && int32_t(v->release_seq - seq) < 0) {
    if (timeout_ns && globaltimer() - start > timeout_ns) {
      timed_out = true;
      break;
    }
    __nanosleep(32);
  }
  const uint64_t seen = globaltimer();
#if __CUDA_ARCH__ >= 900
  // Nodes hanging on the gate by programmatic edges (the model's first kernels) launch now, not
  // once the gate has exited and its stores are flushed; a no-op for plain edges.
  if (!can_skip) asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
  v->seen_gt = seen;
  v->seen_seq = seq;
  if (timed_out) v->timed_out_seq = seq;
  if (!can_skip) return true;
  return !timed_out && v->skip_seq != seq;
}

__global__ void gate_kernel(GateWords* w, uint64_t timeout_ns) { gate_pass(w, true, timeout_ns, false); }

__global__ void gate_condition_kernel(GateWords* w, cudaGraphConditionalHandle handle, bool poll, uint64_t timeout_ns) {
  cudaGraphSetConditional(handle, gate_pass(w, poll, timeout_ns, true) ? 1u : 0u);
}

__global__ void count_kernel(uint32_t* counter) { atomicAdd(counter, 1u); }

using WaitValue32 = CUresult (*)(CUstream, CUdeviceptr, cuuint32_t, unsigned int);

void* wait_value_entry_point(std::string* why) { return driver_entry_point("cuStreamWaitValue32", 12000, why); }

}  // namespace

GateKind parse_gate_kind(const std::string& name) {
  if (name == "wait") return GateKind::wait;
  if (name == "kernel") return GateKind::kernel;
  if (name == "resident") return GateKind::resident;
  throw std::invalid_argument("unknown gate '" + name + "' (expected wait, kernel or resident)");
}

const char* to_string(GateKind kind) {
  switch (kind) {
    case GateKind::wait:
      return "wait";
    case GateKind::kernel:
      return "kernel";
    case GateKind::resident:
      return "resident";
  }
  return "?";
}

bool stream_wait_supported(int device, std::string* why) {
  if (const Features f = device_features(device); !f.stream_wait_value.on) {
    if (why) *why = f.stream_wait_value.why;
    return false;
  }
  DeviceGuard guard(device);
  return wait_value_entry_point(why) != nullptr;
}

ArmedGate::ArmedGate(int device, ArmOptions options) : device_(device), options_(options) {
  if (options_.timeout_ns < 0) throw std::invalid_argument("arm timeout must be >= 0 ns");
  if (options_.gate == GateKind::resident)
    throw std::invalid_argument("the resident loop is not a per-frame gate (CudaWorkload::enable_arming builds it)");
  if (options_.timeout_ns && options_.gate != GateKind::kernel)
    throw std::invalid_argument("an arm timeout needs the kernel gate (a stream wait cannot time out on the GPU)");
  load_kernels(device);  // a kernel loaded lazily while the gate spins would wait for the release
  DeviceGuard guard(device);
  if (options_.gate == GateKind::wait) {
    const Features features = device_features(device);
    if (!features.stream_wait_value.on)
      throw TrtpaceError("armed:wait is not available here: " + features.stream_wait_value.why);
    std::string why;
    wait_value_fn_ = wait_value_entry_point(&why);
    if (!wait_value_fn_) throw TrtpaceError("armed:wait is not available here: " + why);
  }
}

void ArmedGate::set_armed(uint32_t seq) noexcept {
  seq_ = seq;
  __atomic_store_n(&words_.host()->armed_seq, seq, __ATOMIC_RELEASE);
}

void ArmedGate::enqueue(cudaStream_t stream, uint32_t seq) {
  if (options_.gate == GateKind::wait) {
    auto fn = reinterpret_cast<WaitValue32>(wait_value_fn_);
    const CUresult r = fn(reinterpret_cast<CUstream>(stream),
                          reinterpret_cast<CUdeviceptr>(&words_.device()->release_seq), seq, CU_STREAM_WAIT_VALUE_GEQ);
    if (r != CUDA_SUCCESS)
      throw TrtpaceError("cuStreamWaitValue32 failed (CUresult " + std::to_string(int(r)) +
                         "): this GPU or driver does not support stream memory waits on host memory; use armed:kernel");
    return;
  }
  if (options_.cancellable || in_graph_) return;  // the gate is the first node of the armed graph
  gate_kernel<<<1, 1, 0, stream>>>(words_.device(), uint64_t(options_.timeout_ns));
  TRTPACE_CUDA_CHECK(cudaGetLastError());
}

uint32_t ArmedGate::release() noexcept {
  __atomic_store_n(&words_.host()->release_seq, seq_, __ATOMIC_RELEASE);
  return seq_;
}

uint32_t ArmedGate::cancel() noexcept {
  if (options_.cancellable) __atomic_store_n(&words_.host()->skip_seq, seq_, __ATOMIC_RELAXED);
  return release();
}

cudaGraphNode_t ArmedGate::add_condition_node(cudaGraph_t graph, cudaGraphConditionalHandle handle) const {
  GateWords* w = words_.device();
  bool poll = options_.gate == GateKind::kernel;
  uint64_t timeout = uint64_t(options_.timeout_ns);
  void* args[] = {&w, &handle, &poll, &timeout};
  return add_one_block_kernel_node(graph, nullptr, 0, reinterpret_cast<const void*>(gate_condition_kernel), args);
}

cudaGraphNode_t ArmedGate::add_gate_node(cudaGraph_t graph) const {
  GateWords* w = words_.device();
  uint64_t timeout = uint64_t(options_.timeout_ns);
  void* args[] = {&w, &timeout};
  return add_one_block_kernel_node(graph, nullptr, 0, reinterpret_cast<const void*>(gate_kernel), args);
}

namespace detail {
void load_armed_kernels() {
  cudaFuncAttributes a{};
  TRTPACE_CUDA_CHECK(cudaFuncGetAttributes(&a, gate_kernel));
  TRTPACE_CUDA_CHECK(cudaFuncGetAttributes(&a, gate_condition_kernel));
  TRTPACE_CUDA_CHECK(cudaFuncGetAttributes(&a, count_kernel));
}
}  // namespace detail

void enqueue_count_kernel(uint32_t* counter_dev, cudaStream_t stream) {
  count_kernel<<<1, 1, 0, stream>>>(counter_dev);
  TRTPACE_CUDA_CHECK(cudaGetLastError());
}

}  // namespace trtpace
