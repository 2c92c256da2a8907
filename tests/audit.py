"""Run a plancheck audit in-process from the suite's own tests and read back its results.json.

Used by the control-case tests (a passing and a failing fact set per control) and by the
break-and-detect tests on the live baseline.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

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
              allow_all_errors: bool = False) -> AuditResult:
    """Run `pytest checks/ --profile=...` in this process; returns its exit code and results.json."""
    argv = [str(ROOT / "checks"), f"--profile={profile}", f"--reports-dir={tmp_path / 'reports'}",
            "-q", "-p", "no:cacheprovider", f"--rootdir={ROOT}", "-c", str(ROOT / "pyproject.toml")]
    if facts is not None:
        path = tmp_path / "facts.json"
        path.write_text(json.dumps(facts))
        argv.append(f"--facts={path}")
    if static:
        argv.append("--static")
    argv += list(args)
    code = int(pytest.main(argv))
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
