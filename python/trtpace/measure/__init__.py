"""Measuring: pacing, remedy policies, workloads, the paced runner and GPU telemetry."""
