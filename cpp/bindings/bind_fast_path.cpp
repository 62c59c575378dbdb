// The armed release/wait path as plain CPython functions, not pybind11 methods.
//
// Why: after an app's gap (a JPEG decode, say) the caches and TLBs hold the app's data, not the
// interpreter's. A pybind11 call then costs 8-10 us more than a builtin (measured on the CPU CI
// machine: _core.now_ns() 11.2 us cold against 2.6 us for time.monotonic_ns(), both 0.1-0.2 us
// warm): its dispatcher walks the overload chain, the argument casters and the type registry,
// all cold. On the H200 app loop the armed path paid about 35 us this way between "input ready"
// and "output on the host". These functions are METH_NOARGS/METH_O C functions whose `self` is a
// capsule holding the workload: a call touches the capsule, the workload and the gate.
//
// GIL contract: release() keeps the GIL (one store, never blocks); wait() and release_and_wait()
// release it for the wait. Errors go through pybind11's own translators (raise_pending below), so
// they are the same trtpace exceptions as from the pybind11 methods.
#include <pybind11/pybind11.h>

#include <exception>
#include <memory>
#include <stdexcept>
#include <utility>

#include "bindings.hpp"
#include "trtpace/clock.hpp"
#include "trtpace/workload.hpp"

namespace trtpace::bindings {

using namespace pybind11::literals;

namespace {

struct FastPath {
  CudaWorkload* workload = nullptr;
  PyObject* owner = nullptr;          // the pybind11 workload object: keeps `workload` alive
  PyObject* raise_pending = nullptr;  // _core._raise_pending: translates the pending C++ exception
  int64_t issue_ns = 0, submitted_ns = 0;
};

constexpr const char* kCapsule = "trtpace._core.FastPath";
thread_local std::exception_ptr pending;  // set by a fast function, rethrown by _raise_pending

FastPath* path_of(PyObject* capsule) { return static_cast<FastPath*>(PyCapsule_GetPointer(capsule, kCapsule)); }

// The exception in flight, as the trtpace exception pybind11 would raise; returns nullptr.
PyObject* fail(FastPath* p) {
  pending = std::current_exception();
  PyObject* r = PyObject_CallNoArgs(p->raise_pending);  // NULL, with the translated error set
  if (r) {
    Py_DECREF(r);
    PyErr_SetString(PyExc_RuntimeError, "trtpace: a fast-path error was lost");
  }
  return nullptr;
}

// -1 with an error set where arg is no int: the callers check PyErr_Occurred.
int64_t timeout_of(PyObject* arg) { return PyLong_AsLongLong(arg); }

void wait_for(CudaWorkload& w, int64_t timeout_ns) {
  if (timeout_ns > 0)
    w.wait_complete_for(timeout_ns);
  else
    w.wait_complete();
}

PyObject* stamps(const FastPath& p, int64_t done_ns) {
  return Py_BuildValue("(LLLO)", static_cast<long long>(p.issue_ns), static_cast<long long>(p.submitted_ns),
                       static_cast<long long>(done_ns), p.workload->last_relaunched() ? Py_True : Py_False);
}

// Opens the gate, stamping around the store (the record's issue_ns and submitted_ns).
void stamped_release(FastPath& p) {
  p.issue_ns = now_ns();
  p.workload->release();
  p.submitted_ns = now_ns();
}

PyObject* fast_release(PyObject* self, PyObject* /*unused*/) {
  FastPath* p = path_of(self);
  if (!p) return nullptr;
  try {
    stamped_release(*p);
  } catch (...) {
    return fail(p);
  }
  return PyLong_FromLongLong(p->issue_ns);
}

// The wait with the GIL released; false (and the exception kept in `error`) where it threw.
bool wait_unlocked(FastPath& p, int64_t timeout_ns, bool release_first, int64_t& done_ns, std::exception_ptr& error) {
  Py_BEGIN_ALLOW_THREADS try {
    if (release_first) stamped_release(p);
    wait_for(*p.workload, timeout_ns);
    done_ns = now_ns();
  } catch (...) {
    error = std::current_exception();
  }
  Py_END_ALLOW_THREADS return !error;
}

PyObject* wait_common(PyObject* self, PyObject* arg, bool release_first) {
  FastPath* p = path_of(self);
  if (!p) return nullptr;
  const int64_t timeout_ns = timeout_of(arg);
  if (timeout_ns == -1 && PyErr_Occurred()) return nullptr;
  int64_t done_ns = 0;
  std::exception_ptr error;
  if (!wait_unlocked(*p, timeout_ns, release_first, done_ns, error)) {
    try {
      std::rethrow_exception(error);
    } catch (...) {
      return fail(p);
    }
  }
  return stamps(*p, done_ns);
}

PyObject* fast_armed(PyObject* self, PyObject* /*unused*/) {
  FastPath* p = path_of(self);
  if (!p) return nullptr;
  return PyBool_FromLong(p->workload->armed() ? 1 : 0);
}

PyObject* fast_wait(PyObject* self, PyObject* arg) { return wait_common(self, arg, false); }
PyObject* fast_release_and_wait(PyObject* self, PyObject* arg) { return wait_common(self, arg, true); }

PyMethodDef kRelease = {"release", fast_release, METH_NOARGS,
                        "release() -> issue_ns: opens the gate (one store), the GIL kept."};
PyMethodDef kArmed = {"armed", fast_armed, METH_NOARGS, "armed() -> bool: an inference is armed, not yet released."};
PyMethodDef kWait = {"wait", fast_wait, METH_O,
                     "wait(timeout_ns) -> (issue_ns, submitted_ns, done_ns, relaunched); timeout_ns <= 0: none."};
PyMethodDef kReleaseAndWait = {"release_and_wait", fast_release_and_wait, METH_O,
                               "release_and_wait(timeout_ns) -> (issue_ns, submitted_ns, done_ns, relaunched)."};

void destroy(PyObject* capsule) {
  std::unique_ptr<FastPath> p(path_of(capsule));
  if (p) {
    Py_XDECREF(p->owner);
    Py_XDECREF(p->raise_pending);
  }
}

}  // namespace

void bind_fast_path(py::module_& m) {
  m.def(
      "_raise_pending",
      [] {
        std::exception_ptr e = std::exchange(pending, nullptr);
        if (!e) throw std::logic_error("_raise_pending: no fast-path error is pending");
        std::rethrow_exception(e);
      },
      "Internal: raises the C++ exception a fast-path function caught, through pybind11's translators.");
  m.def(
      "armed_fast_path",
      [](const py::object& workload) {
        if (!py::isinstance<CudaWorkload>(workload))
          throw std::invalid_argument("armed_fast_path needs a GPU workload (a CudaWorkload)");
        auto p = std::make_unique<FastPath>();
        p->workload = &workload.cast<CudaWorkload&>();
        p->owner = workload.inc_ref().ptr();
        py::object raise_pending = py::module_::import("trtpace._core").attr("_raise_pending");
        p->raise_pending = raise_pending.release().ptr();
        py::object capsule = py::reinterpret_steal<py::object>(PyCapsule_New(p.get(), kCapsule, destroy));
        if (!capsule) {
          Py_DECREF(p->owner);
          Py_DECREF(p->raise_pending);
          throw py::error_already_set();
        }
        p.release();  // the capsule owns it now
        auto fn = [&capsule](PyMethodDef& def) {
          PyObject* f = PyCFunction_New(&def, capsule.ptr());
          if (!f) throw py::error_already_set();
          return py::reinterpret_steal<py::object>(f);
        };
        return py::make_tuple(fn(kRelease), fn(kWait), fn(kReleaseAndWait), fn(kArmed));
      },
      "workload"_a,
      "(release, wait, release_and_wait, armed): the workload's armed release and wait as plain C functions, for\n"
      "the path between an app's input and its output (no pybind11 dispatch: after a gap it is cold).\n"
      "release() -> issue_ns; wait(timeout_ns) and release_and_wait(timeout_ns) -> (issue_ns, submitted_ns,\n"
      "done_ns, relaunched), the GIL released while waiting; timeout_ns <= 0 waits without bound; armed() ->\n"
      "bool. Each keeps the workload alive. Not thread-safe: one thread arms, releases and waits.");
}

}  // namespace trtpace::bindings
