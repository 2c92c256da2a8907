"""The audit never writes to the audited platform: a whole live audit leaves MariaDB's binlog position
and GTID, its tables' checksums, Redis's keyspace and write counters and every container's state as
they were; and the audit's own accounts can only read. A recorded live run replays to the same
verdicts (--dump-facts, then --facts)."""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tests.audit import run_audit
from tests.live.conftest import DOCKER, PROJECT, sh, sql
from tests.live.test_break_detect import redis_admin

WRITE_PRIVS = ("INSERT", "UPDATE", "DELETE", "CREATE", "DROP", "ALTER", "ALL PRIVILEGES", "GRANT OPTION", "SUPER",
               "FILE", "SHUTDOWN", "RELOAD", "CREATE USER")


def _platform_state() -> dict[str, Any]:
    tables = sql("SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables WHERE table_type = "
                 "'BASE TABLE' AND table_schema NOT IN ('mysql', 'information_schema', 'performance_schema', "
                 "'sys')").split()
    checksums = sql("CHECKSUM TABLE " + ", ".join(tables)) if tables else ""
    info = redis_admin("INFO", "all")
    # data writes only: keys per database and the changes not yet saved (total_writes_processed counts
    # socket writes, which every read also causes)
    counters = {k: v for k, v in re.findall(r"^(db\d+|rdb_changes_since_last_save|aof_current_size):(.*?)\r?$",
                                           info, re.M)}
    ids = sh(DOCKER, "ps", "-aq", "--filter", f"label=com.docker.compose.project={PROJECT}").split()
    states = sh(DOCKER, "inspect", "-f", "{{.Name}} {{.State.Status}} {{.State.StartedAt}} {{.RestartCount}}", *ids)
    return {"binlog": sql("SHOW MASTER STATUS"), "gtid": sql("SELECT @@gtid_binlog_pos"), "checksums": checksums,
            "redis": counters, "containers": sorted(states.splitlines())}


def test_a_live_audit_changes_nothing(tmp_path: Path) -> None:
    before = _platform_state()
    res = run_audit(tmp_path, "baseline")
    after = _platform_state()
    assert res.failed == set() and res.errors == set()
    assert before["checksums"] and before["redis"], "nothing measured"
    for key in before:
        assert after[key] == before[key], f"{key} changed during the audit: {before[key]!r} -> {after[key]!r}"


def test_the_audit_accounts_can_only_read() -> None:
    grants = sql("SHOW GRANTS FOR 'plancheck_audit'@'%'")
    assert grants and not [p for p in WRITE_PRIVS if re.search(rf"\b{p}\b", grants.upper())], grants
    acl = redis_admin("ACL", "GETUSER", "plancheck")
    assert "+@all" not in acl and "+@write" not in acl and "+@dangerous" not in acl, acl


def test_replay_of_a_live_recording_gives_the_same_verdicts(tmp_path: Path) -> None:
    dump = tmp_path / "facts.json"
    (tmp_path / "live").mkdir()
    (tmp_path / "replay").mkdir()
    live = run_audit(tmp_path / "live", "baseline", args=[f"--dump-facts={dump}"])
    replay = run_audit(tmp_path / "replay", "baseline", facts=json.loads(dump.read_text()))
    verdicts = {c["nodeid"]: c["outcome"] for c in live.checks}
    assert verdicts and {c["nodeid"]: c["outcome"] for c in replay.checks} == verdicts
    assert len(live.items("passed")) >= 600
