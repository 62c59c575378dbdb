#include <cstring>
#include <mutex>
#include <set>
#include <stdexcept>

#include "cuda_compat.hpp"
#include "globaltimer.cuh"
#include "module_loading.hpp"
#include "trtpace/cuda_check.hpp"
#include "trtpace/resident.hpp"

namespace trtpace {
namespace {

// Waits for frame `frame`'s release; true when it came. Otherwise stamps why the loop ends and
// counts the end, after a system fence, so the host that sees `exits` move sees the rest.
__device__ bool resident_wait(ResidentWords* w, uint32_t frame, uint64_t idle_timeout_ns) {
  volatile ResidentWords* v = w;
  const volatile uint64_t* control = reinterpret_cast<volatile uint64_t*>(w);  // release_seq | stop << 32
  const uint64_t start = globaltimer();
  uint32_t reason = 0;
  for (;;) {
    const uint64_t c = *control;
    if (int32_t(uint32_t(c) - frame) >= 0) break;
    if (c >> 32) {
      reason = kResidentExitStop;
      break;
    }
    if (idle_timeout_ns && globaltimer() - start > idle_timeout_ns) {
      reason = kResidentExitIdle;
      break;
    }
    __nanosleep(32);  // a read of host memory takes about a microsecond: short sleeps (armed.cu)
  }
  if (!reason) {
    v->seen_gt = globaltimer();
    return true;
  }
  v->exit_seq = frame;
  v->exit_reason = reason;
  __threadfence_system();
  v->exits = v->exits + 1;
  return false;
}

// The graph's first node: waits for the first frame of this launch.
__global__ void resident_first_kernel(ResidentWords* w, const uint32_t* next, cudaGraphConditionalHandle loop,
                                      uint64_t idle_timeout_ns) {
  cudaGraphSetConditional(loop, resident_wait(w, *next, idle_timeout_ns) ? 1u : 0u);
}

// The loop body's last node, behind the model: the done word, then the wait for the next frame.
__global__ void resident_step_kernel(ResidentWords* w, uint32_t* next, cudaGraphConditionalHandle loop,
                                     uint64_t idle_timeout_ns) {
  volatile ResidentWords* v = w;
  const uint32_t frame = *next;
  v->done_gt = globaltimer();
  __threadfence_system();  // the model's output and the stamp reach the host before done_seq
  v->done_seq = frame;
  __threadfence_system();  // and done_seq is out before this thread starts polling
  *next = frame + 1;
  cudaGraphSetConditional(loop, resident_wait(w, frame + 1, idle_timeout_ns) ? 1u : 0u);
}

// Every loop of the process, for stop_all_running.
std::mutex& registry_mutex() {
  static std::mutex m;
  return m;
}
std::set<ResidentLoop*>& registry() {
  static std::set<ResidentLoop*> loops;
  return loops;
}

}  // namespace

void ResidentLoop::stop_all_running() noexcept {
  const std::lock_guard<std::mutex> lock(registry_mutex());
  for (ResidentLoop* loop : registry())
    if (loop->running()) loop->stop();
}

ResidentLoop::ResidentLoop(int device, cudaStream_t stream, cudaGraph_t body, int64_t idle_timeout_ns)
    : device_(device), stream_(stream) {
  if (!body) throw std::invalid_argument("the resident loop needs the model as a CUDA graph");
  if (idle_timeout_ns < 0) throw std::invalid_argument("the resident loop's idle timeout must be >= 0 ns");
  load_kernels(device);  // a kernel loaded lazily while the loop spins would wait for it to end
  DeviceGuard guard(device);
  words_ = MappedHostBuffer<ResidentWords>(1);
  next_ = DeviceBuffer(sizeof(uint32_t));
  const uint32_t first = next_frame_;
  TRTPACE_CUDA_CHECK(cudaMemcpy(next_.get(), &first, sizeof first, cudaMemcpyHostToDevice));

  cudaGraph_t raw = nullptr;
  TRTPACE_CUDA_CHECK(cudaGraphCreate(&raw, 0));
  Graph graph(raw);
  cudaGraphConditionalHandle loop{};
  TRTPACE_CUDA_CHECK(cudaGraphConditionalHandleCreate(&loop, raw, 0, cudaGraphCondAssignDefault));
  ResidentWords* w = words_.device();
  auto* next = static_cast<uint32_t*>(next_.get());
  uint64_t timeout = uint64_t(idle_timeout_ns);
  void* args[] = {&w, &next, &loop, &timeout};
  const cudaGraphNode_t first_wait =
      add_one_block_kernel_node(raw, nullptr, 0, reinterpret_cast<const void*>(resident_first_kernel), args);
  cudaGraphNodeParams cp{};
  cp.type = cudaGraphNodeTypeConditional;
  cp.conditional.handle = loop;
  cp.conditional.type = cudaGraphCondTypeWhile;
  cp.conditional.size = 1;
  cudaGraphNode_t while_node = nullptr;
  TRTPACE_CUDA_CHECK(TRTPACE_GRAPH_V2(cudaGraphAddNode)(&while_node, raw, &first_wait, nullptr, 1, &cp));
  const cudaGraph_t loop_body = cp.conditional.phGraph_out[0];
  cudaGraphNode_t model = nullptr;
  TRTPACE_CUDA_CHECK(cudaGraphAddChildGraphNode(&model, loop_body, nullptr, 0, body));  // clones `body`
  add_one_block_kernel_node(loop_body, &model, 1, reinterpret_cast<const void*>(resident_step_kernel), args);
  exec_ = instantiate(raw);
  TRTPACE_CUDA_CHECK(cudaGraphUpload(exec_.get(), stream_));
  TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream_));
  const std::lock_guard<std::mutex> lock(registry_mutex());
  registry().insert(this);
}

ResidentLoop::~ResidentLoop() {
  {
    const std::lock_guard<std::mutex> lock(registry_mutex());
    registry().erase(this);
  }
  stop();
  stop_all_running();  // its words and counter are freed next: freeing waits for every running loop
}

bool ResidentLoop::running() const noexcept {
  return launched_ && __atomic_load_n(&words_.host()->exits, __ATOMIC_ACQUIRE) == exits_seen_;
}

bool ResidentLoop::ensure_running() {
  if (running()) return false;
  DeviceGuard guard(device_);
  exits_seen_ = __atomic_load_n(&words_.host()->exits, __ATOMIC_ACQUIRE);
  __atomic_store_n(&words_.host()->stop, 0u, __ATOMIC_RELEASE);
  TRTPACE_CUDA_CHECK(cudaGraphLaunch(exec_.get(), stream_));
  launched_ = true;
  ++launches_;
  return true;
}

uint32_t ResidentLoop::release() noexcept {
  const uint32_t frame = next_frame_++;
  __atomic_store_n(&words_.host()->release_seq, frame, __ATOMIC_RELEASE);
  return frame;
}

ResidentLoop::Progress ResidentLoop::poll(uint32_t frame) noexcept {
  const ResidentWords* h = words_.host();
  auto done = [&] { return int32_t(__atomic_load_n(&h->done_seq, __ATOMIC_ACQUIRE) - frame) >= 0; };
  if (done()) return Progress::done;
  if (__atomic_load_n(&h->exits, __ATOMIC_ACQUIRE) == exits_seen_) return Progress::pending;
  // The loop ended; it stamps done_seq before it counts an end, so a second look is final.
  return done() ? Progress::done : Progress::ended;
}

void ResidentLoop::stop() noexcept {
  if (!launched_) return;
  DeviceGuard guard(device_);
  __atomic_store_n(&words_.host()->stop, 1u, __ATOMIC_RELEASE);
  TRTPACE_CUDA_CHECK_NOEXCEPT(cudaStreamSynchronize(stream_));
  launched_ = false;
}

double ResidentLoop::last_device_us() const noexcept {
  const ResidentWords* h = words_.host();
  const uint64_t seen = __atomic_load_n(&h->seen_gt, __ATOMIC_ACQUIRE);
  const uint64_t done = __atomic_load_n(&h->done_gt, __ATOMIC_ACQUIRE);
  return done > seen ? double(done - seen) * 1e-3 : 0.0;
}

namespace detail {
void load_resident_kernels() {
  cudaFuncAttributes a{};
  TRTPACE_CUDA_CHECK(cudaFuncGetAttributes(&a, resident_first_kernel));
  TRTPACE_CUDA_CHECK(cudaFuncGetAttributes(&a, resident_step_kernel));
}
}  // namespace detail

}  // namespace trtpace
