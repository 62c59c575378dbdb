#include "trtpace/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "device.hpp"
#include "trtpace/checked.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/kernels.hpp"

namespace trtpace {

namespace {
const SyntheticShape& checked(const SyntheticShape& shape) {
  auto require = [](bool ok, const char* what) {
    if (!ok) throw std::invalid_argument(std::string("invalid synthetic shape: ") + what);
  };
  require(shape.kernels >= 1 && shape.kernels <= SyntheticShape::kMaxKernels, "kernels must be 1 to 100000");
  require(shape.iters_per_kernel >= 0, "iters_per_kernel must be >= 0");
  require(shape.blocks_per_sm >= 1 && shape.blocks_per_sm <= SyntheticShape::kMaxBlocksPerSm,
          "blocks_per_sm must be 1 to 1024");
  require(shape.threads_per_block >= 32 && shape.threads_per_block <= 1024, "threads_per_block must be 32 to 1024");
  return shape;
}
}  // namespace

SyntheticWorkload::SyntheticWorkload(int device, SyntheticShape shape, LaunchMode mode)
    // The shape is checked before the base class touches the GPU.
    : CudaWorkload(((void)checked(shape), device)), shape_(shape), mode_(mode) {
  DeviceGuard guard(device);
  blocks_ = device_info(device).multiprocessors * shape.blocks_per_sm;
  const size_t count = size_t(blocks_) * size_t(shape.threads_per_block);
  data_ = static_cast<float*>(own_device_memory(count * sizeof(float)));
  kernels::fill_random(data_, count, 0x7470u + uint32_t(device), stream());
  TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream()));
  if (mode != LaunchMode::graph) return;

  const cudaStream_t s = stream();
  {
    CaptureScope body(s);
    enqueue_kernels(s);
    body_ = body.end();
  }
  use_timed_graph(body_.get());
}

void SyntheticWorkload::enqueue_kernels(cudaStream_t stream) {
  float* data = data_;
  for (int k = 0; k < shape_.kernels; ++k)
    kernels::busy(data, blocks_, shape_.threads_per_block, shape_.iters_per_kernel, stream);
}

void SyntheticWorkload::enqueue(cudaStream_t stream) {
  if (mode_ == LaunchMode::graph)
    launch_timed_graph(stream);
  else
    enqueue_kernels(stream);
}

std::string SyntheticWorkload::describe() const {
  return "synthetic " + std::to_string(shape_.kernels) + " kernels x " + std::to_string(shape_.iters_per_kernel) +
         " iters (" + to_string(mode_) + ")";
}

double continuous_device_us(Workload& workload, int runs, double warmup_ms) {
  if (runs < 1) throw std::invalid_argument("continuous_device_us needs runs >= 1");
  const int64_t warmup_ns = checked_ns(warmup_ms, 1e6, "warmup_ms", 0, 3'600'000'000'000);
  DeviceGuard guard(workload.device());
  workload.prepare(SyncMode::spin);
  const int64_t warm_until = now_ns() + warmup_ns;
  do {
    workload.launch();
    workload.wait_complete();
  } while (now_ns() < warm_until);
  std::vector<double> times(size_t(runs), 0.0);
  for (double& t : times) {
    workload.launch();
    workload.wait_complete();
    t = workload.last_device_us();
  }
  std::nth_element(times.begin(), times.begin() + runs / 2, times.end());
  return times[size_t(runs / 2)];
}

Calibration calibrate_synthetic(int device, double target_us, int kernels) {
  if (!(target_us > 0.0 && target_us <= kMaxCalibrationUs))  // false for NaN too
    throw std::invalid_argument("target_us must be > 0 and at most " + std::to_string(int64_t(kMaxCalibrationUs)));
  if (kernels < 1 || kernels > SyntheticShape::kMaxKernels)
    throw std::invalid_argument("kernels must be 1 to " + std::to_string(SyntheticShape::kMaxKernels));
  // About 0.2 s of measurement per point, whatever the target (clamped as a double: a tiny target
  // would overflow int).
  const int runs = int(std::clamp(200'000.0 / target_us, 9.0, 201.0));
  auto measure = [&](int iters) {
    SyntheticShape shape;
    shape.kernels = kernels;
    shape.iters_per_kernel = iters;
    SyntheticWorkload w(device, shape, LaunchMode::graph);
    return continuous_device_us(w, runs, 100.0);
  };
  // Device time is affine in the iteration count: t = fixed + slope * iters. Secant steps on
  // measured points converge in two or three rounds.
  double x0 = 64, t0 = measure(int(x0));
  double x1 = std::clamp(x0 * target_us / std::max(t0, 1e-3), 2 * x0, 1e8), t1 = measure(int(x1));
  for (int round = 0; round < 4 && std::abs(t1 - target_us) > 0.01 * target_us; ++round) {
    const double slope = (t1 - t0) / (x1 - x0);
    if (!(slope > 0.0)) break;
    const double x2 = std::clamp(x1 + (target_us - t1) / slope, 0.0, 1e9);
    x0 = x1, t0 = t1;
    x1 = std::round(x2), t1 = measure(int(x1));
    if (x1 == x0) break;
  }
  Calibration c;
  c.shape.kernels = kernels;
  c.shape.iters_per_kernel = int(x1);
  c.target_us = target_us;
  c.measured_us = t1;
  return c;
}

}  // namespace trtpace
