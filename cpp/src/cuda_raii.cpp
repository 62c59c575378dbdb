#include "trtpace/cuda_raii.hpp"

#include <string>

#include "device.hpp"

namespace trtpace {

namespace {
std::string format_cuda_error(cudaError_t code, const char* call) {
  return std::string(call) + " failed: " + cudaGetErrorName(code) + ": " + cudaGetErrorString(code);
}
}  // namespace

CudaError::CudaError(cudaError_t code, const char* call, const char* file, int line)
    : TrtpaceError(format_cuda_error(code, call)), code_(code), file_(file), line_(line) {}

void throw_cuda_error(cudaError_t code, const char* call, const char* file, int line) {
  (void)cudaGetLastError();  // clear a sticky launch error so the next call reports its own
  throw CudaError(code, call, file, line);
}

Stream make_stream(int priority) {
  cudaStream_t s = nullptr;
  TRTPACE_CUDA_CHECK(cudaStreamCreateWithPriority(&s, cudaStreamNonBlocking, priority));
  return Stream(s);
}

Event make_event(unsigned flags) {
  cudaEvent_t e = nullptr;
  TRTPACE_CUDA_CHECK(cudaEventCreateWithFlags(&e, flags));
  return Event(e);
}

GraphExec instantiate(cudaGraph_t graph) {
  cudaGraphExec_t exec = nullptr;
  TRTPACE_CUDA_CHECK(cudaGraphInstantiate(&exec, graph, 0));
  return GraphExec(exec);
}

cudaGraphNode_t add_one_block_kernel_node(cudaGraph_t graph, const cudaGraphNode_t* deps, size_t count,
                                          const void* func, void** args, unsigned threads) {
  cudaKernelNodeParams p{};
  p.func = const_cast<void*>(func);
  p.gridDim = dim3(1);
  p.blockDim = dim3(threads);
  p.kernelParams = args;
  cudaGraphNode_t node = nullptr;
  TRTPACE_CUDA_CHECK(cudaGraphAddKernelNode(&node, graph, deps, count, &p));
  return node;
}

DeviceBuffer::DeviceBuffer(size_t bytes) : bytes_(bytes) { TRTPACE_CUDA_CHECK(cudaMalloc(&ptr_, bytes)); }

DeviceBuffer::~DeviceBuffer() {
  if (ptr_) TRTPACE_CUDA_CHECK_NOEXCEPT(cudaFree(ptr_));
}

CaptureScope::CaptureScope(cudaStream_t stream, cudaStreamCaptureMode mode) : stream_(stream) {
  TRTPACE_CUDA_CHECK(cudaStreamBeginCapture(stream, mode));
  open_ = true;
}

CaptureScope::~CaptureScope() {
  if (!open_) return;
  cudaGraph_t raw = nullptr;
  TRTPACE_CUDA_CHECK_NOEXCEPT(cudaStreamEndCapture(stream_, &raw));
  if (raw) TRTPACE_CUDA_CHECK_NOEXCEPT(cudaGraphDestroy(raw));
  // An invalidated capture leaves its error behind: clear it so the next call reports its own.
  (void)cudaGetLastError();
}

Graph CaptureScope::end() {
  open_ = false;
  cudaGraph_t raw = nullptr;
  const cudaError_t st = cudaStreamEndCapture(stream_, &raw);
  Graph graph(raw);  // owned even on failure, so a partial graph is destroyed
  if (st != cudaSuccess) {
    (void)cudaGetLastError();
    throw CaptureError(std::string("capture failed: ") + cudaGetErrorName(st) + ": " + cudaGetErrorString(st));
  }
  return graph;
}

DeviceGuard::DeviceGuard(int device) {
  TRTPACE_CUDA_CHECK(cudaGetDevice(&previous_));
  if (previous_ != device) {
    TRTPACE_CUDA_CHECK(cudaSetDevice(device));
    changed_ = true;
  }
}

DeviceGuard::~DeviceGuard() {
  if (changed_) TRTPACE_CUDA_CHECK_NOEXCEPT(cudaSetDevice(previous_));
}

double elapsed_us(cudaEvent_t start, cudaEvent_t end) {
  float ms = 0.0f;
  TRTPACE_CUDA_CHECK(cudaEventElapsedTime(&ms, start, end));
  return double(ms) * 1e3;
}

CudaProbe probe_cuda() {
  // Unchecked on purpose: with no driver these fail, and the failure is the answer.
  CudaProbe p;
  cudaDriverGetVersion(&p.driver_version);
  cudaRuntimeGetVersion(&p.runtime_version);
  const cudaError_t st = cudaGetDeviceCount(&p.device_count);
  if (st != cudaSuccess) {
    p.device_count = 0;
    p.error_code = int(st);
    p.error_name = cudaGetErrorName(st);
    p.error_string = cudaGetErrorString(st);
    (void)cudaGetLastError();
  }
  return p;
}

DeviceInfo device_info(int device) {
  cudaDeviceProp prop{};
  TRTPACE_CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
  DeviceInfo info;
  info.index = device;
  info.name = prop.name;
  info.major = prop.major;
  info.minor = prop.minor;
  info.multiprocessors = prop.multiProcessorCount;
  info.total_memory_bytes = prop.totalGlobalMem;
  info.integrated = prop.integrated != 0;
  char bus[32] = {};
  TRTPACE_CUDA_CHECK(cudaDeviceGetPCIBusId(bus, sizeof bus, device));
  info.pci_bus_id = bus;
  int khz = 0;
  TRTPACE_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device));
  info.max_sm_clock_mhz = khz / 1000;
  TRTPACE_CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrMemoryClockRate, device));
  info.max_mem_clock_mhz = khz / 1000;
  return info;
}

}  // namespace trtpace
