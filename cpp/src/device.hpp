#pragma once
// What the CUDA runtime can see, asked without throwing, so that a machine with no driver or no
// GPU gets a precise answer instead of an exception.
#include <cstdint>
#include <string>

namespace trtpace {

struct CudaProbe {
  int driver_version = 0;   // cudaDriverGetVersion: 0 when no driver is installed
  int runtime_version = 0;  // the static runtime linked into trtpace
  int device_count = 0;
  int error_code = 0;  // cudaGetDeviceCount's status
  std::string error_name;
  std::string error_string;
};
CudaProbe probe_cuda();

struct DeviceInfo {
  int index = 0;
  std::string name;
  std::string pci_bus_id;  // as NVML expects it: "00000000:3B:00.0"
  int major = 0, minor = 0;
  int multiprocessors = 0;
  int max_sm_clock_mhz = 0;   // cudaDevAttrClockRate
  int max_mem_clock_mhz = 0;  // cudaDevAttrMemoryClockRate
  size_t total_memory_bytes = 0;
  bool integrated = false;  // Jetson-style shared memory
};
DeviceInfo device_info(int device);

}  // namespace trtpace
