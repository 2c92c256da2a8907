"""5.2 로그 관리: every log source of the plan is collected, and each retention class keeps its logs
exactly as long as the plan says (실시간 7일, 중요 1년, 감사 5년) -- in the retention job's config,
in the files actually kept, and in Elasticsearch's ILM policies where an Elasticsearch is named."""
from __future__ import annotations

import fnmatch

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.elasticsearch import ElasticsearchFacts
from plancheck.facts.logs import LogsFacts, rotation_for, template_matches
from plancheck.facts.logstack import LogStackFacts
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
         "<root>/<class>/.",
         reads=("logs.sources.{log_source}",))
def test_source_collected(check: Check, logs_facts: LogsFacts, log_source: str, profile: Profile) -> None:
    cls = profile.logs.sources[log_source]
    cdir = _class_dir(profile, cls)
    patterns = profile.logs.evidence.get(log_source) or ["*"]
    unrouted = [p for p in patterns if not any(template_matches(t, f"{cdir}/{p}") for t in logs_facts.outputs)]
    check.none_of(unrouted, what=f"{log_source} files the collector never writes under {cdir} "
                  f"({logs_facts.router_source})", expected_text="every evidence file routed")
    if not check.observed(logs_facts.files):
        return  # static mode: the collector's routing is the desired state's whole evidence
    if log_source in profile.logs.not_shipped:  # routed, but nothing on this target sends it
        check.not_applicable(f"{log_source}: {profile.logs.not_shipped[log_source]}")
    have = logs_facts.files.get(cls, [])
    absent = [p for p in patterns if not any(fnmatch.fnmatch(f.name, p) or fnmatch.fnmatch(f.name, p + "*")
                                             for f in have if f.bytes > 0)]
    check.none_of(absent, what=f"{log_source} logs missing from {cdir}", expected_text="a non-empty file for each")


@control("LOG-002", title="Retention class is kept exactly as long as the plan says (config)", severity="high",
         section=LOG, rationale="The plan: 실시간 로그 7일, 중요 로그 1년, 감사 로그 5년. Shorter loses evidence, "
         "longer keeps personal data past its purpose.",
         remediation="Set rotate N (with daily) and maxage N for the class's files in the retention job's config.",
         reads=("logs.classes.{log_class}.retention",))
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
         remediation="Check the retention job runs (logrotate state) and that nothing else deletes or keeps files.",
         reads=("logs.classes.{log_class}.retention",))
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
         "find what removed older files.",
         reads=("logs.classes",))
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
         remediation="PUT _ilm/policy/<name> with phases.delete.min_age = the retention and a delete action.",
         reads=("logs.classes.{log_class}.retention",))
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



# --- the plan's tools in their desired state (Filebeat, Kibana, Elasticsearch ILM) ------------------
# Desired-state checks only: Filebeat and Kibana cannot be installed where plancheck is built and
# tested, and neither is a service of the compose project yet; nothing below has been verified
# against a running Filebeat, Kibana or Elasticsearch. In live mode these checks are not checkable.
def _listed(value: object) -> list[str]:
    if value is None or value == "":
        return []
    return [str(v) for v in value] if isinstance(value, (list, tuple)) else [str(value)]


@control("LOG-006", title="Filebeat ships the log source with its retention class (desired state)", severity="high",
         section="5.2 로그 관리 (도구: Filebeat)",
         rationale="The plan's 도구 is Filebeat: every log source of the plan needs an enabled input that tags its "
         "events with the source and its retention class, or its logs reach no index and no ILM policy. "
         "Desired state only (filebeat.yml): Filebeat cannot run where this audit is built.",
         remediation="Add a filebeat.inputs entry for the source with fields.log_source and fields.log_class.",
         reads=("logs.sources.{log_source}",))
def test_filebeat_input(check: Check, logstack_facts: LogStackFacts, log_source: str, profile: Profile) -> None:
    fb = profile.logs.filebeat
    inputs = check.fact(logstack_facts.filebeat_inputs)
    mine = [i for i in inputs if i.enabled and i.fields.get(fb.source_field) == log_source]
    check.that(bool(mine), expected=f"an enabled input with fields.{fb.source_field}: {log_source}",
               found=f"{len(inputs)} inputs, none for it" if not mine else ", ".join(i.id or i.type for i in mine),
               what=f"{log_source} in {logstack_facts.filebeat_source}")
    want = profile.logs.sources[log_source]
    check.that(all(i.fields.get(fb.class_field) == want for i in mine), expected=f"fields.{fb.class_field}: {want}",
               found=sorted({i.fields.get(fb.class_field, "unset") for i in mine}), what=f"{log_source} class")


@control("LOG-007", title="Filebeat sends to Elasticsearch over TLS 1.3 with a client certificate (desired state)",
         severity="high", section="5.2 로그 관리 (도구: Filebeat)",
         rationale="4.1 내부 통신: 컨테이너 간 TLS 1.3 and 서비스 메시 mTLS hold for the log pipeline too: Elasticsearch "
         "requires client certificates. Desired state only (filebeat.yml).",
         remediation="output.elasticsearch: hosts https://..., ssl.supported_protocols [TLSv1.3], ssl.certificate, "
         "ssl.key, ssl.certificate_authorities, ssl.verification_mode full.",
         reads=("logs.filebeat.tls_versions", "security.tls.internal_versions", "security.tls.mtls"))
def test_filebeat_output_tls(check: Check, logstack_facts: LogStackFacts, profile: Profile) -> None:
    out = check.fact(logstack_facts.filebeat_output)
    where = f"output.elasticsearch ({logstack_facts.filebeat_source})"
    hosts = _listed(out.get("hosts"))
    check.that(bool(hosts) and all(h.startswith("https://") for h in hosts), expected="https:// hosts only",
               found=hosts or "none", what=f"{where} hosts")
    check.equal(_listed(out.get("ssl.supported_protocols")), profile.logs.filebeat.tls_versions,
                what=f"{where} ssl.supported_protocols")
    check.that(str(out.get("ssl.verification_mode", "full")) in ("full", "strict"), expected="full",
               found=str(out.get("ssl.verification_mode", "full (default)")), what=f"{where} ssl.verification_mode")
    missing = [k for k in ("ssl.certificate_authorities", "ssl.certificate", "ssl.key") if not _listed(out.get(k))]
    check.none_of(missing, what=f"{where} TLS files not set", expected_text="CA, client certificate and key")


@control("LOG-008", title="Kibana serves TLS 1.3 and reaches Elasticsearch over verified TLS (desired state)",
         severity="high", section="5.2 로그 관리 (도구: Kibana)",
         rationale="Kibana is the plan's log viewer: operators reach it over HTTPS (TLS 1.3 only) and it reaches "
         "Elasticsearch, which requires client certificates, over verified TLS. Desired state only (kibana.yml).",
         remediation="server.ssl.enabled: true, server.ssl.supportedProtocols [TLSv1.3], elasticsearch.hosts "
         "https://..., elasticsearch.ssl.certificateAuthorities, certificate, key, verificationMode full.",
         reads=("logs.kibana.tls_versions", "security.tls.internal_versions", "security.tls.mtls"))
def test_kibana_tls(check: Check, logstack_facts: LogStackFacts, profile: Profile) -> None:
    k = check.fact(logstack_facts.kibana)
    where = logstack_facts.kibana_source
    check.equal(k.get("server.ssl.enabled") is True, True, what=f"server.ssl.enabled ({where})")
    check.equal(_listed(k.get("server.ssl.supportedProtocols")), profile.logs.kibana.tls_versions,
                what="server.ssl.supportedProtocols")
    hosts = _listed(k.get("elasticsearch.hosts"))
    check.that(bool(hosts) and all(h.startswith("https://") for h in hosts), expected="https:// hosts only",
               found=hosts or "none", what="elasticsearch.hosts")
    check.that(str(k.get("elasticsearch.ssl.verificationMode", "full")) == "full", expected="full",
               found=str(k.get("elasticsearch.ssl.verificationMode", "full (default)")),
               what="elasticsearch.ssl.verificationMode")
    missing = [key for key in ("elasticsearch.ssl.certificateAuthorities", "elasticsearch.ssl.certificate",
                               "elasticsearch.ssl.key") if not _listed(k.get(key))]
    check.none_of(missing, what="elasticsearch.ssl files not set", expected_text="CA, client certificate and key")


@control("LOG-009", title="ILM policy file of the class deletes after the planned retention (desired state)",
         severity="high", section="5.2 로그 관리 (보관 정책)",
         rationale="실시간 로그 7일, 중요 로그 1년, 감사 로그 5년: the ILM policy each class's indices get must delete "
         "exactly then. The policy files are the desired state LOG-005 checks on a running cluster; Elasticsearch "
         "cannot run where this audit is built.",
         remediation="Write config/elasticsearch/ilm/<class>.json with phases.delete.min_age = the class's retention "
         "and a delete action.",
         reads=("logs.classes.{log_class}.retention",))
def test_ilm_policy_file(check: Check, logstack_facts: LogStackFacts, log_class: str, profile: Profile) -> None:
    pol = check.fact(logstack_facts.ilm).get(log_class)
    if pol is None:
        check.fail(f"{log_class}: no {log_class}.json among {logstack_facts.ilm_source}")
    want = profile.logs.classes[log_class].retention
    check.that(pol.deletes, expected="a delete phase with a delete action", found=f"phases {pol.phases}",  # type: ignore[union-attr]
               what=f"{log_class}.json")
    check.that(pol.delete_min_age_days is not None and abs(pol.delete_min_age_days - want) < 1e-6,  # type: ignore[union-attr]
               expected=_days(want), found=str(pol.delete_min_age), what=f"{log_class}.json delete min_age")  # type: ignore[union-attr]


@control("LOG-010", title="Log tool of the plan has a desired-state file", severity="medium",
         section="5.2 로그 관리 (도구)",
         rationale="The plan's 도구 (Filebeat, Elasticsearch, Kibana) are deployed from files under version control; "
         "a tool with no file (or one that does not parse) is not deployable as planned. Desired state only.",
         remediation="Add the tool's file(s) under baseline/config/ and name them in target.config_files "
         "(logs.tool_configs maps the tool to the key).",
         reads=("logs.tools",))
def test_log_tool_config(check: Check, logstack_facts: LogStackFacts, log_tool: str, profile: Profile) -> None:
    key = profile.logs.tool_configs.get(log_tool)
    if key is None:
        check.fail(f"{log_tool}: the profile names no desired-state file for it (logs.tool_configs)")
    files = logstack_facts.files.get(key, [])  # type: ignore[arg-type]
    check.that(bool(files), expected="at least one file", found=files or "none", what=f"{log_tool} ({key})")
    check.none_of(logstack_facts.problems.get(key, []), what=f"{log_tool} files missing or not parsed",  # type: ignore[arg-type]
                  among=len(files), noun="files")
