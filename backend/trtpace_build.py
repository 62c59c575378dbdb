"""PEP 517 backend: scikit-build-core, plus a CUDA compiler from PyPI where the machine has none.

`build-system.requires` cannot depend on whether nvcc is installed, so this thin in-tree wrapper
decides at build time (the one place that decides):

* a local CUDA toolkit of a major trtpace builds with (12.4+ or 13.x; CUDACXX, nvcc on PATH,
  CUDA_HOME, CUDA_PATH, /usr/local/cuda) is used as it is, and nothing more is downloaded;
* otherwise the CUDA major is the driver's (cuDriverGetVersion from libcuda.so.1, else the
  `CUDA Version` nvidia-smi prints; 13 where neither is found) and, for 13, the
  `nvidia-cuda-nvcc`, `-runtime`, `-crt`, `-cccl`, `nvidia-nvvm` and `nvidia-nvtx` wheels (>=13.0,<14)
  are added to the build requirements; pip installs them into the isolated build environment and
  CMake is pointed at their nvcc (site-packages/nvidia/cu13/bin/nvcc, with include/, lib/ and nvvm/
  beside it, the layout of a toolkit). For 12 there is no such download: PyPI's CUDA 12 compiler
  wheel (nvidia-cuda-nvcc-cu12, every 12.x) ships ptxas alone (no nvcc, cicc, fatbinary or
  nvlink), and nvidia-cuda-runtime-cu12 no static runtime, so the build stops with one line
  saying what to install.

TRTPACE_CUDA=local or TRTPACE_CUDA=pypi forces either choice; TRTPACE_CUDA_MAJOR=12 or 13 forces
the major (of a local toolkit and of the download alike). The index may serve a newer 13.x than
the driver's CUDA version; that works (minor-version compatibility) because trtpace ships real
SASS for every architecture it lists, so nothing is JIT-compiled from PTX at run time.
"""

from __future__ import annotations

import ctypes
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

# The majors trtpace builds with, and the oldest minor of each (CMakeLists.txt says the same).
MIN_MINOR = {12: 4, 13: 0}
CUDA_MAJOR = 13  # the default where no driver says otherwise, and the one PyPI can provide
# Everything nvcc needs to compile and link CUDA code with the static runtime: the compiler
# (nvcc, ptxas, fatbinary, nvlink), cicc and libdevice (nvvm), the runtime headers and
# libcudart_static.a, the crt headers, CCCL (which cuda_runtime.h includes on CUDA 13), and the
# NVTX3 headers of the runner's --nvtx ranges (none of the other wheels ships include/nvtx3).
PYPI_TOOLKIT = [
    f"{name}>={CUDA_MAJOR}.0,<{CUDA_MAJOR + 1}"
    for name in (
        "nvidia-cuda-nvcc",
        "nvidia-cuda-runtime",
        "nvidia-cuda-crt",
        "nvidia-cuda-cccl",
        "nvidia-nvvm",
        "nvidia-nvtx",
    )
]


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


def forced_major(env: Mapping[str, str] | None = None) -> int | None:
    """TRTPACE_CUDA_MAJOR (12 or 13), or None where unset."""
    env = os.environ if env is None else env
    value = env.get("TRTPACE_CUDA_MAJOR", "").strip()
    if not value:
        return None
    if not value.isdigit() or int(value) not in MIN_MINOR:
        raise ValueError(f"TRTPACE_CUDA_MAJOR must be one of {sorted(MIN_MINOR)}, got {value!r}")
    return int(value)


def _libcuda_version() -> int | None:
    """cuDriverGetVersion of libcuda.so.1 (12020 for CUDA 12.2), without cuInit; None without a driver."""
    try:
        lib = ctypes.CDLL("libcuda.so.1")
        version = ctypes.c_int(0)
        return version.value if lib.cuDriverGetVersion(ctypes.byref(version)) == 0 and version.value else None
    except (OSError, AttributeError):
        return None


def _nvidia_smi_version(env: Mapping[str, str]) -> int | None:
    """The `CUDA Version: 12.2` of nvidia-smi's banner as 12020; None where it does not run."""
    smi = shutil.which("nvidia-smi", path=env.get("PATH", os.defpath))
    if smi is None:
        return None
    try:
        out = subprocess.run([smi], capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    m = re.search(r"CUDA Version:\s*(\d+)\.(\d+)", out.stdout)
    return int(m.group(1)) * 1000 + int(m.group(2)) * 10 if m else None


def driver_cuda_version(env: Mapping[str, str] | None = None) -> int | None:
    """The CUDA version this machine's driver supports (libcuda, else nvidia-smi); None where neither says."""
    env = os.environ if env is None else env
    return _libcuda_version() or _nvidia_smi_version(env)


def wanted_major(env: Mapping[str, str] | None = None) -> int:
    """The CUDA major to download: TRTPACE_CUDA_MAJOR, else the driver's (13 where none is found or it is newer)."""
    env = os.environ if env is None else env
    forced = forced_major(env)
    if forced is not None:
        return forced
    driver = driver_cuda_version(env)
    if driver is None:
        return CUDA_MAJOR
    return min(max(driver // 1000, min(MIN_MINOR)), max(MIN_MINOR))


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


def usable(version: tuple[int, int], major: int | None = None) -> bool:
    """Whether trtpace builds with this toolkit version (of `major` where one is forced)."""
    return version[0] in MIN_MINOR and version[1] >= MIN_MINOR[version[0]] and major in (None, version[0])


def local_nvcc(env: Mapping[str, str] | None = None) -> str | None:
    """The first local nvcc trtpace builds with (12.4+ or 13.x, or TRTPACE_CUDA_MAJOR's); None where there is none."""
    env = os.environ if env is None else env
    major = forced_major(env)
    wants = f"CUDA {major}.x" if major else "CUDA 12.4+ or 13.x"
    for c in local_nvcc_candidates(env):
        v = nvcc_version(c)
        if v is not None and usable(v, major):
            driver = driver_cuda_version(env)
            if driver is not None and driver // 1000 < v[0]:
                _log(
                    f"warning: {c} is CUDA {v[0]}.{v[1]} but the driver supports CUDA {driver // 1000}."
                    f"{driver % 1000 // 10}: this build will not run here (TRTPACE_CUDA_MAJOR picks a major)"
                )
            return c
        _log(f"ignoring {c}: " + (f"CUDA {v[0]}.{v[1]}, trtpace needs {wants}" if v else "does not run"))
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


def pypi_requirements(env: Mapping[str, str] | None = None) -> list[str]:
    """The wheels of the wanted major's compiler; one clear error where PyPI has none that compiles."""
    major = wanted_major(env)
    if major == CUDA_MAJOR:
        return list(PYPI_TOOLKIT)
    raise RuntimeError(
        f"trtpace build: a CUDA {major} build is wanted (the driver's major, or TRTPACE_CUDA_MAJOR) and no local CUDA "
        f"{major}.{MIN_MINOR[major]}+ toolkit was found; PyPI has no CUDA {major} compiler to download (nvidia-cuda-nvcc-cu{major} ships ptxas only), so "
        f"install a CUDA {major} toolkit (e.g. Debian/Ubuntu nvidia-cuda-toolkit, or NVIDIA's) and set CUDA_HOME, "
        f"or set TRTPACE_CUDA_MAJOR={CUDA_MAJOR} to build for a CUDA {CUDA_MAJOR} driver"
    )


def pypi_toolkit_root(search: list[str] | None = None) -> Path | None:
    """site-packages/nvidia/cu13 of the installed nvidia wheels, where their nvcc is."""
    for entry in sys.path if search is None else search:
        root = Path(entry or ".") / "nvidia" / f"cu{CUDA_MAJOR}"
        if (root / "bin" / "nvcc").is_file():
            return root
    return None


def _extra_requires(config_settings: dict[str, Any] | None) -> list[str]:
    if choice(config_settings=config_settings) == "pypi":
        requires = pypi_requirements()
        _log(f"no local CUDA toolkit; using the CUDA {CUDA_MAJOR} nvidia-cuda-* wheels from the package index")
        return requires
    return []


def _with_toolkit(config_settings: dict[str, Any] | None) -> dict[str, Any] | None:
    """Point CMake at the chosen toolkit: the local one found (CMake's own search could find another
    major first), or the wheels' (and nothing where the user named a compiler)."""
    how = choice(config_settings=config_settings)
    if how == "user":
        return config_settings
    if how == "local":
        nvcc = local_nvcc()
        if nvcc is None:  # TRTPACE_CUDA=local with none found: CMake's own search decides
            return config_settings
        settings = dict(config_settings or {})
        # FindCUDAToolkit follows the compiler's own toolkit (also through a wrapper script).
        settings.setdefault("cmake.define.CMAKE_CUDA_COMPILER", nvcc)
        _log(f"CUDA compiler: {nvcc} (local)")
        return settings
    pypi_requirements()  # the same one-line error where there is nothing to download
    root = pypi_toolkit_root()
    if root is None:
        raise RuntimeError(
            f"no CUDA {CUDA_MAJOR} toolkit: install one (nvcc on PATH or CUDA_HOME), or let pip "
            "install the build requirements (build isolation on), or `pip install "
            + " ".join(f"'{r}'" for r in PYPI_TOOLKIT)
            + "` before --no-build-isolation"
        )
    settings = dict(config_settings or {})
    settings.setdefault("cmake.define.CMAKE_CUDA_COMPILER", str(root / "bin" / "nvcc"))
    # FindCUDAToolkit insists on the shared runtime too, which the wheel ships only as
    # libcudart.so.13 (no unversioned link); trtpace links the static one, so naming it suffices.
    settings.setdefault("cmake.define.CUDA_CUDART", str(root / "lib" / f"libcudart.so.{CUDA_MAJOR}"))
    _log(f"CUDA compiler: {root / 'bin' / 'nvcc'}")
    return settings


# ---- The wheel says which CUDA it is for ---------------------------------------------------
# One distribution, `trtpace`, its version carrying the CUDA major as a local label
# (`0.1.0+cu12`, `0.1.0+cu13`), as PyTorch labels its CUDA builds (`+cu130`): `pip show trtpace`,
# the wheel's file name and `pip install "trtpace==0.1.0+cu12"` name the build, one import name
# serves both, and two CUDA builds cannot be installed side by side (CuPy's two distribution names,
# cupy-cuda12x and cupy-cuda13x, can, and then shadow each other). Editable installs too, and the
# core's own __version__ (CMakeLists.txt), so `trtpace --version` agrees with pip.


def built_major(config_settings: Mapping[str, Any] | None = None) -> int | None:
    """The CUDA major this build compiles with (the compiler chosen above); None where unknown."""
    how = choice(config_settings=config_settings)
    if how == "pypi":
        return CUDA_MAJOR
    if how == "local":
        nvcc = local_nvcc()
    else:
        given = [v for k, v in (config_settings or {}).items() if "CMAKE_CUDA_COMPILER" in k]
        nvcc = str(given[0]) if given else os.environ.get("CUDACXX")
    version = nvcc_version(nvcc) if nvcc else None
    return version[0] if version else None


def cuda_label(version: str, major: int | None) -> str:
    """`version` with the CUDA major as its local label (`0.1.0` -> `0.1.0+cu12`); as it is for None."""
    if major is None:
        return version
    public, _, local = version.partition("+")
    return f"{public}+" + ".".join(part for part in (local, f"cu{major}") if part)


def _relabelled_metadata(text: str, version: str) -> str:
    return re.sub(r"(?m)^Version: .*$", f"Version: {version}", text, count=1)


def relabel_metadata_dir(metadata_directory: str, dist_info: str, major: int | None) -> str:
    """Renames a prepared `NAME-VERSION.dist-info` folder to the labelled version; returns its name."""
    name, _, version = dist_info.removesuffix(".dist-info").partition("-")
    labelled = cuda_label(version, major)
    if labelled == version:
        return dist_info
    old, new = Path(metadata_directory, dist_info), Path(metadata_directory, f"{name}-{labelled}.dist-info")
    meta = old / "METADATA"
    meta.write_text(_relabelled_metadata(meta.read_text(), labelled))
    old.rename(new)
    return new.name


def relabel_wheel(wheel_path: Path, major: int | None) -> Path:
    """Rewrites a built wheel for the labelled version: file name, dist-info folder, METADATA and
    RECORD (every hash and size again). Returns the new wheel's path; the old file is removed."""
    import base64
    import hashlib
    import zipfile

    name, version, tags = wheel_path.name.removesuffix(".whl").split("-", 2)
    labelled = cuda_label(version, major)
    if labelled == version:
        return wheel_path
    old_info, new_info = f"{name}-{version}.dist-info/", f"{name}-{labelled}.dist-info/"
    out = wheel_path.with_name(f"{name}-{labelled}-{tags}.whl")
    record: list[str] = []
    with zipfile.ZipFile(wheel_path) as src, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            path = new_info + info.filename[len(old_info) :] if info.filename.startswith(old_info) else info.filename
            if path == new_info + "RECORD":
                continue
            data = src.read(info)
            if path == new_info + "METADATA":
                data = _relabelled_metadata(data.decode(), labelled).encode()
            entry = zipfile.ZipInfo(path, info.date_time)
            entry.external_attr, entry.compress_type = info.external_attr, zipfile.ZIP_DEFLATED
            dst.writestr(entry, data)
            digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            record.append(f"{path},sha256={digest},{len(data)}")
        record.append(f"{new_info}RECORD,,")
        dst.writestr(new_info + "RECORD", "\n".join(record) + "\n")
    wheel_path.unlink()
    return out


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
    dist_info = str(_skb().prepare_metadata_for_build_wheel(metadata_directory, config_settings))
    return relabel_metadata_dir(metadata_directory, dist_info, built_major(config_settings))


def prepare_metadata_for_build_editable(metadata_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    dist_info = str(_skb().prepare_metadata_for_build_editable(metadata_directory, config_settings))
    return relabel_metadata_dir(metadata_directory, dist_info, built_major(config_settings))


def build_wheel(
    wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
) -> str:
    # scikit-build-core is given no prepared metadata (it would copy the labelled version in while
    # naming the wheel by the plain one): the wheel is relabelled as a whole instead.
    built = _skb().build_wheel(wheel_directory, _with_toolkit(config_settings), None)
    return relabel_wheel(Path(wheel_directory, built), built_major(config_settings)).name


def build_editable(
    wheel_directory: str, config_settings: dict[str, Any] | None = None, metadata_directory: str | None = None
) -> str:
    built = _skb().build_editable(wheel_directory, _with_toolkit(config_settings), None)
    return relabel_wheel(Path(wheel_directory, built), built_major(config_settings)).name


def build_sdist(sdist_directory: str, config_settings: dict[str, Any] | None = None) -> str:
    return str(_skb().build_sdist(sdist_directory, config_settings))
