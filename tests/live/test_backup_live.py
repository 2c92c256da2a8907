"""Break-and-detect on the running baseline for 3.1 백업: each break makes exactly its control fail,
and is undone in a finally block. The restore drill runs here too (it is what `make test` runs): it
must restore the newest chain, match the manifest's checksums, report its RTO, leave nothing behind,
and leave the live database untouched (binlog position and table checksums before == after)."""
from __future__ import annotations

import contextlib
import json
import time
from pathlib import Path
from typing import Iterator

import pytest

from tests.audit import ROOT, run_audit
from tests.live.conftest import DOCKER, container, sh, sql

CONF = ROOT / "baseline/config/backup/backup.conf"
CRONTAB = ROOT / "baseline/config/backup/crontab"
BK = ["-k", "test_backup"]
DRILL = ["-k", "test_restore_drill", "--restore-drill"]


def audit(tmp_path: Path, *args: str):  # type: ignore[no-untyped-def]
    return run_audit(tmp_path / f"run{time.monotonic_ns()}", "baseline", args=list(args))


def bsh(script: str) -> str:
    """A shell command in the backup container as the job's user (test harness, not the audit)."""
    return sh(DOCKER, "exec", "-u", "mysql", container("backup"), "bash", "-c", script)


@contextlib.contextmanager
def edited(path: Path, old: str, new: str) -> Iterator[None]:
    """Rewrite a bind-mounted file in place (same inode: the running container sees it); restore after."""
    original = path.read_text()
    assert old in original, f"{old!r} not in {path}"
    try:
        with open(path, "r+") as f:
            f.write(original.replace(old, new))
            f.truncate()
        yield
    finally:
        with open(path, "r+") as f:
            f.write(original)
            f.truncate()


@contextlib.contextmanager
def manifest_changed(path: str, **changes: object) -> Iterator[None]:
    """Change fields of one backup's manifest.json; the original bytes are put back after."""
    original = bsh(f"cat {path}/manifest.json")
    data = json.loads(original)
    data.update(changes)
    bsh(f"cat > {path}/manifest.json <<'EOF'\n{json.dumps(data, indent=1, sort_keys=True)}\nEOF")
    try:
        yield
    finally:
        bsh(f"cat > {path}/manifest.json <<'EOF'\n{original.rstrip()}\nEOF")


def newest(kind: str = "") -> str:
    out = bsh("for m in /backups/chains/*/*/manifest.json; do dirname \"$m\"; done | sort")
    dirs = [d for d in out.split() if not kind or d.endswith(kind)]
    assert dirs, f"no {kind or 'backup'} in the backup volume"
    return dirs[-1]


@pytest.fixture(scope="module")
def incremental() -> str:
    """An incremental on top of the newest backup (a real run of the job: nothing to undo)."""
    bsh("/usr/local/bin/plancheck-backup incremental")
    return newest("-inc")


def test_backup_controls_pass(tmp_path: Path, incremental: str) -> None:
    res = audit(tmp_path, *BK)
    assert res.failed == set(), [c["message"] for c in res.items("failed") + res.items("error")]
    assert {f"BK-00{i}" for i in range(1, 10)} <= res.controls("passed")


@pytest.mark.breaks("BK-001")
def test_cron_at_0300(tmp_path: Path) -> None:
    with edited(CRONTAB, "\n0 2 * * * ", "\n0 3 * * * "):
        res = audit(tmp_path, *BK)
        assert res.failed == {"BK-001"}, res.out
        assert "0 3 * * *" in res.items("failed")[0]["message"]
    assert audit(tmp_path, *BK).failed == set()


@pytest.mark.breaks("BK-003")
def test_retention_7_days(tmp_path: Path) -> None:
    with edited(CONF, "\nRETENTION_DAYS=30\n", "\nRETENTION_DAYS=7\n"):
        res = audit(tmp_path, *BK)
        assert res.failed == {"BK-003"}, res.out
        assert "7 days" in res.items("failed")[0]["message"]


def _all_backups() -> list[str]:
    return bsh("for m in /backups/chains/*/*/manifest.json; do dirname \"$m\"; done | sort").split()


def _days_earlier(iso: str, days: int) -> str:
    import datetime as dt

    t = dt.datetime.strptime(iso, "%Y-%m-%dT%H:%M:%SZ") - dt.timedelta(days=days)
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.mark.breaks("BK-004")
def test_newest_backup_3_days_old(tmp_path: Path, incremental: str) -> None:
    """The newest backup is 3 days old: every backup's times move 3 days back (so none is fresher)."""
    with contextlib.ExitStack() as stack:
        for path in _all_backups():
            m = json.loads(bsh(f"cat {path}/manifest.json"))
            stack.enter_context(manifest_changed(path, start=_days_earlier(m["start"], 3),
                                                 end=_days_earlier(m["end"], 3)))
        res = audit(tmp_path, *BK)
        assert res.failed == {"BK-004"}, res.out
        assert "age of the newest backup" in res.items("failed")[0]["message"]
    assert audit(tmp_path, *BK).failed == set()


@pytest.mark.breaks("BK-005")
def test_chain_broken(tmp_path: Path, incremental: str) -> None:
    m = json.loads(bsh(f"cat {incremental}/manifest.json"))
    with manifest_changed(incremental, from_lsn=int(m["from_lsn"]) + 1):
        res = audit(tmp_path, *BK)
        assert res.failed == {"BK-005"}, res.out
        assert "from_lsn" in res.items("failed")[0]["message"]


def _live_state() -> tuple[str, str]:
    """Binlog position and checksums of every application table of the LIVE server."""
    pos = sql("SHOW MASTER STATUS")
    tables = sql("SELECT CONCAT(table_schema, '.', table_name) FROM information_schema.tables WHERE table_schema "
                 "NOT IN ('mysql', 'information_schema', 'performance_schema', 'sys') AND table_type='BASE TABLE'")
    sums = sql("CHECKSUM TABLE " + ", ".join(f"`{t.split('.')[0]}`.`{t.split('.')[1]}`" for t in tables.split())) \
        if tables.strip() else ""
    return pos, sums


def _leftovers() -> str:
    return sh(DOCKER, "ps", "-a", "-q", "--filter", "label=io.plancheck.restore-drill") + \
        sh(DOCKER, "volume", "ls", "-q", "--filter", "label=io.plancheck.restore-drill") + \
        sh(DOCKER, "network", "ls", "-q", "--filter", "label=io.plancheck.restore-drill")


@pytest.mark.restore_drill
def test_restore_drill(tmp_path: Path, incremental: str, record_property) -> None:  # type: ignore[no-untyped-def]
    before = _live_state()
    res = audit(tmp_path, *DRILL)
    after = _live_state()
    [drill] = res.checks
    print(f"\nrestore drill: {drill['found']}")
    record_property("restore_drill", drill["found"])
    assert drill["outcome"] == "passed", drill["message"]
    assert "RTO" in drill["found"] and "incremental(s)" in drill["found"]
    assert before == after, "the drill changed the live database"
    assert _leftovers().strip() == "", "the drill left containers, volumes or networks behind"


@pytest.mark.restore_drill
@pytest.mark.breaks("BK-010")
def test_corrupt_newest_backup_fails_the_drill(tmp_path: Path, incremental: str) -> None:
    payload = f"{incremental}/backup.mbstream.enc"
    size = int(bsh(f"stat -c %s {payload}"))
    off = size // 2
    before = _live_state()
    bsh(f"dd if={payload} of=/tmp/drill-orig.bin bs=1 skip={off} count=16 status=none && "
        f"head -c 16 /dev/urandom | dd of={payload} bs=1 seek={off} conv=notrunc status=none")
    try:
        res = audit(tmp_path, *DRILL)
        assert res.failed == {"BK-010"}, res.out
        assert "does not match its manifest" in res.items("failed")[0]["message"]
    finally:
        bsh(f"dd if=/tmp/drill-orig.bin of={payload} bs=1 seek={off} conv=notrunc status=none && rm -f /tmp/drill-orig.bin")
    assert _live_state() == before, "the failed drill changed the live database"
    assert _leftovers().strip() == ""
    assert audit(tmp_path, *BK).failed == set()
