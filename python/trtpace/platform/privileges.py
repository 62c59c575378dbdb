"""Whether this process may change GPU clocks."""

from __future__ import annotations

import os
from pathlib import Path

_CAP_SYS_ADMIN = 21


def may_change_clocks() -> tuple[bool, str]:
    """Whether this process may lock clocks: root, or CAP_SYS_ADMIN in its effective set."""
    if os.geteuid() == 0:
        return True, "running as root"
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("CapEff:") and int(line.split()[1], 16) >> _CAP_SYS_ADMIN & 1:
                return True, "has CAP_SYS_ADMIN"
    except OSError:
        pass
    return False, "not root and no CAP_SYS_ADMIN (use sudo)"
