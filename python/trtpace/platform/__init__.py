"""The machine: CUDA devices, NVML, Jetson sysfs, clock control and `trtpace env` facts."""
