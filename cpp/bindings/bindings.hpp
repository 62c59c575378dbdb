#pragma once
// One bind_* function per area of the core; module.cpp calls them in order.
//
// GIL rules: every Python argument is converted to C++ before the GIL is released. The paced
// loop (Runner.run), waits and calibration run without the GIL; only a CallableWorkload takes
// it back, once per launch, to call its Python function.
#include <pybind11/pybind11.h>

namespace trtpace::bindings {
namespace py = pybind11;

void bind_errors(py::module_& m);
void bind_timing(py::module_& m);
void bind_schedule(py::module_& m);
void bind_device(py::module_& m);
void bind_workloads(py::module_& m);
void bind_runner(py::module_& m);
void bind_capture(py::module_& m);
void bind_remedies(py::module_& m);
void bind_bench(py::module_& m);
void bind_armed(py::module_& m);
void bind_device_scope(py::module_& m);

}  // namespace trtpace::bindings
