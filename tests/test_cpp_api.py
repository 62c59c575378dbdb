"""The C++ API as an app sees it: trtpace built and installed with plain CMake (no Python, no
pybind11), then examples/cpp found through find_package(trtpace CONFIG), built and run.

Marked `cmake`: one configure and build of trtpace's core for one architecture, about a minute
on two cores. It needs cmake, a C++ compiler and a CUDA 13 toolkit (no GPU: the example paces a
host workload); it is skipped where they are missing, e.g. as a user who cannot reach them.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _nvcc() -> str | None:
    for c in (os.environ.get("CUDACXX"), shutil.which("nvcc"), "/usr/local/cuda/bin/nvcc"):
        if c and os.access(c, os.X_OK) and subprocess.run([c, "--version"], capture_output=True).returncode == 0:
            return c
    return None


CMAKE = shutil.which("cmake")
NVCC = _nvcc()
pytestmark = [
    pytest.mark.cmake,
    pytest.mark.skipif(
        CMAKE is None or NVCC is None or shutil.which("c++") is None,
        reason="needs cmake, a C++ compiler and a CUDA toolkit",
    ),
]


def cmake(*args: str | Path, cwd: Path | None = None) -> str:
    assert CMAKE is not None
    r = subprocess.run([CMAKE, *map(str, args)], capture_output=True, text=True, cwd=cwd)
    assert r.returncode == 0, f"cmake {' '.join(map(str, args))}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


def test_installed_package_builds_and_runs_the_example(tmp_path: Path) -> None:
    assert NVCC is not None
    generator = ["-G", "Ninja"] if shutil.which("ninja") else []
    build, prefix = tmp_path / "build", tmp_path / "prefix"
    cmake(
        "-S",
        ROOT,
        "-B",
        build,
        *generator,
        "-DCMAKE_BUILD_TYPE=Release",
        f"-DCMAKE_CUDA_COMPILER={NVCC}",
        "-DTRTPACE_CUDA_ARCHITECTURES=75-real",
    )
    cmake("--build", build, "--parallel")
    cmake("--install", build, "--prefix", prefix)

    # What an app gets: the headers, the static library, the package with its version file.
    assert (prefix / "include/trtpace/runner.hpp").is_file() and (prefix / "include/trtpace/warm.hpp").is_file()
    # Only the public headers (the internal ones are in cpp/src), and each one's trtpace includes
    # are installed too: an app's build never reaches for a header that stayed behind.
    installed = {p.name for p in (prefix / "include/trtpace").iterdir()}
    assert installed == {p.name for p in (ROOT / "cpp/include/trtpace").glob("*.hpp")}
    for header in (prefix / "include/trtpace").iterdir():
        for included in re.findall(r'#include "(trtpace/[^"]+)"', header.read_text()):
            assert (prefix / "include" / included).is_file(), f"{header.name} includes {included}, not installed"
    for internal in ("device.hpp", "features.hpp", "module_loading.hpp"):
        assert (ROOT / "cpp/src" / internal).is_file() and internal not in installed
    libdir = next(p for p in (prefix / "lib", prefix / "lib64") if (p / "libtrtpace_core.a").is_file())
    package = libdir / "cmake" / "trtpace"
    assert {p.name for p in package.glob("*.cmake")} >= {
        "trtpaceConfig.cmake",
        "trtpaceConfigVersion.cmake",
        "trtpaceTargets.cmake",
    }
    assert "find_dependency(CUDAToolkit" in (package / "trtpaceConfig.cmake").read_text()
    assert not list(prefix.rglob("_core*")), "TRTPACE_PYTHON is off outside scikit-build"

    example = tmp_path / "example"
    cmake(
        "-S",
        ROOT / "examples/cpp",
        "-B",
        example,
        *generator,
        f"-DCMAKE_PREFIX_PATH={prefix}",
        f"-DCUDAToolkit_ROOT={Path(NVCC).resolve().parents[1]}",
    )
    cmake("--build", example)
    run = subprocess.run([str(example / "paced_host"), "60", "300", "40"], capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "workload: host busy 40 us" in run.stdout and "inferences: 60" in run.stdout
    m = re.search(r"^p50 e2e: ([0-9.]+) us$", run.stdout, re.MULTILINE)
    assert m, run.stdout
    # The host workload busy-waits 40 us; e2e adds only the completion check.
    assert 40 <= float(m.group(1)) < 5000

    bad = subprocess.run([str(example / "paced_host"), "ten"], capture_output=True, text=True, timeout=60)
    assert bad.returncode == 2 and bad.stderr.strip() == "error: not a number >= 0: ten"
