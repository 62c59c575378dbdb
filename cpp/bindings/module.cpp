#include <pybind11/pybind11.h>

#include "bindings.hpp"

#ifndef TRTPACE_VERSION
#define TRTPACE_VERSION "0+unknown"
#endif

// Not declared free-threading safe (py::mod_gil_not_used): nothing tests the core without the GIL.
PYBIND11_MODULE(_core, m) {
  m.doc() = "trtpace's compiled core: waits, schedules, workloads and the paced runner (private; use trtpace).";
  m.attr("__version__") = TRTPACE_VERSION;
  trtpace::bindings::bind_errors(m);
  trtpace::bindings::bind_timing(m);
  trtpace::bindings::bind_schedule(m);
  trtpace::bindings::bind_device(m);
  trtpace::bindings::bind_features(m);
  trtpace::bindings::bind_workloads(m);
  trtpace::bindings::bind_runner(m);
  trtpace::bindings::bind_capture(m);
  trtpace::bindings::bind_remedies(m);
  trtpace::bindings::bind_bench(m);
  trtpace::bindings::bind_armed(m);
  trtpace::bindings::bind_fast_path(m);
  trtpace::bindings::bind_device_scope(m);
#ifdef TRTPACE_TEST_HOOKS
  constexpr bool kTestHooks = true;
  trtpace::bindings::bind_test_hooks(m);
#else
  constexpr bool kTestHooks = false;
#endif
  // A function, not a constant: the shipped _core.pyi is the same for both builds.
  m.def(
      "_has_test_hooks", [] { return kTestHooks; },
      "Whether this build has the test hooks (TRTPACE_TEST_HOOKS=ON: tests and CI; never a user's wheel).");
}
