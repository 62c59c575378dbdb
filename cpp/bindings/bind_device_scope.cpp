// DeviceScope: makes a CUDA device current for a `with` block and restores the previous one, so
// third-party libraries that use the current device (TensorRT's Builder, Runtime and contexts)
// work on the GPU trtpace measures.
#include <pybind11/pybind11.h>

#include <memory>

#include "bindings.hpp"
#include "trtpace/cuda_check.hpp"
#include "trtpace/cuda_raii.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

namespace {
struct DeviceScope {
  int device;
  std::unique_ptr<DeviceGuard> guard;  // held between __enter__ and __exit__
};
}  // namespace

void bind_device_scope(py::module_& m) {
  py::class_<DeviceScope>(m, "DeviceScope",
                          "Context manager: makes `device` the current CUDA device inside the block and restores the\n"
                          "previous one on exit (for libraries that work on the current device, such as TensorRT).")
      .def(py::init([](int device) {
             return DeviceScope{device, nullptr};
           }),
           "device"_a)
      .def(
          "__enter__",
          [](DeviceScope& s) -> DeviceScope& {
            if (s.guard) throw std::runtime_error("DeviceScope is not reentrant");
            s.guard = std::make_unique<DeviceGuard>(s.device);
            return s;
          },
          py::return_value_policy::reference)
      .def(
          "__exit__", [](DeviceScope& s, const py::object&, const py::object&, const py::object&) { s.guard.reset(); },
          "exc_type"_a, "exc_value"_a, "traceback"_a)
      .def_property_readonly("device", [](const DeviceScope& s) { return s.device; })
      .def_static(
          "current",
          [] {
            int device = 0;
            TRTPACE_CUDA_CHECK(cudaGetDevice(&device));
            return device;
          },
          "The current CUDA device of this thread (cudaGetDevice).");
}

}  // namespace trtpace::bindings
