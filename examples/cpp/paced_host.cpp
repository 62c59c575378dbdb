// Paces N host-only inferences with an idle gap after each (closed loop) through trtpace's
// Runner and prints the median end-to-end latency. Needs no GPU: swap HostWorkload for a
// CudaWorkload subclass (or GraphExecWorkload around your TensorRT/PyTorch graph) in a real app.
//
//   paced_host [inferences=200] [gap_us=500] [busy_us=50]
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>

#include "example_common.hpp"
#include "trtpace/runner.hpp"
#include "trtpace/schedule.hpp"
#include "trtpace/workload.hpp"

int main(int argc, char** argv) {
  try {
    const auto n = static_cast<size_t>(arg(argc, argv, 1, 200));
    const double gap_us = arg(argc, argv, 2, 500);
    const double busy_us = arg(argc, argv, 3, 50);

    trtpace::RunConfig config;
    config.schedule = trtpace::Schedule::closed_gap(static_cast<int64_t>(gap_us * 1e3));
    config.warmup = 5;
    config.iterations = n;
    config.wait = trtpace::WaitMode::hybrid;
    trtpace::Runner runner(std::make_shared<trtpace::HostWorkload>(busy_us), config);
    runner.run();

    const MedianE2e e2e = median_e2e(runner);
    std::printf("workload: %s\n", runner.workload().describe().c_str());
    std::printf("schedule: %s\n", config.schedule.describe().c_str());
    std::printf("inferences: %zu\n", e2e.count);
    std::printf("p50 e2e: %.1f us\n", e2e.p50_us);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  }
}
