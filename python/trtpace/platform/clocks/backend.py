"""What every way of locking clocks provides (as telemetry's `Source` is for reading them).

A backend is named in the `backend` field of the records it writes (state.py), and the registry
in `trtpace.platform.clocks` maps that name back to its class: a record is undone by its class's
`restore`, from the record alone (after a crash the process that locked is gone). An instance
stands for one lock request on one target: `key` is its record's key, `initial_record` what the
first owner writes before anything changes (the target, and what to restore), `apply` the change.
"""

from __future__ import annotations

from typing import ClassVar, Protocol

from trtpace.platform.clocks.state import ClockState


class ClockBackend(Protocol):
    name: ClassVar[str]
    """The records' `backend` field: nvml | nvidia-smi | jetson | jetson_clocks (state.BACKENDS)."""

    @property
    def key(self) -> str:
        """The record locked under: a PCI bus id, or jetson:<devfreq node>, or jetson:jetson_clocks."""
        ...

    def plan_lines(self) -> list[str]:
        """What apply() would do, for --dry-run; reads and validates what it needs, changes nothing."""
        ...

    def initial_record(self) -> ClockState:
        """The record the first owner writes before the clocks change: the target and what to restore.
        Called under the record's flock."""
        ...

    def apply(self, state: ClockState) -> None:
        """Locks as `state` says (written already); may set state.backend to the backend that did it
        (NVML refused, nvidia-smi took it): the caller then writes the record again."""
        ...

    @classmethod
    def restore(cls, state: ClockState) -> None:
        """Puts back what the record says the first owner found, confined to the real targets whatever
        the record says (state.py checked it when read; restore checks again). Raises ClockError."""
        ...
