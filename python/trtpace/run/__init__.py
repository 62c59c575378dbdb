"""Orchestration: `sweep` and `compare` drive the measure layer through one shared `RunSession`."""
