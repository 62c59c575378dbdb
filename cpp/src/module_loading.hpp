#pragma once
// Loading trtpace's kernels before any gate spins.
//
// CUDA loads a kernel lazily, at its first launch, by default since 12.2 (CUDA_MODULE_LOADING
// unset or LAZY), and a load may wait for the device to go idle. While an armed gate spins the
// device is never idle, so the first launch of a kernel not yet loaded (the done-word writer
// queued behind an armed inference, say) waits until the gate lets go: with no release coming,
// for ever. Every trtpace kernel is therefore loaded on a device before trtpace puts work there
// (CudaWorkload, ArmedGate and Filler construction call load_kernels). The process's own setting
// is left alone. An app's own kernels are the app's: launched for the first time while a gate
// spins, they wait for the release or the gate's timeout (README, "What an app must not do while
// armed").
#include <string>

namespace trtpace {

// Loads every kernel trtpace launches (gates, done-word writer, in-band probe, clock sync,
// filler, synthetic work) into `device`'s context. Thread-safe; the work is done once per device.
void load_kernels(int device);

// The driver's module loading mode for this process: "lazy", "eager", or "unknown" (no driver, or
// one without cuModuleGetLoadingMode).
std::string module_loading_mode();

namespace detail {
// Each kernel source file loads its own kernels (cudaFuncGetAttributes loads a lazily loaded
// kernel); load_kernels calls them all. The current device is the one to load into.
void load_armed_kernels();
void load_resident_kernels();
void load_probe_kernels();
void load_work_kernels();
}  // namespace detail

}  // namespace trtpace
