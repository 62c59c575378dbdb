"""A fleet: several results folders of the same sweep (or compare), each measured on its own
machine and collected with ordinary tools (rsync, scp), merged into one comparison.

Each folder is one machine, named by its host and GPU ("vm / NVIDIA H100 80GB HBM3"); machines
that would share a name get their folder's name (then its path) added. Conditions are matched
across machines on workload, pacing, policy, launch path, host I/O, clocks and gap work; a condition
measured twice in one folder (an --append of the same condition, a compare's rounds) is matched
by its occurrence: the first with the first, the second with the second. A condition not
measured on every machine stays in the comparison and says on which machines it was.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trtpace.errors import InputError, UsageError
from trtpace.results.condition import ConditionResult
from trtpace.results.policies import recommend, summarize_policies
from trtpace.results.reader import damaged_conditions, load
from trtpace.results.result import SweepResult

Key = tuple[Any, ...]


def machine_name(environment: dict[str, Any]) -> str:
    """The host and the GPU a folder was measured on, as its environment recorded them."""
    gpu = environment.get("gpu")
    gpu_name = gpu.get("name") if isinstance(gpu, dict) else None
    return f"{environment.get('host') or 'unknown host'} / {gpu_name or 'no GPU'}"


def row_key(row: dict[str, Any]) -> Key:
    """What makes two conditions (rows of SweepResult.rows()) the same measurement on two machines."""
    return (
        row["workload"],
        row["pacing"]["label"],
        row.get("policy", ""),
        row.get("launch", ""),
        row.get("io", "none"),
        row.get("clocks", "default"),
        row.get("gap_work", "none"),
    )


def key_label(key: Key) -> str:
    """A matched condition in words: "tiny, gap 0.1 s [graph]" (a sweep's) or "host:us=10, gap
    0.001 s: spin" (a compare policy's); "(2nd)" and so on for a repeat within one folder."""
    *fields, occurrence = key
    if len(fields) == 5:  # a compare policy: workload, gap, policy, launch, gap work
        workload, gap_s, policy, launch, work = fields
        gap = f"{gap_s:g}" if isinstance(gap_s, (int, float)) else "?"
        extra = [x for x in (launch, "" if work == "none" else f"gap work {work}") if x]
        text = f"{workload}, gap {gap} s: {policy}" + (f" [{', '.join(extra)}]" if extra else "")
    else:
        workload, pacing, policy, launch, io, clocks, work = fields
        extra = [
            x
            for x in (
                policy,
                launch,
                "" if io == "none" else f"io {io}",
                "" if clocks == "default" else clocks,
                "" if work == "none" else f"gap work {work}",
            )
            if x
        ]
        text = f"{workload}, {pacing}" + (f" [{', '.join(extra)}]" if extra else "")
    return text + (f" (repeat {occurrence})" if occurrence > 1 else "")


@dataclass
class Machine:
    """One results folder of the fleet."""

    name: str
    folder: Path
    result: SweepResult

    @property
    def environment(self) -> dict[str, Any]:
        return self.result.environment


@dataclass
class Fleet:
    """The machines of a fleet, all sweeps or all compares, in the order given."""

    machines: list[Machine]
    # rows() and policy_rows() bootstrap intervals for every condition: computed once
    _cache: dict[str, list[dict[str, Any]]] = field(default_factory=dict, init=False, repr=False)

    @property
    def command(self) -> str:
        return _command(self.machines[0].result)

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.machines]

    def rows(self) -> list[dict[str, Any]]:
        """Every machine's condition rows, grouped by matched condition (in the order first
        measured), machines in the order given. Each row adds "machine", "on_machines" (the
        machines that measured this condition) and "machines_total"."""
        if "rows" not in self._cache:
            self._cache["rows"] = self._merge([(m.name, m.result.rows()) for m in self.machines], row_key)
        return self._cache["rows"]

    def policy_rows(self) -> list[dict[str, Any]]:
        """A compare fleet: each machine's pooled policy summaries ("summary"), matched on the
        compare's workload and gap, the policy and its launch path, with the fields of rows()."""
        if "policies" in self._cache:
            return self._cache["policies"]
        per = []
        for m in self.machines:
            s = m.result.settings
            per.append(
                (
                    m.name,
                    [
                        {"summary": p, "workload": str(s.get("workload", "")), "gap_s": s.get("gap_s")}
                        for p in summarize_policies(m.result)
                    ],
                )
            )
        self._cache["policies"] = self._merge(
            per, lambda r: (r["workload"], r["gap_s"], r["summary"].policy, r["summary"].launch, r["summary"].gap_work)
        )
        return self._cache["policies"]

    def recommendations(self) -> dict[str, dict[str, Any] | None]:
        return {m.name: recommend(summarize_policies(m.result)) for m in self.machines}

    def only_on_some(self) -> list[dict[str, Any]]:
        """The matched conditions that some machines lack: which machines have them, which not."""
        out, seen = [], set()
        for row in self.policy_rows() if self.command == "compare" else self.rows():
            key = row["match"]
            if key in seen or len(row["on_machines"]) == len(self.machines):
                continue
            seen.add(key)
            out.append(
                {
                    "condition": key_label(key),
                    "on_machines": row["on_machines"],
                    "missing_on": [n for n in self.names if n not in row["on_machines"]],
                }
            )
        return out

    def damaged(self) -> list[tuple[Machine, int, ConditionResult]]:
        """Conditions that loaded without records (lost or corrupt), per machine."""
        return [(m, i, c) for m in self.machines for i, c in damaged_conditions(m.result)]

    def _merge(self, per_machine: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], key: Any) -> list[dict[str, Any]]:
        groups: dict[Key, list[dict[str, Any]]] = {}
        for name, rows in per_machine:
            seen: dict[Key, int] = {}
            for row in rows:
                k = key(row)
                seen[k] = seen.get(k, 0) + 1
                groups.setdefault((*k, seen[k]), []).append({**row, "machine": name})
        out = []
        for k, rows in groups.items():
            on = [r["machine"] for r in rows]
            for r in rows:
                r.update(on_machines=on, machines_total=len(self.machines), match=k)
                out.append(r)
        return out

    def to_json(self) -> dict[str, Any]:
        """The merged comparison, as `trtpace report A B ... --json` prints it."""
        doc: dict[str, Any] = {
            "command": self.command,
            "machines": [
                {"name": m.name, "folder": str(m.folder), "environment": m.environment, "settings": m.result.settings}
                for m in self.machines
            ],
        }
        if self.command == "compare":
            doc["policies"] = [
                {**{k: v for k, v in r.items() if k not in ("summary", "match")}, **r["summary"].to_json()}
                for r in self.policy_rows()
            ]
            doc["recommendations"] = self.recommendations()
        else:
            doc["conditions"] = [{k: v for k, v in r.items() if k != "match"} for r in self.rows()]
            doc["launch_switches"] = {m.name: m.result.launch_switches() for m in self.machines}
        doc["only_on_some"] = self.only_on_some()
        return doc


def _command(result: SweepResult) -> str:
    return "compare" if result.settings.get("command") == "compare" else "sweep"


def _unique_names(folders: list[Path], results: list[SweepResult]) -> list[str]:
    """host / GPU, then with the folder's name, then with its path where those are still alike."""
    names = [machine_name(r.environment) for r in results]
    for extra in (lambda f: f.name or str(f), str):
        counts = {n: names.count(n) for n in names}
        if all(v == 1 for v in counts.values()):
            break
        names = [f"{n} [{extra(f)}]" if counts[n] > 1 else n for n, f in zip(names, folders, strict=True)]
    return names


def load_fleet(folders: list[Path]) -> Fleet:
    """Loads two or more results folders as a fleet.

    A folder that is not a results folder, or one of a format this trtpace cannot read, raises
    InputError naming it; the same folder twice, or sweeps mixed with compares, likewise."""
    if len(folders) < 2:
        raise UsageError("a fleet needs two or more results folders")
    seen: dict[Path, Path] = {}
    for f in folders:
        real = f.resolve()
        if real in seen:
            raise UsageError(f"{f} is given twice (as {seen[real]} too): name each machine's folder once")
        seen[real] = f
    results = []
    for f in folders:
        if not f.is_dir():
            raise InputError(f"{f} is not a results folder ({'it is a file' if f.exists() else 'it does not exist'})")
        results.append(load(f))  # names the folder in every error it raises
    kinds = [_command(r) for r in results]
    if len(set(kinds)) > 1:
        compares = [str(f) for f, k in zip(folders, kinds, strict=True) if k == "compare"]
        sweeps = [str(f) for f, k in zip(folders, kinds, strict=True) if k == "sweep"]
        raise InputError(
            f"cannot merge sweeps ({', '.join(sweeps)}) with compares ({', '.join(compares)}): "
            "report all sweeps or all compares together"
        )
    names = _unique_names(folders, results)
    return Fleet([Machine(n, f, r) for n, f, r in zip(names, folders, results, strict=True)])


def check_outside(flag: str, path: Path, folders: list[Path]) -> None:
    """A fleet's output never goes into one machine's results folder (it would read as that
    machine's own): UsageError, one line, when `path` is inside (or is) any of `folders`."""
    target = path.resolve()
    for f in folders:
        if target.is_relative_to(f.resolve()):
            raise UsageError(
                f"{flag} {path} is inside the results folder {f}: write a fleet's output outside every input folder"
            )
