// Armed launch: arming a workload, releasing and cancelling it, and test hooks.
#include <pybind11/pybind11.h>

#include <memory>
#include <string>

#include "bindings.hpp"
#include "trtpace/armed.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/cuda_raii.hpp"
#include "trtpace/workload.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

namespace {
// Test hook: a graph whose one kernel counts its runs into host-mapped memory, so a test can see
// whether an armed body ran (cancel must not move it).
struct CountingGraph {
  MappedHostBuffer<uint32_t> counter;
  Graph graph;
  explicit CountingGraph(int device) {
    DeviceGuard guard(device);
    counter = MappedHostBuffer<uint32_t>(1);
    Stream s = make_stream();
    CaptureScope capture(s.get());
    enqueue_count_kernel(counter.device(), s.get());
    graph = capture.end();
  }
};
}  // namespace

void bind_armed(py::module_& m) {
  auto cuda_workload = py::reinterpret_borrow<py::object>(m.attr("CudaWorkload"));
  auto cls = py::class_<CudaWorkload, Workload, std::shared_ptr<CudaWorkload>>(cuda_workload);
  cls.def(
         "enable_arming",
         [](CudaWorkload& w, const std::string& gate, bool cancellable, int64_t timeout_ns) {
           ArmOptions o;
           o.gate = parse_gate_kind(gate);
           o.cancellable = cancellable;
           o.timeout_ns = timeout_ns;
           py::gil_scoped_release release;
           w.enable_arming(o);
         },
         "gate"_a = "kernel", "cancellable"_a = false, "timeout_ns"_a = 0,
         "Prepares armed launch: gate 'wait' (stream wait on a host flag), 'kernel' (a polling one-thread kernel)\n"
         "or 'resident' (the kernel gate in a loop launched once: no launch per frame; per-frame 'kernel' where\n"
         "resident_unavailable_why says why not); cancellable puts the model in a conditional graph node a cancel\n"
         "skips; timeout_ns (kernel gate) lets the gate go by itself after that long armed (resident: ends the\n"
         "loop after that long without a release).")
      .def(
          "set_sync",
          [](CudaWorkload& w, const std::string& sync) {
            const SyncMode mode = parse_sync_mode(sync);
            py::gil_scoped_release release;
            w.prepare(mode);
          },
          "sync"_a, "How wait_complete waits from now on (a SYNC_MODES name); a paced run sets its own.")
      .def("arm", &CudaWorkload::arm, py::call_guard<py::gil_scoped_release>(),
           "Queues the next inference behind the gate (the launch cost is paid now, off the critical path).")
      .def("release", &CudaWorkload::release, py::call_guard<py::gil_scoped_release>(),
           "Opens the gate: one release-ordered store. Raises if nothing is armed.")
      .def("cancel", &CudaWorkload::cancel, py::call_guard<py::gil_scoped_release>(),
           "Ends an armed inference (skipped when cancellable, else run and discarded) and waits for the stream;\n"
           "harmless when nothing is armed.")
      .def(
          "release_and_wait",
          [](CudaWorkload& w, int64_t timeout_ns) {
            int64_t issue = 0, submitted = 0, done = 0;
            {
              py::gil_scoped_release release;
              issue = now_ns();
              w.release();
              submitted = now_ns();
              if (timeout_ns > 0)
                w.wait_complete_for(timeout_ns);
              else
                w.wait_complete();
              done = now_ns();
            }
            return py::make_tuple(issue, submitted, done, w.last_relaunched());
          },
          "timeout_ns"_a = 0,
          "release() then wait_complete() in one call, the GIL released once: after a gap the interpreter's\n"
          "path between the two is cold. Returns (issue_ns, submitted_ns, done_ns, relaunched).")
      .def(
          "wait_complete",
          [](CudaWorkload& w, int64_t timeout_ns) {
            int64_t done = 0;
            {
              py::gil_scoped_release release;
              if (timeout_ns > 0)
                w.wait_complete_for(timeout_ns);
              else
                w.wait_complete();
              done = now_ns();
            }
            return py::make_tuple(done, w.last_relaunched());
          },
          "timeout_ns"_a = 0,
          "Waits (by the workload's sync mode) for the last launched or released inference; returns\n"
          "(done_ns on the monotonic clock, relaunched). No driver call is made after the wait: device time\n"
          "is last_device_us(), read when the caller wants it. timeout_ns > 0 bounds the wait (WaitTimeoutError).\n"
          "relaunched: the gate had let go by itself before the release, so the inference ran again plainly.")
      .def("last_device_us", &CudaWorkload::last_device_us, py::call_guard<py::gil_scoped_release>(),
           "Device time of the last completed inference (its graph's or stream's events). Units: us.")
      .def(
          "last_copies_us",
          [](CudaWorkload& w) -> py::object {
            double in = 0.0, out = 0.0;
            bool known = false;
            {
              py::gil_scoped_release release;
              known = w.last_copies_us(in, out);
            }
            if (!known) return py::none();
            return py::make_tuple(in, out);
          },
          "(copy_in_us, copy_out_us) of the last completed inference, or None where the copies are not timed apart.")
      .def(
          "last_stamps",
          [](const CudaWorkload& w) {
            const WaitStats& s = w.last_wait_stats();
            return py::dict("gate_gt_ns"_a = w.gate_seen_gt(), "done_gt_ns"_a = w.last_done_gt(),
                            "wait_driver_calls"_a = s.driver_calls, "wait_driver_ns"_a = s.driver_ns);
          },
          "Where the last inference's time went, with no driver call (reads of mapped memory): gate_gt_ns, when\n"
          "the gate saw the release, and done_gt_ns, when the done word was written (GPU %globaltimer, ns; 0\n"
          "when not armed / not sync flag; map with sync_globaltimer); wait_driver_calls and wait_driver_ns, the\n"
          "driver calls the completion wait made and the time inside them.")
      .def_property_readonly("resident_unavailable_why", &CudaWorkload::resident_unavailable_why,
                             "Why this workload cannot run the resident armed loop; '' where it can.")
      .def_property_readonly("resident_fallback_why", &CudaWorkload::resident_fallback_why,
                             "Why enable_arming('resident') armed per frame instead; '' where it did not.")
      .def_property_readonly("armed", &CudaWorkload::armed)
      .def_property_readonly("arming_enabled", &CudaWorkload::arming_enabled)
      .def_property_readonly(
          "gate_state",
          [](const CudaWorkload& w) {
            if (const ResidentLoop* r = w.resident()) {
              const volatile ResidentWords& x = r->words();
              return py::dict("gate"_a = "resident", "cancellable"_a = false, "running"_a = r->running(),
                              "launches"_a = r->launches(), "next_frame"_a = r->next_frame(),
                              "release_seq"_a = x.release_seq, "done_seq"_a = x.done_seq, "exits"_a = x.exits,
                              "exit_reason"_a = x.exit_reason == kResidentExitIdle   ? "idle"
                                                : x.exit_reason == kResidentExitStop ? "stop"
                                                                                     : "",
                              "seen_gt"_a = x.seen_gt, "gate_timeouts"_a = w.gate_timeouts());
            }
            const ArmedGate* g = w.gate();
            if (!g) return py::dict();
            const volatile GateWords& x = g->words();
            return py::dict("gate"_a = to_string(g->options().gate), "cancellable"_a = g->options().cancellable,
                            "armed_seq"_a = x.armed_seq, "release_seq"_a = x.release_seq, "seen_seq"_a = x.seen_seq,
                            "timed_out_seq"_a = x.timed_out_seq, "seen_gt"_a = x.seen_gt,
                            "programmatic"_a = w.armed_programmatic(), "timeout_ns"_a = g->options().timeout_ns,
                            "gate_timeouts"_a = w.gate_timeouts());
          },
          "The gate's shared words: armed, released and last seen sequence numbers, the last arm that timed out,\n"
          "and when the gate saw the last release (GPU clock); programmatic: the armed graph releases the model\n"
          "through programmatic (PDL) edges. Resident loop: running, launches, next_frame, release_seq, done_seq,\n"
          "exits and the last exit_reason ('idle': its timeout, 'stop'), gate_timeouts (releases that found it "
          "ended).");
  m.def(
      "stream_wait_supported",
      [](int device) {
        std::string why;
        const bool ok = stream_wait_supported(device, &why);
        return py::make_tuple(ok, why);
      },
      "device"_a, "(supported, why not): whether armed:wait can use stream memory waits here.");
  py::class_<CountingGraph, std::shared_ptr<CountingGraph>>(m, "_CountingGraph",
                                                            "Test hook: a graph of one kernel counting its runs.")
      .def(py::init<int>(), "device"_a)
      .def_property_readonly("handle",
                             [](const CountingGraph& c) { return reinterpret_cast<uintptr_t>(c.graph.get()); })
      .def_property_readonly("count",
                             [](const CountingGraph& c) { return *static_cast<volatile uint32_t*>(c.counter.host()); });
}

}  // namespace trtpace::bindings
