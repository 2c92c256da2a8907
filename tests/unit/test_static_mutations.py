"""Pre-change gating: one changed value in the baseline's desired state (a copy of baseline/) makes
exactly the matching control fail in static mode; the untouched copy fails only on the plan's own
inconsistencies.

One whole static audit of the untouched copy per test process is the reference (with the sources each
check read); a changed value re-reads every source and re-runs each check that read a source whose
facts changed. Every other check reads what it read in the reference, so its verdict there stands: the
whole audit's failures are the reference's, outside the re-run, plus the re-run's."""
from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import yaml

from tests.audit import ROOT, ReferenceRun, changed_sources, gather_facts, reference_run, run_audit

PLAN_FAILURES = {"PLAN-001", "PLAN-003", "PLAN-004"}
pytestmark = pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")


def _copy(tmp_path: Path) -> tuple[Path, Path]:
    """A copy of the desired state (compose + configs) and a profile extending prod that points at it."""
    dst = tmp_path / "baseline"
    shutil.copytree(ROOT / "baseline", dst, ignore=shutil.ignore_patterns(".cache", ".pki", ".secrets", "images"))
    prod = yaml.safe_load((ROOT / "profiles/prod.yaml").read_text())
    files = {k: [str(tmp_path / v[0])] for k, v in prod["target"]["config_files"].items()}
    profile = tmp_path / "gate.yaml"
    profile.write_text(yaml.safe_dump({
        "extends": str(ROOT / "profiles/prod.yaml"), "name": "gate",
        "target": {"compose": {**prod["target"]["compose"], "project_dir": str(dst)}, "config_files": files},
    }))
    return dst, profile


def _edit(path: Path, pattern: str, replacement: str) -> None:
    text = path.read_text()
    new, n = re.subn(pattern, replacement, text, count=1, flags=re.M)
    assert n == 1, f"{pattern!r} not found in {path}"
    path.write_text(new)


MUTATIONS = {
    "redis appendonly no": ("config/redis/redis.conf", r"^appendonly yes", "appendonly no", "RD-002"),
    "redis maxmemory": ("config/redis/redis.conf", r"^maxmemory 16gb", "maxmemory 8gb", "RD-002"),
    "mariadb max_connections": ("config/mariadb/my.cnf", r"^max_connections\s*=\s*1000", "max_connections = 500",
                                "DB-002"),
    "mariadb plaintext allowed": ("config/mariadb/my.cnf", r"^require_secure_transport\s*=\s*ON",
                                  "require_secure_transport = OFF", "DB-003"),
    "mariadb binlog unencrypted": ("config/mariadb/my.cnf", r"^encrypt_binlog\s*=\s*ON", "encrypt_binlog = OFF",
                                   "DB-006"),
    "gateway allows TLS 1.2": ("config/nginx/gateway.conf", r"ssl_protocols TLSv1\.3;", "ssl_protocols TLSv1.2 TLSv1.3;",
                               "WEB-001"),
    "compose redis memory limit": ("compose.yaml", r"(\n  redis:\n(?:    .*\n)*?    mem_limit: )16g", r"\g<1>8g",
                                   "CT-004"),
    # misspelt or malformed lines: a planned value that would never apply
    "mariadb misspelt option": ("config/mariadb/my.cnf", r"(?m)^(max_connections\s*=\s*1000)",
                                "\\1\ninnodb_bufer_pool_size = 48G", "DB-017"),
    "redis misspelt directive": ("config/redis/redis.conf", r"(?m)^(appendonly yes)", "\\1\nappendfsynk everysec",
                                 "RD-009"),
    "nginx misspelt directive": ("config/nginx/gateway.conf", r"(ssl_protocols TLSv1\.3;)",
                                 "\\1\n    ssl_protocol TLSv1.3;", "WEB-008"),
    "crontab six time fields": ("config/backup/crontab", r"(?m)^(0 2 \* \* \* mysql .*)$",
                                "\\1\n0 3 * * * * mysql bash /usr/local/bin/plancheck-backup auto", "BK-012"),
    "compose mariadb published": ("compose.yaml", r"(\n  mariadb:\n(?:    .*\n)*?    mem_limit: 64g\n)",
                                  "\\g<1>    ports: [\"3306:3306\"]\n", "PORT-002"),
    # versions from the image tags of the compose project prod names (compose.upstream.yaml)
    "upstream mariadb 10.11": ("compose.upstream.yaml", r"image: mariadb:10\.6", "image: mariadb:10.11", "DB-001"),
    "upstream redis 7.0": ("compose.upstream.yaml", r"image: redis:6\.2", "image: redis:7.0", "RD-001"),
    # the log tools' desired state (Filebeat, Kibana, Elasticsearch ILM)
    "filebeat ssh audit filed as important": ("config/filebeat/filebeat.yml",
                                              r"\{log_source: ssh-audit, log_class: audit\}",
                                              "{log_source: ssh-audit, log_class: important}", "LOG-006"),
    "filebeat output allows TLS 1.2": ("config/filebeat/filebeat.yml", r"ssl\.supported_protocols: \[TLSv1\.3\]",
                                       "ssl.supported_protocols: [TLSv1.2, TLSv1.3]", "LOG-007"),
    "kibana serves TLS 1.2": ("config/kibana/kibana.yml", r"server\.ssl\.supportedProtocols: \[TLSv1\.3\]",
                              "server.ssl.supportedProtocols: [TLSv1.2, TLSv1.3]", "LOG-008"),
    "ilm audit kept one year": ("config/elasticsearch/ilm/audit.json", r'"min_age": "1825d"', '"min_age": "365d"',
                                "LOG-009"),
    "kibana.yml not YAML": ("config/kibana/kibana.yml", r"^server\.name: kibana", "server.name: [kibana", "LOG-010"),
}


def test_baseline_desired_state_matches_its_profile(tmp_path: Path) -> None:
    """`--profile=baseline --static` is green on a clean checkout: the reference deployment's compose
    files and configs agree with what profiles/baseline.yaml says it needs."""
    res = run_audit(tmp_path, "baseline", static=True)
    assert res.failed == set() and res.errors == set(), sorted(res.failed | res.errors)
    assert res.exit_code == 0


@pytest.fixture(scope="module")
def untouched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, ReferenceRun]:
    """The copy of the desired state, its profile, and the whole static audit of it (the reference)."""
    tmp = tmp_path_factory.mktemp("gate")
    dst, profile = _copy(tmp)
    ref = reference_run(tmp, str(profile), gather_facts(str(profile)), static=True)
    return dst, profile, ref


def test_untouched_desired_state_fails_only_on_the_plan(untouched: tuple[Path, Path, ReferenceRun]) -> None:
    assert untouched[2].result.failed == PLAN_FAILURES


def _audit_changed(tmp_path: Path, untouched: tuple[Path, Path, ReferenceRun]) -> set[str]:
    """The controls that fail in the whole static audit of the copy as it is now."""
    _, profile, ref = untouched
    changed = changed_sources(ref.facts, gather_facts(str(profile)), ignore=("observed_at",))
    assert changed, "the change altered no source's facts"
    rerun = ref.dependents(changed)
    res = run_audit(tmp_path, str(profile), static=True, only=rerun)
    kept = {c["control"] for c in ref.result.checks if c["nodeid"] not in rerun and c["outcome"] == "failed"}
    return kept | res.failed


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.breaks(m[3]), id=n) for n, m in MUTATIONS.items()])
def test_one_changed_value_fails_its_control(tmp_path: Path, untouched: tuple[Path, Path, ReferenceRun],
                                             name: str) -> None:
    dst = untouched[0]
    rel, pattern, replacement, control = MUTATIONS[name]
    original = (dst / rel).read_text()
    _edit(dst / rel, pattern, replacement)
    try:
        failed = _audit_changed(tmp_path, untouched)
    finally:
        (dst / rel).write_text(original)  # the next test starts from the untouched copy again
    assert failed - PLAN_FAILURES == {control}, failed


def test_upstream_override_names_the_plans_versions() -> None:
    """compose.upstream.yaml (for hosts with a registry) parses and names MariaDB 10.6 and Redis 6.2."""
    import subprocess

    out = subprocess.run(["docker-compose", "--env-file", "baseline/.env", "-f", "baseline/compose.yaml",
                          "-f", "baseline/compose.upstream.yaml", "config"], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    services = yaml.safe_load(out.stdout)["services"]
    assert services["mariadb"]["image"] == "mariadb:10.6" and services["redis"]["image"] == "redis:6.2"
