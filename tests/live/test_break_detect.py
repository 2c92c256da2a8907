"""Break one planned fact of the running baseline at a time (issue: live controls); the audit must
fail exactly the matching control, and pass again once the fact is restored."""
from __future__ import annotations

import contextlib
from typing import Callable

import pytest

from tests.audit import ROOT as ROOT_DIR
from tests.live.conftest import DOCKER, breaking, container, sh, sql


def redis_admin(*command: str) -> str:
    """As the operators' Redis admin user, over TLS inside the Redis container (its own certificate)."""
    password = (ROOT_DIR / "baseline/.secrets/redis/admin.password").read_text().strip()
    return sh(DOCKER, "exec", "-e", f"REDISCLI_AUTH={password}", container("redis"), "redis-cli", "--tls",
              "-h", "localhost", "--cacert", "/etc/plancheck/tls/ca.crt", "--cert", "/etc/plancheck/tls/tls.crt",
              "--key", "/etc/plancheck/tls/tls.key", "--user", "admin", "--no-auth-warning", *command)

BREAKS: dict[str, tuple[str, Callable[[], object], Callable[[], object], set[str]]] = {
    # id: (-k selection, apply, restore, controls expected to fail)
    "mariadb-max_connections": (
        "mariadb", lambda: sql("SET GLOBAL max_connections=10"),
        lambda: sql("SET GLOBAL max_connections=1000"), {"DB-002"}),
    "mariadb-thread_cache_size": (
        "mariadb", lambda: sql("SET GLOBAL thread_cache_size=8"),
        lambda: sql("SET GLOBAL thread_cache_size=128"), {"DB-002"}),
    "mariadb-audit-logging-off": (
        "mariadb", lambda: sql("SET GLOBAL server_audit_logging=OFF"),
        lambda: sql("SET GLOBAL server_audit_logging=ON"), {"DB-003", "DB-009"}),  # off: the plugin is not active
    "mariadb-anonymous-user": (
        "mariadb", lambda: sql("CREATE USER ''@'localhost'"),
        lambda: sql("DROP USER IF EXISTS ''@'localhost'"),
        {"DB-010", "DB-014", "AC-016"}),  # no password either; an account outside the allow-list
    "mariadb-test-database": (
        "mariadb", lambda: sql("CREATE DATABASE test"), lambda: sql("DROP DATABASE IF EXISTS test"), {"DB-011"}),
    "mariadb-remote-root": (
        "mariadb", lambda: sql("CREATE USER 'root'@'10.%' IDENTIFIED BY 'x-Temp-9'"),
        lambda: sql("DROP USER IF EXISTS 'root'@'10.%'"), {"DB-012", "DB-013", "AC-016"}),
    "mariadb-x509-dropped": (
        "mariadb", lambda: sql("ALTER USER 'app'@'%' REQUIRE NONE"),
        lambda: sql("ALTER USER 'app'@'%' REQUIRE X509"), {"DB-015"}),
    "redis-eviction-policy": (
        "redis", lambda: redis_admin("CONFIG", "SET", "maxmemory-policy", "noeviction"),
        lambda: redis_admin("CONFIG", "SET", "maxmemory-policy", "allkeys-lru"), {"RD-002"}),
    "redis-appendonly-off": (
        "redis", lambda: redis_admin("CONFIG", "SET", "appendonly", "no"),
        lambda: redis_admin("CONFIG", "SET", "appendonly", "yes"), {"RD-002", "RD-004"}),  # AOF off: not healthy
    "redis-rdb-schedule": (
        "redis", lambda: redis_admin("CONFIG", "SET", "save", "3600 1"),
        lambda: redis_admin("CONFIG", "SET", "save", "900 1 300 10 60 10000"), {"RD-002"}),
    "redis-app-may-flushall": (
        "redis", lambda: redis_admin("ACL", "SETUSER", "app", "+flushall"),
        lambda: redis_admin("ACL", "SETUSER", "app", "-flushall"), {"RD-008", "AC-015"}),  # beyond app's allow-list
    "container-memory-limit": (
        "test_memory_limit", lambda: sh(DOCKER, "update", "--memory", "300m", "--memory-swap", "300m",
                                        container("redis-exporter")),
        lambda: sh(DOCKER, "update", "--memory", "128m", "--memory-swap", "256m", container("redis-exporter")),
        {"CT-004"}),
    "container-pids-unlimited": (
        "test_pids_limit", lambda: sh(DOCKER, "update", "--pids-limit", "-1", container("redis-exporter")),
        lambda: sh(DOCKER, "update", "--pids-limit", "256", container("redis-exporter")), {"CT-006"}),
    "container-restart-policy": (
        "test_restart_policy", lambda: sh(DOCKER, "update", "--restart", "no", container("redis-exporter")),
        lambda: sh(DOCKER, "update", "--restart", "unless-stopped", container("redis-exporter")), {"CT-007"}),
}


@pytest.mark.parametrize("name", [pytest.param(n, marks=[pytest.mark.breaks(c) for c in sorted(b[3])], id=n)
                                  for n, b in BREAKS.items()])
def test_break_is_detected(name: str, baseline_audit, clean_baseline) -> None:  # type: ignore[no-untyped-def]
    selection, apply, restore, expected = BREAKS[name]
    with contextlib.contextmanager(breaking)(apply, restore):
        broken = baseline_audit("-k", selection)
        assert broken.failed == expected, broken.out
        msgs = [c["message"] for c in broken.items("failed")]
        assert all(any(ctl in m for ctl in expected) for m in msgs)
    healed = baseline_audit("-k", selection)
    assert healed.failed == set()
