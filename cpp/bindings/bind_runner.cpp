// The paced runner and its records.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <cstring>
#include <memory>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#include "bindings.hpp"
#include "trtpace/runner.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

namespace {
// One row of the structured array Runner.records() returns: the columns of records.hpp's table in
// its order, each at an offset aligned to its size (so every column view is aligned).
struct RowLayout {
  std::array<size_t, kRecordColumns.size()> offsets{};
  size_t itemsize = 0;
};
constexpr size_t element_size(ColumnType t) {
  switch (t) {
    case ColumnType::i64:
      return sizeof(ColumnTraits<ColumnType::i64>::type);
    case ColumnType::f64:
      return sizeof(ColumnTraits<ColumnType::f64>::type);
    default:
      return sizeof(ColumnTraits<ColumnType::flag>::type);
  }
}
constexpr RowLayout row_layout() {
  RowLayout l;
  size_t at = 0;
  for (size_t i = 0; i < kRecordColumns.size(); ++i) {
    const size_t size = element_size(kRecordColumns[i].type);
    at = (at + size - 1) / size * size;
    l.offsets[i] = at;
    at += size;
  }
  l.itemsize = (at + 7) / 8 * 8;
  return l;
}
constexpr RowLayout kRowLayout = row_layout();
static_assert(sizeof(bool) == sizeof(ColumnTraits<ColumnType::flag>::type), "a flag's 0/1 byte is read as numpy bool");

py::str as_str(std::string_view s) { return {s.data(), s.size()}; }

py::dtype record_dtype() {
  py::list names, formats, offsets;
  for (size_t i = 0; i < kRecordColumns.size(); ++i) {
    const RecordColumn& c = kRecordColumns[i];
    names.append(as_str(c.name));
    formats.append(c.type == ColumnType::i64   ? py::dtype::of<int64_t>()
                   : c.type == ColumnType::f64 ? py::dtype::of<double>()
                                               : py::dtype::of<bool>());
    offsets.append(kRowLayout.offsets[i]);
  }
  return {names, formats, offsets, static_cast<py::ssize_t>(kRowLayout.itemsize)};
}

// The completed rows as one structured array of RECORD_DTYPE: one copy, made without the GIL (the
// array is not yet visible to Python, and rows below completed() are final while the loop runs).
py::array records_array(const Runner& r) {
  const size_t n = r.completed();
  py::array out(record_dtype(), py::array::ShapeContainer{static_cast<py::ssize_t>(n)});
  auto* base = static_cast<char*>(out.mutable_data());
  {
    py::gil_scoped_release release;
    std::memset(base, 0, n * kRowLayout.itemsize);  // the padding after the flag: no stale heap bytes
    size_t k = 0;
    r.records().for_each_column([&](const RecordColumn&, const auto& values) {
      using T = typename std::decay_t<decltype(values)>::value_type;
      char* at = base + kRowLayout.offsets[k++];
      for (size_t i = 0; i < n; ++i, at += kRowLayout.itemsize) std::memcpy(at, &values[i], sizeof(T));
    });
  }
  return out;
}

std::string records_doc() {
  std::string doc =
      "A copy of the completed rows, warm-up included, as one numpy structured array of RECORD_DTYPE\n"
      "(records.hpp's column table; host times on the monotonic clock):";
  for (const RecordColumn& c : kRecordColumns) {
    doc += "\n  ";
    doc += c.name;
    if (!c.unit.empty()) (doc += " [") += std::string(c.unit) + "]";
    (doc += ": ") += c.doc;
  }
  return doc;
}

// RECORD_COLUMNS (names, in order), RECORD_UNITS (name: unit, "" for a flag) and RECORD_DTYPE, so
// Python derives its column lists from the table instead of typing them again.
void bind_records(py::module_& m) {
  py::tuple names(kRecordColumns.size());
  py::dict units;
  for (size_t i = 0; i < kRecordColumns.size(); ++i) {
    names[i] = as_str(kRecordColumns[i].name);
    units[as_str(kRecordColumns[i].name)] = as_str(kRecordColumns[i].unit);
  }
  m.attr("RECORD_COLUMNS") = names;
  m.attr("RECORD_UNITS") = units;
  m.attr("RECORD_DTYPE") = record_dtype();
}
}  // namespace

void bind_runner(py::module_& m) {
  bind_records(m);
  py::class_<GapWork>(m, "GapWork",
                      "What the app does during the gap (gap_work.hpp): made by none(), busy(ns), memory(bytes) or\n"
                      "callable(fn, label); the runner runs it at the end of each gap and issues when it ends.")
      .def(py::init<>())
      .def_static(
          "busy",
          [](int64_t ns, std::string label) {
            GapWork g;
            g.kind = GapWorkKind::busy;
            g.busy_ns = ns;
            g.label = std::move(label);
            return g;
          },
          "ns"_a, "label"_a = "busy")
      .def_static(
          "memory",
          [](size_t bytes, std::string label) {
            GapWork g;
            g.kind = GapWorkKind::memory;
            g.memory_bytes = bytes;
            g.label = std::move(label);
            return g;
          },
          "bytes"_a, "label"_a = "memory")
      .def_static(
          "callable",
          [](py::function fn, std::string label) {
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
            // The runner's thread keeps the GIL from the work to the launch, as an app's loop does:
            // given back between them, another Python thread (a sampler, the main thread) could
            // take it and delay a Python launch path, which an app never sees.
            auto state = std::make_shared<PyGILState_STATE>();
            g.hold = [state] { *state = PyGILState_Ensure(); };
            g.let_go = [state] { PyGILState_Release(*state); };
            g.label = std::move(label);
            return g;
          },
          "fn"_a, "label"_a = "callable")
      .def_property_readonly("label", [](const GapWork& g) { return g.label; })
      .def_property_readonly("kind", [](const GapWork& g) {
        switch (g.kind) {
          case GapWorkKind::busy:
            return "busy";
          case GapWorkKind::memory:
            return "memory";
          case GapWorkKind::callable:
            return "callable";
          default:
            return "none";
        }
      });

  m.def("check_remedy_combination", &check_remedy_combination, "armed"_a, "prewarm_lead_ns"_a,
        "Raises UsageError when armed launch and pre-warm are both asked for (they exclude each other).");
  using Staging = std::vector<std::tuple<uintptr_t, uintptr_t, uintptr_t, size_t>>;
  py::class_<RunConfig>(
      m, "RunConfig",
      "What one paced run does (runner.hpp): set its fields, then Runner(workload, config).\n"
      "keepwarm_*: filler work every period during gaps, ending before each due time; prewarm_*: once,\n"
      "lead_ns before each due time: filler on its own stream ('filler'), filler on the inference's\n"
      "stream ('stream') or cudaGraphUpload of its graph ('graph'). GPU workloads only; 0 = off.\n"
      "armed_gate: 'off', 'wait', 'kernel' or 'resident' (the loop of resident.hpp). nvtx: NVTX ranges for\n"
      "profilers, one per run named nvtx_name (default 'trtpace: ' + the workload) and 'inference i' from\n"
      "issue to done; off: no\n"
      "NVTX call in the loop. gap_work: a GapWork run at the end of each gap, the inference issued when\n"
      "it ends; staging: (dst, src0, src1, bytes) host copies made after the issue, from src0 and src1\n"
      "in turn (the input write; the caller keeps the buffers alive). The Runner validates it all.")
      .def(py::init<>())
      .def_readwrite("schedule", &RunConfig::schedule)
      .def_readwrite("iterations", &RunConfig::iterations)
      .def_readwrite("warmup", &RunConfig::warmup)
      .def_property(
          "wait", [](const RunConfig& c) { return to_string(c.wait); },
          [](RunConfig& c, const std::string& v) { c.wait = parse_wait_mode(v); })
      .def_property(
          "sync", [](const RunConfig& c) { return to_string(c.sync); },
          [](RunConfig& c, const std::string& v) { c.sync = parse_sync_mode(v); })
      .def_readwrite("hybrid_margin_ns", &RunConfig::hybrid_margin_ns)
      .def_readwrite("start_delay_ns", &RunConfig::start_delay_ns)
      .def_readwrite("keepwarm_period_ns", &RunConfig::keepwarm_period_ns)
      .def_readwrite("keepwarm_work_ns", &RunConfig::keepwarm_work_ns)
      .def_readwrite("prewarm_lead_ns", &RunConfig::prewarm_lead_ns)
      .def_readwrite("prewarm_work_ns", &RunConfig::prewarm_work_ns)
      .def_property(
          "prewarm_target", [](const RunConfig& c) { return to_string(c.prewarm_target); },
          [](RunConfig& c, const std::string& v) { c.prewarm_target = parse_prewarm_target(v); })
      .def_property(
          "armed_gate", [](const RunConfig& c) -> std::string { return c.armed ? to_string(c.arm.gate) : "off"; },
          [](RunConfig& c, const std::string& v) {
            c.armed = v != "off";
            if (c.armed) c.arm.gate = parse_gate_kind(v);
          })
      .def_property(
          "armed_cancellable", [](const RunConfig& c) { return c.arm.cancellable; },
          [](RunConfig& c, bool v) { c.arm.cancellable = v; })
      .def_property(
          "arm_timeout_ns", [](const RunConfig& c) { return c.arm.timeout_ns; },
          [](RunConfig& c, int64_t v) { c.arm.timeout_ns = v; })
      .def_readwrite("nvtx", &RunConfig::nvtx)
      .def_readwrite("nvtx_name", &RunConfig::nvtx_name)
      .def_readwrite("gap_work", &RunConfig::gap_work)
      .def_property(
          "staging",
          [](const RunConfig& c) {
            Staging out;
            for (const StageCopy& s : c.staging)
              out.emplace_back(reinterpret_cast<uintptr_t>(s.dst), reinterpret_cast<uintptr_t>(s.src[0]),
                               reinterpret_cast<uintptr_t>(s.src[1]), s.bytes);
            return out;
          },
          [](RunConfig& c, const Staging& staging) {
            c.staging.clear();
            for (const auto& [dst, src0, src1, bytes] : staging) {
              StageCopy s;
              s.dst = reinterpret_cast<void*>(dst);
              s.src[0] = reinterpret_cast<const void*>(src0);
              s.src[1] = reinterpret_cast<const void*>(src1);
              s.bytes = bytes;
              c.staging.push_back(s);
            }
          });

  py::class_<Runner, std::shared_ptr<Runner>>(m, "Runner", "The paced loop over one workload and schedule.")
      .def(py::init([](std::shared_ptr<Workload> workload, const RunConfig& config) {
             py::gil_scoped_release release;  // the first Runner calibrates the hybrid margin
             return std::make_shared<Runner>(std::move(workload), config);
           }),
           "workload"_a, "config"_a, "Validates the config (std::invalid_argument: UsageError) and prepares the loop.")
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
      .def_property_readonly(
          "prewarm_path",
          [](const Runner& r) -> std::string {
            return r.config().prewarm_lead_ns > 0 ? to_string(r.prewarm_target()) : "";
          },
          "Where the pre-warm went: its target, or 'filler' where the workload has no such path; '' without one.")
      .def_property_readonly("filler_work_ns", &Runner::filler_work_ns,
                             "Filler kernel work launched, in ns (each filler holds one SM while it runs).")
      .def("records", &records_array, records_doc().c_str())
      .def(
          "latencies_ns",
          [](const Runner& r, size_t start) {
            // Rows below completed() are final (published with release order), so this is safe to
            // call while the loop runs on another thread: it is how --until-stable watches a run.
            const size_t n = r.completed();
            const Records& rec = r.records();
            py::array_t<int64_t> out(static_cast<py::ssize_t>(n > start ? n - start : 0));
            int64_t* p = out.mutable_data();
            for (size_t i = start; i < n; ++i) p[i - start] = rec.done_ns[i] - rec.issue_ns[i];
            return out;
          },
          "start"_a, "done_ns - issue_ns of the completed inferences from `start` on, while the loop runs or after.")
      .def_property_readonly(
          "clock_sync",
          [](const Runner& r) {
            auto as_dict = [](const ClockSync& s) {
              return py::dict("host_ns"_a = s.host_ns, "offset_ns"_a = s.offset_ns,
                              "uncertainty_ns"_a = s.uncertainty_ns);
            };
            return py::make_tuple(as_dict(r.sync_before()), as_dict(r.sync_after()));
          },
          "The %globaltimer syncs before and after the loop (zeros without a probe).");
}

}  // namespace trtpace::bindings
