"""Waivers: accepted, justified, approved and dated exceptions to a control.

A waiver names a control id or a test id pattern (fnmatch), with justification, approver and an
expiry date (UTC, inclusive: a waiver expiring 2026-12-31 still waives on that day). An expired
waiver no longer waives, and the report says it expired.
"""
from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Optional

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, model_validator


class Waiver(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    control: Optional[str] = None
    test: Optional[str] = None  # pattern over the test id, `*` and `?` wildcards (a suffix matches)
    justification: str
    approver: str
    expires: dt.date

    @model_validator(mode="after")
    def _one_target(self) -> "Waiver":
        if not self.control and not self.test:
            raise ValueError("a waiver needs 'control' or 'test'")
        if len(self.justification.strip()) < 10:
            raise ValueError("justification must say why (at least 10 characters)")
        return self

    def matches(self, control: str, nodeid: str) -> bool:
        if self.control and self.control != control:
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
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WaiverError([f"{path}: waiver file not found"]) from None
    except yaml.YAMLError as e:
        raise WaiverError([f"{path}: not valid YAML: {e}".splitlines()[0]]) from None
    try:
        return WaiverFile.model_validate(data).waivers
    except ValidationError as e:
        raise WaiverError([
            f"{path}: {'.'.join(str(x) for x in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in e.errors()
        ]) from None


def find_waiver(waivers: list[Waiver], control: str, nodeid: str) -> Optional[Waiver]:
    """The first matching waiver, preferring one still in force over an expired one."""
    matching = [w for w in waivers if w.matches(control, nodeid)]
    today = dt.datetime.now(dt.timezone.utc).date()
    active = [w for w in matching if not w.expired(today)]
    return (active or matching or [None])[0]
