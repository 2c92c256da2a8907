"""Labels of the HTML report in English and Korean (`--lang`, or the profile's `report_language`).

Control titles and fixes in Korean come from ko.yaml beside this file (keyed by control id); where a
control has none there, the report shows the English text. The plan's section headings are the
plan's own words in both languages (plancheck.sections).
"""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any

import yaml

LANGS = ("en", "ko")

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "title": "plancheck compliance report",
        "heading": "plancheck compliance report: profile {profile}, {mode} audit",
        "plan": "Plan", "started": "started", "gate": "gate: fail on", "exit": "exit status",
        "checks_total": "checks",
        "passed": "passed", "failed": "failed", "error": "error", "waived": "waived", "skipped": "skipped",
        "observed": "observed", "total": "total", "observed_of": "observed / total",
        "run_errors": "Run errors", "notes": "Not verified live on this run",
        "errors_line": "{n} checks could not judge (outcome error): their controls are listed right after the failures",
        "coverage": "Coverage",
        "by_section": "By plan section", "by_severity": "By severity", "section": "plan section",
        "severity": "severity", "outcome": "outcome", "control": "control", "controls": "Controls",
        "title_col": "title", "items": "items", "item": "item", "expected": "expected", "found": "found",
        "message": "message", "fix": "fix", "waiver": "waiver", "approved_by": "approved by",
        "expires": "expires", "expired": "EXPIRED: no longer waives", "topic": "topic",
        "filter": "Filter", "all": "all", "search": "search (id, title, item, value)",
        "shown": "controls shown", "trend": "Trend",
        "trend_caption": "passed / failed / error per run, last {n} runs of profile {profile} ({mode})",
        "changes": "Changed since the previous run ({prev})",
        "no_changes": "No check changed its outcome since the previous run ({prev}).",
        "before": "before", "now": "now", "absent": "(absent)", "more": "… and {n} more",
        "beyond_note": "Controls the plan does not state (CIS Docker Benchmark, dev-sec baselines).",
        "sev_critical": "critical", "sev_high": "high", "sev_medium": "medium", "sev_low": "low",
        "sources": "Fact sources", "source": "source", "timeline": "timeline (s from start)",
        "round_trips": "round trips", "bytes": "bytes",
        "round_trips_help": "live: requests, queries, handshakes or connects to the target; static: files read",
        "waited": "of which deliberate waits (a fresh TOTP step)",
        "sources_caption": "gathered concurrently before the first check; the run costs its slowest source",
        "audit_accounts": "Audit accounts (what this audit could change)",
        "audit_accounts_caption": "the accounts this audit connects as, with their grants as observed in this run",
        "store": "store", "account": "account", "grants": "grants", "read_only": "read-only",
        "could_change": "could change", "yes": "yes", "no": "no", "unknown": "unknown",
        "by_basis": "Checked at which value",
        "basis_caption": "observed checks by whose expected value they compared: the plan's own, an override of "
                         "the profile (profiles/baseline.yaml says why), or a value beyond the plan's words; "
                         "skipped checks by why (errors are not counted here)",
        "at_plan": "at plan value", "at_override": "at override", "at_addition": "beyond the plan",
        "skipped_profile": "skipped", "not_here": "not checkable here", "undeclared": "basis not declared",
    },
    "ko": {
        "title": "plancheck 준수 점검 보고서",
        "heading": "plancheck 준수 점검 보고서: 프로파일 {profile}, {mode} 점검",
        "plan": "계획서", "started": "시작", "gate": "판정 기준: 실패 심각도", "exit": "종료 코드",
        "checks_total": "건 점검",
        "passed": "통과", "failed": "실패", "error": "오류", "waived": "예외 승인", "skipped": "건너뜀",
        "observed": "관측", "total": "전체", "observed_of": "관측 / 전체",
        "run_errors": "실행 오류", "notes": "이번 실행에서 실제 확인하지 못한 항목",
        "errors_line": "{n}건의 점검은 판단할 수 없었습니다(결과: 오류). 해당 통제는 실패 항목 바로 다음에 있습니다.",
        "coverage": "점검 범위",
        "by_section": "계획서 항목별", "by_severity": "심각도별", "section": "계획서 항목",
        "severity": "심각도", "outcome": "결과", "control": "통제", "controls": "통제 항목",
        "title_col": "제목", "items": "대상", "item": "대상", "expected": "기대값", "found": "실제값",
        "message": "메시지", "fix": "조치", "waiver": "예외", "approved_by": "승인자",
        "expires": "만료", "expired": "만료됨: 더 이상 예외가 아님", "topic": "세부 주제",
        "filter": "필터", "all": "전체", "search": "검색 (ID, 제목, 대상, 값)",
        "shown": "개 통제 표시", "trend": "추이",
        "trend_caption": "실행별 통과 / 실패 / 오류, 프로파일 {profile} ({mode}) 최근 {n}회",
        "changes": "이전 실행({prev}) 이후 결과가 바뀐 점검",
        "no_changes": "이전 실행({prev}) 이후 결과가 바뀐 점검이 없습니다.",
        "before": "이전", "now": "현재", "absent": "(없음)", "more": "… 외 {n}건",
        "beyond_note": "계획서에 없는 통제 (CIS Docker Benchmark, dev-sec 기준).",
        "sev_critical": "치명", "sev_high": "높음", "sev_medium": "보통", "sev_low": "낮음",
        "sources": "사실 수집 원천", "source": "원천", "timeline": "시간축 (시작 후 초)",
        "round_trips": "왕복 횟수", "bytes": "바이트",
        "round_trips_help": "라이브: 대상에 보낸 요청·쿼리·핸드셰이크·연결 수, 정적: 읽은 파일 수",
        "waited": "그중 의도된 대기 시간 (새 TOTP 스텝)",
        "sources_caption": "첫 점검 전에 동시에 수집하며, 실행 시간은 가장 느린 원천이 정합니다",
        "audit_accounts": "감사 계정 (이 감사가 바꿀 수 있는 것)",
        "audit_accounts_caption": "이 감사가 접속하는 계정과, 이번 실행에서 관측한 그 권한",
        "store": "저장소", "account": "계정", "grants": "권한", "read_only": "읽기 전용",
        "could_change": "바꿀 수 있는 권한", "yes": "예", "no": "아니오", "unknown": "알 수 없음",
        "by_basis": "어떤 기준값으로 점검했는가",
        "basis_caption": "관측된 점검을 기대값의 출처별로 셉니다: 계획서 값, 프로파일의 재정의(이유는 profiles/baseline.yaml), "
                         "계획서 문구에 없는 추가 값. 건너뛴 점검은 이유별로 셉니다 (오류는 세지 않음).",
        "at_plan": "계획서 값", "at_override": "재정의 값", "at_addition": "계획 외 값",
        "skipped_profile": "건너뜀", "not_here": "여기서 점검 불가", "undeclared": "기준 미선언",
    },
}


def labels(lang: str) -> dict[str, str]:
    return LABELS.get(lang, LABELS["en"])


@lru_cache(maxsize=1)
def korean_controls() -> dict[str, dict[str, str]]:
    """{control id: {"title": ..., "remediation": ...}} from ko.yaml (missing file: none)."""
    path = Path(__file__).with_name("ko.yaml")
    if not path.exists():
        return {}
    data: Any = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    return {str(k): {kk: str(vv) for kk, vv in (v or {}).items()} for k, v in data.items()}


def control_text(control: str, field: str, english: str, lang: str) -> str:
    """A control's title or remediation in `lang`, falling back to the English text."""
    if lang == "ko":
        return korean_controls().get(control, {}).get(field) or english
    return english
