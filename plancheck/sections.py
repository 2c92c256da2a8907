"""The plan's numbered sections, as references every control and record points to.

Exactly the ten `###` sections of the plan (infra-plan.ko.md) that state rules, with the plan's own
Korean heading and an English one, plus one heading for the controls the plan does not state but a
hardened platform needs (CIS Docker Benchmark, dev-sec baselines). A control's free `section`
string ("3.1 MariaDB 설정 (backup)") is resolved here once, at registration: a section number and a
topic (the parenthesised part). A string that names no number, or a known number with another
heading, stops the import, so the catalog never holds an unresolved section.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Section:
    id: str          # "3.1", or BEYOND
    ko: str          # the plan's heading, in the plan's words
    en: str

    @property
    def display(self) -> str:
        """The section as controls and records show it: "3.1 MariaDB 설정"."""
        return f"{self.id} {self.ko}" if self.id != BEYOND else self.ko

    def heading(self, lang: str) -> str:
        if self.id == BEYOND:
            return self.ko if lang == "ko" else self.en
        return self.display if lang == "ko" else f"{self.id} {self.ko} ({self.en})"


BEYOND = "beyond"

PLAN_SECTIONS: tuple[Section, ...] = (
    Section("1.1", "하드웨어 구성", "Hardware"),
    Section("1.2", "리소스 할당", "Resource allocation"),
    Section("2.1", "Docker 컨테이너 구조", "Docker container structure"),
    Section("2.2", "컨테이너 리소스 할당", "Container resource allocation"),
    Section("3.1", "MariaDB 설정", "MariaDB settings"),
    Section("3.2", "Redis 설정", "Redis settings"),
    Section("4.1", "네트워크 보안", "Network security"),
    Section("4.2", "데이터 보안", "Data security"),
    Section("5.1", "시스템 모니터링", "System monitoring"),
    Section("5.2", "로그 관리", "Log management"),
)
BEYOND_SECTION = Section(BEYOND, "계획 외 통제 (CIS Docker / dev-sec 강화)",
                         "Beyond the plan (CIS Docker / dev-sec hardening)")

# every section a record may point to, in report order: the plan's ten, then the one beyond it
SECTIONS: dict[str, Section] = {s.id: s for s in PLAN_SECTIONS + (BEYOND_SECTION,)}

_HEAD = re.compile(r"^\s*(\d+)\.(\d+)?\s*(.*?)\s*(?:\((.*)\))?\s*$", re.S)


class SectionError(ValueError):
    """A control's section string does not resolve to a section of the registry."""


def resolve(text: str) -> tuple[Section, str]:
    """("3.1 MariaDB 설정 (backup)") -> (the 3.1 section, "backup").

    A known subsection number must carry the plan's heading (or none); a top-level number alone
    ("2. 컨테이너 구성") or a number the registry does not hold is beyond the plan; the registry's own
    id or display string resolves to itself. Anything else raises SectionError.
    """
    s = (text or "").strip()
    for sec in SECTIONS.values():  # "beyond", "계획 외 통제 (...)", "3.1"
        if s in (sec.id, sec.display, sec.en):
            return sec, ""
    m = _HEAD.match(s)
    if not m:
        raise SectionError(f"section {text!r} names no plan section number (e.g. '3.1 MariaDB 설정 (topic)')")
    major, minor, heading, topic = m.group(1), m.group(2), m.group(3).strip(), (m.group(4) or "").strip()
    sec = SECTIONS.get(f"{major}.{minor}") if minor else None
    if sec is None:
        return BEYOND_SECTION, topic
    if heading and heading not in (sec.ko, sec.en):
        raise SectionError(f"section {text!r}: {sec.id} is {sec.ko!r} in the plan, not {heading!r}")
    return sec, topic


def section(section_id: str) -> Section:
    return SECTIONS.get(section_id, BEYOND_SECTION)
