"""Comparing expected to found inside a check, and recording both for the reports.

A check calls `check.equal(found, expected)` (or `at_most`, `contains`, ...). Each call records the
expected and found values on the test item (user_properties travel to the controller under
pytest-xdist) and, on a mismatch, raises ControlFailure whose one-line message names the control,
the plan section, expected vs found, and the fix.

A pass is evidence: every comparison method counts itself in `compared`, and the plugin turns a
check that returns without one comparison into an error ("no comparison made"). A fact that was not
observed is routed by the engine (`fact`): skipped only when it cannot exist on this target or in
this mode, an error when it should have been observable. A "none found" over an empty population
(`none_of(..., among=0)`) is an error too: nothing was looked at.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable

import pytest

from plancheck.controls import Control
from plancheck.facts.base import FactError, Mode, Unavailable


class ControlFailure(AssertionError):
    """A check found the platform out of line with the plan."""


class NotHere(pytest.skip.Exception):  # type: ignore[misc, name-defined]
    """A skip because the fact cannot be observed on this target or in this mode (no source in this
    mode, a service the profile says cannot run here, no GPU): the report counts it as "not checkable
    here", apart from a control the profile turns off (`not_applicable`)."""
    __module__ = "builtins"  # shown as "NotHere: reason", like pytest's own "Skipped: reason"


def not_here(reason: str) -> None:
    raise NotHere(msg=reason)


def _show(v: Any) -> str:
    if isinstance(v, (set, frozenset)):
        v = sorted(v, key=str)
    if isinstance(v, str):
        return v
    return repr(v) if not isinstance(v, (list, tuple, dict)) else str(v)


class Check:
    def __init__(self, item: pytest.Item, ctl: Control | None, mode: Mode = "live"):
        self.item = item
        self.control = ctl
        self.mode = mode
        self.expected: list[str] = []
        self.found: list[str] = []
        self.compared = 0  # comparisons made on observed values; 0 at the end is an error, not a pass

    # -- recording ------------------------------------------------------------------------------
    def _record(self, what: str | None, expected: Any, found: Any, fmt: Callable[[Any], str]) -> None:
        self.compared += 1
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
        """Use a fact. One that was not observed skips the check when it cannot exist here (another
        mode's fact, an absent service) and is an error when it should have been observed."""
        if isinstance(value, Unavailable):
            if value.skippable(self.mode):
                not_here(value.reason)
            raise FactError(f"could not observe: {value.reason}")
        return value

    def observed(self, value: Any) -> bool:
        """For a second piece of evidence a mode may lack (backup files in static mode): True when it
        was observed; False when it cannot exist in this mode; an error when it should have been."""
        if isinstance(value, Unavailable):
            if value.skippable(self.mode):
                return False
            raise FactError(f"could not observe: {value.reason}")
        return True

    def not_applicable(self, reason: str) -> None:
        """The control does not apply to this target (a policy the profile turns off): skipped, never
        passed."""
        pytest.skip(reason)

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

    def is_true(self, found: Any, what: str, expected_text: str = "yes", found_text: str | None = None,
                evidence: str | None = None) -> None:
        """`found_text` is what a false value is called ("stopped"); a true one is recorded as the
        expected text. `evidence` (what was seen, either way) is appended to the found value."""
        found = self.fact(found)
        said = expected_text if found else (found_text if found_text is not None else "no")
        if evidence:
            said = f"{said} ({evidence})"
        self._record(what, expected_text, said, str)
        if not found:
            self.fail(f"{what}: expected {expected_text}, found {said}")

    def none_of(self, found: Iterable[Any], what: str, expected_text: str = "none",
                among: int | None = None, noun: str = "items") -> None:
        """No offender in `found`. `among` is how many things were examined to find them: 0 means
        nothing was looked at, which is an error, never a clean pass."""
        found = list(self.fact(found))
        if among is not None and among <= 0:
            raise FactError(f"{what}: nothing to examine (0 {noun} observed)")
        seen = f"none among {among} {noun}" if among is not None else "none"
        self._record(what, expected_text, found or seen, _show)
        if found:
            self.fail(f"{what}: expected {expected_text}, found {_show(found)}")

    def subset(self, found: Iterable[Any], allowed: Iterable[Any], what: str) -> None:
        found_set, allowed_set = set(self.fact(found)), set(allowed)
        extra = found_set - allowed_set
        self._record(what, f"only {_show(allowed_set)}", found_set or "none", _show)
        if extra:
            self.fail(f"{what}: expected only {_show(allowed_set)}, found also {_show(extra)}")
