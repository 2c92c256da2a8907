"""The control catalog: metadata every check carries, registered by the `@control` decorator.

A control is one rule of the plan (one id, stable once released); its parametrized items are the
things it is checked on (`[redis]`, `[innodb_buffer_pool_size]`).
"""
from __future__ import annotations

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
                      section_id=sec.id, topic=topic)
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
