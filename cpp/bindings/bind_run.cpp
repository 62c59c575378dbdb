// Workloads, the paced runner, and benchmark hooks.
#include <pybind11/functional.h>
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <vector>

#include "bindings.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/errors.hpp"
#include "trtpace/runner.hpp"
#include "trtpace/kernels.hpp"
#include "trtpace/synthetic.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

namespace {
template <typename T>
py::array_t<T> to_numpy(const std::vector<T>& v, size_t n) {
  return py::array_t<T>(py::ssize_t(n), v.data());
}
}  // namespace

void bind_workloads(py::module_& m) {
  py::class_<Workload, std::shared_ptr<Workload>>(m, "Workload", "One inference, as the paced runner drives it.")
      .def_property_readonly("device", &Workload::device, "CUDA device ordinal, or -1 for a host workload.")
      .def_property_readonly("device_timing", &Workload::device_timing,
                             "How device_us is measured: 'graph-event-nodes', 'stream-events' or 'host'.")
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
      m, "SyntheticWorkload", "A chain of kernels that fill every SM, as a CUDA graph ('graph') or eager launches ('direct').")
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
      .def_property_readonly("launch",
                             [](const SyntheticWorkload& w) { return w.launch_mode() == LaunchMode::graph ? "graph" : "direct"; })
      .def_property_readonly("graph_exec_handle", &SyntheticWorkload::graph_exec_handle,
                             "The cudaGraphExec_t (graph launch only; 0 otherwise), as an integer.");

  py::class_<GraphExecWorkload, CudaWorkload, std::shared_ptr<GraphExecWorkload>>(
      m, "GraphExecWorkload",
      "A borrowed cudaGraphExec_t (e.g. torch.cuda.CUDAGraph.raw_cuda_graph_exec()); the owner must keep it alive.\n"
      "Device time is measured by events around the launch, so it can include host submission.")
      .def(py::init<int, uintptr_t>(), "device"_a, "graph_exec"_a);

  py::class_<GraphWorkload, CudaWorkload, std::shared_ptr<GraphWorkload>>(
      m, "GraphWorkload",
      "A borrowed cudaGraph_t (e.g. torch.cuda.CUDAGraph(keep_graph=True).raw_cuda_graph()), cloned as a child graph\n"
      "between two event record nodes, so device time excludes host submission. The owner must keep the memory\n"
      "the graph uses alive.")
      .def(py::init<int, uintptr_t>(), "device"_a, "graph"_a)
      .def_property_readonly("graph_exec_handle", &GraphWorkload::graph_exec_handle);

  py::class_<CallableWorkload, CudaWorkload, std::shared_ptr<CallableWorkload>>(
      m, "CallableWorkload",
      "Calls fn(stream_handle: int) once per inference; fn enqueues its work on that stream.\n"
      "The call takes the GIL, so its cost is part of the measured submission time.")
      .def(py::init([](int device, py::function fn, std::string name) {
             CallableWorkload::Enqueue enqueue = [fn = std::move(fn)](uintptr_t stream) {
               py::gil_scoped_acquire acquire;
               fn(stream);
             };
             return std::make_shared<CallableWorkload>(device, std::move(enqueue), std::move(name));
           }),
           "device"_a, "fn"_a, "name"_a = "python callable");

  py::class_<HostWorkload, Workload, std::shared_ptr<HostWorkload>>(
      m, "HostWorkload", "Busy work on the host for busy_us: runs the paced loop on a machine with no GPU.")
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

void bind_runner(py::module_& m) {
  py::class_<Runner, std::shared_ptr<Runner>>(m, "Runner", "The paced loop over one workload and schedule.")
      .def(py::init([](std::shared_ptr<Workload> workload, const Schedule& schedule, size_t iterations, size_t warmup,
                       const std::string& wait, const std::string& sync, int64_t hybrid_margin_ns, int64_t start_delay_ns,
                       int64_t keepwarm_period_ns, int64_t keepwarm_work_ns, int64_t prewarm_lead_ns,
                       int64_t prewarm_work_ns, const std::string& prewarm_target, const std::string& armed_gate,
                       bool armed_cancellable, int64_t arm_timeout_ns) {
             RunConfig cfg;
             cfg.schedule = schedule;
             cfg.iterations = iterations;
             cfg.warmup = warmup;
             cfg.wait = parse_wait_mode(wait);
             cfg.sync = parse_sync_mode(sync);
             cfg.hybrid_margin_ns = hybrid_margin_ns;
             cfg.start_delay_ns = start_delay_ns;
             cfg.keepwarm_period_ns = keepwarm_period_ns;
             cfg.keepwarm_work_ns = keepwarm_work_ns;
             cfg.prewarm_lead_ns = prewarm_lead_ns;
             cfg.prewarm_work_ns = prewarm_work_ns;
             using Target = RunConfig::PrewarmTarget;
             if (prewarm_target == "filler") cfg.prewarm_target = Target::filler;
             else if (prewarm_target == "stream") cfg.prewarm_target = Target::stream;
             else if (prewarm_target == "graph") cfg.prewarm_target = Target::graph;
             else throw std::invalid_argument("prewarm_target must be filler, stream or graph");
             if (armed_gate != "off") {
               cfg.armed = true;
               cfg.arm.gate = parse_gate_kind(armed_gate);
               cfg.arm.cancellable = armed_cancellable;
               cfg.arm.timeout_ns = arm_timeout_ns;
               if (prewarm_lead_ns > 0)
                 throw std::invalid_argument("armed launch and pre-warm exclude each other: the armed work is already queued");
             }
             py::gil_scoped_release release;  // the first Runner calibrates the hybrid margin
             return std::make_shared<Runner>(std::move(workload), std::move(cfg));
           }),
           "workload"_a, "schedule"_a, "iterations"_a, "warmup"_a = 0, "wait"_a = "hybrid", "sync"_a = "spin",
           "hybrid_margin_ns"_a = 0, "start_delay_ns"_a = 1'000'000, "keepwarm_period_ns"_a = 0,
           "keepwarm_work_ns"_a = 0, "prewarm_lead_ns"_a = 0, "prewarm_work_ns"_a = 0, "prewarm_target"_a = "filler",
           "armed_gate"_a = "off", "armed_cancellable"_a = false, "arm_timeout_ns"_a = 0,
           "The paced loop. keepwarm_*: filler work every period during gaps, ending before each due time;\n"
           "prewarm_*: once, lead_ns before each due time: filler on its own stream ('filler'), filler on the\n"
           "inference's stream ('stream') or cudaGraphUpload of its graph ('graph'). GPU workloads only; 0 = off.\n"
           "armed_gate 'wait' or 'kernel': each inference is queued behind a gate after the previous one and\n"
           "issued by one store (armed launch); armed_cancellable and arm_timeout_ns as in CudaWorkload.enable_arming.")
      .def(
          "run",
          [](Runner& r) {
            py::gil_scoped_release release;
            r.run();
          },
          "Runs the paced loop on this thread without the GIL; returns when done or after request_stop().")
      .def("request_stop", &Runner::request_stop, "Ends the run after the inference in flight (thread-safe).")
      .def_property_readonly("completed", &Runner::completed, "Inferences finished so far, warm-up included.")
      .def_property_readonly("total", &Runner::total)
      .def_property_readonly("hybrid_margin_ns", &Runner::hybrid_margin_ns)
      .def_property_readonly("cpu_ns", &Runner::cpu_ns, "CPU time of the runner's thread during the loop. Units: ns.")
      .def_property_readonly("fillers_fired", &Runner::fillers_fired, "Keep-warm and pre-warm launches made.")
      .def(
          "records",
          [](const Runner& r) {
            const size_t n = r.completed();
            const Records& rec = r.records();
            return py::dict("due_ns"_a = to_numpy(rec.due_ns, n), "issue_ns"_a = to_numpy(rec.issue_ns, n),
                            "submitted_ns"_a = to_numpy(rec.submitted_ns, n), "done_ns"_a = to_numpy(rec.done_ns, n),
                            "device_us"_a = to_numpy(rec.device_us, n), "gpu_start_ns"_a = to_numpy(rec.gpu_start_ns, n),
                            "inband_mhz"_a = to_numpy(rec.inband_mhz, n), "armed_ns"_a = to_numpy(rec.armed_ns, n),
                            "gate_ns"_a = to_numpy(rec.gate_ns, n));
          },
          "Copies of the completed records: due_ns, issue_ns, submitted_ns, done_ns, gpu_start_ns (monotonic ns;\n"
          "gpu_start_ns 0 when unknown), device_us, inband_mhz (NaN when unknown).")
      .def_property_readonly(
          "clock_sync",
          [](const Runner& r) {
            auto as_dict = [](const ClockSync& s) {
              return py::dict("host_ns"_a = s.host_ns, "offset_ns"_a = s.offset_ns, "uncertainty_ns"_a = s.uncertainty_ns);
            };
            return py::make_tuple(as_dict(r.sync_before()), as_dict(r.sync_after()));
          },
          "The %globaltimer syncs before and after the loop (zeros without a probe).");
}

namespace {
// A cudaGraph_t captured from Python code; owned, destroyed with the object.
struct CapturedGraph {
  Graph graph;
  uintptr_t handle() const { return reinterpret_cast<uintptr_t>(graph.get()); }
};
}  // namespace

void bind_capture(py::module_& m) {
  py::class_<DeviceBuffer, std::shared_ptr<DeviceBuffer>>(m, "DeviceBuffer", "Device memory owned by trtpace.")
      .def(py::init([](int device, size_t nbytes) {
             DeviceGuard guard(device);
             return std::make_shared<DeviceBuffer>(nbytes);
           }),
           "device"_a, "nbytes"_a)
      .def_property_readonly("ptr", [](const DeviceBuffer& b) { return reinterpret_cast<uintptr_t>(b.get()); })
      .def_property_readonly("nbytes", &DeviceBuffer::bytes)
      .def(
          "upload",
          [](DeviceBuffer& b, py::buffer data) {
            py::buffer_info info = data.request();
            const size_t n = size_t(info.size) * size_t(info.itemsize);
            if (n != b.bytes()) throw std::invalid_argument("upload: the array's size differs from the buffer's");
            TRTPACE_CUDA_CHECK(cudaMemcpy(b.get(), info.ptr, n, cudaMemcpyHostToDevice));
          },
          "data"_a, "Copies a contiguous host array of exactly nbytes into the buffer.")
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
        TRTPACE_CUDA_CHECK(cudaStreamBeginCapture(s, cudaStreamCaptureModeThreadLocal));
        std::string failure;
        try {
          py::object ok = fn(reinterpret_cast<uintptr_t>(s));
          if (!ok.is_none() && !ok.cast<bool>()) failure = "the enqueue function returned False";
        } catch (py::error_already_set& e) {
          failure = e.what();
        }
        cudaGraph_t raw = nullptr;
        const cudaError_t st = cudaStreamEndCapture(s, &raw);
        if (failure.empty() && st != cudaSuccess) failure = std::string("capture failed: ") + cudaGetErrorString(st);
        if (!failure.empty()) {
          if (raw) cudaGraphDestroy(raw);
          (void)cudaGetLastError();
          throw CaptureError("graph capture failed: " + failure.substr(0, failure.find('\n')));
        }
        auto out = std::make_shared<CapturedGraph>();
        out->graph = Graph(raw);
        return out;
      },
      "device"_a, "fn"_a,
      "Captures fn(stream_handle) into a CUDA graph (thread-local capture mode). Raises RuntimeError when\n"
      "the work cannot be captured (fn raised, returned False, or used an API capture forbids).");
  m.def(
      "_enqueue_test_work",
      [](int device, uintptr_t stream, int64_t work_ns) {
        DeviceGuard guard(device);
        kernels::spin_for(uint64_t(work_ns), reinterpret_cast<cudaStream_t>(stream));
      },
      "device"_a, "stream"_a, "work_ns"_a, "Test hook: enqueues work_ns of GPU work on a stream (the TensorRT stand-in).");
  m.def(
      "_stream_is_capturing",
      [](uintptr_t stream) {
        cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
        TRTPACE_CUDA_CHECK(cudaStreamIsCapturing(reinterpret_cast<cudaStream_t>(stream), &status));
        return status == cudaStreamCaptureStatusActive;
      },
      "stream"_a, "Test hook: whether a stream is being captured.");
}

void bind_remedies(py::module_& m) {
  py::class_<KeepWarmThread, std::shared_ptr<KeepWarmThread>>(
      m, "KeepWarmThread",
      "Fires work_ns of filler on a lowest-priority stream every period_ns from a C++ thread (no GIL).")
      .def(py::init<int, int64_t, int64_t>(), "device"_a, "period_ns"_a, "work_ns"_a)
      .def("start", &KeepWarmThread::start, py::call_guard<py::gil_scoped_release>())
      .def("stop", &KeepWarmThread::stop, py::call_guard<py::gil_scoped_release>())
      .def("pause", &KeepWarmThread::pause, "Steps aside (around the app's own inference).")
      .def("resume", &KeepWarmThread::resume)
      .def_property_readonly("running", &KeepWarmThread::running)
      .def_property_readonly("fired", &KeepWarmThread::fired);
  py::class_<Filler, std::shared_ptr<Filler>>(m, "Filler", "Filler work on a lowest-priority stream (pre-warm).")
      .def(py::init<int>(), "device"_a)
      .def("fire", &Filler::fire, "work_ns"_a, py::call_guard<py::gil_scoped_release>(),
           "Launches work_ns of filler unless the previous one still runs.")
      .def("wait_idle", &Filler::wait_idle, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("fired", &Filler::fired);
  m.def(
      "infer_once",
      [](std::shared_ptr<Workload> w, const std::string& sync) {
        const SyncMode mode = parse_sync_mode(sync);
        InferenceRecord r;
        {
          py::gil_scoped_release release;
          r = infer_once(*w, mode);
        }
        return py::dict("issue_ns"_a = r.issue_ns, "submitted_ns"_a = r.submitted_ns, "done_ns"_a = r.done_ns,
                        "device_us"_a = r.device_us);
      },
      "workload"_a, "sync"_a = "spin", "Runs one inference now and returns its host times and device time.");
}

void bind_bench(py::module_& m) {
  m.def(
      "sync_globaltimer",
      [](int device, int rounds) {
        ClockSync s;
        {
          py::gil_scoped_release release;
          s = sync_globaltimer(device, rounds);
        }
        return py::dict("host_ns"_a = s.host_ns, "offset_ns"_a = s.offset_ns, "uncertainty_ns"_a = s.uncertainty_ns);
      },
      "device"_a, "rounds"_a = 16, "%globaltimer minus the host monotonic clock, by ping-pong through mapped memory.");
  m.def("globaltimer_resolution_ns", &globaltimer_resolution_ns, "device"_a, py::call_guard<py::gil_scoped_release>(),
        "Smallest step of the GPU's %globaltimer. Units: ns.");
  m.def(
      "_bench_bare_graph_loop",
      [](int device, uintptr_t graph_exec, int iterations) {
        std::vector<int64_t> e2e(size_t(std::max(iterations, 0)));
        {
          py::gil_scoped_release release;
          DeviceGuard guard(device);
          Stream stream = make_stream();
          const auto exec = reinterpret_cast<cudaGraphExec_t>(graph_exec);
          for (int64_t& t : e2e) {
            const int64_t start = now_ns();
            TRTPACE_CUDA_CHECK(cudaGraphLaunch(exec, stream.get()));
            TRTPACE_CUDA_CHECK(cudaStreamSynchronize(stream.get()));
            t = now_ns() - start;
          }
        }
        return to_numpy(e2e, e2e.size());
      },
      "device"_a, "graph_exec"_a, "iterations"_a,
      "Benchmark baseline: per-iteration ns of a bare cudaGraphLaunch + cudaStreamSynchronize loop.");
}

}  // namespace trtpace::bindings
