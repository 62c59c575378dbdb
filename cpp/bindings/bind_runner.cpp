// The paced runner and its records.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "bindings.hpp"
#include "trtpace/runner.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

void bind_runner(py::module_& m) {
  py::class_<GapWork>(m, "GapWork",
                      "What the app does during the gap (gap_work.hpp): made by none(), busy(ns), memory(bytes) or\n"
                      "callable(fn, label); the runner runs it at the end of each gap and issues when it ends.")
      .def(py::init<>())
      .def_static("busy", [](int64_t ns, std::string label) {
        GapWork g;
        g.kind = GapWorkKind::busy;
        g.busy_ns = ns;
        g.label = std::move(label);
        return g;
      }, "ns"_a, "label"_a = "busy")
      .def_static("memory", [](size_t bytes, std::string label) {
        GapWork g;
        g.kind = GapWorkKind::memory;
        g.memory_bytes = bytes;
        g.label = std::move(label);
        return g;
      }, "bytes"_a, "label"_a = "memory")
      .def_static("callable", [](py::function fn, std::string label) {
        // Copies of the work share one reference, so copying it never touches Python; the last
        // copy drops the reference with the GIL held.
        auto held = std::shared_ptr<py::function>(new py::function(std::move(fn)), [](py::function* f) {
          py::gil_scoped_acquire acquire;
          delete f;
        });
        GapWork g;
        g.kind = GapWorkKind::callable;
        g.fn = [held] {
          py::gil_scoped_acquire acquire;
          (*held)();
        };
        g.label = std::move(label);
        return g;
      }, "fn"_a, "label"_a = "callable")
      .def_property_readonly("label", [](const GapWork& g) { return g.label; })
      .def_property_readonly("kind", [](const GapWork& g) {
        switch (g.kind) {
          case GapWorkKind::busy: return "busy";
          case GapWorkKind::memory: return "memory";
          case GapWorkKind::callable: return "callable";
          default: return "none";
        }
      });

  py::class_<Runner, std::shared_ptr<Runner>>(m, "Runner", "The paced loop over one workload and schedule.")
      .def(py::init([](std::shared_ptr<Workload> workload, const Schedule& schedule, size_t iterations, size_t warmup,
                       const std::string& wait, const std::string& sync, int64_t hybrid_margin_ns, int64_t start_delay_ns,
                       int64_t keepwarm_period_ns, int64_t keepwarm_work_ns, int64_t prewarm_lead_ns,
                       int64_t prewarm_work_ns, const std::string& prewarm_target, const std::string& armed_gate,
                      bool armed_cancellable, int64_t arm_timeout_ns, bool nvtx, const std::string& nvtx_name,
                      const GapWork& gap_work, const std::vector<std::tuple<uintptr_t, uintptr_t, uintptr_t, size_t>>& staging) {
             RunConfig cfg;
             cfg.gap_work = gap_work;
             for (const auto& [dst, src0, src1, bytes] : staging) {
               StageCopy c;
               c.dst = reinterpret_cast<void*>(dst);
               c.src[0] = reinterpret_cast<const void*>(src0);
               c.src[1] = reinterpret_cast<const void*>(src1);
               c.bytes = bytes;
               cfg.staging.push_back(c);
             }
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
          "nvtx_name"_a = "", "gap_work"_a = GapWork{}, "staging"_a = std::vector<std::tuple<uintptr_t, uintptr_t, uintptr_t, size_t>>{},
           "The paced loop. keepwarm_*: filler work every period during gaps, ending before each due time;\n"
           "prewarm_*: once, lead_ns before each due time: filler on its own stream ('filler'), filler on the\n"
           "inference's stream ('stream') or cudaGraphUpload of its graph ('graph'). GPU workloads only; 0 = off.\n"
           "nvtx: NVTX ranges for profilers, one per run named nvtx_name (default 'trtpace: ' + the workload)\n"
           "and 'inference i' from issue to done; off: no NVTX call in the loop.\n"
           "gap_work: a GapWork run at the end of each gap, the inference issued when it ends; staging: (dst, src0,\n"
           "src1, bytes) host copies made after the issue, from src0 and src1 in turn (the input write; the caller\n"
           "keeps the buffers alive).")
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
                            "gate_ns"_a = to_numpy(rec.gate_ns, n), "staged_ns"_a = to_numpy(rec.staged_ns, n),
                            "gap_work_ns"_a = to_numpy(rec.gap_work_ns, n),
                            "relaunched"_a = to_numpy(rec.relaunched, n).attr("astype")("bool"),
                            "copy_in_us"_a = to_numpy(rec.copy_in_us, n), "copy_out_us"_a = to_numpy(rec.copy_out_us, n));
          },
          "Copies of the completed records: due_ns, issue_ns, submitted_ns, done_ns, gpu_start_ns (monotonic ns;\n"
          "gpu_start_ns 0 when unknown), device_us, inband_mhz (NaN when unknown), armed_ns, gate_ns, staged_ns\n"
          "(0 when none), gap_work_ns (0 when none), relaunched (armed: run again after a gate timeout), copy_in_us and\n"
          "copy_out_us (the copies' parts of device_us; NaN when unknown).")
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
