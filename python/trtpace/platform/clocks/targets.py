"""What a clock record may name as the thing to restore, and how its files are opened.

A record is text on disk, so trtpace (often root) must never let one steer a write: an NVIDIA
record names its GPU by PCI bus id (never a path), a Jetson record names a devfreq node directly
under the sysfs devfreq root the platform code reads (`<TRTPACE_SYSFS_ROOT or />/sys/class/devfreq`),
and the restore opens each of that node's attribute files without following a symlink in its last
step, never creating one, only a regular file with one link, after checking that the node resolves
inside that sysfs tree.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from pathlib import Path

# A PCI bus id as NVML gives it: domain (4 or 8 hex digits), bus, device, function.
PCI_BUS_ID = re.compile(r"[0-9A-Fa-f]{4,8}:[0-9A-Fa-f]{2}:[0-9A-Fa-f]{2}\.[0-7]")
_NODE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,254}")
# The devfreq attributes a Jetson lock changes and its restore writes back.
JETSON_ATTRIBUTES = ("max_freq", "min_freq", "governor", "device/railgate_enable")


class Refused(ValueError):
    """A record names something trtpace will not touch; the message says why."""


def sysfs_root() -> str:
    """Where sysfs is read and written (TRTPACE_SYSFS_ROOT lets tests use a fake tree)."""
    return os.environ.get("TRTPACE_SYSFS_ROOT", "/")


def devfreq_root() -> Path:
    """The devfreq class folder every Jetson record's node must sit directly in."""
    return Path(os.path.normpath((Path(sysfs_root()) / "sys" / "class" / "devfreq").absolute()))


def _sysfs_real() -> str:
    return os.path.realpath(Path(sysfs_root()) / "sys")


def check_pci_bus_id(key: str) -> None:
    if not PCI_BUS_ID.fullmatch(key):
        raise Refused(f"{key[:80]!r} is not a PCI bus id")


def check_devfreq_node(text: str) -> Path:
    """The node a Jetson record names, checked by its text: an absolute, normalised path directly
    under devfreq_root(). Raises Refused."""
    path = Path(text)
    if not path.is_absolute() or os.path.normpath(text) != text:
        raise Refused(f"devfreq node {text[:120]!r} is not a plain absolute path")
    if path.parent != devfreq_root() or not _NODE_NAME.fullmatch(path.name):
        raise Refused(f"{text[:120]!r} is not a devfreq node under {devfreq_root()}")
    return path


def _inside_sysfs(real: str, what: str) -> None:
    top = _sysfs_real()
    if os.path.commonpath([real, top]) != top:
        raise Refused(f"{what} resolves to {real}, outside {top}")


def _fd_path(fd: int, fallback: Path) -> str:
    """The real path of an open folder (/proc says what was opened, not what the name means now)."""
    try:
        return os.readlink(f"/proc/self/fd/{fd}")  # noqa: PTH115 (an fd's link, not a Path)
    except OSError:
        return os.path.realpath(fallback)


def check_devfreq_target(text: str) -> Path:
    """check_devfreq_node, and the node (where it exists) resolves inside the sysfs tree."""
    path = check_devfreq_node(text)
    if path.exists():
        _inside_sysfs(os.path.realpath(path), f"devfreq node {path}")
    return path


def open_attribute(node: Path, name: str) -> int:
    """An fd open for writing (not truncated yet) on the attribute `name` of the devfreq node `node`
    (Refused, or OSError as open gives it): never through a symlink in the last step, never a file
    it creates, only a regular file with one link inside the sysfs tree."""
    if name not in JETSON_ATTRIBUTES:
        raise Refused(f"{name!r} is not a devfreq attribute trtpace writes")
    check_devfreq_node(str(node))
    parts = name.split("/")
    dfd = os.open(node, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _inside_sysfs(_fd_path(dfd, node), f"devfreq node {node}")
        where = node
        for part in parts[:-1]:  # the node's `device` link: a symlink within sysfs on a real Jetson
            where = where / part
            nfd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=dfd)
            os.close(dfd)
            dfd = nfd
            _inside_sysfs(_fd_path(dfd, where), str(where))
        try:
            fd = os.open(parts[-1], os.O_WRONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dfd)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise Refused(f"{node / name} is a symbolic link") from None
            raise
    finally:
        os.close(dfd)
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode) or st.st_nlink != 1:
        os.close(fd)
        raise Refused(
            f"{node / name} is not a regular file"
            if not stat.S_ISREG(st.st_mode)
            else f"{node / name} has {st.st_nlink} hard links"
        )
    return fd
