#pragma once
// Built-in synthetic inference: a chain of K kernels that fill every SM, each one reading what
// the previous one wrote, so none can be skipped or overlapped.
#include <array>
#include <cstdint>
#include <string>

#include "trtpace/enum_names.hpp"
#include "trtpace/workload.hpp"

namespace trtpace {

enum class LaunchMode { graph, direct };
inline constexpr std::array<EnumName<LaunchMode>, 2> kLaunchModeNames{
    {{LaunchMode::graph, "graph"}, {LaunchMode::direct, "direct"}}};
inline LaunchMode parse_launch_mode(const std::string& name) {
  return parse_enum(kLaunchModeNames, name, "launch mode");
}
inline const char* to_string(LaunchMode mode) noexcept { return enum_to_string(kLaunchModeNames, mode); }

// Ranges, checked by SyntheticWorkload: kernels 1 to kMaxKernels, iters_per_kernel 0 to INT_MAX,
// blocks_per_sm 1 to kMaxBlocksPerSm, threads_per_block 32 to 1024.
struct SyntheticShape {
  static constexpr int kMaxKernels = 100'000;
  static constexpr int kMaxBlocksPerSm = 1024;
  int kernels = 12;
  int iters_per_kernel = 64;  // dependent FMA steps per thread in each kernel
  int blocks_per_sm = 4;
  int threads_per_block = 256;
};

class SyntheticWorkload final : public CudaWorkload {
 public:
  // `graph`: one CUDA graph launch per inference, timed by event record nodes (timed_graph).
  // `direct`: K kernel launches per inference (eager, like a framework without graphs).
  SyntheticWorkload(int device, SyntheticShape shape, LaunchMode mode);
  std::string describe() const override;
  const SyntheticShape& shape() const noexcept { return shape_; }
  LaunchMode launch_mode() const noexcept { return mode_; }
  // The graph executable (graph mode), for benchmarks that launch it outside the runner.
  uintptr_t graph_exec_handle() const noexcept { return reinterpret_cast<uintptr_t>(graph_exec()); }

 protected:
  cudaGraph_t body_graph() const override { return body_.get(); }

 private:
  void enqueue(cudaStream_t stream) override;
  void enqueue_kernels(cudaStream_t stream);
  SyntheticShape shape_;
  LaunchMode mode_;
  int blocks_ = 0;
  float* data_ = nullptr;  // own_device_memory: the base frees it after armed work has ended
  Graph body_;             // the kernels alone (graph mode); use_timed_graph(body_) is the inference
};

// Median device time of `runs` back-to-back inferences, after `warmup_ms` (finite, 0 to one hour)
// of continuous load has brought the clocks up. Units: us.
double continuous_device_us(Workload& workload, int runs, double warmup_ms);

struct Calibration {
  SyntheticShape shape;
  double target_us = 0.0;
  double measured_us = 0.0;  // continuous_device_us of the calibrated shape
};
// Chooses iters_per_kernel so that one graph run of `kernels` kernels takes `target_us` of device
// time under continuous load (the GPU at its full clock), from a linear fit of measured times.
// target_us: finite, > 0 and at most kMaxCalibrationUs; kernels: 1 to SyntheticShape::kMaxKernels.
inline constexpr double kMaxCalibrationUs = 10e6;
Calibration calibrate_synthetic(int device, double target_us, int kernels);

}  // namespace trtpace
