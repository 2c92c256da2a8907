"""Break-and-detect on the running baseline for 5.1 모니터링: stop an exporter, remove an alert rule
file and reload Prometheus; each makes exactly its control fail and is undone in a finally block
(waiting until Prometheus sees the platform whole again, so later tests start from a clean state)."""
from __future__ import annotations

import contextlib
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator

import pytest

from tests.audit import ROOT, run_audit
from tests.live.conftest import DOCKER, container, sh

MON = ["-k", "test_monitoring and not grafana"]
RULES = ROOT / "baseline/config/prometheus/rules"


def audit(tmp_path: Path):  # type: ignore[no-untyped-def]
    return run_audit(tmp_path / f"run{time.monotonic_ns()}", "baseline", args=MON)


def wait_for(cond: Callable[[], bool], what: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(2)


def _monitoring():  # type: ignore[no-untyped-def]
    """Fresh live monitoring facts (a new store: nothing cached between polls)."""
    from plancheck.facts.base import Context, FactStore
    from plancheck.profile import load_profile

    ctx = Context(profile=load_profile("baseline", ROOT / "profiles"), root=ROOT, mode="live")
    return FactStore(ctx).get("monitoring")


def _job_up(job: str) -> bool:
    t = _monitoring().scrape_jobs.get(job)
    return bool(t and t.targets and all(x.health == "up" for x in t.targets))


def _rule_loaded(name: str) -> bool:
    return name in _monitoring().rules


def test_monitoring_controls_pass(tmp_path: Path) -> None:
    res = audit(tmp_path)
    assert res.failed == set(), [c["message"] for c in res.items("failed") + res.items("error")]


@contextlib.contextmanager
def exporter_stopped(service: str, job: str) -> Iterator[None]:
    sh(DOCKER, "stop", "-t", "5", container(service))
    try:
        wait_for(lambda: not _job_up(job), f"Prometheus to see {job} down")
        yield
    finally:
        sh(DOCKER, "start", container(service))
        wait_for(lambda: _job_up(job), f"Prometheus to see {job} up again", timeout=120)


@pytest.mark.breaks("MON-002")
def test_exporter_stopped(tmp_path: Path) -> None:
    with exporter_stopped("mysqld-exporter", "mariadb"):
        res = audit(tmp_path)
        assert res.failed == {"MON-002"}, res.out
        [f] = res.items("failed")
        assert "[mariadb]" in f["nodeid"] and "mysqld-exporter" in f["message"]
    assert audit(tmp_path).failed == set()


@contextlib.contextmanager
def rule_file_removed(name: str, alert: str) -> Iterator[None]:
    src = RULES / name
    aside = ROOT / "baseline/.cache" / f"{name}.removed-by-test"
    aside.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(src, aside)
    try:
        sh(DOCKER, "kill", "-s", "HUP", container("prometheus"))
        wait_for(lambda: not _rule_loaded(alert), f"Prometheus to drop {alert}")
        yield
    finally:
        shutil.move(aside, src)
        sh(DOCKER, "kill", "-s", "HUP", container("prometheus"))
        wait_for(lambda: _rule_loaded(alert), f"Prometheus to load {alert} again")


@pytest.mark.breaks("MON-004")
def test_alert_rule_file_removed(tmp_path: Path) -> None:
    with rule_file_removed("applications.yml", "HighApiLatency"):
        res = audit(tmp_path)
        assert res.failed == {"MON-004"}, res.out
        assert sorted(c["nodeid"].split("[")[-1] for c in res.items("failed")) == ["HighApiLatency]", "HighErrorRate]"]
    assert audit(tmp_path).failed == set()
