// The feature table (cpp/src/features.hpp): per device, and the pure decision for tests.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings.hpp"
#include "features.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

namespace {
py::dict to_dict(const Features& f) {
  py::dict table;
  for (const Feature* feat : f.all()) table[feat->name] = py::dict("on"_a = feat->on, "why"_a = feat->why);
  const FeatureInputs& in = f.inputs;
  return py::dict("driver_version"_a = in.driver_version, "runtime_version"_a = in.runtime_version,
                  "compute_capability"_a =
                      in.cc_major ? py::object(py::str(std::to_string(in.cc_major) + "." + std::to_string(in.cc_minor)))
                                  : py::object(py::none()),
                  "device_error"_a = in.device_error, "faked"_a = f.faked, "features"_a = table);
}
}  // namespace

void bind_features(py::module_& m) {
  m.def(
      "features", [](int device) { return to_dict(device_features(device)); }, "device"_a,
      "What this driver, runtime and device allow: {'features': {name: {'on', 'why'}}, the versions, the compute "
      "capability}. Never raises for a missing driver or device (the features are off and say why). Test hooks: "
      "TRTPACE_FAKE_DRIVER_VERSION, TRTPACE_FAKE_RUNTIME_VERSION, TRTPACE_FAKE_COMPUTE_CAPABILITY.");
  m.def(
      "decide_features",
      [](int driver_version, int runtime_version, int cc_major, int cc_minor) {
        FeatureInputs in;
        in.driver_version = driver_version;
        in.runtime_version = runtime_version;
        in.cc_major = cc_major;
        in.cc_minor = cc_minor;
        return to_dict(decide_features(in));
      },
      "driver_version"_a, "runtime_version"_a, "cc_major"_a, "cc_minor"_a,
      "The feature table's pure decision for these versions (CUDA's 1000*major+10*minor) and compute capability "
      "(0.0: no device); no CUDA call.");
}

}  // namespace trtpace::bindings
