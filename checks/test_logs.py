"""5.2 로그 관리: every log source of the plan is collected, and each retention class keeps its logs
exactly as long as the plan says (실시간 7일, 중요 1년, 감사 5년) -- in the retention job's config,
in the files actually kept, and in Elasticsearch's ILM policies where an Elasticsearch is named."""
from __future__ import annotations

import fnmatch

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.elasticsearch import ElasticsearchFacts
from plancheck.facts.logs import LogsFacts, rotation_for, template_matches
from plancheck.profile.models import Profile
from plancheck.units import format_duration

LOG = "5.2 로그 관리 (log management)"
DAY = 86400.0


def _days(v: float) -> str:
    return f"{v:g} days"


def _class_dir(profile: Profile, log_class: str) -> str:
    return f"{profile.logs.collector.root.rstrip('/')}/{log_class}"


def _audit_classes(profile: Profile) -> list[str]:
    return sorted({c for s, c in profile.logs.sources.items() if "audit" in s})


@control("LOG-001", title="Log source of the plan is collected into its retention class", severity="high",
         section=LOG, rationale="The plan collects application, system and security audit logs; a source "
         "the collector does not file is kept nowhere, for no retention.",
         remediation="Ship the source to the collector (syslog facility / file input) and file it under "
         "<root>/<class>/.")
def test_source_collected(check: Check, logs_facts: LogsFacts, log_source: str, profile: Profile) -> None:
    cls = profile.logs.sources[log_source]
    cdir = _class_dir(profile, cls)
    patterns = profile.logs.evidence.get(log_source) or ["*"]
    unrouted = [p for p in patterns if not any(template_matches(t, f"{cdir}/{p}") for t in logs_facts.outputs)]
    check.none_of(unrouted, what=f"{log_source} files the collector never writes under {cdir} "
                  f"({logs_facts.router_source})", expected_text="every evidence file routed")
    if not check.observed(logs_facts.files):
        return  # static mode: the collector's routing is the desired state's whole evidence
    have = logs_facts.files.get(cls, [])
    absent = [p for p in patterns if not any(fnmatch.fnmatch(f.name, p) or fnmatch.fnmatch(f.name, p + "*")
                                             for f in have if f.bytes > 0)]
    check.none_of(absent, what=f"{log_source} logs missing from {cdir}", expected_text="a non-empty file for each")


@control("LOG-002", title="Retention class is kept exactly as long as the plan says (config)", severity="high",
         section=LOG, rationale="The plan: 실시간 로그 7일, 중요 로그 1년, 감사 로그 5년. Shorter loses evidence, "
         "longer keeps personal data past its purpose.",
         remediation="Set rotate N (with daily) and maxage N for the class's files in the retention job's config.")
def test_class_retention(check: Check, logs_facts: LogsFacts, log_class: str, profile: Profile) -> None:
    want = profile.logs.classes[log_class].retention
    rot = rotation_for(logs_facts.rotations, _class_dir(profile, log_class))
    if rot is None:
        check.fail(f"{log_class}: no retention rule for {_class_dir(profile, log_class)}/ in {logs_facts.rotation_source}")
    days = rot.retention_days  # type: ignore[union-attr]
    check.that(days == want, expected=_days(want), what=f"{log_class} retention ({logs_facts.rotation_source})",
               found=f"{_days(days) if days is not None else 'volume-dependent'} ({rot.describe()})")  # type: ignore[union-attr]


@control("LOG-003", title="Log files kept match the class's retention", severity="medium", section=LOG,
         rationale="The config is only a promise: no file may be older than the class's retention and, once "
         "the platform is older than the retention, the oldest file shows the whole window is kept.",
         remediation="Check the retention job runs (logrotate state) and that nothing else deletes or keeps files.")
def test_files_retention(check: Check, logs_facts: LogsFacts, log_class: str, profile: Profile) -> None:
    files = check.fact(logs_facts.files).get(log_class, [])
    want = profile.logs.classes[log_class].retention
    now = logs_facts.observed_at
    too_old = [f"{f.name} ({(now - f.mtime) / DAY:.1f}d)" for f in files if now - f.mtime > (want + 1) * DAY]
    check.none_of(too_old, what=f"{log_class} files older than {format_duration(want)}")
    _window_kept(check, logs_facts, log_class, want)


def _window_kept(check: Check, logs_facts: LogsFacts, log_class: str, want: float) -> None:
    """The oldest file of the class shows the window is kept: as old as the platform (the log volume's
    creation), capped at the retention, less a day of rotation lag. An unreadable age is an error."""
    since = check.fact(logs_facts.platform_since)
    now = logs_facts.observed_at
    files = check.fact(logs_facts.files).get(log_class, [])
    needed = max(min((now - since) / DAY, want) - 1, 0.0)
    oldest = max((now - f.mtime) / DAY for f in files) if files else None
    check.that(oldest is not None and oldest >= needed, expected=f">= {needed:.1f}d (platform {(now - since) / DAY:.1f}d "
               f"old, retention {format_duration(want)}, less a day)",
               found="no file" if oldest is None else f"{oldest:.1f}d", what=f"age of the oldest {log_class} file")


@control("LOG-004", title="Audit logs are not deleted early", severity="critical", section=LOG,
         rationale="감사 로그 5년: audit records must survive the whole window; size-triggered rotation with a "
         "count deletes them as soon as the volume grows, whatever the configured days.",
         remediation="Rotate audit files by time only (no size/maxsize), keep them the full retention, and "
         "find what removed older files.")
def test_audit_not_deleted_early(check: Check, logs_facts: LogsFacts, profile: Profile) -> None:
    classes = _audit_classes(profile)
    if not classes:
        check.fail("the profile maps no log source with 'audit' in its name to a class (logs.sources)")
    for cls in classes:
        rot = rotation_for(logs_facts.rotations, _class_dir(profile, cls))
        check.that(rot is None or not rot.size_based, expected="time-based rotation only",
                   found=rot.describe() if rot else "never rotated", what=f"{cls} rotation")
        if check.observed(logs_facts.files):  # static mode: the rotation rule is the whole evidence
            _window_kept(check, logs_facts, cls, profile.logs.classes[cls].retention)


@control("LOG-005", title="Elasticsearch ILM deletes the class's indices after the planned retention",
         severity="high", section=LOG, rationale="With Elasticsearch (plan 5.2 도구), retention is the ILM "
         "policy's delete phase: its min_age must equal the class's retention.",
         remediation="PUT _ilm/policy/<name> with phases.delete.min_age = the retention and a delete action.")
def test_ilm_policy(check: Check, elasticsearch_facts: ElasticsearchFacts, log_class: str, profile: Profile) -> None:
    policies = check.fact(elasticsearch_facts.policies)
    name = profile.logs.elasticsearch.ilm_policies.get(log_class)
    if name is None:
        check.fail(f"{log_class}: the profile names no ILM policy for this class (logs.elasticsearch.ilm_policies)")
    pol = policies.get(name)
    if pol is None:
        check.fail(f"{log_class}: ILM policy {name} not found in {elasticsearch_facts.source}")
    want = profile.logs.classes[log_class].retention
    check.that(pol.deletes, expected="a delete phase with a delete action",  # type: ignore[union-attr]
               found=f"phases {pol.phases}", what=f"ILM {name}")  # type: ignore[union-attr]
    check.that(pol.delete_min_age_days is not None and abs(pol.delete_min_age_days - want) < 1e-6,  # type: ignore[union-attr]
               expected=_days(want), found=str(pol.delete_min_age), what=f"ILM {name} delete min_age")  # type: ignore[union-attr]
