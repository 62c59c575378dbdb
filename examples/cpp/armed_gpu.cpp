// Armed launch from C++: a ~30 us, 12-kernel CUDA graph run back to back, then after an idle gap
// launched plainly, then after the same gap armed (queued behind a gate during the gap, released
// by one store when the input is ready). Prints the median end-to-end latency of each and the
// penalty against back to back; then the same workload armed by hand, as an app embeds it (arm
// during the gap, release when the input is ready, a bounded wait), per frame and with the
// resident loop (armed once: one graph on the GPU runs every frame, no launch per frame). Needs an
// NVIDIA GPU; exits 2 with one line when there is none.
//
//   armed_gpu [inferences=200] [gap_ms=20] [gpu=0]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "example_common.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/errors.hpp"
#include "trtpace/runner.hpp"
#include "trtpace/schedule.hpp"
#include "trtpace/synthetic.hpp"

namespace {

// Median end-to-end latency of the measured inferences of one paced run. Units: us.
double p50_e2e_us(std::shared_ptr<trtpace::Workload> w, int64_t gap_ns, size_t n, bool armed,
                  trtpace::GateKind gate = trtpace::GateKind::kernel) {
  trtpace::RunConfig config;
  config.schedule = trtpace::Schedule::closed_gap(gap_ns);
  config.warmup = 10;
  config.iterations = n;
  config.wait = trtpace::WaitMode::hybrid;
  config.armed = armed;
  config.arm.gate = gate;
  trtpace::Runner runner(std::move(w), config);
  runner.run();
  return median_e2e(runner).p50_us;
}

// The embedding API: arm during the gap, release with one store, wait with a deadline. Returns
// the median release-to-done latency. Units: us. With the resident gate the first arm() launches
// the loop and the others launch nothing; cancel() ends the loop (the destructor would too).
double p50_embedded_us(trtpace::CudaWorkload& w, int64_t gap_ns, size_t n, trtpace::GateKind gate) {
  trtpace::ArmOptions options;
  options.gate = gate;
  // A forgotten arm lets go by itself after 10 s (resident: the loop ends after 10 s with no release).
  options.timeout_ns = 10'000'000'000;
  w.prepare(trtpace::SyncMode::flag);
  w.enable_arming(options);
  std::vector<double> e2e;
  for (size_t i = 0; i < n; ++i) {
    w.arm();  // the launch is paid now, during the gap
    const int64_t ready = trtpace::now_ns() + gap_ns;
    while (trtpace::now_ns() < ready) {
    }
    const int64_t issue = trtpace::now_ns();
    w.release();
    w.wait_complete_for(1'000'000'000);  // WaitTimeout after 1 s, naming what it waited for
    e2e.push_back(double(trtpace::now_ns() - issue) * 1e-3);
  }
  w.cancel();
  if (!w.resident_fallback_why().empty()) std::printf("(resident: per frame: %s)\n", w.resident_fallback_why().c_str());
  std::sort(e2e.begin(), e2e.end());
  return e2e[e2e.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const auto n = static_cast<size_t>(arg(argc, argv, 1, 200));
    const auto gap_ns = static_cast<int64_t>(arg(argc, argv, 2, 20) * 1e6);
    const int gpu = static_cast<int>(arg(argc, argv, 3, 0));
    const trtpace::Calibration cal = trtpace::calibrate_synthetic(gpu, 30.0, 12);
    auto w = std::make_shared<trtpace::SyntheticWorkload>(gpu, cal.shape, trtpace::LaunchMode::graph);
    const double cont = p50_e2e_us(w, 0, n, false);
    const double plain = p50_e2e_us(w, gap_ns, n, false);
    const double armed = p50_e2e_us(w, gap_ns, n, true);
    std::printf("workload: %s (%.1f us of device time)\n", w->describe().c_str(), cal.measured_us);
    std::printf("back to back:       p50 e2e %7.1f us\n", cont);
    std::printf("plain after %g ms: p50 e2e %7.1f us  %.2fx\n", gap_ns / 1e6, plain, plain / cont);
    std::printf("armed after %g ms: p50 e2e %7.1f us  %.2fx\n", gap_ns / 1e6, armed, armed / cont);
    const double resident = p50_e2e_us(w, gap_ns, n, true, trtpace::GateKind::resident);
    std::printf("resident, %g ms:   p50 e2e %7.1f us  %.2fx\n", gap_ns / 1e6, resident, resident / cont);
    auto embedded_workload = std::make_shared<trtpace::SyntheticWorkload>(gpu, cal.shape, trtpace::LaunchMode::graph);
    const double embedded = p50_embedded_us(*embedded_workload, gap_ns, n, trtpace::GateKind::kernel);
    std::printf("armed by hand:      p50 e2e %7.1f us  %.2fx\n", embedded, embedded / cont);
    const double embedded_resident = p50_embedded_us(*embedded_workload, gap_ns, n, trtpace::GateKind::resident);
    std::printf("resident by hand:   p50 e2e %7.1f us  %.2fx\n", embedded_resident, embedded_resident / cont);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
