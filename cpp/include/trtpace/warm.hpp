#pragma once
// Remedies that keep the GPU and its driver path warm without root: small filler work on a
// low-priority stream, fired periodically during a gap (keep-warm) or once shortly before a
// known due time (pre-warm).
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <thread>

#include "trtpace/cuda_raii.hpp"

namespace trtpace {

// Small kernels (one block, timed on the GPU's clock) on the lowest-priority stream of the
// device, so they yield to the app's own work.
class Filler {
 public:
  explicit Filler(int device);
  // Launches `work_ns` of filler unless the previous one still runs (never queues up work).
  void fire(int64_t work_ns);
  // Waits for the last filler to finish (not for anything else on the device).
  void wait_idle();
  int device() const noexcept { return device_; }
  uint64_t fired() const noexcept { return fired_; }

 private:
  int device_;
  Stream stream_;
  uint64_t fired_ = 0;
};

// Keep-warm from a background thread: fires a Filler every period until stopped; pause() makes it
// step aside (an app calls it around its own inference).
class KeepWarmThread {
 public:
  KeepWarmThread(int device, int64_t period_ns, int64_t work_ns);
  ~KeepWarmThread();
  KeepWarmThread(const KeepWarmThread&) = delete;
  KeepWarmThread& operator=(const KeepWarmThread&) = delete;
  void start();
  void stop();  // joins the thread and waits for the last filler to finish
  void pause() noexcept { paused_.store(true); }
  void resume() noexcept { paused_.store(false); }
  bool running() const noexcept { return thread_.joinable(); }
  uint64_t fired() const noexcept { return fired_.load(); }

 private:
  void loop();
  int device_;
  int64_t period_ns_;
  int64_t work_ns_;
  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  std::atomic<bool> paused_{false};
  std::atomic<uint64_t> fired_{0};
};

}  // namespace trtpace
