"""PEP 517 backend: scikit-build-core, plus a CUDA 13 compiler from PyPI where the machine has none.

`build-system.requires` cannot depend on whether nvcc is installed, so this thin in-tree wrapper
decides at build time (the one place that decides):

* a local CUDA 13 toolkit (CUDACXX, nvcc on PATH, CUDA_HOME, CUDA_PATH, /usr/local/cuda) is used
  as it is, and nothing more is downloaded;
* otherwise the `nvidia-cuda-nvcc`, `-runtime`, `-crt`, `-cccl`, `nvidia-nvvm` and `nvidia-nvtx` wheels
  (>=13.0,<14) are added to the build requirements; pip installs them into the isolated build environment and
  CMake is pointed at their nvcc (site-packages/nvidia/cu13/bin/nvcc, with include/, lib/ and nvvm/
  beside it, the layout of a toolkit).

TRTPACE_CUDA=local or TRTPACE_CUDA=pypi forces either choice. The index may serve a newer 13.x
than the driver's CUDA version; that works (minor-version compatibility) because trtpace ships
real SASS for every architecture it lists, so nothing is JIT-compiled from PTX at run time.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = [
    "build_editable",
    "build_sdist",
    "build_wheel",
    "get_requires_for_build_editable",
    "get_requires_for_build_sdist",
    "get_requires_for_build_wheel",
    "prepare_metadata_for_build_editable",
    "prepare_metadata_for_build_wheel",
]

CUDA_MAJOR = 13
# Everything nvcc needs to compile and link CUDA code with the static runtime: the compiler
# (nvcc, ptxas, fatbinary, nvlink), cicc and libdevice (nvvm), the runtime headers and
# libcudart_static.a, the crt headers, CCCL (which cuda_runtime.h includes on CUDA 13), and the
# NVTX3 headers of the runner's --nvtx ranges (none of the other wheels ships include/nvtx3).
PYPI_TOOLKIT = [f"{name}>={CUDA_MAJOR}.0,<{CUDA_MAJOR + 1}" for name in (
    "nvidia-cuda-nvcc", "nvidia-cuda-runtime", "nvidia-cuda-crt", "nvidia-cuda-cccl", "nvidia-nvvm", "nvidia-nvtx")]


# Where a toolkit lives when neither PATH nor CUDA_HOME/CUDA_PATH says (CMake looks there too).
DEFAULT_ROOTS = ("/usr/local/cuda",)


def _log(message: str) -> None:
    sys.stderr.write(f"trtpace build: {message}\n")


def nvcc_version(nvcc: str) -> tuple[int, int] | None:
    """(major, minor) that `nvcc --version` reports, or None where it does not run."""
    try:
        out = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"release (\d+)\.(\d+)", out.stdout)
    return (int(m.group(1)), int(m.group(2))) if out.returncode == 0 and m else None


def local_nvcc_candidates(env: Mapping[str, str] | None = None) -> list[str]:
    """Where a local toolkit's nvcc may be, in the order CMake looks."""
    env = os.environ if env is None else env
    found: list[str] = []
    on_path = shutil.which("nvcc", path=env.get("PATH", os.defpath))
    roots = [env.get("CUDA_HOME"), env.get("CUDA_PATH"), *DEFAULT_ROOTS]
    for c in [on_path, *(str(Path(r) / "bin" / "nvcc") for r in roots if r)]:
        if c and c not in found and os.access(c, os.X_OK) and Path(c).is_file():
            found.append(c)
    return found


def local_nvcc(env: Mapping[str, str] | None = None) -> str | None:
    """The first local nvcc of CUDA 13 that runs; None where there is none (or only other majors)."""
    for c in local_nvcc_candidates(env):
        v = nvcc_version(c)
        if v is not None and v[0] == CUDA_MAJOR:
            return c
        _log(f"ignoring {c}: " + (f"CUDA {v[0]}.{v[1]}, trtpace needs {CUDA_MAJOR}.x" if v else "does not run"))
    return None


def choice(env: Mapping[str, str] | None = None, config_settings: Mapping[str, Any] | None = None) -> str:
    """'user' (CUDACXX or CMAKE_CUDA_COMPILER given), 'local' or 'pypi'."""
    env = os.environ if env is None else env
    given = any("CMAKE_CUDA_COMPILER" in k for k in (config_settings or {}))
    forced = env.get("TRTPACE_CUDA", "").strip().lower()
    if forced not in ("", "auto", "local", "pypi"):
        raise ValueError(f"TRTPACE_CUDA must be auto, local or pypi, got {forced!r}")
    if forced == "pypi":
        return "pypi"
    if given or env.get("CUDACXX") or "CMAKE_CUDA_COMPILER" in env.get("CMAKE_ARGS", ""):
        return "user"
    if forced == "local" or local_nvcc(env):
        return "local"
    return "pypi"


def pypi_toolkit_root(search: list[str] | None = None) -> Path | None:
    """site-packages/nvidia/cu13 of the installed nvidia wheels, where their nvcc is."""
    for entry in sys.path if search is None else search:
        root = Path(entry or ".") / "nvidia" / f"cu{CUDA_MAJOR}"
        if (root / "bin" / "nvcc").is_file():
            return root
    return None


def _extra_requires(config_settings: dict[str, Any] | None) -> list[str]:
    if choice(config_settings=config_settings) == "pypi":
        _log("no local CUDA 13 toolkit; using the nvidia-cuda-* wheels from the package index")
        return list(PYPI_TOOLKIT)
    return []


def _with_toolkit(config_settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """Point CMake at the wheels' toolkit when they are the choice (and the user set no compiler)."""
    if choice(config_settings=config_settings) != "pypi":
        return config_settings
    root = pypi_toolkit_root()
    if root is None:
        raise RuntimeError("no CUDA 13 toolkit: install one (nvcc on PATH or CUDA_HOME), or let pip install "
                           "the build requirements (build isolation on), or `pip install "
                           + " ".join(f"'{r}'" for r in PYPI_TOOLKIT) + "` before --no-build-isolation")
    settings = dict(config_settings or {})
    settings.setdefault("cmake.define.CMAKE_CUDA_COMPILER", str(root / "bin" / "nvcc"))
    # FindCUDAToolkit insists on the shared runtime too, which the wheel ships only as
    # libcudart.so.13 (no unversioned link); trtpace links the static one, so naming it suffices.
    settings.setdefault("cmake.define.CUDA_CUDART", str(root / "lib" / f"libcudart.so.{CUDA_MAJOR}"))
    _log(f"CUDA compiler: {root / 'bin' / 'nvcc'}")
    return settings


# The hooks: scikit-build-core's, imported when called so the decision above can be tested (and
# run) without it.
def _skb() -> Any:
    from scikit_build_core import build

    return build


def get_requires_for_build_wheel(config_settings: dict[str, Any] | None = None) -> list[str]:
    return [*_skb().get_requires_for_build_wheel(config_settings), *_extra_requires(config_settings)]


def get_requires_for_build_editable(config_settings: dict[str, Any] | None = None) -> list[str]:
    return [*_skb().get_requires_for_build_editable(config_settings), *_extra_requires(config_settings)]


def get_requires_for_build_sdist(config_settings: dict[str, Any] | None = None) -> list[str]:
    return list(_skb().get_requires_for_build_sdist(config_settings))


def prepare_metadata_for_build_wheel(metadata_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    return str(_skb().prepare_metadata_for_build_wheel(metadata_directory, config_settings))


def prepare_metadata_for_build_editable(metadata_directory: str,
                                        config_settings: dict[str, Any] | None = None) -> str:
    return str(_skb().prepare_metadata_for_build_editable(metadata_directory, config_settings))


def build_wheel(wheel_directory: str, config_settings: dict[str, Any] | None = None,
                metadata_directory: str | None = None) -> str:
    return str(_skb().build_wheel(wheel_directory, _with_toolkit(config_settings), metadata_directory))


def build_editable(wheel_directory: str, config_settings: dict[str, Any] | None = None,
                   metadata_directory: str | None = None) -> str:
    return str(_skb().build_editable(wheel_directory, _with_toolkit(config_settings), metadata_directory))


def build_sdist(sdist_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    return str(_skb().build_sdist(sdist_directory, config_settings))
