"""The control catalog: metadata every check carries, registered by the `@control` decorator.

A control is one rule of the plan (one id, stable once released); its parametrized items are the
things it is checked on (`[redis]`, `[innodb_buffer_pool_size]`).
"""
from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Callable, Literal, TypeVar

import pytest

from plancheck.sections import SectionError, resolve

Severity = Literal["critical", "high", "medium", "low"]
SEVERITY_ORDER: dict[str, int] = {"low": 1, "medium": 2, "high": 3, "critical": 4}

F = TypeVar("F", bound=Callable)


@dataclass(frozen=True)
class Control:
    id: str
    title: str
    severity: Severity
    section: str  # the plan section it enforces, as the registry shows it: "3.1 MariaDB 설정"
    rationale: str
    remediation: str
    tags: tuple[str, ...] = field(default_factory=tuple)
    module: str = ""
    section_id: str = ""  # plancheck.sections: "3.1", or "beyond" for controls beyond the plan
    topic: str = ""       # the part of the section it enforces: "backup", "서비스 메시: mTLS"
    # the profile key paths whose values it compares against (dotted; `*` any one key; `{arg}` the
    # item's parameter, e.g. "containers.{container}.memory"): each record says whether those values
    # are the plan's, an override of the extending profile, or an addition beyond the plan's words
    reads: tuple[str, ...] = ()


CATALOG: dict[str, Control] = {}


def control(
    id: str,
    *,
    title: str,
    severity: Severity,
    section: str,
    rationale: str,
    remediation: str,
    tags: tuple[str, ...] | list[str] = (),
    reads: tuple[str, ...] | list[str] = (),
) -> Callable[[F], F]:
    """Register a check function as control `id` and mark it so the plugin can find its metadata."""
    if severity not in SEVERITY_ORDER:
        raise ValueError(f"{id}: unknown severity {severity!r}")

    def wrap(fn: F) -> F:
        try:
            sec, topic = resolve(section)
        except SectionError as e:
            raise SectionError(f"control {id} ({fn.__module__}): {e}") from None
        ctl = Control(id, title, severity, sec.display, rationale, remediation, tuple(tags), fn.__module__,
                      section_id=sec.id, topic=topic, reads=tuple(reads))
        known = CATALOG.get(id)
        if known is not None and known.module != ctl.module:
            raise ValueError(f"control id {id} is used twice ({known.module} and {ctl.module})")
        CATALOG[id] = ctl
        fn = pytest.mark.control(id)(fn)
        fn.__plancheck_control__ = ctl  # type: ignore[attr-defined]
        return fn

    return wrap


def section_of(ctl_id: str) -> str:
    return CATALOG[ctl_id].section if ctl_id in CATALOG else ""


BASES = ("plan", "override", "addition")


def _touches(read: list[str], override: list[str]) -> bool:
    """An override touches a read when one is a prefix of the other, segment by segment (`*` in the
    read matches any key): a read of `hardware.cpu` is touched by an override of
    `hardware.cpu.vendor`, a read of `containers.*.memory` by one of `containers.redis.memory`."""
    return all(a == b or a == "*" for a, b in zip(read, override))


def _under(read: list[str], addition: list[str]) -> bool:
    """A read lies under an addition pattern (`*` in the pattern matches any key); a `*` in the read
    (all containers) is not under a pattern naming one of them."""
    return len(read) >= len(addition) and all(a == b or a == "*" for a, b in zip(addition, read))


def basis(reads: tuple[str, ...], params: dict[str, object], overrides: tuple[str, ...],
          additions: tuple[str, ...] | list[str]) -> str:
    """Whose value a check compared against:
    - "override" when a key it reads differs from the plan the profile extends (`overrides`);
    - "addition" when every key it reads is beyond the plan's words (under the profile's
      `additions`, or a fixed rule named "+cis", "+dev-sec", ... with no profile key at all);
    - "plan" otherwise; "" when the control declares no reads."""
    if not reads:
        return ""

    def fill(path: str) -> list[str]:
        for name, value in params.items():
            v = value[0] if isinstance(value, tuple) and value else value
            path = path.replace("{" + name + "}", str(v))
        return path.split(".")

    paths = [fill(r) for r in reads if not r.startswith("+")]
    if any(_touches(p, o) for p in paths for o in _split(tuple(overrides))):
        return "override"
    if all(any(_under(p, a) for a in _split(tuple(additions))) for p in paths):
        return "addition"
    return "plan"


@functools.lru_cache(maxsize=64)
def _split(keys: tuple[str, ...]) -> tuple[list[str], ...]:
    """Dotted key paths split once per run (basis runs for every check), not once per check."""
    return tuple(k.split(".") for k in keys)
