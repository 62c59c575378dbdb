// The paced runner and its records.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "bindings.hpp"
#include "trtpace/runner.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

void bind_runner(py::module_& m) {
  py::class_<Runner, std::shared_ptr<Runner>>(m, "Runner", "The paced loop over one workload and schedule.")
      .def(py::init([](std::shared_ptr<Workload> workload, const Schedule& schedule, size_t iterations, size_t warmup,
                       const std::string& wait, const std::string& sync, int64_t hybrid_margin_ns, int64_t start_delay_ns,
                       int64_t keepwarm_period_ns, int64_t keepwarm_work_ns, int64_t prewarm_lead_ns,
                       int64_t prewarm_work_ns, const std::string& prewarm_target, const std::string& armed_gate,
                      bool armed_cancellable, int64_t arm_timeout_ns, bool nvtx, const std::string& nvtx_name) {
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
             cfg.prewarm_target = parse_prewarm_target(prewarm_target);
             cfg.nvtx = nvtx;
             cfg.nvtx_name = nvtx_name;
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
          "armed_gate"_a = "off", "armed_cancellable"_a = false, "arm_timeout_ns"_a = 0, "nvtx"_a = false,
          "nvtx_name"_a = "",
           "The paced loop. keepwarm_*: filler work every period during gaps, ending before each due time;\n"
           "prewarm_*: once, lead_ns before each due time: filler on its own stream ('filler'), filler on the\n"
           "inference's stream ('stream') or cudaGraphUpload of its graph ('graph'). GPU workloads only; 0 = off.\n"
           "nvtx: NVTX ranges for profilers, one per run named nvtx_name (default 'trtpace: ' + the workload)\n"
           "and 'inference i' from issue to done; off: no NVTX call in the loop.")
      .def(
          "run",
          [](Runner& r) {
            py::gil_scoped_release release;
            r.run();
          },
          "Runs the paced loop on this thread without the GIL; returns when done or after request_stop()\n"
          "(at once, with no records, when the stop came first). On a failure the completed records are kept.")
      .def("request_stop", &Runner::request_stop, "Ends the run after the inference in flight (thread-safe).")
      .def_property_readonly("completed", &Runner::completed, "Inferences finished so far, warm-up included.")
      .def_property_readonly("total", &Runner::total)
      .def_property_readonly("hybrid_margin_ns", &Runner::hybrid_margin_ns)
      .def_property_readonly("cpu_ns", &Runner::cpu_ns, "CPU time of the runner's thread during the loop. Units: ns.")
      .def_property_readonly("fillers_fired", &Runner::fillers_fired, "Keep-warm and pre-warm launches made.")
      .def_property_readonly("filler_work_ns", &Runner::filler_work_ns,
                             "Filler kernel work launched, in ns (each filler holds one SM while it runs).")
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

}  // namespace trtpace::bindings
