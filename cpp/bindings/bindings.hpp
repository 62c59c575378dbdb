#pragma once
// One bind_* function per area of the core, each in its own bind_<area>.cpp; module.cpp calls
// them in order.
//
// GIL rules: every Python argument is converted to C++ before the GIL is released. The paced
// loop (Runner.run), waits, calibration, the remedies' blocking calls and the constructors that
// touch the GPU (the first CUDA call of a process creates its context: hundreds of ms) run
// without the GIL; only a CallableWorkload (and callable gap work) takes it back, once per call,
// to run its Python function. The module is not declared free-threading safe.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <array>
#include <cstddef>
#include <vector>

#include "trtpace/enum_names.hpp"

namespace trtpace::bindings {
namespace py = pybind11;

void bind_errors(py::module_& m);
void bind_timing(py::module_& m);
void bind_schedule(py::module_& m);
void bind_device(py::module_& m);
void bind_features(py::module_& m);
void bind_workloads(py::module_& m);
void bind_runner(py::module_& m);
void bind_capture(py::module_& m);
void bind_remedies(py::module_& m);
void bind_bench(py::module_& m);
void bind_armed(py::module_& m);
void bind_fast_path(py::module_& m);
void bind_device_scope(py::module_& m);
// Only in TRTPACE_TEST_HOOKS builds (bind_test_hooks.cpp); after bind_workloads and bind_remedies.
void bind_test_hooks(py::module_& m);

// A copy of the first n elements of v as a 1-D numpy array.
template <typename T>
py::array_t<T> to_numpy(const std::vector<T>& v, size_t n) {
  return py::array_t<T>(py::ssize_t(n), v.data());
}

// An enum's names, in table order, for Python code that validates or lists them
// (e.g. _core.WAIT_MODES), so the C++ table stays the only list.
template <typename E, size_t N>
py::tuple enum_names(const std::array<EnumName<E>, N>& table) {
  py::tuple out(N);
  for (size_t i = 0; i < N; ++i) out[i] = py::str(table[i].name);
  return out;
}

}  // namespace trtpace::bindings
