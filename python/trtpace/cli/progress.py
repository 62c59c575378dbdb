"""The one progress line of `sweep` and `compare`: the condition running, how many of the planned
conditions are done, a bar, the time elapsed and an estimate of the time left.

A closed-loop condition's duration is known before it runs but for the inference itself:
(warm-up + iterations) x (gap + time per inference). The time per inference (everything beyond
the gap: the inference, its wake-up, the gap work) is measured on each finished condition of the
same workload, and on the running one as it goes; an open-loop condition takes its schedule's
span, or longer where inferences cannot keep up. Drawn on stderr, transient (it is gone when the
run ends), and only where stdout and stderr are terminals (never with --json or --quiet)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from trtpace.measure.pacing import Pacing
from trtpace.results import ConditionResult


@dataclass(frozen=True)
class Planned:
    """One condition a run will start, in order: its pacing, its inferences (warm-up included)
    and the workload it runs (`group`: conditions of one group share a time per inference)."""

    pacing: Pacing
    count: int
    group: str = ""


def interval_s(p: Pacing) -> float:
    """Seconds between inferences that the pacing itself sets (the gap, the period)."""
    if p.kind == "gap":
        return p.gap_s
    if p.kind == "period" and p.period_s:
        return p.period_s
    if p.kind == "poisson" and p.rate_hz:
        return 1.0 / p.rate_hz
    if p.kind == "trace" and len(p.trace_offsets_ns) > 1:
        return (p.trace_offsets_ns[-1] - p.trace_offsets_ns[0]) / 1e9 / (len(p.trace_offsets_ns) - 1)
    return 0.0


def expected_s(planned: Planned, per_inference_s: float) -> float:
    """A condition's expected duration, given the time per inference beyond the pacing."""
    if planned.pacing.kind == "gap":
        return planned.count * (planned.pacing.gap_s + per_inference_s)
    return planned.count * max(interval_s(planned.pacing), per_inference_s)


def clock(seconds: float) -> str:
    """0:01:05"""
    s = max(0, round(seconds))
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


class OverallProgress:
    """A run's progress reports (trtpace.run.session.Progress) drawn as one transient line.

    `plan` lists the conditions the run will report, in order (more are taken as they come);
    `scale` stretches the estimate where the run also spends time that is not reported (the other
    GPUs' alone passes of a multi-GPU run, reported by their own workers only). `now`: the clock,
    in seconds."""

    def __init__(
        self, console: Console, plan: list[Planned], scale: float = 1.0, now: Callable[[], float] = time.monotonic
    ):
        self.plan = list(plan)
        self.scale = scale
        self.now = now
        self.bars = Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            TextColumn("{task.fields[conditions]}"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[left]}"),
            console=console,
            transient=True,
        )
        self.task: TaskID | None = None
        self.index = -1  # the running condition's place in the plan
        self.started = 0.0  # when it started (monotonic seconds)
        self.completed = 0  # its inferences done so far
        self.per_inference: dict[str, float] = {}  # measured seconds per inference beyond the pacing, per group
        self.last_per_inference: float | None = None

    def __enter__(self) -> OverallProgress:
        self.bars.start()
        self.task = self.bars.add_task(
            "starting", total=max(1, sum(p.count for p in self.plan)), conditions=self._conditions(), left=""
        )
        return self

    def __exit__(self, *exc: object) -> None:
        self.bars.stop()

    # trtpace.run.session.Progress
    def calibrating(self, workload: str) -> None:
        self._update(f"calibrating {workload}")

    def condition_started(self, workload: str, p: Pacing, total: int) -> None:
        self.index += 1
        while self.index >= len(self.plan):  # a condition the plan did not know of
            self.plan.append(Planned(p, total, self.plan[-1].group if self.plan else workload))
        if self.plan[self.index].count != total:
            self.plan[self.index] = Planned(p, total, self.plan[self.index].group)
        self.started, self.completed = self.now(), 0
        self._update(f"{workload}, {p.label}")

    def advanced(self, completed: int, total: int) -> None:
        self.completed = completed
        self._update()

    def condition_finished(self, condition: ConditionResult) -> None:
        if 0 <= self.index < len(self.plan) and condition.count > 0:
            planned = self.plan[self.index]
            per = (self.now() - self.started) / condition.count
            if planned.pacing.kind == "gap":
                per = max(0.0, per - planned.pacing.gap_s)
            elif per <= interval_s(planned.pacing) * 1.05:  # open loop keeping up: says nothing more
                per = self.per_inference.get(planned.group, 0.0)
            self.per_inference[planned.group] = self.last_per_inference = per
        self.completed = condition.count
        self._update()

    # the estimate
    def _per_inference(self, group: str) -> float:
        return self.per_inference.get(group, self.last_per_inference or 0.0)

    def left_s(self) -> float:
        """Seconds left: the running condition at its own pace so far, the rest as planned."""
        left = 0.0
        if 0 <= self.index < len(self.plan):
            now = self.plan[self.index]
            if self.completed > 0:
                rate = (self.now() - self.started) / self.completed
                left += max(0, now.count - self.completed) * rate
            else:
                left += expected_s(now, self._per_inference(now.group))
        for p in self.plan[self.index + 1 :]:
            left += expected_s(p, self._per_inference(p.group))
        return left * self.scale

    def _conditions(self) -> str:
        return f"{self.index + 1}/{len(self.plan)}"

    def _update(self, description: str | None = None) -> None:
        if self.task is None:
            return
        done = sum(p.count for p in self.plan[: max(0, self.index)]) + (self.completed if self.index >= 0 else 0)
        left = self.left_s()
        self.bars.update(
            self.task,
            description=description,
            total=max(1, sum(p.count for p in self.plan)),
            completed=done,
            conditions=self._conditions(),
            left=f"about {clock(left)} left" if math.isfinite(left) else "",
        )
