#include "trtpace/warm.hpp"

#include <chrono>
#include <stdexcept>

#include "trtpace/kernels.hpp"

namespace trtpace {

namespace {
Stream lowest_priority_stream(int device) {
  DeviceGuard guard(device);
  int least = 0, greatest = 0;  // numerically greater = lower priority
  TRTPACE_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  return make_stream(least);
}
}  // namespace

Filler::Filler(int device) : device_(device) { stream_ = lowest_priority_stream(device); }

void Filler::fire(int64_t work_ns) {
  DeviceGuard guard(device_);  // callable from any thread
  const cudaError_t st = cudaStreamQuery(stream_.get());
  if (st == cudaErrorNotReady) return;  // the last one is still running: don't pile up work
  if (st != cudaSuccess) throw_cuda_error(st, "cudaStreamQuery(filler)", __FILE__, __LINE__);
  kernels::spin_for(uint64_t(work_ns < 0 ? 0 : work_ns), stream_.get());
  ++fired_;
}

void Filler::wait_idle() { TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream_.get())); }

KeepWarmThread::KeepWarmThread(int device, int64_t period_ns, int64_t work_ns)
    : device_(device), period_ns_(period_ns), work_ns_(work_ns) {
  if (period_ns <= 0) throw std::invalid_argument("keep-warm period must be > 0");
  if (work_ns < 0) throw std::invalid_argument("keep-warm work must be >= 0");
}

KeepWarmThread::~KeepWarmThread() {
  try {
    stop();
  } catch (...) {
  }
}

void KeepWarmThread::start() {
  if (thread_.joinable()) return;
  // Created here so CUDA errors (no GPU, bad device) surface to the caller, not the thread.
  auto filler = std::make_shared<Filler>(device_);
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = false;
  }
  thread_ = std::thread([this, filler] {
    DeviceGuard guard(device_);
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      if (!paused_.load()) {
        lock.unlock();
        try {
          filler->fire(work_ns_);
          fired_.store(filler->fired());
        } catch (...) {
          lock.lock();
          break;  // a CUDA failure ends keep-warm; the app's own work will report it
        }
        lock.lock();
      }
      wake_.wait_for(lock, std::chrono::nanoseconds(period_ns_), [this] { return stop_; });
    }
    lock.unlock();
    try {
      filler->wait_idle();
    } catch (...) {
    }
  });
}

void KeepWarmThread::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
}

}  // namespace trtpace
