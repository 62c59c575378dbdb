// Workloads the runner drives, and synthetic calibration.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "bindings.hpp"
#include "trtpace/synthetic.hpp"
#include "trtpace/workload.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

void bind_workloads(py::module_& m) {
  m.attr("SYNC_MODES") = enum_names(kSyncModeNames);
  m.attr("LAUNCH_MODES") = enum_names(kLaunchModeNames);
  py::class_<Workload, std::shared_ptr<Workload>>(m, "Workload", "One inference, as the paced runner drives it.")
      .def_property_readonly("device", &Workload::device, "CUDA device ordinal, or -1 for a host workload.")
      .def_property_readonly("device_timing", &Workload::device_timing,
                             "How device_us is measured: 'graph-event-nodes', 'stream-events', 'host' or\n"
                             "'resident-globaltimer' (the resident loop's GPU stamps, release seen to done).")
      .def_property_readonly("has_probe", &Workload::has_probe, "Whether launches carry the in-band clock probe.")
      .def("prewarm_own_path", &Workload::prewarm_own_path, "work_ns"_a, "graph_upload"_a,
           py::call_guard<py::gil_scoped_release>(),
           "Pre-warm: work_ns of filler on this workload's stream, or cudaGraphUpload of its graph.\n"
           "Returns False where the workload has no such path.")
      .def("describe", &Workload::describe);

  py::class_<CudaWorkload, Workload, std::shared_ptr<CudaWorkload>>(m, "CudaWorkload")
      .def_property_readonly(
          "stream_handle", [](const CudaWorkload& w) { return reinterpret_cast<uintptr_t>(w.stream()); },
          "The cudaStream_t this workload runs on, as an integer.");

  py::class_<SyntheticWorkload, CudaWorkload, std::shared_ptr<SyntheticWorkload>>(
      m, "SyntheticWorkload",
      "A chain of kernels that fill every SM, as a CUDA graph ('graph') or eager launches ('direct').")
      .def(py::init([](int device, int kernels, int iters_per_kernel, const std::string& launch, int blocks_per_sm,
                       int threads_per_block) {
             SyntheticShape shape{kernels, iters_per_kernel, blocks_per_sm, threads_per_block};
             const LaunchMode mode = parse_launch_mode(launch);
             py::gil_scoped_release release;
             return std::make_shared<SyntheticWorkload>(device, shape, mode);
           }),
           "device"_a, "kernels"_a, "iters_per_kernel"_a, "launch"_a = "graph", "blocks_per_sm"_a = 4,
           "threads_per_block"_a = 256)
      .def_property_readonly("kernels", [](const SyntheticWorkload& w) { return w.shape().kernels; })
      .def_property_readonly("iters_per_kernel", [](const SyntheticWorkload& w) { return w.shape().iters_per_kernel; })
      .def_property_readonly("launch", [](const SyntheticWorkload& w) { return to_string(w.launch_mode()); })
      .def_property_readonly("graph_exec_handle", &SyntheticWorkload::graph_exec_handle,
                             "The cudaGraphExec_t (graph launch only; 0 otherwise), as an integer.");

  py::class_<GraphExecWorkload, CudaWorkload, std::shared_ptr<GraphExecWorkload>>(
      m, "GraphExecWorkload",
      "A borrowed cudaGraphExec_t (e.g. torch.cuda.CUDAGraph.raw_cuda_graph_exec()); the owner must keep it alive.\n"
      "Device time is measured by events around the launch, so it can include host submission.")
      .def(py::init<int, uintptr_t>(), "device"_a, "graph_exec"_a, py::call_guard<py::gil_scoped_release>());

  py::class_<GraphWorkload, CudaWorkload, std::shared_ptr<GraphWorkload>>(
      m, "GraphWorkload",
      "A borrowed cudaGraph_t (e.g. torch.cuda.CUDAGraph(keep_graph=True).raw_cuda_graph()), cloned as a child graph\n"
      "between two event record nodes, so device time excludes host submission. The owner must keep the memory\n"
      "the graph uses alive. copy_in/copy_out: graphs of the input and output copies, run before and after the\n"
      "model as their own timed parts (the records' copy_in_us and copy_out_us).")
      .def(py::init<int, uintptr_t, uintptr_t, uintptr_t>(), "device"_a, "graph"_a, "copy_in"_a = 0, "copy_out"_a = 0,
           py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("graph_exec_handle", &GraphWorkload::graph_exec_handle);

  py::class_<CallableWorkload, CudaWorkload, std::shared_ptr<CallableWorkload>>(
      m, "CallableWorkload",
      "Calls fn(stream_handle: int) once per inference; fn enqueues its work on that stream.\n"
      "The call takes the GIL, so its cost is part of the measured submission time.")
      .def(py::init([](int device, py::function fn, std::string name, uintptr_t stream) {
             CallableWorkload::Enqueue enqueue = [fn = std::move(fn)](uintptr_t s) {
               py::gil_scoped_acquire acquire;
               fn(s);
             };
             return std::make_shared<CallableWorkload>(device, std::move(enqueue), std::move(name),
                                                       reinterpret_cast<cudaStream_t>(stream));
           }),
           "device"_a, "fn"_a, "name"_a = "python callable", "stream"_a = 0,
           "stream: a CUDA stream handle the caller owns and keeps alive longer than the workload, to run on "
           "instead of the workload's own (0).");

  py::class_<HostWorkload, Workload, std::shared_ptr<HostWorkload>>(
      m, "HostWorkload",
      "Busy work on the host for busy_us (0 to one hour): runs the paced loop on a machine with no GPU.")
      .def(py::init<double>(), "busy_us"_a);

  m.def(
      "calibrate_synthetic",
      [](int device, double target_us, int kernels) {
        Calibration c;
        {
          py::gil_scoped_release release;
          c = calibrate_synthetic(device, target_us, kernels);
        }
        return py::dict("kernels"_a = c.shape.kernels, "iters_per_kernel"_a = c.shape.iters_per_kernel,
                        "target_us"_a = c.target_us, "measured_us"_a = c.measured_us);
      },
      "device"_a, "target_us"_a, "kernels"_a,
      "Finds iters_per_kernel so one graph run of `kernels` kernels takes target_us under continuous load.");
  m.def(
      "continuous_device_us",
      [](std::shared_ptr<Workload> w, int runs, double warmup_ms) {
        py::gil_scoped_release release;
        return continuous_device_us(*w, runs, warmup_ms);
      },
      "workload"_a, "runs"_a = 51, "warmup_ms"_a = 100.0,
      "Median device time of back-to-back runs after warmup_ms of continuous load. Units: us.");
}

}  // namespace trtpace::bindings
