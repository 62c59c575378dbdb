// The test hooks: fault injection into workloads and keep-warm, GPU work on a given stream and a
// capture check for the TensorRT stand-in. Compiled only with TRTPACE_TEST_HOOKS=ON (tests and CI);
// a user's wheel has none of them (_core._has_test_hooks() says which build this is).
#include <pybind11/pybind11.h>

#include <cstdint>
#include <memory>
#include <string>

#include "bindings.hpp"
#include "trtpace/checked.hpp"
#include "trtpace/cuda_check.hpp"
#include "trtpace/cuda_raii.hpp"
#include "trtpace/kernels.hpp"
#include "trtpace/warm.hpp"
#include "trtpace/workload.hpp"

#ifndef TRTPACE_TEST_HOOKS
#error "bind_test_hooks.cpp is built only with TRTPACE_TEST_HOOKS"
#endif

namespace trtpace::bindings {
using namespace pybind11::literals;

void bind_test_hooks(py::module_& m) {
  // The classes were bound by bind_workloads and bind_remedies; the hooks are added to them here.
  auto workload = py::reinterpret_borrow<py::class_<Workload, std::shared_ptr<Workload>>>(m.attr("Workload"));
  workload.def(
      "_inject_fault",
      [](Workload& w, const std::string& point, uint64_t n) { w.inject_fault(parse_fault_point(point), n); }, "point"_a,
      "n"_a = 1,
      "Test hook: the nth launch, completion wait or filler fire ('launch', 'wait', 'filler') from now\n"
      "raises TrtpaceError instead of running, once; 'none' disarms. Arm it before a run.");
  auto keepwarm =
      py::reinterpret_borrow<py::class_<KeepWarmThread, std::shared_ptr<KeepWarmThread>>>(m.attr("KeepWarmThread"));
  keepwarm.def("_inject_fault", &KeepWarmThread::inject_fault, "n"_a = 1,
               "Test hook: the nth fire from now raises TrtpaceError on the thread instead of launching; 0 disarms.");
  m.def(
      "_enqueue_test_work",
      [](int device, uintptr_t stream, int64_t work_ns) {
        check_ns_range(work_ns, "work_ns", 0, kMaxFillerNs);
        DeviceGuard guard(device);
        kernels::spin_for(uint64_t(work_ns), reinterpret_cast<cudaStream_t>(stream));
      },
      "device"_a, "stream"_a, "work_ns"_a,
      "Test hook: enqueues work_ns of GPU work on a stream (the TensorRT stand-in).");
  m.def(
      "_stream_is_capturing",
      [](uintptr_t stream) {
        cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
        TRTPACE_CUDA_CHECK(cudaStreamIsCapturing(reinterpret_cast<cudaStream_t>(stream), &status));
        return status == cudaStreamCaptureStatusActive;
      },
      "stream"_a, "Test hook: whether a stream is being captured.");
}

}  // namespace trtpace::bindings
