"""Per-inference callbacks of Pacer and KeepWarm, and the Prometheus exporter (trtpace.metrics),
scraped by a real Prometheus server. Host workloads: the real C++ paced runner, no GPU."""

from __future__ import annotations

import json
import math
import shutil
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

import trtpace
from trtpace import _core
from trtpace.embed import metrics as metrics_mod
from trtpace.embed import remedies
from trtpace.errors import UsageError
from trtpace.measure import workloads

WORKLOAD = "host:us=20"


def prometheus_client_or_skip() -> Any:
    return pytest.importorskip(
        "prometheus_client", reason='prometheus_client is missing: pip install "trtpace[metrics]"'
    )


def fresh_metrics() -> metrics_mod.Metrics:
    """Metrics in a registry of their own (the default one is process-wide)."""
    prom = prometheus_client_or_skip()
    return metrics_mod.Metrics(registry=prom.CollectorRegistry())


def sample(m: metrics_mod.Metrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, {"workload": WORKLOAD, "gpu": "none", **labels})


def test_on_inference_gets_every_record_complete_and_in_order() -> None:
    seen: list[dict[str, Any]] = []
    with trtpace.Pacer(workloads.host(20), on_inference=lambda r: seen.append(dict(r))) as pacer:
        c = pacer.run(12, gap_s=0.0002, warmup=3)
        assert len(seen) == 15  # warm-up included, delivered after the loop
        assert [r["issue_ns"] for r in seen] == c.records["issue_ns"].tolist()
        assert [r["done_ns"] for r in seen] == c.records["done_ns"].tolist()
        first = pacer.infer()
        assert len(seen) == 15  # completed (device times read) before the next inference, not yet
        second = pacer.infer()
        assert len(seen) == 16 and seen[-1]["issue_ns"] == first["issue_ns"]
        assert seen[-1]["device_us"] >= 20  # the host work's own time, read before the callback
        assert seen[-1]["done_ns"] < second["issue_ns"]  # the callback ran before the next issue
    assert len(seen) == 17 and seen[-1]["issue_ns"] == second["issue_ns"]  # close() hands over the last one


def test_a_raising_callback_comes_out_of_the_next_call_before_its_inference() -> None:
    calls: list[int] = []

    def boom(record: remedies.InferenceRecord) -> None:
        calls.append(record["issue_ns"])
        raise RuntimeError("callback failed")

    pacer = trtpace.Pacer(workloads.host(10), on_inference=boom)
    try:
        pacer.infer()
        before = _core.now_ns()
        with pytest.raises(RuntimeError, match="callback failed"):
            pacer.infer()  # raised before this call's inference: no record of it
        assert len(calls) == 1
        pacer.on_inference = None
        rec = pacer.infer()  # the failed record is not offered again; the Pacer still works
        assert rec["issue_ns"] > before and len(calls) == 1
    finally:
        pacer.on_inference = boom
        with pytest.raises(RuntimeError, match="callback failed"):
            pacer.close()  # closes first, then raises
    with pytest.raises(UsageError, match="closed"):
        pacer.infer()


def test_keepwarm_on_inference_times_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    # The thread is never started: its pause/resume return at once and no CUDA call is made.
    monkeypatch.setattr(remedies.device, "require_gpu", lambda gpu: None)
    m = fresh_metrics()
    seen: list[dict[str, int]] = []
    kw = trtpace.KeepWarm(period_ms=1, work_us=5, gpu=0, on_inference=seen.append, metrics=m)
    with kw.inference():
        t = _core.now_ns()
        while _core.now_ns() - t < 200_000:
            pass
    with pytest.raises(ValueError, match="app"), kw.inference():
        raise ValueError("app failed")  # a failed body is not recorded
    assert len(seen) == 1 and seen[0]["done_ns"] - seen[0]["issue_ns"] >= 200_000
    labels = {"workload": "keepwarm", "gpu": "0"}
    assert m.registry.get_sample_value("trtpace_e2e_seconds_count", labels) == 1
    assert m.registry.get_sample_value("trtpace_e2e_seconds_sum", labels) >= 200e-6
    assert m.registry.get_sample_value("trtpace_keepwarm_fires_total", labels) == 0
    del kw  # its thread's last count is kept when it goes
    assert m.registry.get_sample_value("trtpace_keepwarm_fires_total", labels) == 0


class FakeThread:
    """Stands in for a C++ filler thread's `fired` count."""

    def __init__(self) -> None:
        self.fired = 0


class Owner:
    pass


def test_fires_are_read_at_each_scrape_and_kept_when_their_owner_goes() -> None:
    m = fresh_metrics()
    r = m.bind(WORKLOAD, -1)
    owner, thread = Owner(), FakeThread()
    r.watch_fires(owner, thread)
    assert sample(m, "trtpace_keepwarm_fires_total") == 0
    thread.fired = 7
    assert sample(m, "trtpace_keepwarm_fires_total") == 7  # read live, at the scrape
    r.fires(5)  # Pacer.run's fillers, added once
    thread.fired = 9
    assert sample(m, "trtpace_keepwarm_fires_total") == 14
    del owner  # its last count is kept, and the thread no longer read
    thread.fired = 100
    assert sample(m, "trtpace_keepwarm_fires_total") == 14


@pytest.mark.gpu
def test_an_armed_pacer_counts_releases_cancels_and_timeouts() -> None:
    m = fresh_metrics()
    w = workloads.build("synthetic:us=5,kernels=2", gpu=0)
    labels = {"workload": w.name, "gpu": "0"}
    with trtpace.Pacer(w, armed="kernel", metrics=m) as pacer:
        for _ in range(3):
            pacer.arm()
            pacer.release()
            pacer.wait()
        pacer.arm()
        with pytest.raises(trtpace.WaitTimeoutError):
            pacer.wait(timeout=0.05)  # never released
        pacer.cancel()
        pacer.infer()  # arms, releases and waits: the fourth release
    got = {
        name: m.registry.get_sample_value(name, labels)
        for name in (
            "trtpace_releases_total",
            "trtpace_cancels_total",
            "trtpace_timeouts_total",
            "trtpace_e2e_seconds_count",
            "trtpace_device_seconds_count",
        )
    }
    assert got == {
        "trtpace_releases_total": 4,
        "trtpace_cancels_total": 1,
        "trtpace_timeouts_total": 1,
        "trtpace_e2e_seconds_count": 4,
        "trtpace_device_seconds_count": 4,
    }


def test_metrics_count_every_inference_of_a_pacer() -> None:
    m = fresh_metrics()
    with trtpace.Pacer(workloads.host(20), metrics=m) as pacer:
        pacer.run(20, gap_s=0.0001, warmup=2)
        for _ in range(4):
            pacer.infer()
    for name in ("trtpace_e2e_seconds_count", "trtpace_submit_seconds_count", "trtpace_device_seconds_count"):
        assert sample(m, name) == 26
    assert sample(m, "trtpace_device_seconds_sum") >= 26 * 20e-6
    assert sample(m, "trtpace_e2e_seconds_sum") >= sample(m, "trtpace_device_seconds_sum") * 0.99
    # the slowest bucket holds them all; host work of 20 us is never under 5 us
    assert sample(m, "trtpace_device_seconds_bucket", le="+Inf") == 26
    assert sample(m, "trtpace_device_seconds_bucket", le="5e-06") == 0
    for name in (
        "trtpace_releases_total",
        "trtpace_cancels_total",
        "trtpace_timeouts_total",
        "trtpace_keepwarm_fires_total",
    ):
        assert sample(m, name) == 0  # present from the start, nothing armed on the host


def test_metrics_argument_is_checked_and_a_missing_client_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(UsageError, match="metrics takes"):
        trtpace.Pacer(workloads.host(5), metrics="yes")  # type: ignore[arg-type]
    monkeypatch.setitem(sys.modules, "prometheus_client", None)  # import fails as if not installed
    with pytest.raises(UsageError, match=r'pip install "trtpace\[metrics\]"'):
        metrics_mod.Metrics()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def query(base: str, promql: str) -> list[dict[str, Any]]:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def wait_for(what: str, check: Any, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 60) -> Any:
    """Polls check() until it returns something truthy; fails with Prometheus's log after timeout_s."""
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if proc.poll() is not None:
            pytest.fail(
                f"prometheus exited with {proc.returncode} while waiting for {what}:\n{log.read_text()[-3000:]}"
            )
        try:
            got = check()
        except OSError:  # not listening yet
            got = None
        if got:
            return got
        time.sleep(0.25)
    pytest.fail(f"{what} did not appear within {timeout_s} s; prometheus log:\n{log.read_text()[-3000:]}")


def test_a_real_prometheus_scrapes_an_embedded_pacer(tmp_path: Path) -> None:
    binary = shutil.which("prometheus")
    if binary is None:
        pytest.skip("the prometheus binary is missing (Debian: apt-get install prometheus)")
    m = fresh_metrics().serve(port=0)
    assert m.port
    prom_port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(
        "global:\n  scrape_interval: 500ms\n  scrape_timeout: 400ms\n"
        "scrape_configs:\n  - job_name: trtpace\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{m.port}']\n"
    )
    log = tmp_path / "prometheus.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{prom_port}"
    try:

        def ready() -> bool:
            with urllib.request.urlopen(f"{base}/-/ready", timeout=2) as r:
                return bool(r.status == 200)

        wait_for("/-/ready", ready, proc, log)
        with trtpace.Pacer(workloads.host(20), metrics=m) as pacer:
            pacer.run(40, gap_s=0.0002, warmup=5)
            for _ in range(5):
                pacer.infer()
        sel = f'{{job="trtpace",workload="{WORKLOAD}",gpu="none"}}'
        # 50 inferences: 45 of run() (warm-up included), 5 of infer() (the last handed over by close())
        for name in ("trtpace_e2e_seconds_count", "trtpace_submit_seconds_count", "trtpace_device_seconds_count"):
            got = wait_for(
                f"{name} == 50",
                lambda name=name: [r for r in query(base, name + sel) if float(r["value"][1]) == 50],
                proc,
                log,
            )
            assert got[0]["metric"]["instance"] == f"127.0.0.1:{m.port}"
        mean = query(base, f"trtpace_device_seconds_sum{sel} / trtpace_device_seconds_count{sel}")
        assert len(mean) == 1 and float(mean[0]["value"][1]) >= 20e-6  # host:us=20 works 20 us at least
        p50 = query(base, f"histogram_quantile(0.5, trtpace_e2e_seconds_bucket{sel})")
        assert len(p50) == 1 and 20e-6 <= float(p50[0]["value"][1]) < 1.0
        for name in (
            "trtpace_releases_total",
            "trtpace_cancels_total",
            "trtpace_timeouts_total",
            "trtpace_keepwarm_fires_total",
        ):
            got = query(base, name + sel)
            assert len(got) == 1 and float(got[0]["value"][1]) == 0, (name, got)
        up = query(base, 'up{job="trtpace"}')
        assert [float(r["value"][1]) for r in up] == [1.0]
        assert math.isfinite(float(query(base, f"sum(trtpace_e2e_seconds_sum{sel})")[0]["value"][1]))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        m.shutdown()
