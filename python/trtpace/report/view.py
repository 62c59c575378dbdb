"""The one computed view of a sweep or a compare that every output renders: the terminal tables
(trtpace.cli.output), the HTML report (trtpace.report.html) and --json. Each number, label and
sentence a result shows is computed here, once: the rows per GPU group with their numbers, a
compare's recommendation, armed choice and switching lines, a sweep's launch-path switches,
attribution lines and verdicts, the gap line, the host CPU note and running together vs alone.
The renderers only lay them out."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from trtpace.results import ConditionRow, SweepResult
from trtpace.results.policies import PolicySummary, armed_choices, recommend, summarize_policies, switch_lines
from trtpace.results.verdict import Verdict, summary_line, sweep_verdicts


def gap_lines(result: SweepResult) -> list[str]:
    """What the app did in the gap (--gap-work), said once above the tables: "gap: decoded and
    preprocessed a 1280x720 JPEG before each inference (jpeg:1280x720); ..."; nothing where every
    gap was idle. Where appended runs differ, each gap work with its spec (the rows carry it)."""
    works = result.gap_works()
    if not any(w["spec"] != "none" for w in works):
        return []
    baseline = "the continuous rounds run" if result.settings.get("command") == "compare" else "the gap-0 baseline runs"
    if len(works) == 1:
        said = f"{works[0]['description']} ({works[0]['spec']})"
    else:
        said = "differs by condition: " + "; ".join(f"{w['spec']}: {w['description']}" for w in works)
    return [f"gap: {said}; {baseline} back to back without it"]


def attribution_lines(rows: list[ConditionRow]) -> list[str]:
    """One line per gap condition: how its p50 e2e grew over the continuous baseline, part by part."""
    return [row.attribution.line() for row in rows if row.attribution is not None]


def launch_lines(result: SweepResult) -> list[str]:
    """What an app on a Python launch path would gain by switching path, per workload and gap."""
    return [s["line"] for s in result.launch_switches()]


def host_cpu_note(result: SweepResult) -> str | None:
    """Said once where the machine hides the CPU's frequency and idle states (instead of zeros)."""
    host = result.environment.get("host_cpu") or {}
    return host.get("note") if any(r.launch in ("eager", "python", "replay") for r in result.conditions) else None


def group_title(label: str, mode: str) -> str:
    """A GPU group as titles say it: "gpu0, together"; "" for a run on one GPU."""
    return f"{label}, {mode}" if mode else label


def _parts(result: SweepResult) -> list[tuple[str, str, SweepResult]]:
    return [(label, mode, result.subset(label, mode) if label else result) for label, mode in result.gpu_groups()]


@dataclass(frozen=True)
class CompareGroup:
    """One GPU group of a compare (the whole run on one GPU): the policy rows and what is said
    under them."""

    label: str  # the GPU worker ("" on one GPU)
    mode: str  # together / alone ("" on one GPU)
    policies: tuple[PolicySummary, ...]  # the rows, in the compare's order
    recommendation: dict[str, Any] | None
    armed_choice: tuple[str, ...]  # what plain `armed` chose and why
    switching: tuple[str, ...]  # what the plain run becomes on another launch path

    @property
    def title(self) -> str:
        return group_title(self.label, self.mode)

    def to_json(self) -> dict[str, Any]:
        return {
            "gpu": self.label,
            "gpu_mode": self.mode,
            "policies": [s.to_json() for s in self.policies],
            "recommendation": self.recommendation,
            "armed_choice": list(self.armed_choice),
            "switching": list(self.switching),
        }


@dataclass(frozen=True)
class CompareView:
    environment: dict[str, Any]
    settings: dict[str, Any]
    gap_lines: tuple[str, ...]
    groups: tuple[CompareGroup, ...]
    together: tuple[dict[str, Any], ...]  # running together vs alone (multi-GPU runs)

    @property
    def multi_gpu(self) -> bool:
        return len(self.groups) > 1 or bool(self.groups[0].label)

    def to_json(self) -> dict[str, Any]:
        """The --json document: one GPU's policies at the top level, or one entry per GPU group."""
        head = {"environment": self.environment, "settings": self.settings}
        if self.multi_gpu:
            return {**head, "gpus": [g.to_json() for g in self.groups], "together_vs_alone": list(self.together)}
        return {**head, **{k: v for k, v in self.groups[0].to_json().items() if not k.startswith("gpu")}}


def compare_view(result: SweepResult) -> CompareView:
    groups = []
    for label, mode, part in _parts(result):
        summaries = summarize_policies(part)
        groups.append(
            CompareGroup(
                label=label,
                mode=mode,
                policies=tuple(summaries),
                recommendation=recommend(summaries),
                armed_choice=tuple(armed_choices(part)),
                switching=tuple(switch_lines(summaries, result.settings.get("plain_policy"))),
            )
        )
    return CompareView(
        environment=result.environment,
        settings=result.settings,
        gap_lines=tuple(gap_lines(result)),
        groups=tuple(groups),
        together=tuple(result.together_vs_alone()),
    )


@dataclass(frozen=True)
class SweepGroup:
    """One GPU group of a sweep (the whole run on one GPU): its condition rows and the lines
    said under its tables."""

    label: str
    mode: str
    rows: tuple[ConditionRow, ...]  # one per condition, numbers and labels (SweepResult.rows)
    launch_lines: tuple[str, ...]
    attribution_lines: tuple[str, ...]

    @property
    def title(self) -> str:
        return group_title(self.label, self.mode)


@dataclass(frozen=True)
class SweepView:
    environment: dict[str, Any]
    warnings: tuple[str, ...]  # the run's environment warnings (clock state)
    gap_lines: tuple[str, ...]
    groups: tuple[SweepGroup, ...]
    rows: tuple[ConditionRow, ...]  # every condition's row, grouped by GPU (the report's one table)
    launch_lines: tuple[str, ...]  # over the whole run
    together: tuple[dict[str, Any], ...]
    host_note: str | None
    verdicts: tuple[Verdict, ...]
    summary: str  # the one verdict sentence for the whole run

    @property
    def attribution_lines(self) -> list[str]:
        return attribution_lines(list(self.rows))

    def verdict_json(self) -> dict[str, Any]:
        """The verdicts as --json carries them (trtpace.results.verdict.verdicts_json)."""
        return {"summary": self.summary, "workloads": [v.to_json() for v in self.verdicts]}


def sweep_view(result: SweepResult) -> SweepView:
    groups = []
    for label, mode, part in _parts(result):
        rows = part.rows()
        groups.append(SweepGroup(label, mode, tuple(rows), tuple(launch_lines(part)), tuple(attribution_lines(rows))))
    if len(groups) == 1 and not groups[0].label:
        rows = list(groups[0].rows)  # one GPU: the group is the whole run
    else:  # a multi-GPU run: rows grouped by GPU, then together before alone
        order = {(g.label, g.mode): i for i, g in enumerate(groups)}
        rows = sorted(
            result.rows(),
            key=lambda r: order.get((r.condition.gpu_label, r.condition.gpu_mode), 0),
        )
    verdicts = sweep_verdicts(result)
    return SweepView(
        environment=result.environment,
        warnings=tuple(result.environment.get("warnings", [])),
        gap_lines=tuple(gap_lines(result)),
        groups=tuple(groups),
        rows=tuple(rows),
        launch_lines=tuple(launch_lines(result)),
        together=tuple(result.together_vs_alone()),
        host_note=host_cpu_note(result),
        verdicts=tuple(verdicts),
        summary=summary_line(verdicts, result.environment),
    )


__all__ = [
    "CompareGroup",
    "CompareView",
    "SweepGroup",
    "SweepView",
    "attribution_lines",
    "compare_view",
    "gap_lines",
    "group_title",
    "host_cpu_note",
    "launch_lines",
    "sweep_view",
]
