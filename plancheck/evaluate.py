"""Comparing expected to found inside a check, and recording both for the reports.

A check calls `check.equal(found, expected)` (or `at_most`, `contains`, ...). Each call records the
expected and found values on the test item (user_properties travel to the controller under
pytest-xdist) and, on a mismatch, raises ControlFailure whose one-line message names the control,
the plan section, expected vs found, and the fix.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import pytest

from plancheck.controls import Control
from plancheck.facts.base import Unavailable


class ControlFailure(AssertionError):
    """A check found the platform out of line with the plan."""


def _show(v: Any) -> str:
    if isinstance(v, (set, frozenset)):
        v = sorted(v, key=str)
    if isinstance(v, str):
        return v
    return repr(v) if not isinstance(v, (list, tuple, dict)) else str(v)


class Check:
    def __init__(self, item: pytest.Item, ctl: Control | None):
        self.item = item
        self.control = ctl
        self.expected: list[str] = []
        self.found: list[str] = []

    # -- recording ------------------------------------------------------------------------------
    def _record(self, what: str | None, expected: Any, found: Any, fmt: Callable[[Any], str]) -> None:
        prefix = f"{what}: " if what else ""
        self.expected.append(prefix + fmt(expected))
        self.found.append(prefix + fmt(found))
        props = [p for p in self.item.user_properties if p[0] not in ("expected", "found")]
        props += [("expected", "; ".join(self.expected)), ("found", "; ".join(self.found))]
        self.item.user_properties[:] = props

    def fail(self, message: str) -> None:
        ctl = self.control
        head = f"{ctl.id} [{ctl.section}] {ctl.title}" if ctl else "check"
        fix = f" Fix: {ctl.remediation}" if ctl else ""
        raise ControlFailure(f"{head}: {message}.{fix}")

    def fact(self, value: Any) -> Any:
        """Use a fact; when it could not be observed in this mode, skip with the reason."""
        if isinstance(value, Unavailable):
            pytest.skip(value.reason)
        return value

    # -- comparisons ----------------------------------------------------------------------------
    def that(self, ok: bool, *, expected: Any, found: Any, what: str | None = None,
             fmt: Callable[[Any], str] = _show) -> None:
        """The general form: record expected/found, fail when `ok` is false."""
        found = self.fact(found)
        self._record(what, expected, found, fmt)
        if not ok:
            label = f"{what}: " if what else ""
            self.fail(f"{label}expected {fmt(expected)}, found {fmt(found)}")

    def equal(self, found: Any, expected: Any, what: str | None = None,
              fmt: Callable[[Any], str] = _show, key: Callable[[Any], Any] = lambda v: v) -> None:
        found = self.fact(found)
        self.that(key(found) == key(expected), expected=expected, found=found, what=what, fmt=fmt)

    def setting(self, found: Any, expected: Any, what: str, fmt: Callable[[Any], str] = _show) -> None:
        """A server setting equal to the plan's value (units, ON/OFF/1/0, case normalized)."""
        from plancheck.units import same_setting

        found = self.fact(found)
        self.that(same_setting(found, expected), expected=expected, found=found, what=what, fmt=fmt)

    def at_most(self, found: Any, limit: Any, what: str | None = None,
                fmt: Callable[[Any], str] = _show) -> None:
        found = self.fact(found)
        ok = found is not None and found <= limit
        self._record(what, f"<= {fmt(limit)}", fmt(found), str)
        if not ok:
            self.fail(f"{what + ': ' if what else ''}expected at most {fmt(limit)}, found {fmt(found)}")

    def at_least(self, found: Any, minimum: Any, what: str | None = None,
                 fmt: Callable[[Any], str] = _show) -> None:
        found = self.fact(found)
        ok = found is not None and found >= minimum
        self._record(what, f">= {fmt(minimum)}", fmt(found), str)
        if not ok:
            self.fail(f"{what + ': ' if what else ''}expected at least {fmt(minimum)}, found {fmt(found)}")

    def is_true(self, found: Any, what: str, expected_text: str = "yes", found_text: str | None = None) -> None:
        found = self.fact(found)
        self._record(what, expected_text, found_text if found_text is not None else ("yes" if found else "no"), str)
        if not found:
            self.fail(f"{what}: expected {expected_text}, found {found_text if found_text is not None else 'no'}")

    def none_of(self, found: Iterable[Any], what: str, expected_text: str = "none") -> None:
        found = list(self.fact(found))
        self._record(what, expected_text, found or "none", _show)
        if found:
            self.fail(f"{what}: expected {expected_text}, found {_show(found)}")

    def subset(self, found: Iterable[Any], allowed: Iterable[Any], what: str) -> None:
        found_set, allowed_set = set(self.fact(found)), set(allowed)
        extra = found_set - allowed_set
        self._record(what, f"only {_show(allowed_set)}", found_set or "none", _show)
        if extra:
            self.fail(f"{what}: expected only {_show(allowed_set)}, found also {_show(extra)}")
