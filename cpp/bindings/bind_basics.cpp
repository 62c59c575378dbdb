// Errors, clocks and waits, schedules, device discovery.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/cuda_check.hpp"
#include "trtpace/device.hpp"
#include "trtpace/errors.hpp"
#include "trtpace/schedule.hpp"
#include "trtpace/wait.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

void bind_errors(py::module_& m) {
  // Registered root first: pybind11 tries translators newest first, so subclasses map to their own names.
  auto& root = py::register_exception<TrtpaceError>(m, "TrtpaceError", PyExc_Exception);
  root.attr("__doc__") = "Base of every error trtpace raises on purpose (trtpace.errors documents the tree).";
  py::register_exception<CudaError>(m, "CudaError", root.ptr());
  py::register_exception<CaptureError>(m, "CaptureError", root.ptr());
}

void bind_timing(py::module_& m) {
  m.def("now_ns", &now_ns, "The monotonic clock every trtpace timestamp uses (same as time.monotonic_ns()). Units: ns.");
  m.def(
      "wait_until_ns",
      [](int64_t deadline_ns, const std::string& mode, int64_t hybrid_margin_ns) {
        const WaitMode wm = parse_wait_mode(mode);
        py::gil_scoped_release release;
        Waiter(wm, hybrid_margin_ns).wait_until(deadline_ns);
      },
      "deadline_ns"_a, "mode"_a = "hybrid", "hybrid_margin_ns"_a = 0,
      "Waits until the monotonic clock reaches deadline_ns (never earlier), without the GIL.\n\n"
      "mode is 'sleep', 'spin' or 'hybrid'; hybrid_margin_ns=0 uses the calibrated margin.");
  m.def(
      "calibrate_hybrid_margin_ns",
      [](int samples) {
        py::gil_scoped_release release;
        return calibrate_hybrid_margin_ns(samples);
      },
      "samples"_a = 100, "Measures sleep overshoot here and returns a hybrid-wait spin margin. Units: ns.");
  m.def("default_hybrid_margin_ns", &default_hybrid_margin_ns, py::call_guard<py::gil_scoped_release>(),
        "The hybrid margin calibrated once per process. Units: ns.");
  m.def(
      "probe_waits",
      [](const std::string& method, int64_t wait_ns, int count) {
        WaitProbe p;
        {
          py::gil_scoped_release release;
          p = probe_waits(method, wait_ns, count);
        }
        py::array_t<int64_t> over(py::ssize_t(p.overshoot_ns.size()), p.overshoot_ns.data());
        return py::make_tuple(over, p.cpu_ns, p.wall_ns);
      },
      "method"_a, "wait_ns"_a, "count"_a,
      "Benchmark support: (overshoot_ns array, thread cpu_ns, wall_ns) of `count` waits of wait_ns by\n"
      "method 'sleep', 'spin', 'hybrid' or 'sleep_for' (std::this_thread::sleep_for).");
}

void bind_schedule(py::module_& m) {
  py::class_<Schedule>(m, "Schedule", "When each inference is due: closed-loop gap or open-loop due times.")
      .def_static("closed_gap", &Schedule::closed_gap, "gap_ns"_a,
                  "Idle gap_ns from observed completion to the next issue. Units: ns.")
      .def_static("periodic", &Schedule::periodic, "period_ns"_a, "count"_a,
                  "Inference i due at t0 + i * period_ns. Units: ns.")
      .def_static("poisson", &Schedule::poisson, "rate_hz"_a, "seed"_a, "count"_a,
                  "Poisson arrivals at rate_hz, reproducible from seed; the first is due at t0.")
      .def_static(
          "trace",
          [](const std::vector<int64_t>& offsets_ns) { return Schedule::trace(offsets_ns); },
          "offsets_ns"_a, "Inference i due at t0 + offsets_ns[i] (non-negative, non-decreasing). Units: ns.")
      .def_property_readonly("open_loop", &Schedule::open_loop)
      .def_property_readonly("gap_ns", &Schedule::gap_ns)
      .def_property_readonly("offsets_ns",
                             [](const Schedule& s) {
                               const auto& o = s.offsets_ns();
                               return py::array_t<int64_t>(py::ssize_t(o.size()), o.data());
                             })
      .def("due_ns", &Schedule::due_ns, "i"_a, "t0_ns"_a, "prev_done_ns"_a,
           "Due time of inference i given the run's start and the previous completion. Units: ns.")
      .def("__repr__", [](const Schedule& s) { return "<Schedule " + s.describe() + ">"; });
}

void bind_device(py::module_& m) {
  m.def(
      "probe_cuda",
      []() {
        const CudaProbe p = probe_cuda();
        return py::dict("driver_version"_a = p.driver_version, "runtime_version"_a = p.runtime_version,
                        "device_count"_a = p.device_count, "error_code"_a = p.error_code,
                        "error_name"_a = p.error_name, "error_string"_a = p.error_string);
      },
      "What the CUDA runtime sees, without raising: driver_version is 0 when no driver is installed.");
  m.def(
      "device_info",
      [](int device) {
        const DeviceInfo d = device_info(device);
        return py::dict("index"_a = d.index, "name"_a = d.name, "pci_bus_id"_a = d.pci_bus_id,
                        "compute_capability"_a = std::to_string(d.major) + "." + std::to_string(d.minor),
                        "multiprocessors"_a = d.multiprocessors, "max_sm_clock_mhz"_a = d.max_sm_clock_mhz,
                        "max_mem_clock_mhz"_a = d.max_mem_clock_mhz, "total_memory_bytes"_a = d.total_memory_bytes,
                        "integrated"_a = d.integrated);
      },
      "device"_a, "Name, PCI bus id, compute capability, SM count and maximum clocks of a CUDA device.");
}

}  // namespace trtpace::bindings
