"""3.2 Redis 설정 and the cache side of 4. 보안 구성: version, the plan's tunables, persistence,
authentication, TLS only, dangerous commands protected."""
from __future__ import annotations

from typing import Any

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.redis import RedisFacts
from plancheck.profile.models import Profile

RD = "3.2 Redis 설정 (Redis)"
NETSEC = "4.1 네트워크 보안 (TLS between containers)"
ACCESS = "4.2 데이터 보안 (access control)"


def _conf(facts: RedisFacts, name: str) -> Any:
    return facts.config.get(name, "unset (server default)")


@control("RD-001", title="Redis version is the planned one", severity="high", section=RD,
         rationale="The plan fixes the version; another one changes defaults and ACL behaviour.",
         remediation="Deploy the planned Redis version.",
         reads=("redis.version",))
def test_version(check: Check, redis_facts: RedisFacts, profile: Profile) -> None:
    found = check.fact(redis_facts.version)  # static: the version the image tag names (compose project)
    want = profile.redis.version
    check.that(found == want or found.startswith(want + "."), expected=f"{want}.x", found=found,
               what=f"version ({redis_facts.version_source})" if redis_facts.version_source else "version")


@control("RD-002", title="Redis tunable equals the plan", severity="high", section=RD,
         rationale="The plan fixes memory, eviction policy, RDB snapshots and AOF.",
         remediation="Set the directive in redis.conf and restart Redis (CONFIG SET is lost on restart).",
         reads=("redis.settings.{redis_setting}", "redis.{redis_setting}"))
def test_tunable(check: Check, redis_facts: RedisFacts, redis_setting: tuple[str, Any]) -> None:
    name, expected = redis_setting
    check.setting(_conf(redis_facts, name), expected, what=f"{name} (from {redis_facts.config_source})")


@control("RD-003", title="Redis TLS-only setting as required", severity="critical", section=NETSEC,
         rationale="The plan requires TLS 1.3 with client certificates between containers.",
         remediation="Set the directive in redis.conf (port 0, tls-port, tls-auth-clients yes, tls-protocols).",
         reads=("redis.hardening.{redis_hardening}",))
def test_hardening(check: Check, redis_facts: RedisFacts, redis_hardening: tuple[str, Any]) -> None:
    name, expected = redis_hardening
    check.setting(_conf(redis_facts, name), expected, what=name)


@control("RD-004", title="AOF is on and its last write succeeded", severity="high", section=RD,
         rationale="'appendonly: yes' only protects data while AOF writes succeed.",
         remediation="Check disk space and permissions of the AOF directory; see INFO persistence.",
         reads=("redis.settings.appendonly",))
def test_aof_healthy(check: Check, redis_facts: RedisFacts) -> None:
    p = check.fact(redis_facts.persistence)
    check.equal(p.get("aof_enabled", "0"), "1", what="aof_enabled")
    check.equal(p.get("aof_last_write_status", "unknown"), "ok", what="aof_last_write_status")


@control("RD-005", title="Last RDB snapshot succeeded", severity="medium", section=RD,
         rationale="The plan's save schedule is only worth something when snapshots succeed.",
         remediation="Check disk space and permissions of the RDB directory; see INFO persistence.",
         reads=("redis.settings.save",))
def test_rdb_healthy(check: Check, redis_facts: RedisFacts) -> None:
    p = check.fact(redis_facts.persistence)
    check.equal(p.get("rdb_last_bgsave_status", "unknown"), "ok", what="rdb_last_bgsave_status")


@control("RD-006", title="Redis requires authentication", severity="critical", section=ACCESS,
         rationale="An open default user lets any client in the zone read and write the cache.",
         remediation="Disable the default user (`user default off`) or give it a password; use ACL users.",
         reads=("+hardening",))
def test_auth_required(check: Check, redis_facts: RedisFacts) -> None:
    check.equal(redis_facts.unauthenticated_access, False, what="a client without credentials can run commands")


@control("RD-007", title="Redis refuses plaintext connections", severity="critical", section=NETSEC,
         rationale="A plaintext port carries passwords and data unencrypted.",
         remediation="Set `port 0` and serve only `tls-port`.",
         reads=("redis.tls_required",))
def test_no_plaintext(check: Check, redis_facts: RedisFacts) -> None:
    check.equal(redis_facts.plaintext_port_open, False, what="plaintext RESP accepted")


@control("RD-008", title="Dangerous command is restricted to the admin users", severity="high", section=ACCESS,
         rationale="CONFIG SET, FLUSHALL, DEBUG, SHUTDOWN, KEYS in a service account's hands can wipe or "
         "reconfigure the cache.", remediation="Deny the command in the users' ACL rules (-@dangerous) or "
         "rename it to \"\".",
         reads=("redis.protected_commands", "redis.admin_users"))
def test_command_protected(check: Check, redis_facts: RedisFacts, redis_command: str, profile: Profile) -> None:
    users = check.fact(redis_facts.command_access).get(redis_command, ["(not evaluated)"])
    check.subset(users, profile.redis.admin_users, what=f"users allowed to run {redis_command.upper()}")


@control("RD-009", title="redis.conf holds only directives Redis knows", severity="medium", section=RD,
         rationale="A misspelt directive is a planned setting that never applies (Redis refuses to start on it).",
         remediation="Correct the directive at the file and line reported (redis.conf of the planned version).",
         reads=("+wellformed",))
def test_known_directives(check: Check, redis_facts: RedisFacts) -> None:
    check.none_of(check.fact(redis_facts.unknown_directives), what=f"unknown directives ({redis_facts.config_source})",
                  expected_text="every directive known to Redis")
