"""Stand-in `tensorrt_rtx` for tests (TensorRT-RTX flavour of tests/standin/_trt_standin.py)."""

from _trt_standin import _load

_impl = _load("rtx")
globals().update({k: v for k, v in vars(_impl).items() if not k.startswith("__") or k == "__version__"})
