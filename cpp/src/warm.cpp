#include "trtpace/warm.hpp"

#include <pthread.h>

#include <algorithm>
#include <chrono>
#include <limits>
#include <stdexcept>
#include <utility>

#include "module_loading.hpp"
#include "trtpace/checked.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/errors.hpp"
#include "trtpace/kernels.hpp"

namespace trtpace {

namespace {
Stream lowest_priority_stream(int device) {
  DeviceGuard guard(device);
  int least = 0, greatest = 0;  // numerically greater = lower priority
  TRTPACE_CUDA_CHECK(cudaDeviceGetStreamPriorityRange(&least, &greatest));
  return make_stream(least);
}

// Names trtpace's threads for debuggers, `top -H` and tests (at most 15 characters).
void name_this_thread(const char* name) noexcept { pthread_setname_np(pthread_self(), name); }
}  // namespace

Filler::Filler(int device) : device_(device) {
  load_kernels(device);
  stream_ = lowest_priority_stream(device);
}

void Filler::fire(int64_t work_ns) {
  check_ns_range(work_ns, "filler work", 0, kMaxFillerNs);
  DeviceGuard guard(device_);  // callable from any thread
  // cudaErrorNotReady is an answer here, not a failure, so the status is checked by hand.
  const cudaError_t st = cudaStreamQuery(stream_.get());
  if (st == cudaErrorNotReady) return;  // the last one is still running: don't pile up work
  if (st != cudaSuccess) throw_cuda_error(st, "cudaStreamQuery(filler)", __FILE__, __LINE__);
  kernels::spin_for(uint64_t(work_ns), stream_.get());
  ++fired_;
  fired_work_ns_ += work_ns;
}

void Filler::wait_idle() { TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream_.get())); }

// ---- KeepWarmThread ----------------------------------------------------------------------------

KeepWarmThread::KeepWarmThread(int device, int64_t period_ns, int64_t work_ns)
    : device_(device), period_ns_(period_ns), work_ns_(work_ns) {
  check_ns_range(period_ns, "keep-warm period", 1, kMaxKeepWarmPeriodNs);
  check_ns_range(work_ns, "keep-warm work", 0, kMaxFillerNs);
}

KeepWarmThread::~KeepWarmThread() {
  try {
    stop();
  } catch (...) {  // a destructor cannot report it; stop() would have
  }
}

void KeepWarmThread::rethrow_failure() {
  if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
}

void KeepWarmThread::start() {
  std::unique_lock<std::mutex> lock(mutex_);
  rethrow_failure();
  if (running_.load()) return;
  lock.unlock();
  if (thread_.joinable()) thread_.join();  // a thread that ended on a failure already reported
  // Created here so CUDA errors (no GPU, bad device) surface to the caller, not the thread.
  auto filler = std::make_shared<Filler>(device_);
  lock.lock();
  stop_ = false;
  running_.store(true);
  thread_ = std::thread(&KeepWarmThread::loop, this, std::move(filler));
}

void KeepWarmThread::loop(const std::shared_ptr<Filler>& filler) {
  name_this_thread("trtpace-warm");
  std::exception_ptr failure;
  try {
    DeviceGuard guard(device_);  // inside the try: a failure here is reported, not std::terminate
    std::unique_lock<std::mutex> lock(mutex_);
    while (!stop_) {
      if (!paused_) {
        // firing_ is set under the lock that pause() takes, so pause() sees every launch.
        firing_ = true;
#ifdef TRTPACE_TEST_HOOKS
        const bool fault = fault_countdown_ > 0 && --fault_countdown_ == 0;
#endif
        lock.unlock();
        std::exception_ptr fire_failure;
        try {
#ifdef TRTPACE_TEST_HOOKS
          if (fault) throw TrtpaceError("injected fault at keep-warm fire");
#endif
          filler->fire(work_ns_);
        } catch (...) {
          fire_failure = std::current_exception();
        }
        lock.lock();
        firing_ = false;
        idle_.notify_all();
        if (fire_failure) std::rethrow_exception(fire_failure);
        fired_.store(filler->fired());
      }
      wake_.wait_for(lock, std::chrono::nanoseconds(period_ns_), [this] { return stop_; });
    }
    lock.unlock();
    filler->wait_idle();
  } catch (...) {
    failure = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  if (failure) failure_ = failure;
  firing_ = false;
  running_.store(false);
  idle_.notify_all();
}

#ifdef TRTPACE_TEST_HOOKS
void KeepWarmThread::inject_fault(uint64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  fault_countdown_ = n;
}
#endif

void KeepWarmThread::pause() {
  std::unique_lock<std::mutex> lock(mutex_);
  paused_ = true;
  idle_.wait(lock, [this] { return !firing_; });
  rethrow_failure();
}

void KeepWarmThread::resume() {
  std::lock_guard<std::mutex> lock(mutex_);
  paused_ = false;
  rethrow_failure();
}

void KeepWarmThread::stop() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stop_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::lock_guard<std::mutex> lock(mutex_);
  rethrow_failure();
}

// ---- PrewarmWorker -----------------------------------------------------------------------------

namespace {
int prewarm_device(const std::shared_ptr<Workload>& workload, int64_t work_ns) {
  if (!workload) throw std::invalid_argument("pre-warm needs a workload");
  if (workload->device() < 0) throw std::invalid_argument("pre-warm needs a GPU workload");
  check_ns_range(work_ns, "pre-warm work", 0, kMaxFillerNs);
  return workload->device();
}

// How long before the fire time the thread stops sleeping and spins.
int64_t spin_margin_ns(WaitMode wait) {
  switch (wait) {
    case WaitMode::sleep:
      return 0;
    case WaitMode::spin:
      return kMaxHorizonNs;  // never sleeps
    case WaitMode::hybrid:
      return default_hybrid_margin_ns();
  }
  return 0;
}
}  // namespace

PrewarmWorker::PrewarmWorker(std::shared_ptr<Workload> workload, PrewarmTarget target, int64_t work_ns, WaitMode wait)
    : workload_(std::move(workload)),
      target_(resolve_prewarm_target(*workload_, target)),
      work_ns_(work_ns),
      spin_margin_ns_(spin_margin_ns(wait)),
      filler_(prewarm_device(workload_, work_ns)) {
  thread_ = std::thread(&PrewarmWorker::loop, this);
}

PrewarmWorker::~PrewarmWorker() {
  try {
    close();
  } catch (...) {  // a destructor cannot report it; close() would have
  }
}

void PrewarmWorker::rethrow_failure() {
  if (failure_) std::rethrow_exception(std::exchange(failure_, nullptr));
}

void PrewarmWorker::schedule(int64_t fire_at_ns) {
  check_ns_range(fire_at_ns, "pre-warm time", 0, now_ns() + kMaxHorizonNs);
  std::lock_guard<std::mutex> lock(mutex_);
  rethrow_failure();
  if (closing_) throw std::logic_error("the pre-warm worker is closed");
  fire_at_ns_ = fire_at_ns;
  pending_ = true;
  generation_.fetch_add(1);
  wake_.notify_all();
}

void PrewarmWorker::cancel() {
  std::unique_lock<std::mutex> lock(mutex_);
  pending_ = false;
  generation_.fetch_add(1);
  wake_.notify_all();
  idle_.notify_all();
  idle_.wait(lock, [this] { return !firing_; });
  rethrow_failure();
}

void PrewarmWorker::wait_idle() {
  std::unique_lock<std::mutex> lock(mutex_);
  idle_.wait(lock, [this] { return !pending_ && !firing_; });
  rethrow_failure();
}

bool PrewarmWorker::pending() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return pending_ || firing_;
}

void PrewarmWorker::close() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    closing_ = true;
    pending_ = false;
    generation_.fetch_add(1);
  }
  wake_.notify_all();
  idle_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::exception_ptr idle_failure;
  try {
    filler_.wait_idle();
  } catch (...) {
    idle_failure = std::current_exception();
  }
  std::lock_guard<std::mutex> lock(mutex_);
  rethrow_failure();
  if (idle_failure) std::rethrow_exception(idle_failure);
}

PrewarmTarget resolve_prewarm_target(const Workload& workload, PrewarmTarget requested) {
  if (requested == PrewarmTarget::filler) return requested;
  return workload.can_prewarm_own_path(requested == PrewarmTarget::graph) ? requested : PrewarmTarget::filler;
}

int64_t fire_prewarm(Workload& workload, PrewarmTarget target, int64_t work_ns, Filler& filler) {
  workload.fault_check(FaultPoint::filler);
  if (target == PrewarmTarget::filler) {
    filler.fire(work_ns);
    return 0;
  }
  const bool upload = target == PrewarmTarget::graph;
  if (!workload.prewarm_own_path(work_ns, upload))  // resolve_prewarm_target said it could
    throw TrtpaceError(std::string("pre-warm target '") + to_string(target) + "' is not available on " +
                       workload.describe());
  return upload ? 0 : work_ns;
}

void PrewarmWorker::fire() {
  fire_prewarm(*workload_, target_, work_ns_, filler_);
  fired_.fetch_add(1);
}

void PrewarmWorker::loop() {
  name_this_thread("trtpace-prewarm");
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    wake_.wait(lock, [this] { return closing_ || pending_; });
    if (closing_) return;
    const uint64_t gen = generation_.load();
    const int64_t fire_at = fire_at_ns_;
    auto superseded = [this, gen] { return closing_ || generation_.load() != gen; };
    // Sleep on the condition variable (so schedule, cancel and close wake it) until the spin
    // margin, then spin, watching the generation, to the fire time.
    const int64_t sleep_until = fire_at - spin_margin_ns_;
    if (wake_.wait_for(lock, std::chrono::nanoseconds(std::max<int64_t>(sleep_until - now_ns(), 0)), superseded))
      continue;
    lock.unlock();
    while (now_ns() < fire_at && generation_.load() == gen) cpu_relax();
    lock.lock();
    if (superseded()) continue;
    pending_ = false;
    firing_ = true;
    lock.unlock();
    std::exception_ptr failure;
    try {
      fire();
    } catch (...) {
      failure = std::current_exception();
    }
    lock.lock();
    firing_ = false;
    if (failure) failure_ = failure;  // the worker stays up; the next call reports it
    idle_.notify_all();
  }
}

}  // namespace trtpace
