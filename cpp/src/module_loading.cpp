#include "module_loading.hpp"

#include <cuda.h>  // driver API types only: the entry point is fetched at run time
#include <cuda_runtime_api.h>

#include <mutex>
#include <set>

#include "features.hpp"
#include "trtpace/cuda_check.hpp"
#include "trtpace/cuda_raii.hpp"

namespace trtpace {

void load_kernels(int device) {
  static std::mutex mutex;
  static std::set<int> loaded;
  std::lock_guard<std::mutex> lock(mutex);
  if (loaded.count(device)) return;
  DeviceGuard guard(device);
  detail::load_armed_kernels();
  detail::load_resident_kernels();
  detail::load_probe_kernels();
  detail::load_work_kernels();
  loaded.insert(device);
}

std::string module_loading_mode() {
  using GetMode = CUresult (*)(CUmoduleLoadingMode*);
  void* fn = driver_entry_point("cuModuleGetLoadingMode", 11070);
  if (!fn) return "unknown";
  CUmoduleLoadingMode mode{};
  if (reinterpret_cast<GetMode>(fn)(&mode) != CUDA_SUCCESS) return "unknown";
  return mode == CU_MODULE_LAZY_LOADING ? "lazy" : "eager";
}

}  // namespace trtpace
