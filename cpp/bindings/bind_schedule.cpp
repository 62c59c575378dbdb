// Closed- and open-loop schedules.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <vector>

#include "bindings.hpp"
#include "trtpace/schedule.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

void bind_schedule(py::module_& m) {
  py::class_<Schedule>(m, "Schedule",
                       "When each inference is due: closed-loop gap or open-loop due times (at most 10 years out).")
      .def_static("closed_gap", &Schedule::closed_gap, "gap_ns"_a,
                  "Idle gap_ns from observed completion to the next issue. Units: ns.")
      .def_static("periodic", &Schedule::periodic, "period_ns"_a, "count"_a,
                  "Inference i due at t0 + i * period_ns. Units: ns.")
      .def_static("poisson", &Schedule::poisson, "rate_hz"_a, "seed"_a, "count"_a,
                  "Poisson arrivals at rate_hz, reproducible from seed; the first is due at t0.")
      .def_static(
          "trace", [](const std::vector<int64_t>& offsets_ns) { return Schedule::trace(offsets_ns); }, "offsets_ns"_a,
          "Inference i due at t0 + offsets_ns[i] (non-negative, non-decreasing). Units: ns.")
      .def_property_readonly("open_loop", &Schedule::open_loop)
      .def_property_readonly("gap_ns", &Schedule::gap_ns)
      .def_property_readonly("offsets_ns",
                             [](const Schedule& s) {
                               const auto& o = s.offsets_ns();
                               return py::array_t<int64_t>(py::ssize_t(o.size()), o.data());
                             })
      .def("due_ns", &Schedule::checked_due_ns, "i"_a, "t0_ns"_a, "prev_done_ns"_a,
           "Due time of inference i given the run's start and the previous completion. Units: ns.")
      .def("__repr__", [](const Schedule& s) { return "<Schedule " + s.describe() + ">"; });
}

}  // namespace trtpace::bindings
