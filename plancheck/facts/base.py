"""What every fact source shares: the shape of 'not observable here', errors, the store.

A fact source reads one part of the platform (compose, MariaDB, Redis, ...) in one of three modes
and always returns the same pydantic model:
- static: the desired state (compose config and config files) the profile points at;
- live: the running platform (docker SDK, SQL, Redis, handshakes, ...);
- recorded: a JSON file of facts dumped earlier (`--dump-facts`), for offline evaluation and tests;
  it is evaluated in the mode it was recorded in.
A field that a mode cannot observe holds `Unavailable(reason)`; checks skip on it with the reason.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

from pydantic import BaseModel, ConfigDict

from plancheck.profile.models import Profile

Mode = Literal["static", "live"]


class Unavailable(BaseModel):
    """A fact this mode cannot observe (health of a container that is only described, ...)."""
    model_config = ConfigDict(frozen=True)
    reason: str


class Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = ""  # where the facts came from: a file list, a server address, 'recorded'


class FactError(Exception):
    """A source could not be read: one line naming the target and the cause."""


class NoSource(Exception):
    """This mode has no way to observe the facts at all (every dependent check is skipped)."""


@dataclass
class Context:
    profile: Profile
    root: Path  # the directory relative paths in the profile are resolved against
    mode: Mode
    store: "FactStore | None" = None
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))

    def path(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else self.root / q

    def read_text(self, p: str) -> str:
        """A config file of the desired state; a missing or unreadable one is a one-line FactError."""
        path = self.path(p)
        try:
            return path.read_text(encoding="utf-8")
        except OSError as e:
            raise FactError(f"cannot read {path}: {e.strerror}") from None

    @property
    def timeout(self) -> float:
        return self.profile.target.timeout_s


class FactSource:
    name: ClassVar[str]
    model: ClassVar[type[Facts]]

    def static(self, ctx: Context) -> Facts:
        raise NoSource(f"{self.name}: no static source; only observable on a running platform")

    def live(self, ctx: Context) -> Facts:
        raise NoSource(f"{self.name}: no live source")


SOURCES: dict[str, FactSource] = {}


def register(cls: type[FactSource]) -> type[FactSource]:
    SOURCES[cls.name] = cls()
    return cls


class FactStore:
    """Gathers each source at most once per run and keeps the result or the error."""

    def __init__(self, ctx: Context, recorded: dict[str, Any] | None = None):
        self.ctx = ctx
        ctx.store = self
        self.recorded = recorded
        self._cache: dict[str, tuple[Facts | None, BaseException | None]] = {}
        self.notes: list[str] = []  # what a source could not verify for real (shown in every report)

    @classmethod
    def from_recording(cls, ctx: Context, path: Path) -> "FactStore":
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError) as e:
            raise FactError(f"cannot read recorded facts {path}: {e}".splitlines()[0]) from None
        if not isinstance(data, dict):
            raise FactError(f"recorded facts {path}: expected a JSON object keyed by source")
        return cls(ctx, recorded=data)

    @staticmethod
    def recorded_mode(path: Path) -> Mode:
        """The mode a recording was made in (live unless it says otherwise)."""
        try:
            meta = json.loads(path.read_text()).get("_meta", {})
        except (OSError, ValueError, AttributeError):
            return "live"
        return "static" if meta.get("mode") == "static" else "live"

    def get(self, name: str) -> Facts:
        if name not in self._cache:
            self._cache[name] = self._gather(name)
        value, error = self._cache[name]
        if error is not None:
            raise error
        assert value is not None
        return value

    def _gather(self, name: str) -> tuple[Facts | None, BaseException | None]:
        source = SOURCES[name]
        try:
            if self.recorded is not None:
                if name not in self.recorded:
                    raise NoSource(f"{name}: not in the recorded facts")
                return source.model.model_validate(self.recorded[name]), None
            reader: Callable[[Context], Facts] = getattr(source, self.ctx.mode)  # static or live
            return reader(self.ctx), None
        except (FactError, NoSource) as e:
            return None, e
        except Exception as e:  # a garbage reply or a library error: one line, never a traceback
            return None, FactError(f"{name}: {type(e).__name__}: {e}".splitlines()[0])

    def dump(self) -> dict[str, Any]:
        # the mode the facts were observed in: a recording of a live run evaluates as live
        out: dict[str, Any] = {"_meta": {"mode": self.ctx.mode, "profile": self.ctx.profile.name}}
        for name in SOURCES:
            try:
                out[name] = self.get(name).model_dump(mode="json")
            except (FactError, NoSource):
                continue
        return out
