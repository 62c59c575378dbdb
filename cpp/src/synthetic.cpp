#include "trtpace/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <stdexcept>
#include <string>
#include <vector>

#include "trtpace/clock.hpp"
#include "trtpace/device.hpp"
#include "trtpace/kernels.hpp"

namespace trtpace {

LaunchMode parse_launch_mode(const std::string& name) {
  if (name == "graph") return LaunchMode::graph;
  if (name == "direct") return LaunchMode::direct;
  throw std::invalid_argument("unknown launch mode '" + name + "' (expected graph or direct)");
}

SyntheticWorkload::SyntheticWorkload(int device, SyntheticShape shape, LaunchMode mode)
    : CudaWorkload(device), shape_(shape), mode_(mode) {
  if (shape.kernels < 1 || shape.iters_per_kernel < 0 || shape.blocks_per_sm < 1 || shape.threads_per_block < 32 ||
      shape.threads_per_block > 1024)
    throw std::invalid_argument("invalid synthetic shape");
  DeviceGuard guard(device);
  blocks_ = device_info(device).multiprocessors * shape.blocks_per_sm;
  const size_t count = size_t(blocks_) * size_t(shape.threads_per_block);
  data_ = DeviceBuffer(count * sizeof(float));
  kernels::fill_random(static_cast<float*>(data_.get()), count, 0x7470u + uint32_t(device), stream());
  TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream()));
  if (mode != LaunchMode::graph) return;

  start_ = make_event();
  end_ = make_event();
  fork_ = make_event(cudaEventDisableTiming);
  join_ = make_event(cudaEventDisableTiming);
  side_ = make_stream();
  const InbandProbe& probe = make_probe();
  const cudaStream_t s = stream();
  TRTPACE_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  cudaGraph_t raw = nullptr;
  try {
    // External event record nodes: the events are stamped by the GPU when the graph reaches
    // them, so their difference is pure device time, whatever the host's submission costs.
    TRTPACE_CUDA_CHECK(cudaEventRecordWithFlags(start_.get(), s, cudaEventRecordExternal));
    // The probe runs beside the first kernels (one warp), so it measures the clock the work
    // runs at without delaying it.
    TRTPACE_CUDA_CHECK(cudaEventRecord(fork_.get(), s));
    TRTPACE_CUDA_CHECK(cudaStreamWaitEvent(side_.get(), fork_.get()));
    probe.enqueue(side_.get());
    TRTPACE_CUDA_CHECK(cudaEventRecord(join_.get(), side_.get()));
    enqueue_kernels(s);
    TRTPACE_CUDA_CHECK(cudaEventRecordWithFlags(end_.get(), s, cudaEventRecordExternal));
    TRTPACE_CUDA_CHECK(cudaStreamWaitEvent(s, join_.get()));
  } catch (...) {
    cudaStreamEndCapture(s, &raw);
    if (raw) cudaGraphDestroy(raw);
    throw;
  }
  TRTPACE_CUDA_CHECK(cudaStreamEndCapture(s, &raw));
  Graph graph(raw);
  exec_ = instantiate(raw);
  cudaGraph_t body = nullptr;
  TRTPACE_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
  try {
    enqueue_kernels(s);
  } catch (...) {
    cudaStreamEndCapture(s, &body);
    if (body) cudaGraphDestroy(body);
    throw;
  }
  TRTPACE_CUDA_CHECK(cudaStreamEndCapture(s, &body));
  body_ = Graph(body);
  TRTPACE_CUDA_CHECK(cudaGraphUpload(exec_.get(), s));
  TRTPACE_CUDA_CHECK(cudaStreamSynchronize(s));
  set_inner_events(start_.get(), end_.get());
}

void SyntheticWorkload::enqueue_kernels(cudaStream_t stream) {
  auto* data = static_cast<float*>(data_.get());
  for (int k = 0; k < shape_.kernels; ++k)
    kernels::busy(data, blocks_, shape_.threads_per_block, shape_.iters_per_kernel, stream);
}

void SyntheticWorkload::enqueue(cudaStream_t stream) {
  if (mode_ == LaunchMode::graph)
    TRTPACE_CUDA_CHECK(cudaGraphLaunch(exec_.get(), stream));
  else
    enqueue_kernels(stream);
}

std::string SyntheticWorkload::describe() const {
  return "synthetic " + std::to_string(shape_.kernels) + " kernels x " + std::to_string(shape_.iters_per_kernel) +
         " iters (" + (mode_ == LaunchMode::graph ? "graph" : "direct") + ")";
}

double continuous_device_us(Workload& workload, int runs, double warmup_ms) {
  if (runs < 1) throw std::invalid_argument("continuous_device_us needs runs >= 1");
  DeviceGuard guard(workload.device());
  workload.prepare(SyncMode::spin);
  const int64_t warm_until = now_ns() + int64_t(warmup_ms * 1e6);
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
  if (!(target_us > 0.0) || !std::isfinite(target_us)) throw std::invalid_argument("target_us must be > 0");
  if (kernels < 1) throw std::invalid_argument("kernels must be >= 1");
  // About 0.2 s of measurement per point, whatever the target.
  const int runs = std::clamp(int(200'000.0 / target_us), 9, 201);
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
