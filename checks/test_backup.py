"""3.1 MariaDB 설정, 백업: mariabackup daily at 02:00, incremental, kept 30 days; plus what makes a
backup worth having: fresh, an unbroken chain back to a full, the whole window covered, encrypted at
rest with the key kept elsewhere, a manifest per backup. The restore itself is proven by the drill
(test_restore_drill.py)."""
from __future__ import annotations

import datetime as dt
import fnmatch
import re
from zoneinfo import ZoneInfo

from croniter import croniter

from plancheck.controls import control
from plancheck.evaluate import Check
from plancheck.facts.backup import BackupFacts, BackupSet, finished_at, manifest_time
from plancheck.facts.base import FactError
from plancheck.profile.models import Profile
from plancheck.units import format_duration

BK = "3.1 MariaDB 설정 (backup)"
PLAINTEXT_OK = ("manifest.json", "*.log", ".complete")  # a backup's only unencrypted files
MANIFEST_FIELDS = ("type", "from_lsn", "to_lsn", "start", "end", "tables", "payload")
DAY = 86400.0
# a closed chain that lived this long (days) went through a daily scheduled run: a day, less the
# spread of the job's start times
CHAIN_DAY = 20 / 24


def _fires(expr: str, tz: str, start: dt.datetime, days: int = 14) -> set[dt.datetime]:
    """The instants (UTC) a cron expression fires in the next `days`, read in time zone `tz`."""
    it = croniter(expr, start.astimezone(ZoneInfo(tz)))
    out, end = set(), start + dt.timedelta(days=days)
    while True:
        t = it.get_next(dt.datetime)
        if t > end:
            return out
        out.add(t.astimezone(dt.timezone.utc))


def _backups(check: Check, facts: BackupFacts) -> list[BackupSet]:
    sets = check.fact(facts.backups)
    if not sets:
        check.fail(f"no backup found in {facts.source}")
    return sets


def _age(days: float) -> str:
    return format_duration(round(days * 24, 1) / 24) if days < 2 else f"{days:.1f}d"


@control("BK-001", title="Backup runs daily at the planned time in the planned time zone", severity="high",
         section=BK, rationale="The plan: 매일 02:00. A job at another hour runs into the business day or "
         "misses the window the retention and freshness checks assume.",
         remediation="Set the backup crontab entry to the profile's schedule and give the backup container the "
         "profile's time zone (TZ) or a CRON_TZ line.",
         reads=("backup.schedule", "backup.timezone"))
def test_schedule(check: Check, backup_facts: BackupFacts, profile: Profile) -> None:
    b = profile.backup
    jobs = [e for e in backup_facts.cron if "backup" in e.command]
    if not jobs:
        check.fail(f"no backup job in the crontab ({backup_facts.cron_source})")
    daemon_tz = check.fact(backup_facts.daemon_timezone) if any(not e.timezone for e in jobs) else ""
    start = dt.datetime.fromtimestamp(backup_facts.observed_at, dt.timezone.utc)
    found: set[dt.datetime] = set()
    shown = []
    for e in jobs:
        tz = e.timezone or daemon_tz or "UTC"
        found |= _fires(e.schedule, tz, start)
        shown.append(f"{e.schedule} ({tz})")
    expected = _fires(b.schedule, b.timezone, start)
    check.that(found == expected, expected=f"{b.schedule} ({b.timezone})", found=", ".join(shown),
               what=f"backup schedule in {backup_facts.cron_source}")


@control("BK-002", title="Backups are taken with mariabackup, full plus incrementals", severity="high", section=BK,
         rationale="The plan: 도구 mariabackup, 방식 증분 백업 (daily incrementals on a periodic full). The job's "
         "settings say which tool it runs; each backup's own manifest says which tool actually took it (and "
         "mariabackup must be the server's own version to prepare its files).",
         remediation="Set TOOL=mariabackup and INCREMENTAL=yes in the backup job's settings, and install the "
         "mariabackup of the server's version in the backup container.",
         reads=("backup.tool", "backup.incremental", "mariadb.version"))
def test_tool(check: Check, backup_facts: BackupFacts, profile: Profile) -> None:
    s = backup_facts.settings
    check.equal(s.get("TOOL", "unset"), profile.backup.tool, what=f"TOOL ({backup_facts.settings_source})")
    check.equal(s.get("INCREMENTAL", "unset").lower() in ("yes", "1", "true", "on"), profile.backup.incremental,
                what="incremental backups")
    if not check.observed(backup_facts.backups) or not backup_facts.backups:
        return  # static mode: the settings are the whole evidence; no backup at all is BK-004's finding
    want, version = profile.backup.tool, profile.mariadb.version
    wrong = []
    for bs in _backups(check, backup_facts):
        tool = str((bs.manifest or {}).get("tool") or "")
        m = re.search(r"\b(\d+\.\d+)(?:\.\d+)?", tool)
        if want not in tool.lower():
            wrong.append(f"{bs.chain}/{bs.name}: {tool or 'no tool recorded'}")
        elif m is None or not (m.group(1) == version or m.group(1).startswith(version + ".")):
            wrong.append(f"{bs.chain}/{bs.name}: {tool} (not the server's {version})")
    check.none_of(wrong, what="backups whose manifest names another tool or version",
                  expected_text=f"{want} {version}.x in every manifest", among=len(_backups(check, backup_facts)),
                  noun="backups")


@control("BK-003", title="Backup retention enforced by the job equals the plan", severity="high", section=BK,
         rationale="The plan keeps 30 days: less loses restore points, more keeps data longer than planned.",
         remediation="Set RETENTION_DAYS in the backup job's settings to the profile's retention.",
         reads=("backup.retention",))
def test_retention_config(check: Check, backup_facts: BackupFacts, profile: Profile) -> None:
    raw = backup_facts.settings.get("RETENTION_DAYS", "unset")
    found = float(raw) if raw.replace(".", "", 1).isdigit() else raw
    check.equal(found, profile.backup.retention, what=f"RETENTION_DAYS ({backup_facts.settings_source})",
                fmt=lambda v: f"{v:g} days" if isinstance(v, (int, float)) else str(v))


@control("BK-004", title="Newest backup is younger than the maximum age", severity="critical", section=BK,
         rationale="A daily job that silently stopped leaves the platform without a recent restore point.",
         remediation="Find why the last runs failed (backup log, BackupFailed alert) and run the job.",
         reads=("backup.max_age",))
def test_fresh(check: Check, backup_facts: BackupFacts, profile: Profile) -> None:
    newest = max(_backups(check, backup_facts), key=finished_at)
    age = (backup_facts.observed_at - finished_at(newest)) / DAY
    check.at_most(age, profile.backup.max_age, what=f"age of the newest backup {newest.chain}/{newest.name}",
                  fmt=_age)


@control("BK-005", title="Every incremental chains back to a full backup", severity="critical", section=BK,
         rationale="An incremental is only restorable on top of its base: a gap in the LSN chain makes every "
         "later incremental of that chain useless.",
         remediation="Take a new full backup (plancheck-backup full) and find what removed or replaced the base.",
         reads=("backup.incremental",))
def test_chain(check: Check, backup_facts: BackupFacts) -> None:
    breaks = []
    chains: dict[str, list[BackupSet]] = {}
    for bs in _backups(check, backup_facts):
        chains.setdefault(bs.chain, []).append(bs)
    for chain, members in sorted(chains.items()):
        by_name = {bs.name: bs for bs in members}
        fulls = [bs for bs in members if (bs.manifest or {}).get("type") == "full"]
        if len(fulls) != 1:
            breaks.append(f"{chain}: {len(fulls)} full backups (expected exactly one at its start)")
        for bs in members:
            m = bs.manifest or {}
            if m.get("type") != "incremental":
                continue
            base = by_name.get(str(m.get("base")))
            if base is None:
                breaks.append(f"{chain}/{bs.name}: base {m.get('base')!r} is not in the chain")
            elif m.get("from_lsn") != (base.manifest or {}).get("to_lsn"):
                breaks.append(f"{chain}/{bs.name}: from_lsn {m.get('from_lsn')} != to_lsn "
                              f"{(base.manifest or {}).get('to_lsn')} of its base {base.name}")
    check.none_of(breaks, what="chain breaks", expected_text="every incremental's from_lsn = its base's to_lsn")


@control("BK-006", title="Backups kept match the retention window", severity="high", section=BK,
         rationale="Nothing older than the retention may be kept, and on a platform older than the retention "
         "every day of the window must have a backup (30 days of restore points).",
         remediation="Check the job's retention step and the backup log for the missing days.",
         reads=("backup.retention",))
def test_window(check: Check, backup_facts: BackupFacts, profile: Profile) -> None:
    b = profile.backup
    sets = _backups(check, backup_facts)
    now = backup_facts.observed_at
    chains: dict[str, float] = {}
    for bs in sets:
        chains[bs.chain] = max(chains.get(bs.chain, 0.0), finished_at(bs))
    # a chain goes once its NEWEST member leaves the window (its older members are needed until then);
    # the job runs once a day, so allow one day of lag
    too_old = [f"{c} (newest member {(now - t) / DAY:.1f}d old)" for c, t in sorted(chains.items())
               if now - t > (b.retention + 1) * DAY]
    check.none_of(too_old, what=f"chains older than the retention ({format_duration(b.retention)})")
    # the window is clipped to the platform's age (the backup volume's creation): a platform 3 days old
    # owes 2 full days of backups, not 30; an unreadable age is an error, never "not required yet"
    since = check.fact(backup_facts.platform_since)
    tz = ZoneInfo(b.timezone)
    today = dt.datetime.fromtimestamp(now, tz).date()
    first_full_day = dt.datetime.fromtimestamp(since, tz).date() + dt.timedelta(days=1)
    owed = [today - dt.timedelta(days=i) for i in range(1, int(b.retention))
            if today - dt.timedelta(days=i) >= first_full_day]
    have = {dt.datetime.fromtimestamp(finished_at(bs), tz).date() for bs in sets}
    check.none_of([str(d) for d in owed if d not in have],
                  what=f"days without a backup since {first_full_day} (the last {format_duration(b.retention)}, "
                       f"clipped to the platform's age: {(now - since) / DAY:.1f}d)",
                  expected_text=f"a backup on each of the {len(owed)} full days")


@control("BK-007", title="Backups are encrypted at rest (AES-256)", severity="critical", section=BK,
         rationale="4.2 데이터 보안: 저장 데이터 AES-256. A backup holds every table; a plaintext copy on the "
         "backup volume undoes the database's own encryption.",
         remediation="Pipe the mbstream through `openssl enc -aes-256-cbc -pbkdf2` (CIPHER in the job's settings) "
         "and delete unencrypted copies.",
         reads=("backup.encryption",))
def test_encrypted(check: Check, backup_facts: BackupFacts, profile: Profile) -> None:
    want = profile.backup.encryption.lower().replace("-", "")
    cipher = backup_facts.settings.get("CIPHER", "unset")
    check.that(want in cipher.lower().replace("-", ""), expected=f"an {profile.backup.encryption} cipher",
               found=cipher, what=f"CIPHER ({backup_facts.settings_source})")
    if not check.observed(backup_facts.backups):
        return  # static mode: the job's cipher is the desired state's whole evidence
    plain = []
    for bs in _backups(check, backup_facts):
        for f in bs.files:
            where = f"{bs.chain}/{bs.name}/{f.name}"
            if f.plaintext_chunks:
                plain.append(f"{where} (plaintext mbstream chunks)")
            elif not any(fnmatch.fnmatch(f.name, p) for p in PLAINTEXT_OK) and not f.head.startswith(
                    b"Salted__".hex()):
                plain.append(f"{where} (not openssl-encrypted)")
        if not any(f.head.startswith(b"Salted__".hex()) for f in bs.files):
            plain.append(f"{bs.chain}/{bs.name} (no encrypted payload)")
    check.none_of(plain, what="unencrypted backup data")


@control("BK-008", title="The backup key is not stored with the backups", severity="critical", section=BK,
         rationale="A key next to the ciphertext makes the encryption worthless to whoever gets the volume.",
         remediation="Keep the key in the deploy-time secrets, mount it read-only outside the backup volume, "
         "and delete any copy from the volume.",
         reads=("backup.root",))
def test_key_elsewhere(check: Check, backup_facts: BackupFacts, profile: Profile) -> None:
    key = backup_facts.settings.get("KEY_FILE", "")
    check.that(bool(key), expected="a KEY_FILE", found=key or "unset", what=f"KEY_FILE ({backup_facts.settings_source})")
    root = profile.backup.root.rstrip("/")
    km = check.fact(backup_facts.key_mount)
    check.that(bool(km.get("target")) and km.get("read_only") and not km.get("in_backup_volume"),
               expected=f"its own read-only mount, outside {root}", what="key mount",
               found=(f"{km.get('source')} -> {km.get('target')} ({'ro' if km.get('read_only') else 'rw'}"
                      f"{', in the backup volume' if km.get('in_backup_volume') else ''})") if km.get("target")
               else f"{key}: no mount of its own" + (" (inside the backup volume)" if km.get("in_backup_volume") else ""))
    if not check.observed(backup_facts.stray_files):
        return  # static mode: the mount is the desired state's whole evidence
    files = sum(len(bs.files) for bs in check.fact(backup_facts.backups))
    check.none_of(backup_facts.stray_files, what=f"key-like files in {root}", among=files, noun="files")


@control("BK-009", title="Every backup has a complete manifest", severity="high", section=BK,
         rationale="The manifest (type, base, LSN range, start/end, table checksums) is what the chain, window "
         "and restore checks verify against.",
         remediation="Re-run the backup; the job writes manifest.json last, so a missing one marks a failed run.",
         reads=("backup.root",))
def test_manifest(check: Check, backup_facts: BackupFacts) -> None:
    bad = []
    for bs in _backups(check, backup_facts):
        if bs.manifest is None:
            bad.append(f"{bs.chain}/{bs.name}: {bs.manifest_error or 'no manifest.json'}")
            continue
        missing = [k for k in MANIFEST_FIELDS if bs.manifest.get(k) in (None, "", {})]
        if bs.manifest.get("type") == "incremental" and not bs.manifest.get("base"):
            missing.append("base")
        if missing:
            bad.append(f"{bs.chain}/{bs.name}: missing {', '.join(missing)}")
    check.none_of(bad, what="incomplete manifests")


@control("BK-011", title="Every stored backup payload matches the digest its job recorded", severity="critical",
         section=BK, rationale="A payload damaged after it was written (disk, copy, tampering) is only found at "
         "restore time otherwise: every audit reads each payload and compares its SHA-256 and size with the "
         "manifest, without waiting for the opt-in restore drill.",
         remediation="Take a new full backup (plancheck-backup full), keep the damaged one for analysis, and "
         "check the backup volume's storage.",
         reads=("backup.root",))
def test_payload_digest(check: Check, backup_facts: BackupFacts) -> None:
    bad, read, payloads = [], 0, 0
    sets = _backups(check, backup_facts)
    for bs in sets:
        want = (bs.manifest or {}).get("payload") or {}
        name = want.get("file")
        f = next((f for f in bs.files if f.name == name), None) if name else None
        where = f"{bs.chain}/{bs.name}"
        if not name or not want.get("sha256"):
            bad.append(f"{where}: the manifest records no payload digest")
        elif f is None:
            bad.append(f"{where}/{name}: missing")
        elif not f.sha256:
            raise FactError(f"{where}/{name}: the payload was not read, its digest cannot be compared")
        else:
            payloads += 1
            read += f.bytes
            if f.sha256 != want["sha256"] or f.bytes != want.get("bytes", f.bytes):
                bad.append(f"{where}/{name}: sha256 {f.sha256[:12]}.. ({f.bytes} bytes), manifest "
                           f"{str(want['sha256'])[:12]}.. ({want.get('bytes')} bytes)")
    check.none_of(bad, what=f"payloads differing from their manifest ({payloads} payloads, {read} bytes read)",
                  among=len(sets), noun="backups")


@control("BK-012", title="Every line of the backup crontab is well-formed", severity="high", section=BK,
         rationale="cron skips a line it cannot read (six time fields, a bad range): a backup scheduled there never "
         "runs, and BK-001 would judge only the lines that parsed.",
         remediation="Fix the crontab line reported: five time fields (or an @alias), a user, the command.",
         reads=("+wellformed",))
def test_crontab_well_formed(check: Check, backup_facts: BackupFacts) -> None:
    check.none_of(backup_facts.cron_problems, what=f"malformed lines in {backup_facts.cron_source}",
                  expected_text="none", among=len(backup_facts.cron) + len(backup_facts.cron_problems),
                  noun="crontab entries")


@control("BK-013", title="Incremental backups are actually taken between fulls", severity="high", section=BK,
         rationale="The plan: 방식 증분 백업. INCREMENTAL=yes in the settings proves nothing if every run takes a "
         "full (a lost base, a job stuck in full mode): once a chain has lived through a scheduled run it must "
         "hold at least one incremental, and the current chain too once it is older than the maximum age.",
         remediation="Check the backup log for why the job took a full (base missing, no to_lsn) and restore the "
         "chain: the next auto run must be an incremental on the newest member.",
         reads=("backup.incremental", "backup.max_age"))
def test_incrementals_taken(check: Check, backup_facts: BackupFacts, profile: Profile) -> None:
    if not profile.backup.incremental:
        check.not_applicable("the profile plans full backups only (backup.incremental: false)")
    chains: dict[str, list[BackupSet]] = {}
    for bs in _backups(check, backup_facts):
        chains.setdefault(bs.chain, []).append(bs)
    starts = {c: min((manifest_time(b, "start") or finished_at(b)) for b in members) for c, members in chains.items()}
    order = sorted(chains, key=lambda c: starts[c])
    now = backup_facts.observed_at
    lacking = []
    for i, chain in enumerate(order):
        incs = [b for b in chains[chain] if (b.manifest or {}).get("type") == "incremental"]
        if incs:
            continue
        if i + 1 < len(order):  # closed by the next chain's full: lived this long without an incremental
            lived, limit = (starts[order[i + 1]] - starts[chain]) / DAY, CHAIN_DAY
        else:  # the current chain: the next scheduled run is due within the maximum age
            lived, limit = (now - starts[chain]) / DAY, profile.backup.max_age
        if lived >= limit:
            lacking.append(f"{chain} ({'current, ' if i + 1 == len(order) else ''}{lived:.1f}d without an incremental)")
    check.none_of(lacking, what="chains without an incremental after a scheduled run",
                  expected_text="an incremental in every chain that lived through a scheduled run",
                  among=len(order), noun="chains")
