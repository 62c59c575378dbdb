"""What the app does during the gap: `--gap-work` for sweep and compare, `gap_work=` in the API.

An idle sleep is not an app's gap. An app decodes the next frame, streams through its pixels and
runs Python between inferences, and that leaves the loop's core, caches and TLB in another state
than a sleep does (an armed inference measured 0.96x after a sleep and 1.09x-1.14x in a JPEG app
loop). The runner starts the work so that it ends when the inference is due and issues the
inference the moment it ends, as an app issues once its frame is ready.

  none              an idle gap (the default)
  busy:2ms          dependent arithmetic on the loop's core for that long (us, ms or s)
  memory:64MB       every cache line of a buffer that large read and written (KB, MB, GB; KiB, MiB, GiB)
  jpeg:1280x720     decode a JPEG frame of that size and preprocess it (resize to 224x224,
                    normalise, as a classifier's input), from Python, with OpenCV or else Pillow
                    (`pip install "trtpace[imaging]"`)
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from trtpace import _core
from trtpace.errors import UsageError

KINDS = ("none", "busy", "memory", "jpeg")
MAX_BUSY_S = 60.0
MAX_MEMORY_BYTES = 16 << 30
MAX_JPEG_PIXELS = 8192 * 8192
_TIME = {"us": 1e-6, "ms": 1e-3, "s": 1.0}
_SIZE = {"kb": 1e3, "mb": 1e6, "gb": 1e9, "kib": 1 << 10, "mib": 1 << 20, "gib": 1 << 30}
_JPEG_FRAMES = 4  # distinct frames decoded in turn, so each decode reads new bytes


@dataclass(frozen=True)
class GapWork:
    """One kind of gap work and its size; `spec` is what the user typed, normalised."""

    kind: str = "none"
    busy_s: float = 0.0
    memory_bytes: int = 0
    width: int = 0
    height: int = 0

    @property
    def spec(self) -> str:
        if self.kind == "busy":
            return f"busy:{self.busy_s * 1e3:g}ms"
        if self.kind == "memory":
            return f"memory:{self.memory_bytes / 1e6:g}MB"
        if self.kind == "jpeg":
            return f"jpeg:{self.width}x{self.height}"
        return "none"

    @property
    def active(self) -> bool:
        return self.kind != "none"

    def describe(self) -> str:
        """What the gap did, in words, for results and reports."""
        if self.kind == "busy":
            return f"busy CPU work for {self.busy_s * 1e3:g} ms before each inference"
        if self.kind == "memory":
            return f"streamed through {self.memory_bytes / 1e6:g} MB of memory before each inference"
        if self.kind == "jpeg":
            return f"decoded and preprocessed a {self.width}x{self.height} JPEG before each inference"
        return "idle"

    def to_core(self) -> _core.GapWork:
        if self.kind == "busy":
            return _core.GapWork.busy(round(self.busy_s * 1e9), self.spec)
        if self.kind == "memory":
            return _core.GapWork.memory(self.memory_bytes, self.spec)
        if self.kind == "jpeg":
            return _core.GapWork.callable(jpeg_decoder(self.width, self.height), self.spec)
        return _core.GapWork()

    def to_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "spec": self.spec, "description": self.describe()}


NONE = GapWork()


def parse_gap_work(text: str | None) -> GapWork:
    """'busy:2ms', 'memory:64MB', 'jpeg:1280x720' or 'none'; raises UsageError naming the bad part."""
    if text is None:
        return NONE
    spec = text.strip().lower()
    kind, _, arg = spec.partition(":")
    if kind in ("", "none", "idle") and not arg:
        return NONE
    if kind == "busy":
        m = re.fullmatch(r"([0-9]*\.?[0-9]+(?:e-?[0-9]+)?)(us|ms|s)", arg)
        value = float(m.group(1)) * _TIME[m.group(2)] if m else math.nan
        if not (math.isfinite(value) and 0 < value <= MAX_BUSY_S):
            raise UsageError(f"--gap-work {text!r}: busy needs a duration over 0 and up to 60 s, e.g. busy:2ms")
        return GapWork("busy", busy_s=value)
    if kind == "memory":
        m = re.fullmatch(r"([0-9]*\.?[0-9]+)(kb|mb|gb|kib|mib|gib)", arg)
        size = float(m.group(1)) * _SIZE[m.group(2)] if m else math.nan
        if not (math.isfinite(size) and 64 <= size <= MAX_MEMORY_BYTES):
            raise UsageError(f"--gap-work {text!r}: memory needs a size from 64 bytes to 16 GiB, e.g. memory:64MB")
        return GapWork("memory", memory_bytes=round(size))
    if kind == "jpeg":
        m = re.fullmatch(r"([0-9]{1,5})x([0-9]{1,5})", arg)
        w, h = (int(m.group(1)), int(m.group(2))) if m else (0, 0)
        if not (w >= 16 and h >= 16 and w * h <= MAX_JPEG_PIXELS):
            raise UsageError(
                f"--gap-work {text!r}: jpeg needs WIDTHxHEIGHT from 16x16 to 8192x8192, e.g. jpeg:1280x720"
            )
        imaging_backend()  # fail now, in one line, where no imaging library is installed
        return GapWork("jpeg", width=w, height=h)
    raise UsageError(f"--gap-work {text!r}: unknown kind (expected {', '.join(KINDS)})")


def imaging_backend() -> str:
    """'opencv' or 'pillow', whichever is installed (OpenCV first); UsageError if neither."""
    import importlib.util

    for module, name in (("cv2", "opencv"), ("PIL", "pillow")):
        if importlib.util.find_spec(module) is not None:
            return name
    raise UsageError('--gap-work jpeg needs OpenCV or Pillow: pip install "trtpace[imaging]"')


def _frames(width: int, height: int) -> list[Any]:
    """Distinct synthetic camera frames (smooth gradients and noise, seeded): uint8 HxWx3."""
    import numpy as np

    rng = np.random.default_rng(0)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    frames = []
    for k in range(_JPEG_FRAMES):
        base = np.stack([x / width * 255, y / height * 255, (x + y + 40 * k) % 256], axis=-1)
        noise = rng.normal(0, 12, size=base.shape)
        frames.append(np.clip(base + noise, 0, 255).astype(np.uint8))
    return frames


def jpeg_decoder(width: int, height: int) -> Callable[[], None]:
    """A function that decodes the next of a few JPEG frames and preprocesses it as a classifier's
    input (resize to 224x224, RGB, CHW, scaled and normalised float32), as a camera app does."""
    import numpy as np

    backend = imaging_backend()
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(3, 1, 1)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(3, 1, 1)
    out = np.empty((3, 224, 224), dtype=np.float32)
    if backend == "opencv":
        import cv2

        encoded = [cv2.imencode(".jpg", f, [cv2.IMWRITE_JPEG_QUALITY, 90])[1] for f in _frames(width, height)]

        def decode(data: Any) -> Any:
            img = cv2.imdecode(data, cv2.IMREAD_COLOR)
            return cv2.cvtColor(cv2.resize(img, (224, 224), interpolation=cv2.INTER_LINEAR), cv2.COLOR_BGR2RGB)
    else:
        import io

        from PIL import Image

        encoded = []
        for f in _frames(width, height):
            buf = io.BytesIO()
            Image.fromarray(f).save(buf, format="JPEG", quality=90)
            encoded.append(buf.getvalue())

        def decode(data: Any) -> Any:
            return np.asarray(Image.open(io.BytesIO(data)).convert("RGB").resize((224, 224), Image.Resampling.BILINEAR))

    state = {"i": 0}

    def work() -> None:
        state["i"] += 1
        rgb = decode(encoded[state["i"] % len(encoded)])
        np.multiply(rgb.transpose(2, 0, 1), 1 / 255, out=out, casting="unsafe")
        np.subtract(out, mean, out=out)
        np.divide(out, std, out=out)

    return work
