"""How tests start the real `trtpace` command, as a user's shell does.

The console script that an install puts next to the interpreter, or `python -m trtpace` where the
environment has no scripts (CI's ordinary-user venv sees the installed package through a .pth).
Both run `trtpace.cli.main`, which names the program `trtpace` either way.
"""

import sys
from pathlib import Path

_SCRIPT = Path(sys.executable).with_name("trtpace")
TRTPACE: list[str] = [str(_SCRIPT)] if _SCRIPT.exists() else [sys.executable, "-m", "trtpace"]
