"""Stand-in `tensorrt` for tests: TensorRT 10.x by default, 11.x with TRTPACE_STANDIN_TRT=11 (see
tests/standin/_trt_standin.py)."""

import os

from _trt_standin import _load

_impl = _load(os.environ.get("TRTPACE_STANDIN_TRT", "10"))
globals().update({k: v for k, v in vars(_impl).items() if not k.startswith("__") or k == "__version__"})
