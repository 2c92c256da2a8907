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

    @functools.cached_property
    def record_properties(self) -> tuple[tuple[str, str], ...]:
        """Its own properties on every record of its checks (made once: a control has many checks)."""
        return (("control", self.id), ("title", self.title), ("severity", self.severity),
                ("section", self.section), ("section_id", self.section_id), ("topic", self.topic),
                ("remediation", self.remediation), ("tags", ",".join(self.tags)))


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
    # an override touches a read when one is a prefix of the other, segment by segment (`*` in the
    # read matches any key); a read lies under an addition when the addition is a prefix of it (`*`
    # in the addition matches any key, a `*` in the read only a `*`). Each read walks once down a
    # trie of the profile's keys (built once per run), not against every key: that scan was most of
    # the engine's own time per check (tests/unit/test_profile.py holds it to the pairwise rule)
    if any(_touches_trie(p, 0, _trie(tuple(overrides))) for p in paths):
        return "override"
    adds = _trie(tuple(additions))
    if all(_under_trie(p, 0, adds) for p in paths):
        return "addition"
    return "plan"


@functools.lru_cache(maxsize=64)
def _split(keys: tuple[str, ...]) -> tuple[list[str], ...]:
    """Dotted key paths split once per run (basis runs for every check), not once per check."""
    return tuple(k.split(".") for k in keys)


_END = None  # a trie node's key marking that a key path ends there (segments are strings, never None)


@functools.lru_cache(maxsize=64)
def _trie(keys: tuple[str, ...]) -> dict:
    """The dotted key paths as nested dicts, one level per segment; `_END` in a node: a path ends there."""
    root: dict = {}
    for segs in _split(keys):
        node = root
        for seg in segs:
            node = node.setdefault(seg, {})
        node[_END] = True
    return root


def _touches_trie(read: list[str], i: int, node: dict) -> bool:
    """Whether any key of the trie touches `read`, `node` reached by read[:i]: a key
    ending here is a prefix of the read; a read ending here is a prefix of every key through here
    (i > 0: every node below the root has one); a `*` in the read follows every key."""
    if i and (_END in node or i == len(read)):
        return True
    seg = read[i]
    if seg == "*":
        return any(_touches_trie(read, i + 1, child) for k, child in node.items() if k is not _END)
    child = node.get(seg)
    return child is not None and _touches_trie(read, i + 1, child)


def _under_trie(read: list[str], i: int, node: dict) -> bool:
    """Whether `read` lies under any key of the trie: a key ending at or before the read's
    end whose segments equal the read's or are `*` (a `*` in the read matches only a `*` key)."""
    if i and _END in node:
        return True
    if i == len(read):
        return False
    seg = read[i]
    child = node.get(seg)
    if child is not None and _under_trie(read, i + 1, child):
        return True
    star = node.get("*") if seg != "*" else None
    return star is not None and _under_trie(read, i + 1, star)
