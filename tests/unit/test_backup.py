"""Backup controls BK-001..BK-010 on a recorded-shape fact set: a compliant platform 40 days old with
daily backups (weekly fulls, daily incrementals) passes; one mutation per control makes exactly that
control fail. Plus the parsers (crontab, settings) and the backup volume scanner."""
from __future__ import annotations

import copy
import datetime as dt
import io
import tarfile
from pathlib import Path
from typing import Any, Callable

import pytest

from plancheck.facts.backup import MBSTREAM_MAGIC, parse_crontab, parse_settings, scan_archive
from tests.audit import run_audit

Facts = dict[str, Any]
T = dt.datetime(2026, 11, 27, 3, 0, tzinfo=dt.timezone.utc)  # 12:00 in Asia/Seoul
DAY = 86400
ARGS = ["-k", "test_backup"]


def _iso(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%SZ")


def good_backup() -> Facts:
    """40 days of daily backups at 02:00 KST (17:00 UTC), a full every 7 days, 30 days kept."""
    sets = []
    lsn = 1_000_000
    first = dt.datetime(2026, 10, 27, 17, 0, tzinfo=dt.timezone.utc)  # 30 days before the newest
    chain = base = ""
    for i in range(31):
        start = first + dt.timedelta(days=i)
        name = start.strftime("%Y%m%dT%H%M%SZ") + ("-full" if i % 7 == 0 else "-inc")
        full = i % 7 == 0
        if full:
            chain = start.strftime("%Y%m%dT%H%M%SZ")
        m = {"format": 1, "type": "full" if full else "incremental", "name": name, "chain": chain,
             "base": None if full else base, "from_lsn": 0 if full else lsn, "to_lsn": lsn + 5000,
             "start": _iso(start), "end": _iso(start + dt.timedelta(seconds=40)), "tool": "mariabackup 10.11.19",
             "payload": {"file": "backup.mbstream.enc", "bytes": 9_000_000, "sha256": "ab" * 32},
             "encryption": {"cipher": "aes-256-cbc", "kdf": "pbkdf2", "iter": 200000},
             "tables": {"appdb.users": {"checksum": 1234567, "rows": 10}}}
        lsn += 5000
        base = name
        sets.append({"name": name, "chain": chain, "path": f"/backups/chains/{chain}/{name}",
                     "mtime": (start + dt.timedelta(seconds=40)).timestamp(), "manifest": m, "manifest_error": "",
                     "files": [{"name": "manifest.json", "bytes": 900, "head": b'{\n "format'.hex()[:32]},
                               {"name": "backup.mbstream.enc", "bytes": 9_000_000, "head": b"Salted__12345678".hex(),
                                "sha256": "ab" * 32},
                               {"name": "mariabackup.log", "bytes": 4000, "head": b"[00] 2026-11-27 ".hex()}]})
    return {"source": "recorded", "observed_at": T.timestamp(),
            "cron": [{"schedule": "0 2 * * *", "user": "mysql", "command": "/usr/local/bin/plancheck-backup auto",
                      "timezone": ""}],
            "cron_source": "backup:/etc/cron.d/plancheck-backup", "daemon_timezone": "Asia/Seoul",
            "settings": {"TOOL": "mariabackup", "INCREMENTAL": "yes", "RETENTION_DAYS": "30", "FULL_EVERY_DAYS": "7",
                         "CIPHER": "aes-256-cbc", "PBKDF2_ITER": "200000", "KEY_FILE": "/run/plancheck/backup.key"},
            "settings_source": "backup:/etc/plancheck/backup.conf", "backups": sets,
            "platform_since": (T - dt.timedelta(days=40)).timestamp(),
            "key_mount": {"key_file": "/run/plancheck/backup.key", "source": "/srv/secrets/backup.key",
                          "target": "/run/plancheck/backup.key", "read_only": True, "in_backup_volume": False},
            "stray_files": []}


def good_drill() -> Facts:
    return {"source": "recorded", "backup": "20261125T170000Z/20261125T170000Z-full",
            "members": ["20261125T170000Z-full", "20261126T170000Z-inc"], "payload_bytes": 18_000_000,
            "rto_s": 21.4, "bytes_per_s": 841121.5, "steps": {"verify": 0.2, "prepare": 9.1},
            "tables": {"appdb.users": {"expected_checksum": 1234567, "restored_checksum": 1234567,
                                       "expected_rows": 10, "restored_rows": 10}},
            "error": "", "cleaned_up": True, "leftovers": []}


def _newest(f: Facts) -> Facts:
    return f["backup"]["backups"][-1]


def _age_newest(f: Facts) -> None:
    m = _newest(f)["manifest"]
    for k in ("start", "end"):
        t = dt.datetime.fromisoformat(m[k].replace("Z", "+00:00")) - dt.timedelta(days=3)
        m[k] = _iso(t)
    _newest(f)["mtime"] -= 3 * DAY


def _drop_day(f: Facts) -> None:
    # the last incremental of an older chain: nothing builds on it, so only the day goes missing
    sets = f["backup"]["backups"]
    victim = next(s for i, s in enumerate(sets[:-1]) if sets[i + 1]["manifest"]["type"] == "full" and i > 10)
    sets.remove(victim)


def _old_chain(f: Facts) -> None:
    old = copy.deepcopy(f["backup"]["backups"][0])
    old["chain"] = old["name"] = "20260901T170000Z"
    old["manifest"]["end"] = "2026-09-01T17:00:40Z"
    old["mtime"] = dt.datetime(2026, 9, 1, 17, 0, 40, tzinfo=dt.timezone.utc).timestamp()
    f["backup"]["backups"].insert(0, old)


def _plain_file(f: Facts) -> None:
    _newest(f)["files"].append({"name": "ibdata1", "bytes": 12582912, "head": "00" * 16})


def _daily_fulls(f: Facts) -> None:
    """The job took a full every day for a week (a lost base, a job stuck in full mode): each of those
    chains is a lone full that lived through the next scheduled run."""
    for bs in f["backup"]["backups"]:
        if bs["manifest"]["type"] == "incremental" and "20261117" <= bs["name"] < "20261124":
            bs["chain"] = bs["manifest"]["chain"] = bs["name"].split("-")[0]
            bs["path"] = f"/backups/chains/{bs['chain']}/{bs['name']}"
            bs["manifest"].update(type="full", base=None, from_lsn=0)


def _set(section: str, key: str, value: Any) -> Callable[[Facts], None]:
    return lambda f: f["backup"][section].__setitem__(key, value)


CASES: dict[str, Callable[[Facts], None]] = {
    "BK-001": lambda f: f["backup"]["cron"][0].update(schedule="0 3 * * *"),
    "BK-002": _set("settings", "TOOL", "mysqldump"),
    "BK-003": _set("settings", "RETENTION_DAYS", "7"),
    "BK-004": _age_newest,
    "BK-005": lambda f: _newest(f)["manifest"].update(from_lsn=1),
    "BK-006": _drop_day,
    "BK-007": _plain_file,
    "BK-008": lambda f: f["backup"].update(stray_files=["/backups/backup.key"]),
    "BK-009": lambda f: _newest(f)["manifest"].pop("tables"),
    "BK-010": lambda f: f["restore_drill"]["tables"]["appdb.users"].update(restored_checksum=99),
    # a payload damaged after it was written: its digest no longer matches the manifest
    "BK-011": lambda f: _newest(f)["files"][1].update(sha256="cd" * 32),
    # 증분 백업 in settings only: every run took a full for a week
    "BK-013": _daily_fulls,
}


def _facts() -> Facts:
    return {"_meta": {"mode": "live"}, "backup": good_backup(), "restore_drill": good_drill()}


def _audit(tmp_path: Path, facts: Facts):  # type: ignore[no-untyped-def]
    return run_audit(tmp_path, "baseline", facts=facts, args=["-k", "test_backup or test_restore_drill",
                                                              "--restore-drill"])


def test_good_backups_pass(tmp_path: Path) -> None:
    res = _audit(tmp_path, _facts())
    assert res.failed == set(), res.items("failed")
    assert set(CASES) <= res.controls("passed")  # BK-012's case is in test_control_cases.py
    drill = next(c for c in res.checks if c["control"] == "BK-010")
    assert "RTO 21.4 s" in drill["found"]


@pytest.mark.parametrize("control", [pytest.param(c, marks=pytest.mark.breaks(c), id=c) for c in sorted(CASES)])
def test_control_fails_on_its_broken_fact(tmp_path: Path, control: str) -> None:
    facts = _facts()
    CASES[control](facts)
    res = _audit(tmp_path, facts)
    assert res.failed == {control}, res.items("failed")
    failed = res.items("failed")
    assert all(c["message"].startswith(control) and c["expected"] and c["found"] for c in failed)


@pytest.mark.parametrize("change,extra", [(_old_chain, "older than the retention"),
                                          (lambda f: f["backup"].update(daemon_timezone="UTC"), "0 2 * * * (UTC)")])
def test_more_failures(tmp_path: Path, change: Callable[[Facts], None], extra: str) -> None:
    facts = _facts()
    change(facts)
    res = _audit(tmp_path, facts)
    assert len(res.failed) == 1 and extra in res.items("failed")[0]["message"]


@pytest.mark.breaks("BK-002")
@pytest.mark.parametrize("tool", ["mariabackup based on MariaDB server 10.6.18-MariaDB", "mariadb-dump 10.11.6", ""])
def test_manifest_names_another_tool(tmp_path: Path, tool: str) -> None:
    """TOOL=mariabackup in the settings, but the backup's own manifest says what actually took it (and
    mariabackup must be the server's version, 10.11 on the baseline)."""
    facts = _facts()
    _newest(facts)["manifest"]["tool"] = tool
    res = _audit(tmp_path, facts)
    assert res.failed == {"BK-002"}, res.items("failed")
    assert "manifest names another tool" in res.items("failed")[0]["message"]


def test_current_chain_of_a_lone_full_is_fine_until_the_next_run(tmp_path: Path) -> None:
    """A new chain's full taken today needs no incremental yet (BK-013 waits for the next scheduled run)."""
    facts = _facts()
    newest = _newest(facts)
    newest["manifest"].update(type="full", base=None, from_lsn=0)
    newest["chain"] = newest["manifest"]["chain"] = newest["name"].split("-")[0]
    res = _audit(tmp_path, facts)
    assert "BK-013" in res.passed and res.failed == set(), res.items("failed")


@pytest.mark.breaks("BK-010")
def test_drill_failure_is_reported(tmp_path: Path) -> None:
    facts = _facts()
    facts["restore_drill"]["error"] = "20261126T170000Z-inc: payload backup.mbstream.enc does not match its manifest"
    res = _audit(tmp_path, facts)
    assert res.failed == {"BK-010"} and "does not match its manifest" in res.items("failed")[0]["message"]


def test_drill_deselected_unless_asked(tmp_path: Path) -> None:
    res = run_audit(tmp_path, "baseline", facts=_facts(), args=["-k", "test_restore_drill"])
    assert res.checks == []


def test_young_platform_needs_no_full_window(tmp_path: Path) -> None:
    facts = _facts()
    facts["backup"]["backups"] = facts["backup"]["backups"][-1:]
    facts["backup"]["backups"][0]["manifest"].update(type="full", base=None, from_lsn=0)
    facts["backup"]["platform_since"] = T.timestamp() - DAY
    res = _audit(tmp_path, facts)
    assert res.failed == set(), res.items("failed")


# --- parsers ---------------------------------------------------------------------------------------
def test_parse_crontab() -> None:
    entries = parse_crontab("SHELL=/bin/bash\nCRON_TZ=Asia/Seoul\n# c\n0 2 * * * mysql /usr/local/bin/plancheck-backup auto"
                            " >>/var/log/x 2>&1\n@daily root /bin/true\n")
    assert [(e.schedule, e.user, e.timezone) for e in entries] == [("0 2 * * *", "mysql", "Asia/Seoul"),
                                                                   ("0 0 * * *", "root", "Asia/Seoul")]


def test_parse_settings() -> None:
    s = parse_settings('# x\nRETENTION_DAYS=30\nexport CIPHER="aes-256-cbc"  # c\nKEY_FILE=${KEY_FILE:-/run/k}\n')
    assert s == {"RETENTION_DAYS": "30", "CIPHER": "aes-256-cbc", "KEY_FILE": "/run/k"}


def _tar(files: dict[str, bytes]) -> io.BytesIO:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for d in ("backups", "backups/chains", "backups/chains/c1", "backups/chains/c1/c1-full"):
            ti = tarfile.TarInfo(d)
            ti.type = tarfile.DIRTYPE
            tar.addfile(ti)
        for name, data in files.items():
            ti = tarfile.TarInfo(name)
            ti.size = len(data)
            tar.addfile(ti, io.BytesIO(data))
    buf.seek(0)
    return buf


def test_scan_archive_finds_plaintext_and_key_copies() -> None:
    key = b"0123456789abcdef" * 4
    import hashlib

    plain = b"x" * (3 << 20) + MBSTREAM_MAGIC[:3]
    tar = _tar({"backups/chains/c1/c1-full/manifest.json": b'{"type": "full"}',
                "backups/chains/c1/c1-full/backup.mbstream.enc": b"Salted__" + b"\x01" * 5000,
                "backups/chains/c1/c1-full/leak.xb": plain + MBSTREAM_MAGIC[3:] + b"rest",
                "backups/old/copy-of-something": key})
    sets, strays = scan_archive(tar, "/backups", hashlib.sha256(key).hexdigest())
    [bs] = sets
    assert bs.manifest == {"type": "full"}
    files = {f.name: f for f in bs.files}
    assert files["backup.mbstream.enc"].head.startswith(b"Salted__".hex())
    assert files["leak.xb"].plaintext_chunks  # found across a 1 MiB read boundary
    assert not files["backup.mbstream.enc"].plaintext_chunks
    assert strays == ["/backups/old/copy-of-something"]
