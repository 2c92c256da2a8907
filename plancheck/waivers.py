"""Waivers: accepted, justified, approved and dated exceptions to a control.

A waiver names a control id or a test id pattern (fnmatch), with justification, approver and an
expiry date (UTC, inclusive: a waiver expiring 2026-12-31 still waives on that day). An expired
waiver no longer waives, and the report says it expired.

A waiver must name a control of the catalog (or `*`), and one that would match every check (no
control or `*`, and no test pattern or one made only of wildcards) is refused unless it says
`scope: all`: waiving the whole audit has to be deliberate.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Iterable, Literal, Optional

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator

from plancheck.profile.loader import ProfileError, clean, parse_yaml, read_bounded


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    control: Optional[str] = None
    test: Optional[str] = None  # pattern over the test id, `*` and `?` wildcards (a suffix matches)
    justification: str
    approver: str
    expires: dt.date
    scope: Optional[Literal["all"]] = None  # required for a waiver that matches every check

    @model_validator(mode="after")
    def _one_target(self) -> "Waiver":
        if not self.control and not self.test:
            raise ValueError("a waiver needs 'control' or 'test'")
        if len(self.justification.strip()) < 10:
            raise ValueError("justification must say why (at least 10 characters)")
        if not self.approver.strip():
            raise ValueError("approver must name who accepted the exception")
        if self.matches_everything and self.scope != "all":
            raise ValueError("this waiver matches every check (control and test are wildcards): "
                             "say 'scope: all' if that is meant")
        return self

    @property
    def matches_everything(self) -> bool:
        any_control = self.control in (None, "*")
        any_test = self.test is None or (set(self.test) <= {"*", "?"} and "*" in self.test)
        return any_control and any_test

    def matches(self, control: str, nodeid: str) -> bool:
        if self.control and self.control not in ("*", control):
            return False
        if self.test:
            return bool(_glob(self.test).fullmatch(nodeid) or _glob("*" + self.test).fullmatch(nodeid))
        return True

    def expired(self, today: dt.date) -> bool:
        return today > self.expires


def _glob(pattern: str) -> "re.Pattern[str]":
    """`*` and `?` wildcards only: test ids contain brackets (`[app-db]`) that fnmatch would
    read as character classes."""
    return re.compile(re.escape(pattern).replace(r"\*", ".*").replace(r"\?", "."))


class WaiverFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    waivers: list[Waiver]


class WaiverError(Exception):
    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


def load_waivers(path: Path) -> list[Waiver]:
    # the profile loader's bounded, alias-bomb-proof YAML reading; problems without the file's content
    try:
        data = parse_yaml(read_bounded(path, "waiver file"), path)
    except ProfileError as e:
        raise WaiverError(e.lines) from None
    if not isinstance(data, dict):
        raise WaiverError([f"{path}: not a YAML mapping (a waiver file is a mapping with 'waivers:', "
                           f"found {type(data).__name__})"])
    try:
        return WaiverFile.model_validate(data).waivers
    except ValidationError as e:
        lines = [f"{path}: {'.'.join(clean(x, 60) for x in err['loc']) or '(top)'}: "
                 f"{clean(err['msg'].removeprefix('Value error, '))}" for err in e.errors()]
        raise WaiverError(list(dict.fromkeys(lines))[:20]) from None


def check_controls(waivers: list[Waiver], known: Iterable[str], path: Path | str) -> None:
    """Every waiver names a control of the catalog (or `*`): a typo would silently waive nothing."""
    ids = set(known)
    lines = [f"{path}: waivers.{i}.control: unknown control id {clean(repr(w.control), 60)} (not in the catalog)"
             for i, w in enumerate(waivers) if w.control not in (None, "*") and w.control not in ids]
    if lines:
        raise WaiverError(lines)


def expired_waivers(waivers: list[Waiver], today: Optional[dt.date] = None) -> list[Waiver]:
    today = today or dt.datetime.now(dt.timezone.utc).date()
    return [w for w in waivers if w.expired(today)]


def find_waiver(waivers: list[Waiver], control: str, nodeid: str) -> Optional[Waiver]:
    """The first matching waiver, preferring one still in force over an expired one."""
    matching = [w for w in waivers if w.matches(control, nodeid)]
    today = dt.datetime.now(dt.timezone.utc).date()
    active = [w for w in matching if not w.expired(today)]
    return (active or matching or [None])[0]
