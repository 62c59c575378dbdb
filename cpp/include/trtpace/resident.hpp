#pragma once
// The resident armed loop: the model armed once for the app's lifetime.
//
// Per-frame arming (armed.hpp) launches one graph per frame during the gap. The resident loop is
// one graph launched once: [wait] -> WHILE { model -> done + wait }. Each wait polls a host-mapped
// word for the next frame's release and sets the WHILE node's condition: 1 runs the model again,
// 0 ends the graph. The host's release is one store; its wait is one poll of the done word; no
// launch, no driver call per frame.
//
// WHAT IT HOLDS while running: one thread block of one thread, on one SM, polling host memory
// with __nanosleep between reads; and the workload's stream: nothing else queued on that stream
// runs until the loop ends. Other streams, processes and the rest of the SMs run beside it.
//
// WHAT ENDS IT: stop() (close, cancel, an error, the owner's destructor), or `idle_timeout_ns`
// without a release (the next use launches it again; a release that finds it gone relaunches it
// and the frame runs there). A killed process takes its context, and the loop, with it.
//
// WHAT AN APP MUST NOT DO while it runs: a device-wide synchronize (cudaDeviceSynchronize,
// torch.cuda.synchronize()) waits for the loop, so until the idle timeout; so does freeing CUDA
// memory (cudaFree and cudaFreeHost synchronize the device: torch.cuda.empty_cache(), say), and
// the first launch of a kernel not yet loaded (CUDA's lazy loading) may wait as long. trtpace
// loads its own kernels before the loop starts (module_loading.hpp), and before it frees memory
// of its own (a workload or a loop destroyed) it stops every loop of the process
// (stop_all_running): each is launched again at its next arm, or by a release that finds it ended.
#include <cuda_runtime_api.h>

#include <atomic>
#include <cstdint>

#include "trtpace/cuda_raii.hpp"

namespace trtpace {

// Words the host and the loop share, in host-mapped memory. Sequence numbers count frames from 1,
// wrap around and are compared by signed difference.
struct alignas(8) ResidentWords {
  // host -> GPU, read by the GPU as one 64-bit word per poll (one PCIe read, not two)
  uint32_t release_seq;  // the last frame released: the one store on the critical path
  uint32_t stop;         // nonzero: leave the loop at the next wait
  // GPU -> host
  uint32_t done_seq;     // the last frame whose model completed
  uint32_t exits;        // how many times the loop has ended (stop or idle timeout)
  uint64_t seen_gt;      // %globaltimer when the wait saw the last release. Units: ns.
  uint64_t done_gt;      // %globaltimer when done_seq was written. Units: ns.
  uint32_t exit_seq;     // the frame the loop was waiting for when it last ended
  uint32_t exit_reason;  // why: kResidentExitStop or kResidentExitIdle
};
inline constexpr uint32_t kResidentExitStop = 1;
inline constexpr uint32_t kResidentExitIdle = 2;

class ResidentLoop {
 public:
  // `body`: the model's work as a graph with no event nodes (a conditional body may hold none),
  // cloned into the loop; `stream`: where the loop runs, owned by the caller, who keeps it alive.
  // idle_timeout_ns: the loop ends after this long without a release; 0: only stop() ends it.
  ResidentLoop(int device, cudaStream_t stream, cudaGraph_t body, int64_t idle_timeout_ns);
  ~ResidentLoop();  // stop()
  ResidentLoop(const ResidentLoop&) = delete;
  ResidentLoop& operator=(const ResidentLoop&) = delete;

  enum class Progress { done, pending, ended };

  // Launches the loop if it is not running (first use, after stop(), after an idle timeout);
  // returns whether it launched. The launch is the cost per-frame arming pays every frame.
  bool ensure_running();
  // Whether the loop is running: launched, and not ended since.
  bool running() const noexcept;
  // The one store: frame next_frame() may run. Returns the frame released.
  uint32_t release() noexcept;
  uint32_t next_frame() const noexcept { return next_frame_; }
  // One poll of the loop's words for `frame`: done, still pending, or the loop ended first.
  Progress poll(uint32_t frame) noexcept;
  // Asks the loop to end and waits for its stream (a frame in flight completes first).
  void stop() noexcept;
  // stop() for every running loop of this process: before memory is freed (see above).
  static void stop_all_running() noexcept;
  // How many times the loop was launched.
  uint64_t launches() const noexcept { return launches_; }
  const volatile ResidentWords& words() const noexcept { return *words_.host(); }
  // Device time of the last completed frame: from its release seen to its done word. Units: us.
  double last_device_us() const noexcept;

 private:
  int device_;
  cudaStream_t stream_;
  MappedHostBuffer<ResidentWords> words_{1};
  DeviceBuffer next_;  // the frame the GPU waits for next (device memory: read every frame)
  GraphExec exec_;
  uint32_t next_frame_ = 1;            // the host's mirror of *next_
  uint32_t exits_seen_ = 0;            // words().exits when the loop was last launched
  std::atomic<bool> launched_{false};  // stop_all_running may come from another thread
  uint64_t launches_ = 0;
};

}  // namespace trtpace
