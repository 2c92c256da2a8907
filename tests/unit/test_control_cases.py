"""Every control with a passing and a failing fact set: the recorded compliant facts of the baseline
pass; one mutation per control makes exactly that control fail (and nothing else)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
import yaml

from tests.audit import ROOT, ReferenceRun, load_good_facts, mutate, run_audit, run_mutated

GOOD = load_good_facts()
Facts = dict[str, Any]


def ctr(name: str, **changes: Any) -> Callable[[Facts], None]:
    def apply(f: Facts) -> None:
        f["containers"]["containers"][name].update(changes)
    return apply


def drop_container(name: str) -> Callable[[Facts], None]:
    return lambda f: f["containers"]["containers"].pop(name)


def var(source: str, key: str, name: str, value: Any) -> Callable[[Facts], None]:
    def apply(f: Facts) -> None:
        f[source][key][name] = value
    return apply


def users(change: Callable[[list[dict]], None]) -> Callable[[Facts], None]:
    return lambda f: change(f["mariadb"]["users"])


def user(name: str, **changes: Any) -> Callable[[list[dict]], None]:
    def apply(us: list[dict]) -> None:
        for u in us:
            if u["user"] == name:
                u.update(changes)
    return apply


def site(name: str, **changes: Any) -> Callable[[Facts], None]:
    return lambda f: f["nginx"]["sites"][name].update(changes)


def tablespace_plain(f: Facts) -> None:
    f["mariadb"]["tablespaces"][0]["encrypted"] = False


def extra_container(f: Facts) -> None:
    f["containers"]["containers"]["debug-shell"] = {**f["containers"]["containers"]["redis-exporter"],
                                                     "name": "debug-shell"}


def network_routed(f: Facts) -> None:
    f["containers"]["networks"]["data"]["internal"] = False


def plugins(name: str, status: str) -> Callable[[Facts], None]:
    return lambda f: f["mariadb"]["plugins"].update({name: status})


CASES: dict[str, Callable[[Facts], None]] = {
    "CT-001": drop_container("auth-server"),
    "CT-002": ctr("redis-exporter", running=False),  # not a monitoring tool of the plan (that is MON-009 too)
    "CT-003": ctr("alertmanager", health="unhealthy"),
    "CT-004": ctr("redis", memory=2 * 1024**3),
    "CT-005": ctr("redis", cpus=None),
    "CT-006": ctr("redis", pids_limit=None),
    "CT-007": ctr("redis", restart="no"),
    "CT-008": ctr("redis", privileged=True),
    "CT-009": ctr("redis", cap_add=["SYS_ADMIN"]),
    "CT-010": ctr("redis", no_new_privileges=False),
    "CT-011": ctr("redis", read_only=False),
    "CT-012": ctr("redis", user=""),
    "CT-013": ctr("redis", network_mode="host"),
    "CT-014": ctr("redis", pid_mode="host"),
    "CT-015": ctr("redis", ipc_mode="host"),
    "CT-016": ctr("redis", uts_mode="host"),
    "CT-017": ctr("redis", userns_mode="host"),
    "CT-018": ctr("redis", mounts=[{"source": "/var/run/docker.sock", "target": "/var/run/docker.sock",
                                    "type": "bind", "read_only": True}]),
    "CT-019": ctr("redis", mounts=[{"source": "/etc", "target": "/host/etc", "type": "bind", "read_only": True}]),
    "CT-020": ctr("redis", devices=["/dev/sda"]),
    "CT-021": ctr("redis", seccomp_unconfined=True),
    "CT-022": ctr("redis", log_opts={"max-file": "3"}),
    "CT-023": ctr("mariadb", networks=["data", "edge"]),
    "CT-025": ctr("redis", image="plancheck/redis:latest"),
    "CT-026": ctr("redis", healthcheck=False),
    "CT-027": extra_container,
    "CT-028": lambda f: f["containers"]["networks"]["data"]["members"].append("debug-shell"),
    "NET-001": network_routed,
    "DB-001": lambda f: f["mariadb"].update(version="10.6.18-MariaDB"),
    "DB-002": var("mariadb", "variables", "max_connections", "151"),
    "DB-003": var("mariadb", "variables", "local_infile", "ON"),
    "DB-004": var("mariadb", "variables", "tls_version", "TLSv1.2,TLSv1.3"),
    "DB-005": lambda f: f["mariadb"].update(session_tls_version="TLSv1.2"),
    "DB-006": var("mariadb", "variables", "innodb_encrypt_log", "OFF"),
    "DB-007": plugins("file_key_management", "INACTIVE"),
    "DB-008": tablespace_plain,
    "DB-009": plugins("server_audit", "DISABLED"),
    "DB-010": users(lambda us: us.append({"user": "", "host": "localhost", "ssl_type": "X509",
                                         "empty_password": False})),
    "DB-011": lambda f: f["mariadb"]["databases"].append("test"),
    "DB-012": users(lambda us: us.append({"user": "root", "host": "%", "ssl_type": "X509",
                                          "empty_password": False})),
    "DB-013": users(lambda us: us.append({"user": "report", "host": "10.%", "ssl_type": "X509",
                                          "empty_password": False})),
    "DB-014": users(lambda us: us.append({"user": "report", "host": "%", "ssl_type": "",
                                          "empty_password": True})),
    "DB-015": users(user("app", ssl_type="")),
    "DB-016": users(user("app", grant_option=True)),
    "RD-001": lambda f: f["redis"].update(version="6.0.16"),
    "RD-002": var("redis", "config", "maxmemory-policy", "noeviction"),
    "RD-003": var("redis", "config", "tls-protocols", "TLSv1.2 TLSv1.3"),
    "RD-004": var("redis", "persistence", "aof_last_write_status", "err"),
    "RD-005": var("redis", "persistence", "rdb_last_bgsave_status", "err"),
    "RD-006": lambda f: f["redis"].update(unauthenticated_access=True),
    "RD-007": lambda f: f["redis"].update(plaintext_port_open=True),
    "RD-008": var("redis", "command_access", "flushall", ["app"]),
    "WEB-001": site("gateway", ssl_protocols=["TLSv1.2", "TLSv1.3"]),
    "WEB-002": lambda f: f["nginx"]["sites"]["gateway"]["headers"].pop("Strict-Transport-Security"),
    "WEB-003": site("gateway", server_tokens="on"),
    "WEB-004": site("admin-portal", verify_client="optional"),
    "WEB-005": site("gateway", proxy_ssl_verify="off"),
    "WEB-006": lambda f: f["nginx"]["sites"]["gateway"]["listeners"].append({"port": 80, "ssl": False}),
    "WEB-007": lambda f: f["nginx"]["sites"]["gateway"]["headers"].pop("X-Frame-Options"),
    # a misspelt directive in the desired state's files (static facts; a live server refuses them)
    "DB-017": lambda f: f["mariadb"].update(unknown_options=["my.cnf:24: unknown option 'max_conections'"]),
    "RD-009": lambda f: f["redis"].update(unknown_directives=["redis.conf:35: unknown directive 'maxmemory-polcy'"]),
    "WEB-008": site("gateway", unknown_directives=["gateway.conf:17: unknown directive 'ssl_protocol'"]),
    "BK-012": lambda f: f["backup"].update(cron_problems=["plancheck-backup:3: 6 time fields: '0 2 * * * * ...'"]),
    "MON-001": lambda f: f["monitoring"].update(prometheus_ready="HTTP 503: Service Unavailable"),
    # the on-call receiver accepts alerts and delivers them nowhere
    "MON-010": lambda f: f["monitoring"]["alertmanager"]["receivers"].update({"platform-oncall": []}),
}


def test_good_facts_pass(good_baseline: ReferenceRun) -> None:
    res = good_baseline.result
    assert res.exit_code == 0 and res.failed == set() and res.errors == set(), (res.failed, res.errors)
    covered = {c["control"] for c in res.checks if c["outcome"] == "passed"}
    assert set(CASES) <= covered, sorted(set(CASES) - covered)


@pytest.mark.parametrize("control", [pytest.param(c, marks=pytest.mark.breaks(c), id=c) for c in sorted(CASES)])
def test_control_fails_on_its_broken_fact(tmp_path: Path, control: str, good_baseline: ReferenceRun) -> None:
    # the whole audit, re-run where the broken source is read (the rest is the compliant run's)
    res = run_mutated(tmp_path, good_baseline, mutate(GOOD, CASES[control]))
    assert res.failed == {control}
    # only a missing container leaves other checks unable to judge it: errors naming the container
    assert all("cannot reach auth-server" in c["message"] for c in res.items("error")), res.errors
    assert not res.errors or control == "CT-001"
    failed = res.items("failed")
    assert failed and all(c["message"].startswith(control) and c["expected"] and c["found"] for c in failed)


# --- the plan checked against itself: break the numbers in a child profile -----------------------
PROFILE_CASES: dict[str, dict[str, Any]] = {
    "PLAN-001": {"containers": {"redis": {"memory": "11GB"}}},
    "PLAN-002": {"allocations": {"ai-system": {"memory": "20GB"}}},
    "PLAN-003": {"hardware": {"memory": "8GB"}},
    "PLAN-004": {"allocations": {"app-db": {"zones": [
        "application", "database", "edge", "admin"]}}},
    "PLAN-005": {"containers": {"chat-server": {"gpus": [1]}}},
    "PLAN-006": {"allocations": {"ai-system": {"gpus": 4}}},
    "PLAN-007": {"containers": {"llm-server": {"gpus": [0, 7]}}},
    "PLAN-008": {"containers": {"prometheus": {"gpus": [3]}}},
    "PLAN-009": {"allocations": {"ai-system": {"storage": "1TB"}}},
    "PLAN-010": {"mariadb": {"variables": {"innodb_buffer_pool_size": "3GB"}}},
    "PLAN-011": {"redis": {"maxmemory": "2GB"}},
    "PLAN-012": {"containers": {"redis": {"zone": "cache"}}},
    # grafana's endpoint reaches another service: grafana listens, and no TLS endpoint proves it
    "PLAN-013": {"target": {"endpoints": {"grafana": {"host": "service:prometheus"}}}},
    # auth-server dropped from the apps job, and no reason given
    "PLAN-014": {"monitoring": {"scrape_targets": {"apps": ["api-server", "chat-server"]}}},
    # api-server's logs mapped to a source the plan does not collect
    "PLAN-015": {"logs": {"container_sources": {"api-server": "debug"}}},
}


def test_plan_controls_pass_on_baseline(tmp_path: Path) -> None:
    assert run_audit(tmp_path, "baseline", args=["-k", "test_allocation"]).failed == set()


@pytest.mark.parametrize("control", [pytest.param(c, marks=pytest.mark.breaks(c), id=c)
                                     for c in sorted(PROFILE_CASES)])
def test_plan_control_fails_on_its_broken_number(tmp_path: Path, control: str) -> None:
    child = tmp_path / "broken.yaml"
    child.write_text(yaml.safe_dump({"extends": str(ROOT / "profiles/baseline.yaml"), **PROFILE_CASES[control]}))
    res = run_audit(tmp_path, str(child), args=["-k", "test_allocation"])
    assert control in res.failed
    extra = res.failed - {control}
    # a number can legitimately break a neighbour (a GPU outside the budget is also shared across zones)
    assert extra <= {"PLAN-001", "PLAN-002", "PLAN-003", "PLAN-005", "PLAN-008"} - {control}, extra
