"""The build backend's decisions: a local CUDA 12.4+ or 13 toolkit, or the nvidia-cuda-* wheels of the driver's major.

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
        nvcc.write_text(
            "#!/bin/sh\necho 'nvcc: NVIDIA (R) Cuda compiler driver'\n"
            f"echo 'Cuda compilation tools, release {release}, V{release}.88'\n"
        )
    nvcc.chmod(nvcc.stat().st_mode | stat.S_IXUSR)
    return nvcc


def env_with(path: Path | str, **extra: str) -> dict[str, str]:
    return {"PATH": str(path), **extra}


@pytest.fixture(autouse=True)
def no_default_toolkit(monkeypatch: pytest.MonkeyPatch) -> None:
    """This machine's own /usr/local/cuda and driver stay out of the decisions under test."""
    monkeypatch.setattr(backend, "DEFAULT_ROOTS", ())
    monkeypatch.setattr(backend, "_libcuda_version", lambda: None)
    monkeypatch.delenv("TRTPACE_CUDA_MAJOR", raising=False)


def fake_smi(folder: Path, cuda: str | None) -> Path:
    """An executable `nvidia-smi` printing the banner of a driver for `cuda` (None: one that fails)."""
    folder.mkdir(parents=True, exist_ok=True)
    smi = folder / "nvidia-smi"
    if cuda is None:
        smi.write_text(
            "#!/bin/sh\necho 'NVIDIA-SMI has failed because it could not communicate with the driver'\nexit 9\n"
        )
    else:
        smi.write_text(
            f"#!/bin/sh\necho '| NVIDIA-SMI 535.183.01   Driver Version: 535.183.01   CUDA Version: {cuda}     |'\n"
        )
    smi.chmod(smi.stat().st_mode | stat.S_IXUSR)
    return smi


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


@pytest.mark.parametrize("release", ["12.3", "11.8", "14.0", None])
def test_other_majors_or_a_broken_nvcc_mean_pypi(
    tmp_path: Path, release: str | None, capfd: pytest.CaptureFixture[str]
) -> None:
    fake_nvcc(tmp_path / "bin", release)
    env = env_with(tmp_path / "bin")
    assert backend.local_nvcc(env) is None
    assert "ignoring" in capfd.readouterr().err
    assert backend.choice(env) == "pypi"


def test_cuda_home_and_cuda_path_are_searched(tmp_path: Path) -> None:
    old = fake_nvcc(tmp_path / "old" / "bin", "12.3")
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
    assert names == [
        "nvidia-cuda-nvcc",
        "nvidia-cuda-runtime",
        "nvidia-cuda-crt",
        "nvidia-cuda-cccl",
        "nvidia-nvvm",
        "nvidia-nvtx",
    ]
    assert all(r.endswith(">=13.0,<14") for r in backend.PYPI_TOOLKIT)


def test_wheel_toolkit_is_found_and_handed_to_cmake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    site = tmp_path / "site-packages"
    fake_nvcc(site / "nvidia" / "cu13" / "bin", "13.5")
    assert backend.pypi_toolkit_root([str(tmp_path), str(site)]) == site / "nvidia" / "cu13"
    assert backend.pypi_toolkit_root([str(tmp_path)]) is None

    monkeypatch.setenv("TRTPACE_CUDA", "pypi")
    monkeypatch.setenv("TRTPACE_CUDA_MAJOR", "13")  # whatever driver this machine has
    monkeypatch.setattr(sys, "path", [str(site), *sys.path])
    settings = backend._with_toolkit({"cmake.define.X": "1"})
    assert settings == {
        "cmake.define.X": "1",
        "cmake.define.CMAKE_CUDA_COMPILER": str(site / "nvidia/cu13/bin/nvcc"),
        "cmake.define.CUDA_CUDART": str(site / "nvidia/cu13/lib/libcudart.so.13"),
    }
    # A compiler the user names wins.
    given = {"cmake.define.CMAKE_CUDA_COMPILER": "/x/nvcc"}
    monkeypatch.setenv("TRTPACE_CUDA", "auto")
    monkeypatch.setenv("PATH", os.defpath)
    assert backend._with_toolkit(given) is given


def test_the_local_toolkit_chosen_is_the_one_cmake_gets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # CMake alone would take the nvcc on PATH (CUDA 13 here); TRTPACE_CUDA_MAJOR=12 chose CUDA_HOME's.
    fake_nvcc(tmp_path / "bin", "13.0")
    cu12 = fake_nvcc(tmp_path / "cuda-12.4" / "bin", "12.4")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.setenv("CUDA_HOME", str(tmp_path / "cuda-12.4"))
    monkeypatch.setenv("TRTPACE_CUDA_MAJOR", "12")
    for var in ("CUDA_PATH", "CUDACXX", "CMAKE_ARGS", "TRTPACE_CUDA"):
        monkeypatch.delenv(var, raising=False)
    assert backend._with_toolkit({"cmake.define.X": "1"}) == {
        "cmake.define.X": "1",
        "cmake.define.CMAKE_CUDA_COMPILER": str(cu12),
    }
    monkeypatch.setenv("TRTPACE_CUDA", "local")
    monkeypatch.setenv("TRTPACE_CUDA_MAJOR", "13")
    monkeypatch.setenv("PATH", str(tmp_path / "none"))
    assert backend._with_toolkit(None) is None  # forced local, none found: CMake searches


def test_no_toolkit_anywhere_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRTPACE_CUDA", "pypi")
    monkeypatch.setenv("TRTPACE_CUDA_MAJOR", "13")
    monkeypatch.setattr(sys, "path", [str(tmp_path)])
    with pytest.raises(RuntimeError, match="no CUDA 13 toolkit: install one"):
        backend._with_toolkit(None)


# ---- the CUDA major: a local toolkit of either, else the driver's (issue #24) ----


@pytest.mark.parametrize("release", ["12.4", "12.8", "13.0"])
def test_a_local_cuda_12_or_13_toolkit_is_used(tmp_path: Path, release: str) -> None:
    nvcc = fake_nvcc(tmp_path / "bin", release)
    env = env_with(tmp_path / "bin")
    assert backend.local_nvcc(env) == str(nvcc)
    assert backend.choice(env) == "local"


def test_forced_major_picks_among_local_toolkits(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    cu12 = fake_nvcc(tmp_path / "cu12" / "bin", "12.6")
    cu13 = fake_nvcc(tmp_path / "cu13" / "bin", "13.1")
    env = env_with(cu12.parent, CUDA_HOME=str(tmp_path / "cu13"))
    assert backend.local_nvcc(env) == str(cu12)
    assert backend.local_nvcc({**env, "TRTPACE_CUDA_MAJOR": "13"}) == str(cu13)
    assert "ignoring " + str(cu12) + ": CUDA 12.6, trtpace needs CUDA 13.x" in capfd.readouterr().err
    assert backend.local_nvcc({**env, "TRTPACE_CUDA_MAJOR": "12", "CUDA_HOME": ""}) == str(cu12)
    only13 = env_with(cu13.parent, TRTPACE_CUDA_MAJOR="12")
    assert backend.local_nvcc(only13) is None and backend.choice(only13) == "pypi"


@pytest.mark.parametrize("value", ["11", "14", "twelve", "12.4"])
def test_forced_major_must_be_12_or_13(value: str) -> None:
    with pytest.raises(ValueError, match="TRTPACE_CUDA_MAJOR must be one of \\[12, 13\\]"):
        backend.forced_major({"TRTPACE_CUDA_MAJOR": value})
    assert backend.forced_major({"TRTPACE_CUDA_MAJOR": " 12 "}) == 12
    assert backend.forced_major({}) is None


def test_driver_version_from_nvidia_smi(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_smi(tmp_path / "r535", "12.2")
    fake_smi(tmp_path / "broken", None)
    assert backend.driver_cuda_version(env_with(tmp_path / "r535")) == 12020
    assert backend.driver_cuda_version(env_with(tmp_path / "broken")) is None
    assert backend.driver_cuda_version(env_with(tmp_path / "none")) is None
    # libcuda's cuDriverGetVersion, where it loads, comes first
    monkeypatch.setattr(backend, "_libcuda_version", lambda: 13000)
    assert backend.driver_cuda_version(env_with(tmp_path / "r535")) == 13000


@pytest.mark.parametrize(
    ("smi", "forced", "major"),
    [
        ("12.2", None, 12),
        ("12.8", None, 12),
        ("13.0", None, 13),
        ("13.2", "12", 12),
        ("12.2", "13", 13),
        (None, None, 13),  # no driver (a build machine): CUDA 13
        ("14.0", None, 13),  # a newer driver runs a CUDA 13 build
        ("11.8", None, 12),  # an older one cannot run any; the CUDA 12 message says what to do
    ],
)
def test_wanted_major_follows_the_driver(tmp_path: Path, smi: str | None, forced: str | None, major: int) -> None:
    if smi is not None:
        fake_smi(tmp_path / "bin", smi)
    env = env_with(tmp_path / "bin", **({"TRTPACE_CUDA_MAJOR": forced} if forced else {}))
    assert backend.wanted_major(env) == major


def test_cuda_12_driver_without_a_toolkit_is_one_clear_error(tmp_path: Path) -> None:
    fake_smi(tmp_path / "bin", "12.2")
    env = env_with(tmp_path / "bin")
    assert backend.choice(env) == "pypi"
    with pytest.raises(
        RuntimeError,
        match="a CUDA 12 build is wanted .* no local CUDA 12.4[+] toolkit was found; "
        "PyPI has no CUDA 12 compiler to download .* TRTPACE_CUDA_MAJOR=13",
    ):
        backend.pypi_requirements(env)
    assert backend.pypi_requirements({**env, "TRTPACE_CUDA_MAJOR": "13"}) == backend.PYPI_TOOLKIT
    fake_smi(tmp_path / "r580", "13.0")
    assert backend.pypi_requirements(env_with(tmp_path / "r580")) == backend.PYPI_TOOLKIT


def test_the_build_hooks_stop_on_a_cuda_12_driver_without_a_toolkit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_smi(tmp_path / "bin", "12.4")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    for var in ("CUDA_HOME", "CUDA_PATH", "CUDACXX", "CMAKE_ARGS", "TRTPACE_CUDA"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(RuntimeError, match="a CUDA 12 build is wanted"):
        backend._extra_requires(None)
    with pytest.raises(RuntimeError, match="a CUDA 12 build is wanted"):
        backend._with_toolkit(None)
    monkeypatch.setenv("TRTPACE_CUDA_MAJOR", "13")
    assert backend._extra_requires(None) == backend.PYPI_TOOLKIT


def test_a_toolkit_newer_than_the_driver_is_used_with_a_warning(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    nvcc = fake_nvcc(tmp_path / "bin", "13.0")
    fake_smi(tmp_path / "bin", "12.2")
    assert backend.local_nvcc(env_with(tmp_path / "bin")) == str(nvcc)
    assert "is CUDA 13.0 but the driver supports CUDA 12.2: this build will not run here" in capfd.readouterr().err


# ---- the CUDA major in the version -------------------------------------------------------


@pytest.mark.parametrize(
    ("version", "major", "labelled"),
    [
        ("0.1.0", 12, "0.1.0+cu12"),
        ("0.1.0", 13, "0.1.0+cu13"),
        ("0.1.0+g1234", 13, "0.1.0+g1234.cu13"),
        ("0.1.0", None, "0.1.0"),
    ],
)
def test_the_cuda_major_is_the_versions_local_label(version: str, major: int | None, labelled: str) -> None:
    assert backend.cuda_label(version, major) == labelled


def _wheel(folder: Path) -> Path:
    """A small wheel laid out as scikit-build-core writes trtpace's: a package, a dist-info with
    METADATA, WHEEL, an entry point and RECORD, one executable file."""
    import zipfile

    path = folder / "trtpace-0.1.0-cp311-cp311-linux_x86_64.whl"
    files = {
        "trtpace/__init__.py": b"x = 1\n",
        "trtpace/_core.so": b"\x7fELF" + bytes(100),
        "trtpace-0.1.0.dist-info/METADATA": b"Metadata-Version: 2.2\nName: trtpace\nVersion: 0.1.0\nSummary: s\n",
        "trtpace-0.1.0.dist-info/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: false\n",
        "trtpace-0.1.0.dist-info/entry_points.txt": b"[console_scripts]\ntrtpace = trtpace.cli:main\n",
    }
    with zipfile.ZipFile(path, "w") as z:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, (2026, 12, 3, 0, 0, 0))
            info.external_attr = (0o755 if name.endswith(".so") else 0o644) << 16
            z.writestr(info, data)
        z.writestr("trtpace-0.1.0.dist-info/RECORD", "".join(f"{n},,\n" for n in [*files, "RECORD"]))
    return path


def test_a_built_wheel_is_relabelled_whole(tmp_path: Path) -> None:
    import base64
    import hashlib
    import zipfile

    out = backend.relabel_wheel(_wheel(tmp_path), 12)
    assert out.name == "trtpace-0.1.0+cu12-cp311-cp311-linux_x86_64.whl"
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # the plain one is gone
    with zipfile.ZipFile(out) as z:
        names = z.namelist()
        assert not [n for n in names if n.startswith("trtpace-0.1.0.dist-info/")]
        meta = z.read("trtpace-0.1.0+cu12.dist-info/METADATA").decode()
        assert "\nVersion: 0.1.0+cu12\n" in meta and "Name: trtpace" in meta
        assert z.read("trtpace/_core.so") == b"\x7fELF" + bytes(100)
        assert (z.getinfo("trtpace/_core.so").external_attr >> 16) & 0o777 == 0o755
        rows = [r.split(",") for r in z.read("trtpace-0.1.0+cu12.dist-info/RECORD").decode().splitlines()]
        assert {r[0] for r in rows} == set(names)
        for path, digest, size in rows:
            if path.endswith("RECORD"):
                assert digest == size == ""
                continue
            data = z.read(path)
            want = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
            assert (digest, int(size)) == (f"sha256={want}", len(data)), path


def test_a_wheel_of_unknown_cuda_is_left_as_it_is(tmp_path: Path) -> None:
    wheel = _wheel(tmp_path)
    before = wheel.read_bytes()
    assert backend.relabel_wheel(wheel, None) == wheel and wheel.read_bytes() == before


def test_prepared_metadata_carries_the_same_label(tmp_path: Path) -> None:
    info = tmp_path / "trtpace-0.1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.2\nName: trtpace\nVersion: 0.1.0\n")
    assert backend.relabel_metadata_dir(str(tmp_path), info.name, 13) == "trtpace-0.1.0+cu13.dist-info"
    assert (tmp_path / "trtpace-0.1.0+cu13.dist-info" / "METADATA").read_text().endswith("Version: 0.1.0+cu13\n")
    assert not info.exists()


def test_the_built_major_follows_the_compiler_chosen(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_nvcc(tmp_path / "bin", "12.4")
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    monkeypatch.delenv("CUDACXX", raising=False)
    monkeypatch.delenv("CUDA_HOME", raising=False)
    monkeypatch.delenv("CUDA_PATH", raising=False)
    monkeypatch.delenv("TRTPACE_CUDA", raising=False)
    assert backend.built_major() == 12  # the local toolkit
    monkeypatch.setenv("TRTPACE_CUDA", "pypi")
    assert backend.built_major() == backend.CUDA_MAJOR  # the wheels' compiler
    monkeypatch.delenv("TRTPACE_CUDA")
    given = fake_nvcc(tmp_path / "other", "13.1")
    assert backend.built_major({"cmake.define.CMAKE_CUDA_COMPILER": str(given)}) == 13  # the user's
