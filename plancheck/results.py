"""One record per check, built from pytest reports; results.json is the single source of truth
from which JUnit and HTML are written (so they always agree, also under pytest-xdist)."""
from __future__ import annotations

import copy
from dataclasses import dataclass, field, fields
from typing import Any, Optional

import pytest

OUTCOMES = ("passed", "failed", "skipped", "waived", "error")


@dataclass
class Record:
    nodeid: str
    control: str = ""
    title: str = ""
    severity: str = ""
    section: str = ""
    section_id: str = ""  # plancheck.sections id: "3.1", or "beyond"
    topic: str = ""       # the part of the section the control enforces
    tags: list[str] = field(default_factory=list)
    outcome: str = "passed"
    expected: str = ""
    found: str = ""
    message: str = ""
    remediation: str = ""
    duration: float = 0.0
    waiver: Optional[dict[str, Any]] = None
    # whose value the expected one is: "plan", "override" (the profile changes the plan's value),
    # "addition" (a value beyond the plan's words), "" (the control declares no profile keys)
    basis: str = ""
    # skipped only: "here" (not observable on this target or in this mode), "profile" (the profile
    # turns the check off); "" otherwise
    skip_kind: str = ""

    def as_dict(self) -> dict[str, Any]:
        # what dataclasses.asdict gives (same keys, same order, lists and dicts copied), without its
        # recursive deep copy of every field: that was ~0.1 ms per check in the report's tail
        d = {name: getattr(self, name) for name in _FIELDS}
        d["tags"] = list(self.tags)
        if self.waiver is not None:
            d["waiver"] = copy.deepcopy(self.waiver)
        return d


_FIELDS = tuple(f.name for f in fields(Record))


# the user properties copied into a record as text
_TEXT_PROPERTIES = ("control", "title", "severity", "section", "section_id", "topic", "expected", "found",
                    "remediation", "basis")


def _message(report: pytest.TestReport) -> str:
    lr = report.longrepr
    if lr is None:
        return ""
    if isinstance(lr, tuple):  # skip: (path, line, reason)
        return str(lr[2]).removeprefix("Skipped: ").removeprefix("NotHere: ")
    if isinstance(lr, str):
        return lr.strip().splitlines()[-1] if lr.strip() else ""
    crash = getattr(lr, "reprcrash", None)
    if crash is not None and getattr(crash, "message", None):
        return crash.message.splitlines()[0]
    return str(lr).strip().splitlines()[-1]


class Collector:
    """Merges the setup/call/teardown reports of each test into one record."""

    def __init__(self) -> None:
        self.records: dict[str, Record] = {}

    def add(self, report: pytest.TestReport) -> dict[str, Any]:
        """Merge one report into its record; returns the report's user properties as a dict."""
        rec = self.records.get(report.nodeid)
        props = dict(report.user_properties)
        if rec is None:
            rec = self.records[report.nodeid] = Record(nodeid=report.nodeid)
        for key in _TEXT_PROPERTIES:
            value = props.get(key)
            if value:
                setattr(rec, key, str(value))
        if props.get("tags"):
            rec.tags = [t for t in str(props["tags"]).split(",") if t]
        if props.get("waiver"):
            rec.waiver = props["waiver"] if isinstance(props["waiver"], dict) else {"note": props["waiver"]}
        rec.duration += float(getattr(report, "duration", 0.0))
        outcome = self._outcome(report)
        if outcome == "failed" and props.get("verdict") == "error":
            outcome = "error"  # could not judge (fact not observed, nothing compared): not a finding
        if outcome is None:
            return props
        if outcome in ("failed", "error") or rec.outcome == "passed" or report.when == "call":
            # a teardown error does not hide the call's failure; a failure beats a pass
            if not (rec.outcome in ("failed", "error", "waived") and outcome == "passed"):
                rec.outcome = outcome
                rec.message = _message(report) if outcome != "passed" else rec.message
                if outcome == "skipped":
                    rec.skip_kind = "here" if props.get("skip_kind") == "here" else "profile"
                else:
                    rec.skip_kind = ""
        return props

    @staticmethod
    def _outcome(report: pytest.TestReport) -> Optional[str]:
        if hasattr(report, "wasxfail") and str(report.wasxfail).startswith("waived"):
            return "waived"
        if report.when == "call":
            return {"passed": "passed", "failed": "failed", "skipped": "skipped"}[report.outcome]
        if report.outcome == "failed":
            return "error"
        if report.outcome == "skipped":
            return "skipped"
        return None if report.when == "teardown" else None

    def sorted(self) -> list[Record]:
        return sorted(self.records.values(), key=lambda r: r.nodeid)


OBSERVED = ("passed", "failed", "waived")  # a comparison was made on an observed value


def summarize(records: list[Record]) -> dict[str, int]:
    counts = {k: 0 for k in OUTCOMES}
    for r in records:
        counts[r.outcome] += 1
    counts["total"] = len(records)
    counts["observed"] = sum(counts[k] for k in OBSERVED)
    return counts
