"""What every fact source shares: the shape of 'not observable here', errors, the store.

A fact source reads one part of the platform (compose, MariaDB, Redis, ...) in one of three modes
and always returns the same pydantic model:
- static: the desired state (compose config and config files) the profile points at;
- live: the running platform (docker SDK, SQL, Redis, handshakes, ...);
- recorded: a JSON file of facts dumped earlier (`--dump-facts`), for offline evaluation and tests;
  it is evaluated in the mode it was recorded in.
A field that could not be observed holds `Unavailable(reason, kind)`. What a check does with it depends
on why it is missing (the engine decides, in `plancheck.evaluate.Check.fact`, never the check):
- kind "mode": this mode has no way to see it (a container's health in the desired state). Skipped in
  static mode; in live mode it should have been observable, so it is an error.
- kind "absent": it cannot exist on this target (no GPU in the host, an Elasticsearch the profile
  names no endpoint for). Skipped in every mode, with the reason.
- kind "unknown": the probe failed, was denied or timed out: "could not tell". Always an error.
"""
from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, model_serializer, model_validator

from plancheck.facts import meter
from plancheck.profile.models import Profile

Mode = Literal["static", "live"]


UnavailableKind = Literal["mode", "absent", "unknown"]


class Unavailable(BaseModel):
    """A fact that was not observed, and why (see the module docstring for what each kind means)."""
    model_config = ConfigDict(frozen=True)
    reason: str
    kind: UnavailableKind = "mode"

    def skippable(self, mode: Mode) -> bool:
        """True when a check may be skipped for it; False when it is an error (could not tell)."""
        return self.kind == "absent" or (self.kind == "mode" and mode == "static")

    @model_serializer(mode="wrap")
    def _tagged(self, handler: Any) -> Any:
        # dumped with a tag, so that a recording reloads it as Unavailable also in a field typed
        # `dict | Unavailable` (a plain {"reason": ...} would validate as the dict)
        return {UNAVAILABLE_TAG: True, **handler(self)}


UNAVAILABLE_TAG = "__unavailable__"
_LEGACY_KEYS = {"reason", "kind"}


def revive_unavailable(data: Any, legacy: bool = False) -> Any:
    """Turn dumped Unavailable values (objects tagged `__unavailable__`) back into Unavailable
    instances, at any depth, before validation picks a union member. With `legacy`, also an object
    with only `reason` (and `kind`), as recordings made before the tag hold them."""
    if isinstance(data, dict):
        if UNAVAILABLE_TAG in data or (legacy and data and set(data) <= _LEGACY_KEYS
                                       and isinstance(data.get("reason"), str)):
            try:
                return Unavailable.model_validate({k: v for k, v in data.items() if k != UNAVAILABLE_TAG})
            except ValueError:
                return data  # not one after all: validation of the field will say what is wrong
        return {k: revive_unavailable(v, legacy) for k, v in data.items()}
    if isinstance(data, list):
        return [revive_unavailable(v, legacy) for v in data]
    return data


class Facts(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: str = ""  # where the facts came from: a file list, a server address, 'recorded'

    @model_validator(mode="before")
    @classmethod
    def _revive_unavailable(cls, data: Any) -> Any:
        return revive_unavailable(data)  # a dump (--dump-facts) reloads to equal values


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
    # the fleet host a per-host source reads (plancheck.fleet.Member), None for the single target
    member: Any = None

    def path(self, p: str) -> Path:
        q = Path(p)
        return q if q.is_absolute() else self.root / q

    def read_text(self, p: str) -> str:
        """A config file of the desired state; a missing or unreadable one is a one-line FactError."""
        path = self.path(p)
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as e:
            raise FactError(f"cannot read {path}: {e.strerror}") from None
        meter.count(1, len(text.encode("utf-8")))  # one file of the desired state read, its bytes
        return text

    @property
    def timeout(self) -> float:
        return self.profile.target.timeout_s


class FactSource:
    name: ClassVar[str]
    model: ClassVar[type[Facts]]
    # how long a live reading usually takes, as a rank (0: a few API calls ... 3: full port scans).
    # Checks on the slowest sources run last, so every other check runs while those still read
    # (plancheck.gathering.run_order); it changes the order of checks only, never a verdict.
    live_cost: ClassVar[int] = 0

    def static(self, ctx: Context) -> Facts:
        raise NoSource(f"{self.name}: no static source; only observable on a running platform")

    def live(self, ctx: Context) -> Facts:
        raise NoSource(f"{self.name}: no live source")

    def deadline_s(self, ctx: Context) -> float | None:
        """A budget longer than the run deadline that this source is known to need (the restore
        drill), or None: the run deadline applies."""
        return None


SOURCES: dict[str, FactSource] = {}


def register(cls: type[FactSource]) -> type[FactSource]:
    SOURCES[cls.name] = cls()
    return cls


def _json_type(value: Any) -> str:
    return {dict: "an object", list: "an array", str: "a string", bool: "a boolean", int: "a number",
            float: "a number", type(None): "null"}.get(type(value), type(value).__name__)


def _clean_key(name: str) -> str:
    text = "".join(c if c.isprintable() else "?" for c in name)
    return repr(text if len(text) <= 60 else text[:57] + "...")


class FactStore:
    """Gathers each source at most once per run and keeps the result or the error."""

    def __init__(self, ctx: Context, recorded: dict[str, Any] | None = None):
        self.ctx = ctx
        ctx.store = self
        self.recorded = recorded
        self._cache: dict[str, tuple[Facts | None, BaseException | None]] = {}
        self.notes: list[str] = []  # what a source could not verify for real (shown in every report)
        # thread safety (sources are gathered concurrently, some read others): one event per source
        # being gathered; a second caller waits for the first's result instead of reading again
        self._lock = threading.Lock()
        self._running: dict[str, threading.Event] = {}
        self._owner: dict[str, int] = {}
        self._started: dict[str, float] = {}
        self._meters: dict[str, meter.Meter] = {}  # per source: round trips and bytes (plancheck.facts.meter)
        self.t0 = time.monotonic()
        self.timings: dict[str, dict[str, Any]] = {}  # per source: wall_s, start_s, end_s, outcome, ...

    @classmethod
    def from_recording(cls, ctx: Context, path: Path) -> "FactStore":
        """A recording (--dump-facts): a JSON object of source -> facts object, and `_meta`. Any
        other shape is one FactError line (the run stops with it), never a traceback."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise FactError(f"cannot read recorded facts {path}: {e}".splitlines()[0]) from None
        except RecursionError:
            raise FactError(f"cannot read recorded facts {path}: nested too deeply") from None
        if not isinstance(data, dict):
            raise FactError(f"recorded facts {path}: expected a JSON object keyed by source, "
                            f"found {_json_type(data)}")
        meta = data.get("_meta", {})
        if not isinstance(meta, dict):
            raise FactError(f"recorded facts {path}: _meta: expected an object, found {_json_type(meta)}")
        if meta.get("mode", "live") not in ("static", "live"):
            raise FactError(f"recorded facts {path}: _meta.mode: expected \"static\" or \"live\"")
        for name, value in data.items():
            if name != "_meta" and not isinstance(value, dict):
                raise FactError(f"recorded facts {path}: {_clean_key(name)}: expected an object of facts, "
                                f"found {_json_type(value)}")
        # Unavailable values as recordings made before the tag hold them ({"reason": ...})
        data = {k: v if k == "_meta" else revive_unavailable(v, legacy=True) for k, v in data.items()}
        return cls(ctx, recorded=data)

    @staticmethod
    def recorded_mode(path: Path) -> Mode:
        """The mode a recording was made in (live unless it says otherwise; a malformed recording is
        reported by from_recording)."""
        try:
            meta = json.loads(path.read_text(encoding="utf-8")).get("_meta", {})
            return "static" if meta.get("mode") == "static" else "live"
        except (OSError, ValueError, AttributeError, RecursionError):
            return "live"

    def gathered(self, name: str) -> Facts | None:
        """The facts of `name` if this run has already read them without error, else None; never reads."""
        with self._lock:
            value, error = self._cache.get(name, (None, None))
        return value if error is None else None

    def get(self, name: str) -> Facts:
        value, error = self._result(name)
        if error is not None:
            raise error
        assert value is not None
        return value

    def _result(self, name: str) -> tuple[Facts | None, BaseException | None]:
        with self._lock:
            done = self._cache.get(name)
            if done is not None:
                return done
            event = self._running.get(name)
            if event is not None and self._owner.get(name) == threading.get_ident():
                return None, FactError(f"{name}: reads itself (circular source dependency)")
            owner = event is None
            if owner:
                event = self._running[name] = threading.Event()
                self._owner[name] = threading.get_ident()
                self._started[name] = time.monotonic()
                self._meters[name] = meter.Meter()
        assert event is not None
        if not owner:
            event.wait()  # the first caller's result, or the run deadline's error (expire)
            return self._cache[name]
        result: tuple[Facts | None, BaseException | None] = (
            None, FactError(f"{name}: gathering was interrupted"))
        try:
            with meter.metering(self._meters[name]):
                result = self._gather(name)
        finally:
            self._finish(name, result)
            event.set()
        return self._cache[name]

    def _finish(self, name: str, result: tuple[Facts | None, BaseException | None]) -> None:
        """Keep a source's first result (a deadline error set by `expire` wins over a late answer)
        and when it was gathered."""
        now = time.monotonic()
        with self._lock:
            if name in self._cache:
                return
            self._cache[name] = result
            self._running.pop(name, None)
            self._owner.pop(name, None)
            start = self._started.pop(name, now)
            error = result[1]
            outcome = "ok" if error is None else "nosource" if isinstance(error, NoSource) else "error"
            m = self._meters.get(name) or meter.Meter()  # counted so far (a late source: until the deadline)
            self.timings[name] = {"wall_s": round(now - start, 4), "start_s": round(start - self.t0, 4),
                                  "end_s": round(now - self.t0, 4), "outcome": outcome,
                                  "round_trips": m.round_trips, "bytes": m.bytes,
                                  "waited_s": round(m.waited_s, 3),
                                  "message": "" if error is None else str(error).splitlines()[0] if str(error) else ""}

    def running(self) -> list[str]:
        with self._lock:
            return list(self._running)

    def expire(self, names: list[str], deadline_s: float) -> None:
        """Sources still being gathered at the run deadline: each becomes a FactError for its checks
        (the reading thread may go on; its late answer is dropped) and whoever waits for it wakes."""
        for name in names:
            with self._lock:
                event = self._running.get(name)
            if event is None:
                continue
            self._finish(name, (None, FactError(f"{name}: did not answer within the run deadline "
                                                f"({deadline_s:g} s)")))
            event.set()

    def _gather(self, name: str) -> tuple[Facts | None, BaseException | None]:
        base, host = name.partition("@")[::2]  # `host@fleet-1`: the per-host reading of a source
        source = SOURCES[base]
        try:
            if self.recorded is not None:
                if name not in self.recorded:
                    # the recording says why the source was missing when it was made: replayed as then
                    why = (self.recorded.get("_meta") or {}).get("missing", {}).get(name) \
                        if isinstance(self.recorded.get("_meta"), dict) else None
                    if isinstance(why, dict) and why.get("kind") == "nosource":
                        raise NoSource(str(why.get("reason", f"{name}: no source in the recorded mode")))
                    if isinstance(why, dict):
                        raise FactError(str(why.get("reason", f"{name}: could not be read when recorded")))
                    # partial recordings (one source, for a test) are normal: skipped, and counted by --max-skipped
                    raise NoSource(f"{name}: not in the recorded facts")
                return source.model.model_validate(self.recorded[name]), None
            reader: Callable[[Context], Facts] = getattr(source, self.ctx.mode)  # static or live
            return reader(self._member_ctx(host) if host else self.ctx), None
        except (FactError, NoSource) as e:
            return None, e
        except Exception as e:  # a garbage reply or a library error: one line, never a traceback
            return None, FactError(f"{name}: {type(e).__name__}: {e}".splitlines()[0])

    def _member_ctx(self, host: str) -> "Context":
        from dataclasses import replace

        from plancheck.fleet import member

        return replace(self.ctx, member=member(self.ctx.profile, self.ctx.root, host))

    def dump(self) -> dict[str, Any]:
        # the mode the facts were observed in: a recording of a live run evaluates as live
        missing: dict[str, dict[str, str]] = {}
        out: dict[str, Any] = {"_meta": {"mode": self.ctx.mode, "profile": self.ctx.profile.name,
                                         "missing": missing}}
        with self._lock:
            per_host = sorted(n for n in self._cache if "@" in n)  # a fleet's host-by-host readings
        for name in [*SOURCES, *per_host]:
            try:
                out[name] = self.get(name).model_dump(mode="json")
            except NoSource as e:
                missing[name] = {"kind": "nosource", "reason": str(e)}
            except FactError as e:
                missing[name] = {"kind": "error", "reason": str(e)}
        return out
