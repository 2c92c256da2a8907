"""Run a plancheck audit in-process from the suite's own tests and read back its results.json.

Used by the control-case tests (a passing and a failing fact set per control) and by the
break-and-detect tests on the live baseline.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Mapping

import pytest

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class AuditResult:
    exit_code: int
    doc: dict[str, Any]
    out: str

    @property
    def checks(self) -> list[dict[str, Any]]:
        return self.doc["checks"]

    def controls(self, outcome: str) -> set[str]:
        return {c["control"] for c in self.checks if c["outcome"] == outcome}

    def items(self, outcome: str) -> list[dict[str, Any]]:
        return [c for c in self.checks if c["outcome"] == outcome]

    @property
    def failed(self) -> set[str]:
        """Controls with a failed check (a finding); see `errors` for checks that could not judge."""
        return self.controls("failed")

    @property
    def errors(self) -> set[str]:
        return self.controls("error")

    @property
    def passed(self) -> set[str]:
        return self.controls("passed")


def run_audit(tmp_path: Path, profile: str = "prod", *, facts: dict[str, Any] | None = None,
              static: bool = False, args: Iterable[str] = (), capsys: Any = None,
              allow_all_errors: bool = False, only: Iterable[str] | None = None,
              plugins: Iterable[Any] = ()) -> AuditResult:
    """Run `pytest checks/ --profile=...` in this process; returns its exit code and results.json.
    `only`: the node ids of the checks to run (every one must exist; the rest are deselected)."""
    only = set(only) if only is not None else None
    # a selection collects only the modules it names
    paths = sorted({str(ROOT / n.split("::")[0]) for n in only}) if only else [str(ROOT / "checks")]
    argv = [*paths, f"--profile={profile}", f"--reports-dir={tmp_path / 'reports'}",
            "-q", "-p", "no:cacheprovider", f"--rootdir={ROOT}", "-c", str(ROOT / "pyproject.toml")]
    if facts is not None:
        path = tmp_path / "facts.json"
        path.write_text(json.dumps(facts))
        argv.append(f"--facts={path}")
    if static:
        argv.append("--static")
    argv += list(args)
    extra = list(plugins) + ([_Only(only)] if only is not None else [])
    code = int(pytest.main(argv, plugins=extra))
    out = capsys.readouterr().out if capsys is not None else ""
    latest = tmp_path / "reports" / "latest" / "results.json"
    if not latest.exists():
        # a run that wrote no results crashed: never read it as "nothing failed"
        raise AssertionError(f"the audit wrote no results.json (exit {code}): {' '.join(argv)}")
    doc = json.loads(latest.read_text())
    checks = doc.get("checks") or []
    if not allow_all_errors and checks and all(c["outcome"] == "error" for c in checks):
        raise AssertionError(f"every one of {len(checks)} checks errored (exit {code}): "
                             f"{checks[0]['message'][:200]}")
    return AuditResult(code, doc, out)


def load_good_facts() -> dict[str, Any]:
    """A complete, compliant fact set for profile `prod` (static baseline facts plus recorded live
    facts for sources that only exist on a running platform). See tests/data/README.md."""
    facts: dict[str, Any] = {}
    for f in sorted((ROOT / "tests" / "data" / "good").glob("*.json")):
        facts[f.stem] = json.loads(f.read_text())
    return facts


def mutate(facts: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    out = copy.deepcopy(facts)
    change(out)
    return out


class _Only:
    """Deselects every collected check but the given node ids (each of which must be collected)."""

    def __init__(self, nodeids: Iterable[str]) -> None:
        self.nodeids = set(nodeids)

    def pytest_collection_modifyitems(self, config: pytest.Config, items: list[pytest.Item]) -> None:
        keep = [i for i in items if i.nodeid in self.nodeids]
        missing = self.nodeids - {i.nodeid for i in keep}
        assert not missing, f"checks to run that the audit did not collect: {sorted(missing)[:5]}"
        drop = [i for i in items if i.nodeid not in self.nodeids]
        if drop:
            config.hook.pytest_deselected(items=drop)
        items[:] = keep


class _SourceUse:
    """Records, per check, the fact sources it used: those of the fixtures in its closure and of any
    fixture it requested at run time (`request.getfixturevalue`), as the fixtures declare them
    (`@provides`, plancheck.gathering)."""

    def __init__(self) -> None:
        self.by_nodeid: dict[str, set[str]] = {}

    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo) -> None:
        from plancheck.gathering import FIXTURE_SOURCES

        request = getattr(item, "_request", None)  # its fixtures, those asked for at run time included
        assert request is not None, "pytest no longer keeps item._request: the run-time fixtures are unknown"
        names = set(getattr(item, "fixturenames", ())) | set(request.fixturenames)
        used = self.by_nodeid.setdefault(item.nodeid, set())
        used.update(FIXTURE_SOURCES[n].partition("@")[0] for n in names if n in FIXTURE_SOURCES)


@dataclass
class ReferenceRun:
    """One whole audit over a fact set, with the sources each check used: the reference that the
    break tests compare their mutations against (see `run_mutated`)."""
    profile: str
    facts: dict[str, Any]
    result: AuditResult
    uses: dict[str, set[str]]
    reports: Path  # its reports directory (latest/report.html, ...)

    def dependents(self, sources: set[str]) -> set[str]:
        """The checks that used any of `sources`."""
        return {n for n, used in self.uses.items() if used & sources}


def reference_run(tmp_path: Path, profile: str, facts: dict[str, Any], **kw: Any) -> ReferenceRun:
    uses = _SourceUse()
    res = run_audit(tmp_path, profile, facts=facts, plugins=[uses], **kw)
    assert {c["nodeid"] for c in res.checks} == set(uses.by_nodeid), "a check ran without being recorded"
    return ReferenceRun(profile, copy.deepcopy(facts), res, uses.by_nodeid, tmp_path / "reports")


def changed_sources(before: Mapping[str, Any], after: Mapping[str, Any], ignore: Iterable[str] = ()) -> set[str]:
    """The sources whose facts differ, leaving out the fields in `ignore` (a reading's own time)."""
    def strip(v: Any) -> Any:
        return {f: x for f, x in v.items() if f not in ignore} if isinstance(v, dict) else v

    return {k for k in set(before) | set(after) if k != "_meta" and strip(before.get(k)) != strip(after.get(k))}


def run_mutated(tmp_path: Path, ref: ReferenceRun, facts: dict[str, Any], **kw: Any) -> AuditResult:
    """The whole audit over `facts` (the reference's facts with some sources changed), run only where
    it can differ: every check that used a changed source runs again; every other one reads exactly the
    facts it read in the reference run, so its verdict is the reference's, which must then be neither
    failed nor error (asserted here). A break test's "exactly this control fails" on the returned
    result therefore holds for the whole audit."""
    if (facts.get("_meta") or {}) != (ref.facts.get("_meta") or {}):
        return run_audit(tmp_path, ref.profile, facts=facts, **kw)  # another recording: no shortcut
    changed = changed_sources(ref.facts, facts)
    assert changed, "the mutation changed no fact source"
    rerun = ref.dependents(changed)
    kept = [c for c in ref.result.checks if c["nodeid"] not in rerun and c["outcome"] in ("failed", "error")]
    assert not kept, (f"checks that read none of {sorted(changed)} already {kept[0]['outcome']} on the "
                      f"reference facts: {[c['nodeid'] for c in kept][:5]}")
    return run_audit(tmp_path, ref.profile, facts=facts, only=rerun, **kw)


def gather_facts(profile: str, mode: str = "static") -> dict[str, Any]:
    """Every source of `profile` read once in this process, as `--dump-facts` records them (no checks
    run): what a change to the desired state changed, for `changed_sources`."""
    import plancheck.plugin  # noqa: F401  (registers every fact source)
    from plancheck.facts.base import Context, FactStore
    from plancheck.profile import load_profile

    ctx = Context(profile=load_profile(profile, ROOT / "profiles"), root=ROOT, mode=mode)  # type: ignore[arg-type]
    return FactStore(ctx).dump()
