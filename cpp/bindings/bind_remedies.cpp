// Keep-warm, pre-warm and single inferences for apps that embed trtpace (trtpace.KeepWarm, Pacer).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <memory>
#include <string>

#include "bindings.hpp"
#include "trtpace/runner.hpp"
#include "trtpace/warm.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

void bind_remedies(py::module_& m) {
  m.attr("PREWARM_TARGETS") = enum_names(kPrewarmTargetNames);
  // Every blocking call releases the GIL: pause() and stop() wait for the C++ thread.
  py::class_<KeepWarmThread, std::shared_ptr<KeepWarmThread>>(
      m, "KeepWarmThread",
      "Fires work_ns of filler on a lowest-priority stream every period_ns from a C++ thread (no GIL).\n"
      "A failure on the thread ends it (running turns False) and is raised, once, by the next\n"
      "start(), pause(), resume() or stop().")
      .def(py::init<int, int64_t, int64_t>(), "device"_a, "period_ns"_a, "work_ns"_a)
      .def("start", &KeepWarmThread::start, py::call_guard<py::gil_scoped_release>())
      .def("stop", &KeepWarmThread::stop, py::call_guard<py::gil_scoped_release>(),
           "Joins the thread and waits for the last filler; safe to call twice.")
      .def("pause", &KeepWarmThread::pause, py::call_guard<py::gil_scoped_release>(),
           "Steps aside (around the app's own inference): returns once no filler launch is in flight.")
      .def("resume", &KeepWarmThread::resume, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("running", &KeepWarmThread::running, "False once stopped or ended by a failure.")
      .def_property_readonly("fired", &KeepWarmThread::fired);
  py::class_<Filler, std::shared_ptr<Filler>>(m, "Filler", "Filler work on a lowest-priority stream (pre-warm).")
      .def(py::init<int>(), "device"_a, py::call_guard<py::gil_scoped_release>())
      .def("fire", &Filler::fire, "work_ns"_a, py::call_guard<py::gil_scoped_release>(),
           "Launches work_ns of filler unless the previous one still runs.")
      .def("wait_idle", &Filler::wait_idle, py::call_guard<py::gil_scoped_release>())
      .def_property_readonly("fired", &Filler::fired);
  py::class_<PrewarmWorker, std::shared_ptr<PrewarmWorker>>(
      m, "PrewarmWorker",
      "One C++ thread that pre-warms a workload at scheduled times: cudaGraphUpload of its graph ('graph'),\n"
      "filler on its stream ('stream') or on a low-priority stream ('filler', and the fallback where the\n"
      "workload has no such path). A failure on the thread is raised, once, by the next call.")
      .def(py::init([](std::shared_ptr<Workload> workload, const std::string& target, int64_t work_ns,
                       const std::string& wait) {
             const PrewarmTarget t = parse_prewarm_target(target);
             const WaitMode w = parse_wait_mode(wait);
             py::gil_scoped_release release;  // a hybrid wait may calibrate its margin first
             return std::make_shared<PrewarmWorker>(std::move(workload), t, work_ns, w);
           }),
           "workload"_a, "target"_a = "graph", "work_ns"_a = 0, "wait"_a = "hybrid")
      .def("schedule", &PrewarmWorker::schedule, "fire_at_ns"_a, py::call_guard<py::gil_scoped_release>(),
           "Pre-warms at fire_at_ns (monotonic), replacing a pending pre-warm not yet started.")
      .def("cancel", &PrewarmWorker::cancel, py::call_guard<py::gil_scoped_release>(),
           "Drops a pending pre-warm; returns once none is in flight.")
      .def("wait_idle", &PrewarmWorker::wait_idle, py::call_guard<py::gil_scoped_release>(),
           "Returns once the pending pre-warm, if any, has fired.")
      .def("close", &PrewarmWorker::close, py::call_guard<py::gil_scoped_release>(),
           "Cancels, joins the thread and waits for the last filler; safe to call twice.")
      .def_property_readonly("pending", &PrewarmWorker::pending, "Whether a pre-warm is scheduled or firing.")
      .def_property_readonly("fired", &PrewarmWorker::fired)
      .def_property_readonly(
          "path", [](const PrewarmWorker& w) { return to_string(w.target()); },
          "The pre-warm target used: the one asked for, or 'filler' where the workload cannot take it.");
  m.def(
      "infer_once",
      [](std::shared_ptr<Workload> w, const std::string& sync, int64_t timeout_ns, bool device_time) {
        const SyncMode mode = parse_sync_mode(sync);
        InferenceRecord r;
        {
          py::gil_scoped_release release;
          r = infer_once(*w, mode, timeout_ns, device_time);
        }
        return py::dict("issue_ns"_a = r.issue_ns, "submitted_ns"_a = r.submitted_ns, "done_ns"_a = r.done_ns,
                        "device_us"_a = r.device_us);
      },
      "workload"_a, "sync"_a = "spin", "timeout_ns"_a = 0, "device_time"_a = true,
      "Runs one inference now and returns its host times and device time; timeout_ns > 0 bounds a GPU\n"
      "workload's completion wait (WaitTimeoutError). device_time=False: device_us is NaN and no driver call\n"
      "follows the wait (read it later with the workload's last_device_us()).");
}

}  // namespace trtpace::bindings
