// What CUDA sees, and device facts.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "bindings.hpp"
#include "device.hpp"
#include "module_loading.hpp"

namespace trtpace::bindings {
using namespace pybind11::literals;

void bind_device(py::module_& m) {
  m.def(
      "probe_cuda",
      []() {
        const CudaProbe p = probe_cuda();
        return py::dict("driver_version"_a = p.driver_version, "runtime_version"_a = p.runtime_version,
                        "device_count"_a = p.device_count, "error_code"_a = p.error_code, "error_name"_a = p.error_name,
                        "error_string"_a = p.error_string);
      },
      "What the CUDA runtime sees, without raising: driver_version is 0 when no driver is installed.");
  m.def(
      "device_info",
      [](int device) {
        const DeviceInfo d = device_info(device);
        return py::dict("index"_a = d.index, "name"_a = d.name, "pci_bus_id"_a = d.pci_bus_id,
                        "compute_capability"_a = std::to_string(d.major) + "." + std::to_string(d.minor),
                        "multiprocessors"_a = d.multiprocessors, "max_sm_clock_mhz"_a = d.max_sm_clock_mhz,
                        "max_mem_clock_mhz"_a = d.max_mem_clock_mhz, "total_memory_bytes"_a = d.total_memory_bytes,
                        "integrated"_a = d.integrated);
      },
      "device"_a, "Name, PCI bus id, compute capability, SM count and maximum clocks of a CUDA device.");
  m.def("load_kernels", &load_kernels, "device"_a, py::call_guard<py::gil_scoped_release>(),
        "Loads every trtpace kernel into the device's context (done for you before any gate spins).");
  m.def("module_loading_mode", &module_loading_mode,
        "The driver's module loading mode for this process: 'lazy', 'eager' or 'unknown'.");
}

}  // namespace trtpace::bindings
