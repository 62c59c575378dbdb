// Device buffers and graph capture of Python code (TensorRT engines); their test hooks are in
// bind_test_hooks.cpp.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <memory>
#include <stdexcept>
#include <string>

#include "bindings.hpp"
#include "trtpace/cuda_raii.hpp"
#include "trtpace/errors.hpp"
#include "trtpace/warm.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

namespace {
// A cudaGraph_t captured from Python code; owned, destroyed with the object.
struct CapturedGraph {
  Graph graph;
  uintptr_t handle() const { return reinterpret_cast<uintptr_t>(graph.get()); }
};

// Row-major with no gaps: a memcpy of size * itemsize bytes copies exactly the array's elements.
bool c_contiguous(const py::buffer_info& info) {
  py::ssize_t expected = info.itemsize;
  for (py::ssize_t d = info.ndim - 1; d >= 0; --d) {
    const auto dim = size_t(d);
    if (info.shape[dim] != 1 && info.strides[dim] != expected) return false;
    expected *= info.shape[dim];
  }
  return true;
}
}  // namespace

void bind_capture(py::module_& m) {
  py::class_<DeviceBuffer, std::shared_ptr<DeviceBuffer>>(m, "DeviceBuffer", "Device memory owned by trtpace.")
      .def(py::init([](int device, size_t nbytes) {
             DeviceGuard guard(device);
             return std::make_shared<DeviceBuffer>(nbytes);
           }),
           "device"_a, "nbytes"_a, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("ptr", [](const DeviceBuffer& b) { return reinterpret_cast<uintptr_t>(b.get()); })
      .def_property_readonly("nbytes", &DeviceBuffer::bytes)
      .def(
          "upload",
          [](DeviceBuffer& b, py::buffer data) {
            py::buffer_info info = data.request();
            if (!c_contiguous(info))
              throw std::invalid_argument("upload needs a C-contiguous array (numpy.ascontiguousarray makes one)");
            const size_t n = size_t(info.size) * size_t(info.itemsize);
            if (n != b.bytes()) throw std::invalid_argument("upload: the array's size differs from the buffer's");
            TRTPACE_CUDA_CHECK(cudaMemcpy(b.get(), info.ptr, n, cudaMemcpyHostToDevice));
          },
          "data"_a, "Copies a C-contiguous host array of exactly nbytes into the buffer.")
      .def(
          "download",
          [](const DeviceBuffer& b) {
            py::array_t<uint8_t> out(py::ssize_t(b.bytes()));
            TRTPACE_CUDA_CHECK(cudaMemcpy(out.mutable_data(), b.get(), b.bytes(), cudaMemcpyDeviceToHost));
            return out;
          },
          "The buffer's bytes, copied to the host.");
  py::class_<CapturedGraph, std::shared_ptr<CapturedGraph>>(m, "CapturedGraph", "A cudaGraph_t trtpace captured.")
      .def_property_readonly("handle", &CapturedGraph::handle);
  m.def(
      "capture_graph",
      [](int device, py::function fn) {
        DeviceGuard guard(device);
        Stream stream = make_stream();
        const auto s = stream.get();
        auto out = std::make_shared<CapturedGraph>();
        try {
          CaptureScope capture(s);
          py::object ok = fn(reinterpret_cast<uintptr_t>(s));
          if (!ok.is_none() && !ok.cast<bool>()) throw CaptureError("the enqueue function returned False");
          out->graph = capture.end();
        } catch (py::error_already_set& e) {
          // The scope has ended the capture; the Python error becomes a one-line CaptureError.
          const std::string what = e.what();
          throw CaptureError("graph capture failed: " + what.substr(0, what.find('\n')));
        } catch (const CaptureError& e) {
          throw CaptureError(std::string("graph capture failed: ") + e.what());
        }
        return out;
      },
      "device"_a, "fn"_a,
      "Captures fn(stream_handle) into a CUDA graph (thread-local capture mode). Raises CaptureError when\n"
      "the work cannot be captured (fn raised, returned False, or used an API capture forbids).");
}

}  // namespace trtpace::bindings
