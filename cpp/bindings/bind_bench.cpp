// Benchmark support: clock sync, timer resolution, a bare launch loop.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <algorithm>
#include <vector>

#include "bindings.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/cuda_raii.hpp"
#include "trtpace/probe.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

void bind_bench(py::module_& m) {
  m.def(
      "sync_globaltimer",
      [](int device, int rounds) {
        ClockSync s;
        {
          py::gil_scoped_release release;
          s = sync_globaltimer(device, rounds);
        }
        return py::dict("host_ns"_a = s.host_ns, "offset_ns"_a = s.offset_ns, "uncertainty_ns"_a = s.uncertainty_ns);
      },
      "device"_a, "rounds"_a = 16,
      "%globaltimer minus the host monotonic clock, by ping-pong through mapped memory (1 to 1000 rounds).");
  m.def("globaltimer_resolution_ns", &globaltimer_resolution_ns, "device"_a, py::call_guard<py::gil_scoped_release>(),
        "Smallest step of the GPU's %globaltimer. Units: ns.");
  m.def(
      "_bench_bare_graph_loop",
      [](int device, uintptr_t graph_exec, int iterations) {
        std::vector<int64_t> e2e(size_t(std::max(iterations, 0)));
        {
          py::gil_scoped_release release;
          DeviceGuard guard(device);
          Stream stream = make_stream();
          const auto exec = reinterpret_cast<cudaGraphExec_t>(graph_exec);
          for (int64_t& t : e2e) {
            const int64_t start = now_ns();
            TRTPACE_CUDA_CHECK(cudaGraphLaunch(exec, stream.get()));
            TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
            t = now_ns() - start;
          }
        }
        return to_numpy(e2e, e2e.size());
      },
      "device"_a, "graph_exec"_a, "iterations"_a,
      "Benchmark baseline: per-iteration ns of a bare cudaGraphLaunch + cudaStreamSynchronize loop.");
}

}  // namespace trtpace::bindings
