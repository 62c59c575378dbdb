#pragma once
// What this build and this driver and GPU allow, decided in one place. The decision is a pure
// function of (driver version, runtime version, compute capability) so it can be tested without a
// GPU; device_features() is the thin query around it. Every feature that is off says why in one
// line, and the code paths that use a feature ask here first, then fall back or refuse.
//
// Test hooks (for CPU tests only; never set them on a real run): TRTPACE_FAKE_DRIVER_VERSION
// (e.g. 12020), TRTPACE_FAKE_RUNTIME_VERSION (e.g. 12040) and TRTPACE_FAKE_COMPUTE_CAPABILITY
// (e.g. 8.7) replace what device_features() would read from the driver, runtime and device.
#include <string>
#include <vector>

namespace trtpace {

struct Feature {
  const char* name = "";
  bool on = false;
  std::string why;  // one line when off; empty when on
};

// Versions as CUDA encodes them: 1000 * major + 10 * minor (12040 is 12.4); 0 means none.
struct FeatureInputs {
  int driver_version = 0;          // the CUDA version the driver supports (cudaDriverGetVersion)
  int runtime_version = 0;         // the runtime trtpace is linked with (static: the toolkit it was built with)
  int cc_major = 0, cc_minor = 0;  // 0.0: no device (device_error says why)
  std::string device_error;
};

struct Features {
  FeatureInputs inputs;
  std::vector<std::string> faked;  // which inputs came from the TRTPACE_FAKE_* test hooks
  // The runtime can start on this driver: same major (minor-version compatibility), or newer driver.
  Feature cuda_runtime{"cuda_runtime", false, ""};
  // cudaGetDriverEntryPointByVersion (runtime 12.5+); off: cudaGetDriverEntryPoint is used instead.
  Feature entry_point_by_version{"entry_point_by_version", false, ""};
  // Conditional graph nodes (runtime and driver 12.4+): armed:*+cancellable; off: refused.
  Feature conditional_nodes{"conditional_nodes", false, ""};
  // Programmatic dependent launch edges in graphs (runtime and driver 12.3+, compute capability
  // 9.0+): armed:kernel's gate releases the model's first kernels early; off: plain edges.
  Feature programmatic_edges{"programmatic_edges", false, ""};
  // cuStreamWaitValue32 (the CUDA 12.0 version) on host-mapped memory: armed:wait; off: refused.
  Feature stream_wait_value{"stream_wait_value", false, ""};

  std::vector<const Feature*> all() const {
    return {&cuda_runtime, &entry_point_by_version, &conditional_nodes, &programmatic_edges, &stream_wait_value};
  }
};

// The pure decision; no CUDA call.
Features decide_features(const FeatureInputs& in);

// This process's driver and runtime and `device`'s compute capability (or the test hooks'
// values), decided. Never throws for a missing driver or device (the features are off and say
// so); std::invalid_argument for a malformed test hook. Whether the driver hands out
// cuStreamWaitValue32 is checked where it is fetched (ArmedGate, stream_wait_supported).
Features device_features(int device);

// "12.4" for 12040.
std::string cuda_version_string(int version);

// A driver API entry point through the runtime: cudaGetDriverEntryPointByVersion where this build
// has it, cudaGetDriverEntryPoint otherwise. nullptr (and `why`) where the driver lacks it.
void* driver_entry_point(const char* symbol, int cuda_version, std::string* why = nullptr);

}  // namespace trtpace
