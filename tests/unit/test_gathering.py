"""Gathering: the sources the selected checks need are read concurrently before the first check,
each once, under one run deadline; verdicts are the same with and without prefetching."""
from __future__ import annotations

import re
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

from plancheck import gathering
from plancheck.facts.base import SOURCES, Context, FactError, Facts, FactSource, FactStore, NoSource
from plancheck.profile import load_profile
from tests.audit import ROOT, load_good_facts, run_audit

PROFILE = load_profile("prod", ROOT / "profiles")


class Slow(Facts):
    value: int = 0


class _Fake(FactSource):
    model = Slow

    def __init__(self, name: str, delay: float = 0.0, reads: str = "", fail: bool = False):
        self.name, self.delay, self.reads, self.fail = name, delay, reads, fail  # type: ignore[misc]
        self.calls = 0
        self.lock = threading.Lock()
        self.gate = threading.Event()  # set by a test: a slow reader answers now
        self.done = threading.Event()  # its reader has returned (or raised)

    def static(self, ctx: Context) -> Slow:
        with self.lock:
            self.calls += 1
        try:
            if self.reads:
                assert ctx.store is not None
                ctx.store.get(self.reads)
            self.gate.wait(self.delay)
            if self.fail:
                raise FactError(f"{self.name}: cannot reach it")
            return Slow(source=self.name, value=1)
        finally:
            self.done.set()


@pytest.fixture
def fakes() -> Iterator[dict[str, _Fake]]:
    made = {"fk_base": _Fake("fk_base", delay=0.3), "fk_dep1": _Fake("fk_dep1", reads="fk_base"),
            "fk_dep2": _Fake("fk_dep2", reads="fk_base"), "fk_hang": _Fake("fk_hang", delay=5.0),
            "fk_bad": _Fake("fk_bad", reads="fk_base", fail=True)}
    SOURCES.update(made)
    try:
        yield made
    finally:
        for name in made:
            SOURCES.pop(name, None)


def _store() -> FactStore:
    return FactStore(Context(profile=PROFILE, root=ROOT, mode="static"))


def test_sources_are_read_once_concurrently_and_dependents_wait(fakes: dict[str, _Fake]) -> None:
    store = _store()
    gathering.prefetch(store, ["fk_dep1", "fk_dep2", "fk_base", "fk_bad"], deadline_s=10)
    t = store.timings
    # concurrent: every reader started before the first one finished (one after the other, each would
    # start only when the one before it had ended)
    assert max(r["start_s"] for r in t.values()) < min(r["end_s"] for r in t.values()), t
    assert fakes["fk_base"].calls == 1  # three readers asked for it: it was read once
    assert store.get("fk_dep1").value == 1 and store.get("fk_dep2").value == 1
    with pytest.raises(FactError, match="fk_bad: cannot reach it"):
        store.get("fk_bad")
    t = store.timings
    assert {n: t[n]["outcome"] for n in t} == {"fk_base": "ok", "fk_dep1": "ok", "fk_dep2": "ok", "fk_bad": "error"}
    assert t["fk_dep1"]["end_s"] >= t["fk_base"]["end_s"]  # waited for the source it reads
    assert t["fk_bad"]["message"] == "fk_bad: cannot reach it"
    assert all(r["wall_s"] >= 0 and r["end_s"] >= r["start_s"] for r in t.values())


def test_a_source_past_the_run_deadline_is_an_error_never_a_value(fakes: dict[str, _Fake]) -> None:
    store = _store()
    gathering.prefetch(store, ["fk_hang", "fk_base"], deadline_s=0.5)
    assert not fakes["fk_hang"].done.is_set()  # prefetch returned while the hanging reader still reads
    with pytest.raises(FactError, match=r"fk_hang: did not answer within the run deadline \(0.5 s\)"):
        store.get("fk_hang")  # does not wait for the thread still reading
    assert store.get("fk_base").value == 1
    assert store.timings["fk_hang"]["outcome"] == "error"
    fakes["fk_hang"].gate.set()  # the late answer arrives ...
    assert fakes["fk_hang"].done.wait(10)
    with pytest.raises(FactError, match="run deadline"):  # ... and does not replace the error
        store.get("fk_hang")


def test_waiters_wake_at_the_deadline(fakes: dict[str, _Fake]) -> None:
    fakes["fk_dep1"].reads = "fk_hang"
    store = _store()
    gathering.prefetch(store, ["fk_dep1"], deadline_s=0.3)  # fk_hang only as its dependency
    for name in ("fk_dep1", "fk_hang"):
        with pytest.raises(FactError, match="run deadline"):
            store.get(name)


def test_no_source_is_kept_as_no_source(fakes: dict[str, _Fake]) -> None:
    store = _store()
    gathering.prefetch(store, ["tls"], deadline_s=5)  # no static reader
    with pytest.raises(NoSource):
        store.get("tls")
    assert store.timings["tls"]["outcome"] == "nosource"


def test_every_fixture_reading_the_store_declares_its_source() -> None:
    import fixtures.facts, fixtures.hardware, fixtures.network, fixtures.ops  # noqa: E401,F401  (registers)

    found = 0
    for path in (ROOT / "fixtures").glob("*.py"):
        for name, src in re.findall(r'def (\w+)\(fact_store[^)]*\)[^\n]*\n(?:[^\n]*\n){0,4}?[^\n]*'
                                    r'(?:gather\(fact_store, (?:scoped\()?|fact_store\.get\()"(\w+)"', path.read_text()):
            assert gathering.FIXTURE_SOURCES.get(name) == src, f"{path.name}: {name} reads {src}"
            found += 1
    assert found == len(gathering.FIXTURE_SOURCES)
    assert set(gathering.FIXTURE_SOURCES.values()) == {n for n in SOURCES if not n.startswith("fk_")}


def test_prefetch_switch() -> None:
    assert gathering.enabled({}) and gathering.enabled({"PLANCHECK_PREFETCH": "1"})
    assert not gathering.enabled({"PLANCHECK_PREFETCH": "0"})


def _verdicts(doc: dict[str, Any]) -> dict[str, str]:
    return {c["nodeid"]: c["outcome"] for c in doc["checks"]}


def test_verdicts_are_the_same_with_and_without_prefetching(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = load_good_facts()
    for sub in ("on", "off"):
        (tmp_path / sub).mkdir()
    monkeypatch.delenv("PLANCHECK_PREFETCH", raising=False)
    on = run_audit(tmp_path / "on", "baseline", facts=good)
    monkeypatch.setenv("PLANCHECK_PREFETCH", "0")
    off = run_audit(tmp_path / "off", "baseline", facts=good)
    assert len(on.checks) > 1000
    assert _verdicts(on.doc) == _verdicts(off.doc)
    assert on.exit_code == off.exit_code
    assert set(on.doc["sources"]) == set(off.doc["sources"])
    assert {r["outcome"] for r in on.doc["sources"].values()} <= {"ok", "nosource", "error"}
    page = (tmp_path / "on" / "reports" / "latest" / "report.html").read_text(encoding="utf-8")
    assert 'id="sources"' in page and "<td>containers</td>" in page  # the timeline of the sources


def test_a_selection_gathers_only_the_sources_it_needs(tmp_path: Path) -> None:
    for sub in ("module", "word"):
        (tmp_path / sub).mkdir()
    only = run_audit(tmp_path / "module", static=True, args=["-k", "test_mariadb"])
    assert {c["nodeid"].split("::")[0] for c in only.checks} == {"checks/test_mariadb.py"}
    # static MariaDB facts read the option files, and the compose project for the image's version (DB-001)
    assert set(only.doc["sources"]) == {"mariadb", "containers"}
    word = run_audit(tmp_path / "word", static=True, args=["-k", "mariadb"])
    gathered = set(word.doc["sources"])
    assert "mariadb" in gathered and "containers" in gathered  # CT-0xx[mariadb] items use containers
    assert not gathered & {"nginx", "redis", "backup", "logs", "host", "elasticsearch", "grafana", "restore_drill"}


def test_processes_started_while_checks_run_are_forked(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checks run while sources still start processes, and pytest rewrites os.environ around every
    check: the switch makes those processes fork (their own copy of the environment), not vfork."""
    import subprocess

    if not hasattr(subprocess, "_USE_VFORK"):
        assert gathering.spawn_safely_from_threads() is False  # then prefetch blocks (plugin)
        return
    monkeypatch.setattr(subprocess, "_USE_VFORK", True)
    monkeypatch.setattr(subprocess, "_USE_POSIX_SPAWN", True, raising=False)
    assert gathering.spawn_safely_from_threads() is True
    assert subprocess._USE_VFORK is False and subprocess._USE_POSIX_SPAWN is False
    assert subprocess.run(["true"], check=False).returncode == 0
