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
  // CudaError carries the CUDA status and where in trtpace's source the call failed as attributes
  // (code, file, line), so the message stays one line.
  static py::handle cuda_error = py::exception<CudaError>(m, "CudaError", root.ptr()).release();
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const CudaError& e) {
      py::object err = py::reinterpret_borrow<py::object>(cuda_error)(e.what());
      err.attr("code") = int(e.code());
      err.attr("file") = e.file();
      err.attr("line") = e.line();
      PyErr_SetObject(cuda_error.ptr(), err.ptr());
    }
  });
  py::register_exception<CaptureError>(m, "CaptureError", root.ptr());
  py::register_exception<WaitTimeout>(m, "WaitTimeoutError", root.ptr());
  // UsageError is a TrtpaceError and a ValueError in Python: both bases, as a tuple.
  const py::tuple bases = py::make_tuple(root, py::handle(PyExc_ValueError));
  static py::handle usage = py::exception<UsageError>(m, "UsageError", bases.ptr()).release();
  usage.attr("__doc__") = "An argument is malformed or out of range (exit code 2 on the command line).";
  // Every argument check in the core throws std::invalid_argument: the same error for Python.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const std::invalid_argument& e) {
      py::set_error(usage, e.what());
    }
  });
}

}  // namespace trtpace::bindings
