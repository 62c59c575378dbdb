#include "features.hpp"

#include <cuda_runtime.h>

#include <cstdlib>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace trtpace {
namespace {

// Where trtpace's use of each feature starts (runtime and driver alike).
constexpr int kEntryPointByVersion = 12050;  // cudaGetDriverEntryPointByVersion
constexpr int kConditionalNodes = 12040;     // IF and WHILE nodes whose body holds a child graph
constexpr int kProgrammaticEdges = 12030;    // cudaGraphEdgeData, programmatic ports
constexpr int kStreamWaitValue = 12000;      // the cuStreamWaitValue32 trtpace asks for

void off(Feature& f, std::string why) {
  f.on = false;
  f.why = std::move(why);
}
void on(Feature& f) {
  f.on = true;
  f.why.clear();
}

// A CUDA version from a test hook: an integer such as 12020.
bool fake_version(const char* var, int& out) {
  const char* v = std::getenv(var);
  if (!v || !*v) return false;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (*end || n < 0 || n > 99990)
    throw std::invalid_argument(std::string(var) + " must be a CUDA version such as 12020 (12.2), got '" + v + "'");
  out = int(n);
  return true;
}

// "8.7" from TRTPACE_FAKE_COMPUTE_CAPABILITY.
bool fake_cc(int& major, int& minor) {
  const char* v = std::getenv("TRTPACE_FAKE_COMPUTE_CAPABILITY");
  if (!v || !*v) return false;
  const std::string s(v);
  const size_t dot = s.find('.');
  try {
    if (dot == std::string::npos || dot == 0 || dot + 1 == s.size()) throw std::invalid_argument("");
    size_t used = 0;
    major = std::stoi(s.substr(0, dot), &used);
    if (used != dot) throw std::invalid_argument("");
    minor = std::stoi(s.substr(dot + 1), &used);
    if (used != s.size() - dot - 1 || major < 1 || minor < 0) throw std::invalid_argument("");
  } catch (const std::exception&) {
    throw std::invalid_argument("TRTPACE_FAKE_COMPUTE_CAPABILITY must be a compute capability such as 8.7, got '" + s +
                                "'");
  }
  return true;
}

}  // namespace

std::string cuda_version_string(int version) {
  return std::to_string(version / 1000) + "." + std::to_string(version % 1000 / 10);
}

Features decide_features(const FeatureInputs& in) {
  Features f;
  f.inputs = in;
  const std::string rt = "CUDA " + cuda_version_string(in.runtime_version);
  const std::string drv = "CUDA " + cuda_version_string(in.driver_version);
  // Both sides must have a feature: the runtime to call it, the driver to carry it out (minor
  // version compatibility runs a newer 12.x runtime on an older 12.x driver, minus what is newer).
  auto needs = [&](Feature& feat, int version, const char* what) {
    const std::string v = "CUDA " + cuda_version_string(version);
    if (in.runtime_version < version)
      off(feat, std::string(what) + " " + v + "+; this trtpace was built with the " + rt + " runtime");
    else if (in.driver_version < version)
      off(feat, std::string(what) + " a driver for " + v + "+; this driver supports " + drv);
    else
      on(feat);
    return feat.on;
  };

  if (in.driver_version == 0) {
    off(f.cuda_runtime, "no NVIDIA driver (libcuda.so.1 not found or not loadable)");
  } else if (in.driver_version / 1000 < in.runtime_version / 1000) {
    off(f.cuda_runtime, "the driver supports " + drv + "; this trtpace uses the " + rt +
                            " runtime, which needs a CUDA " + std::to_string(in.runtime_version / 1000) +
                            " driver: update the driver or build trtpace for CUDA " +
                            std::to_string(in.driver_version / 1000) + " (TRTPACE_CUDA_MAJOR)");
  } else {
    on(f.cuda_runtime);
  }
  if (!f.cuda_runtime.on) {
    for (Feature* feat : {&f.entry_point_by_version, &f.conditional_nodes, &f.programmatic_edges, &f.stream_wait_value})
      off(*feat, "CUDA cannot start: " + f.cuda_runtime.why);
    return f;
  }
  if (in.runtime_version < kEntryPointByVersion)
    off(f.entry_point_by_version, "built with the " + rt + " runtime (cudaGetDriverEntryPointByVersion is CUDA " +
                                      cuda_version_string(kEntryPointByVersion) +
                                      "+): cudaGetDriverEntryPoint is used instead");
  else
    on(f.entry_point_by_version);

  const bool device = in.cc_major > 0;
  const std::string no_device = "no CUDA device" + (in.device_error.empty() ? "" : ": " + in.device_error);
  if (!device) {
    for (Feature* feat : {&f.conditional_nodes, &f.programmatic_edges, &f.stream_wait_value}) off(*feat, no_device);
    return f;
  }
  needs(f.conditional_nodes, kConditionalNodes, "conditional graph nodes need");
  if (needs(f.programmatic_edges, kProgrammaticEdges, "programmatic graph edges need") && in.cc_major < 9)
    off(f.programmatic_edges, "programmatic graph edges need compute capability 9.0+; this GPU is " +
                                  std::to_string(in.cc_major) + "." + std::to_string(in.cc_minor));
  needs(f.stream_wait_value, kStreamWaitValue, "cuStreamWaitValue32 needs");
  return f;
}

Features device_features(int device) {
  FeatureInputs in;
  std::vector<std::string> faked;
  if (fake_version("TRTPACE_FAKE_DRIVER_VERSION", in.driver_version))
    faked.push_back("driver_version");
  else
    (void)cudaDriverGetVersion(&in.driver_version);
  if (fake_version("TRTPACE_FAKE_RUNTIME_VERSION", in.runtime_version))
    faked.push_back("runtime_version");
  else
    (void)cudaRuntimeGetVersion(&in.runtime_version);
  if (fake_cc(in.cc_major, in.cc_minor)) {
    faked.push_back("compute_capability");
  } else {
    int major = 0, minor = 0;
    cudaError_t st = cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, device);
    if (st == cudaSuccess) st = cudaDeviceGetAttribute(&minor, cudaDevAttrComputeCapabilityMinor, device);
    if (st == cudaSuccess) {
      in.cc_major = major;
      in.cc_minor = minor;
    } else {
      in.device_error = "device " + std::to_string(device) + ": " + cudaGetErrorName(st);
      (void)cudaGetLastError();
    }
  }
  Features f = decide_features(in);
  f.faked = std::move(faked);
  return f;
}

void* driver_entry_point(const char* symbol, int cuda_version, std::string* why) {
  void* fn = nullptr;
  cudaDriverEntryPointQueryResult status = cudaDriverEntryPointSymbolNotFound;
#if CUDART_VERSION >= 12050
  const cudaError_t st =
      cudaGetDriverEntryPointByVersion(symbol, &fn, unsigned(cuda_version), cudaEnableDefault, &status);
#else
  // Before 12.5 the runtime hands out the version of its own CUDA release (CUDART_VERSION), which
  // is at least `cuda_version` for every symbol trtpace asks for.
  (void)cuda_version;
  const cudaError_t st = cudaGetDriverEntryPoint(symbol, &fn, cudaEnableDefault, &status);
#endif
  if (st != cudaSuccess || status != cudaDriverEntryPointSuccess || !fn) {
    (void)cudaGetLastError();
    if (why) *why = std::string("the driver has no ") + symbol + " entry point";
    return nullptr;
  }
  return fn;
}

}  // namespace trtpace
