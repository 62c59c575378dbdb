// The exception tree rooted in C++ (trtpace/errors.hpp), registered under the same names.
#include <pybind11/pybind11.h>

#include "bindings.hpp"
#include "trtpace/cuda_check.hpp"
#include "trtpace/errors.hpp"

namespace trtpace::bindings {

void bind_errors(py::module_& m) {
  // Registered root first: pybind11 tries translators newest first, so subclasses map to their own names.
  auto& root = py::register_exception<TrtpaceError>(m, "TrtpaceError", PyExc_Exception);
  root.attr("__doc__") = "Base of every error trtpace raises on purpose (trtpace.errors documents the tree).";
  py::register_exception<CudaError>(m, "CudaError", root.ptr());
  py::register_exception<CaptureError>(m, "CaptureError", root.ptr());
  py::register_exception<WaitTimeout>(m, "WaitTimeoutError", root.ptr());
}

}  // namespace trtpace::bindings
