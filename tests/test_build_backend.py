"""The build backend's one decision: a local CUDA 13 toolkit, or the nvidia-cuda-* wheels from PyPI.

The fake nvcc scripts below print what a real `nvcc --version` prints; the decision only ever
runs that command. (The build itself with the wheels is .ci/no-toolkit's job: minutes long.)
"""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


def load_backend() -> ModuleType:
    spec = importlib.util.spec_from_file_location("trtpace_build", ROOT / "backend" / "trtpace_build.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


backend = load_backend()


def fake_nvcc(folder: Path, release: str | None) -> Path:
    """An executable `nvcc` printing the version banner of `release` (None: one that fails)."""
    folder.mkdir(parents=True, exist_ok=True)
    nvcc = folder / "nvcc"
    if release is None:
        nvcc.write_text("#!/bin/sh\nexit 127\n")
    else:
        nvcc.write_text("#!/bin/sh\necho 'nvcc: NVIDIA (R) Cuda compiler driver'\n"
                        f"echo 'Cuda compilation tools, release {release}, V{release}.88'\n")
    nvcc.chmod(nvcc.stat().st_mode | stat.S_IXUSR)
    return nvcc


def env_with(path: Path | str, **extra: str) -> dict[str, str]:
    return {"PATH": str(path), **extra}


@pytest.fixture(autouse=True)
def no_default_toolkit(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's own /usr/local/cuda stays out of the decisions under test."""
    monkeypatch.setattr(backend, "DEFAULT_ROOTS", ())


def test_usr_local_cuda_is_a_candidate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    nvcc = fake_nvcc(tmp_path / "cuda" / "bin", "13.0")
    monkeypatch.setattr(backend, "DEFAULT_ROOTS", (str(tmp_path / "cuda"),))
    assert backend.local_nvcc(env_with(tmp_path / "empty")) == str(nvcc)


def test_version_parsing(tmp_path: Path) -> None:
    assert backend.nvcc_version(str(fake_nvcc(tmp_path / "a", "13.0"))) == (13, 0)
    assert backend.nvcc_version(str(fake_nvcc(tmp_path / "b", "12.8"))) == (12, 8)
    assert backend.nvcc_version(str(fake_nvcc(tmp_path / "c", None))) is None
    assert backend.nvcc_version(str(tmp_path / "missing")) is None


def test_cuda_13_on_path_is_used_and_nothing_is_downloaded(tmp_path: Path) -> None:
    nvcc = fake_nvcc(tmp_path / "bin", "13.2")
    env = env_with(tmp_path / "bin")
    assert backend.local_nvcc(env) == str(nvcc)
    assert backend.choice(env) == "local"


@pytest.mark.parametrize("release", ["12.8", "14.0", None])
def test_other_majors_or_a_broken_nvcc_mean_pypi(tmp_path: Path, release: str | None,
                                                 capfd: pytest.CaptureFixture[str]) -> None:
    fake_nvcc(tmp_path / "bin", release)
    env = env_with(tmp_path / "bin")
    assert backend.local_nvcc(env) is None
    assert "ignoring" in capfd.readouterr().err
    assert backend.choice(env) == "pypi"


def test_cuda_home_and_cuda_path_are_searched(tmp_path: Path) -> None:
    old = fake_nvcc(tmp_path / "old" / "bin", "12.4")
    new = fake_nvcc(tmp_path / "new" / "bin", "13.0")
    env = env_with(old.parent, CUDA_HOME=str(tmp_path / "nothing"), CUDA_PATH=str(tmp_path / "new"))
    assert backend.local_nvcc_candidates(env) == [str(old), str(new)]
    assert backend.local_nvcc(env) == str(new)


def test_no_nvcc_anywhere_means_pypi(tmp_path: Path) -> None:
    assert backend.local_nvcc_candidates(env_with(tmp_path)) == []
    assert backend.choice(env_with(tmp_path)) == "pypi"


def test_user_choice_and_forcing(tmp_path: Path) -> None:
    fake_nvcc(tmp_path / "bin", "13.0")
    path = tmp_path / "bin"
    assert backend.choice(env_with(path, CUDACXX="/opt/my/nvcc")) == "user"
    assert backend.choice(env_with(path, CMAKE_ARGS="-DCMAKE_CUDA_COMPILER=/x/nvcc")) == "user"
    assert backend.choice(env_with(path), {"cmake.define.CMAKE_CUDA_COMPILER": "/x/nvcc"}) == "user"
    assert backend.choice(env_with(path, TRTPACE_CUDA="pypi")) == "pypi"
    assert backend.choice(env_with(tmp_path / "none", TRTPACE_CUDA="local")) == "local"
    with pytest.raises(ValueError, match="TRTPACE_CUDA must be auto, local or pypi"):
        backend.choice(env_with(path, TRTPACE_CUDA="conda"))


def test_requirements_pin_cuda_13_for_every_part() -> None:
    names = [r.split(">=")[0] for r in backend.PYPI_TOOLKIT]
    assert names == ["nvidia-cuda-nvcc", "nvidia-cuda-runtime", "nvidia-cuda-crt", "nvidia-cuda-cccl", "nvidia-nvvm",
                     "nvidia-nvtx"]
    assert all(r.endswith(">=13.0,<14") for r in backend.PYPI_TOOLKIT)


def test_wheel_toolkit_is_found_and_handed_to_cmake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site-packages"
    fake_nvcc(site / "nvidia" / "cu13" / "bin", "13.5")
    assert backend.pypi_toolkit_root([str(tmp_path), str(site)]) == site / "nvidia" / "cu13"
    assert backend.pypi_toolkit_root([str(tmp_path)]) is None

    monkeypatch.setenv("TRTPACE_CUDA", "pypi")
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    settings = backend._with_toolkit({"cmake.define.X": "1"})
    assert settings == {"cmake.define.X": "1",
                        "cmake.define.CMAKE_CUDA_COMPILER": str(site / "nvidia/cu13/bin/nvcc"),
                        "cmake.define.CUDA_CUDART": str(site / "nvidia/cu13/lib/libcudart.so.13")}
    # A compiler the user names wins.
    given = {"cmake.define.CMAKE_CUDA_COMPILER": "/x/nvcc"}
    monkeypatch.setenv("TRTPACE_CUDA", "auto")
    monkeypatch.setenv("PATH", os.defpath)
    assert backend._with_toolkit(given) is given


def test_no_toolkit_anywhere_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRTPACE_CUDA", "pypi")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    with pytest.raises(RuntimeError, match="no CUDA 13 toolkit: install one"):
        backend._with_toolkit(None)
