// The monotonic clock and waits.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings.hpp"
#include "trtpace/checked.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/wait.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

void bind_timing(py::module_& m) {
  m.attr("WAIT_MODES") = enum_names(kWaitModeNames);
  m.attr("MAX_HYBRID_MARGIN_NS") = Waiter::kMaxMarginNs;
  // The core's limits (checked.hpp), so Python checks against the same numbers before any work.
  m.attr("MAX_HORIZON_NS") = kMaxHorizonNs;
  m.attr("MAX_INFERENCES") = kMaxInferences;
  m.def("now_ns", &now_ns,
        "The monotonic clock every trtpace timestamp uses (same as time.monotonic_ns()). Units: ns.");
  m.def(
      "wait_until_ns",
      [](int64_t deadline_ns, const std::string& mode, int64_t hybrid_margin_ns) {
        const WaitMode wm = parse_wait_mode(mode);
        // The wait cannot be interrupted once the GIL is released: refuse deadlines past the horizon.
        check_ns_range(deadline_ns, "deadline_ns", 0, now_ns() + kMaxHorizonNs);
        py::gil_scoped_release release;  // also while the first hybrid Waiter calibrates its margin
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

}  // namespace trtpace::bindings
