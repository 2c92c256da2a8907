"""Backup facts (3.1 백업): the crontab and the backup job's settings, and (live) every backup kept.

static: the crontab and the job's settings file of the desired state (target.config_files keys
        `backup.crontab`, `backup.config`);
live:   the same two files read from the running backup container, and the backup volume streamed
        through the docker API (get_archive: read-only, no exec): each backup's manifest, its files'
        names, sizes and first bytes, whether a plaintext mbstream chunk header appears anywhere in
        them, and whether a copy of the encryption key lies among them.

Layout the backup job keeps under `backup.root`:
    chains/<chain>/<name>/manifest.json         type, base, LSN range, start/end, table checksums
    chains/<chain>/<name>/backup.mbstream.enc    the mariabackup stream, AES-256 encrypted
"""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import posixpath
import re
import shlex
import tarfile
import time
from typing import Any, Iterator, Optional, Union

from pydantic import BaseModel

from plancheck.facts.base import Context, FactError, Facts, FactSource, NoSource, Unavailable, register

LIVE_ONLY = "no static source: only the running platform has backups"
MBSTREAM_MAGIC = b"XBSTCK01"  # header of every chunk of a plaintext mbstream
OPENSSL_MAGIC = b"Salted__"  # `openssl enc` output with a salt (PBKDF2 key derivation)
KEY_NAMES = ("key", ".pem", "secret", "client.cnf", "password")
SMALL = 64 * 1024


class CronEntry(BaseModel):
    schedule: str  # five fields
    user: str = ""
    command: str
    timezone: str = ""  # CRON_TZ / TZ in effect for the entry ('' = the daemon's local time)


class BackupFile(BaseModel):
    name: str
    bytes: int
    head: str = ""  # first 16 bytes, hex
    plaintext_chunks: bool = False  # an mbstream chunk header was found in it
    key_copy: bool = False  # its content equals the encryption key
    sha256: str = ""  # of the whole file as stored, computed while streaming it ('' = not read)


class BackupSet(BaseModel):
    name: str  # directory name, e.g. 20250101T020000Z-inc
    chain: str
    path: str
    mtime: float
    manifest: Optional[dict[str, Any]] = None
    manifest_error: str = ""
    files: list[BackupFile] = []


class BackupFacts(Facts):
    observed_at: float  # epoch seconds when read (ages are computed against it, also in recordings)
    cron: list[CronEntry]
    cron_source: str = ""
    daemon_timezone: Union[str, Unavailable] = "UTC"  # TZ of the backup container (cron's local time)
    settings: dict[str, str]  # the job's settings (RETENTION_DAYS, CIPHER, KEY_FILE, ...)
    settings_source: str = ""
    backups: Union[list[BackupSet], Unavailable]
    platform_since: Union[float, Unavailable]  # creation time of the backup volume
    key_mount: Union[dict[str, Any], Unavailable]  # {source, target, read_only, in_backup_volume}
    stray_files: Union[list[str], Unavailable] = []  # key-like files anywhere in the backup volume
    # crontab lines cron would not run as written, one line each ("crontab:12: six schedule fields ...")
    cron_problems: list[str] = []


# one field of a cron schedule: `*`, `5`, `*/10`, `1-5`, `1,15`, `mon-fri`, `jan`
_CRON_FIELD = re.compile(r"^(\*|[0-9A-Za-z]{1,3}([-,][0-9A-Za-z]{1,3})*)(/[0-9]+)?$")
_CRON_NAMES = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
               "sun", "mon", "tue", "wed", "thu", "fri", "sat"}


def _looks_like_cron_field(word: str) -> bool:
    if not _CRON_FIELD.match(word):
        return False
    return all(p.isdigit() or p.lower() in _CRON_NAMES or p == "*" for p in re.split(r"[-,/]", word))


def parse_crontab(text: str, origin: str = "crontab", problems: Optional[list[str]] = None) -> list[CronEntry]:
    """System crontab lines (cron.d: five fields, user, command) or user crontab lines.

    A line cron would not run as written (a schedule croniter rejects, an unknown @alias, a sixth
    schedule field such as seconds or a year) is never read as something else: it goes to
    `problems` as "ORIGIN:LINE: what" when a list is given, else it raises FactError."""
    from croniter import croniter

    def problem(n: int, what: str) -> None:
        line = f"{origin}:{n}: {what}"
        if problems is None:
            raise FactError(f"crontab line not understood: {line}")
        problems.append(line)

    tz = ""
    out = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        head = line.split("=", 1)[0].strip()
        if "=" in line and " " not in head and not head[:1].isdigit() and head[:1] not in "*@":
            if head == "CRON_TZ":  # cronie; TZ= only sets the jobs' environment, not the schedule
                tz = line.split("=", 1)[1].strip().strip('"\'')
            continue
        parts = line.split()
        if parts[0].startswith("@"):
            alias = {"@daily": "0 0 * * *", "@midnight": "0 0 * * *", "@hourly": "0 * * * *",
                     "@weekly": "0 0 * * 0", "@monthly": "0 0 1 * *", "@yearly": "0 0 1 1 *",
                     "@annually": "0 0 1 1 *"}.get(parts[0])
            if alias is None:
                if parts[0] != "@reboot":  # @reboot runs at start-up only: no schedule to check
                    problem(n, f"unknown schedule {_quoted(parts[0])}")
                continue
            fields, rest = alias, parts[1:]
        else:
            schedule = " ".join(parts[:5])
            if len(parts) < 6 or not croniter.is_valid(schedule):
                problem(n, f"schedule not understood: {_quoted(schedule)} (expected five fields and a command)")
                continue
            fields, rest = schedule, parts[5:]
            if rest and _looks_like_cron_field(rest[0]):
                problem(n, f"six schedule fields {_quoted(' '.join(parts[:6]))}: cron takes five "
                           "(minute hour day-of-month month day-of-week) and would read the sixth as the user or command")
                continue
        user = ""
        if len(rest) > 1 and not rest[0].startswith(("/", ".")) and "=" not in rest[0] and rest[0].isidentifier():
            user, rest = rest[0], rest[1:]
        out.append(CronEntry(schedule=fields, user=user, command=" ".join(rest), timezone=tz))
    return out


def _quoted(text: str) -> str:
    shown = "".join(c if c.isprintable() else "?" for c in text)
    return repr(shown if len(shown) <= 60 else shown[:57] + "...")


def parse_settings(text: str) -> dict[str, str]:
    """KEY=VALUE lines of a shell settings file (comments, `export`, quotes; `${X:-default}` -> default)."""
    out = {}
    for raw in text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        line = line.removeprefix("export ").strip()
        key, value = line.split("=", 1)
        if not key.isidentifier():
            continue
        try:
            words = shlex.split(value, comments=True)
        except ValueError:
            words = [value]
        v = words[0] if words else ""
        if v.startswith("${") and ":-" in v and v.endswith("}"):
            v = v[v.index(":-") + 2:-1]
        out[key] = v
    return out


# --- live: the backup volume, streamed -----------------------------------------------------------
class _Stream(io.RawIOBase):
    def __init__(self, chunks: Iterator[bytes]):
        self._chunks = chunks
        self._buf = b""

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = next(self._chunks)
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]
        return n


def scan_archive(fileobj: Any, root: str, key_digest: Optional[str]) -> tuple[list[BackupSet], list[str]]:
    """Walk a tar stream of the backup root: manifests, file heads, plaintext chunk headers, key copies."""
    sets: dict[str, BackupSet] = {}
    strays: list[str] = []
    base = posixpath.basename(root.rstrip("/"))
    with tarfile.open(fileobj=fileobj, mode="r|") as tar:
        for m in tar:
            rel = m.name.split("/", 1)[1] if m.name.startswith(base + "/") else m.name
            parts = rel.split("/")
            if m.isdir() and len(parts) == 3 and parts[0] == "chains":
                sets[rel] = BackupSet(name=parts[2], chain=parts[1], path=f"{root.rstrip('/')}/{rel}",
                                      mtime=float(m.mtime))
                continue
            if not m.isfile():
                continue
            f = tar.extractfile(m)
            head, tail, found, size = b"", b"", False, 0
            small = b""
            digest = hashlib.sha256()
            while f is not None:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                digest.update(chunk)
                if len(head) < 16:
                    head += chunk[:16 - len(head)]
                if MBSTREAM_MAGIC in tail + chunk:
                    found = True
                tail = chunk[-(len(MBSTREAM_MAGIC) - 1):]
                if size < SMALL:
                    small += chunk[:SMALL - size]
                size += len(chunk)
            is_key = bool(key_digest) and size <= SMALL and (
                hashlib.sha256(small).hexdigest() == key_digest
                or hashlib.sha256(small.strip()).hexdigest() == key_digest)
            name = parts[-1].lower()
            if is_key or any(k in name for k in KEY_NAMES):
                strays.append(f"{root.rstrip('/')}/{rel}")
            if len(parts) == 4 and parts[0] == "chains":
                key = "/".join(parts[:3])
                bs = sets.setdefault(key, BackupSet(name=parts[2], chain=parts[1],
                                                    path=f"{root.rstrip('/')}/{key}", mtime=float(m.mtime)))
                if parts[3] == "manifest.json":
                    try:
                        bs.manifest = json.loads(small.decode())
                    except (ValueError, UnicodeDecodeError) as e:
                        bs.manifest_error = f"manifest.json is not valid JSON: {str(e)[:100]}"
                bs.files.append(BackupFile(name=parts[3], bytes=size, head=head.hex(),
                                           plaintext_chunks=found, key_copy=is_key, sha256=digest.hexdigest()))
    return sorted(sets.values(), key=lambda s: (s.chain, s.name)), strays


def _mount_of(ins: dict[str, Any], path: str) -> Optional[dict[str, Any]]:
    best = None
    for m in ins.get("Mounts") or []:
        d = m["Destination"].rstrip("/") or "/"
        if path == d or path.startswith(d + "/"):
            if best is None or len(d) > len(best["Destination"]):
                best = m
    return best


@register
class BackupSource(FactSource):
    name = "backup"
    model = BackupFacts

    def static(self, ctx: Context) -> BackupFacts:
        b = ctx.profile.backup
        cron_files = ctx.profile.target.config_files.get(b.crontab)
        if not cron_files:
            raise NoSource(f"backup: the profile's target names no {b.crontab} file")
        cron: list[CronEntry] = []
        settings: dict[str, str] = {}
        problems: list[str] = []
        for f in cron_files:
            cron += parse_crontab(ctx.read_text(f), str(ctx.path(f)), problems)
        for f in ctx.profile.target.config_files.get(b.config, []):
            settings.update(parse_settings(ctx.read_text(f)))
        u = Unavailable(reason=LIVE_ONLY)
        tz, key_mount = _static_compose(ctx, settings.get("KEY_FILE", ""))
        return BackupFacts(source="backup config files", observed_at=time.time(), cron=cron,
                           cron_source=", ".join(cron_files), daemon_timezone=tz, settings=settings,
                           settings_source=", ".join(ctx.profile.target.config_files.get(b.config, [])) or "none",
                           backups=u, platform_since=u, key_mount=key_mount, stray_files=u,
                           cron_problems=problems)

    def live(self, ctx: Context) -> BackupFacts:
        from plancheck.facts.containers import archive_text, docker_client, find_service

        b = ctx.profile.backup
        lf_cron = ctx.profile.target.live_files.get(b.crontab)
        if lf_cron is None:
            raise NoSource(f"backup: the profile's target names no live_files entry for {b.crontab}")
        lf_conf = ctx.profile.target.live_files.get(b.config)
        client = docker_client(ctx)
        try:
            ins = find_service(client, ctx, b.container)
            cid = ins["Id"]
            problems: list[str] = []
            cron = parse_crontab(archive_text(client, cid, lf_cron.path), f"{b.container}:{lf_cron.path}", problems)
            settings = parse_settings(archive_text(client, cid, lf_conf.path)) if lf_conf else {}
            env = dict(e.split("=", 1) for e in ins["Config"].get("Env") or [] if "=" in e)
            settings.update({k: v for k, v in env.items() if k in settings})  # the job: environment wins
            key_file = settings.get("KEY_FILE", "")
            key_digest = None
            key_mount: Union[dict[str, Any], Unavailable] = Unavailable(reason="the job's settings name no KEY_FILE")
            vol = _mount_of(ins, b.root)
            if key_file:
                km = _mount_of(ins, key_file)
                inside = key_file.rstrip("/").startswith(b.root.rstrip("/") + "/")
                key_mount = {"key_file": key_file, "source": (km or {}).get("Source", ""),
                             "target": (km or {}).get("Destination", ""),
                             "read_only": bool(km) and not km.get("RW", True),
                             "in_backup_volume": bool(inside or (km is not None and vol is not None and
                                                                 km.get("Name") and km.get("Name") == vol.get("Name")))}
                try:
                    key_digest = hashlib.sha256(archive_text(client, cid, key_file).encode()).hexdigest()
                except Exception:
                    key_digest = None  # unreadable to the audit: only names are compared
            since: Union[float, Unavailable] = Unavailable(reason=f"{b.root} is not a named volume")
            if vol is not None and vol.get("Type") == "volume" and vol.get("Name"):
                created = client.api.inspect_volume(vol["Name"]).get("CreatedAt", "")
                since = dt.datetime.fromisoformat(created.replace("Z", "+00:00")).timestamp()
            stream, _ = client.api.get_archive(cid, b.root.rstrip("/"), chunk_size=1 << 20)
            sets, strays = scan_archive(io.BufferedReader(_Stream(iter(stream)), 1 << 20), b.root, key_digest)
        except FactError:
            raise
        except Exception as e:
            raise FactError(f"backup: reading {b.container}:{b.root}: {type(e).__name__}: "
                            f"{str(e).splitlines()[0][:200]}") from None
        finally:
            client.close()
        return BackupFacts(source=f"{b.container} container (docker API, read-only)", observed_at=time.time(),
                           cron=cron, cron_source=f"{b.container}:{lf_cron.path}",
                           daemon_timezone=env.get("TZ") or "UTC", settings=settings,
                           settings_source=f"{b.container}:{lf_conf.path}" if lf_conf else "none",
                           backups=sets, platform_since=since, key_mount=key_mount, stray_files=strays,
                           cron_problems=problems)


def _static_compose(ctx: Context, key_file: str) -> tuple[Union[str, Unavailable], Union[dict[str, Any], Unavailable]]:
    """From the compose project: the backup container's TZ (cron schedules in local time) and the
    mount that brings the key in."""
    from plancheck.facts.containers import _volume, compose_config

    try:
        data = compose_config(ctx)
    except FactError as e:
        u = Unavailable(reason=f"cannot read the compose project: {e}")
        return u, u
    svc = data["services"].get(ctx.profile.backup.container) or {}
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(e.split("=", 1) for e in env if "=" in e)
    tz = str(env.get("TZ") or "UTC")
    if not key_file:
        return tz, Unavailable(reason="the job's settings name no KEY_FILE")
    root = ctx.profile.backup.root.rstrip("/")
    mounts = [_volume(v, set((data.get("volumes") or {}).keys())) for v in svc.get("volumes") or []]
    hits = [m for m in mounts if key_file == m.target or key_file.startswith(m.target.rstrip("/") + "/")]
    km = max(hits, key=lambda m: len(m.target)) if hits else None
    backup_vol = next((m.source for m in mounts if m.target.rstrip("/") == root), None)
    return tz, {"key_file": key_file, "source": km.source if km else "", "target": km.target if km else "",
                "read_only": bool(km and km.read_only),
                "in_backup_volume": key_file.startswith(root + "/") or bool(km and km.source == backup_vol)}


# --- helpers the checks share ----------------------------------------------------------------------
def manifest_time(bs: BackupSet, key: str) -> Optional[float]:
    """A manifest timestamp (ISO 8601 or epoch) as epoch seconds."""
    v = (bs.manifest or {}).get(key)
    if v is None:
        return None
    if isinstance(v, (int, float)):
        return float(v)
    try:
        return dt.datetime.fromisoformat(str(v).replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def finished_at(bs: BackupSet) -> float:
    return manifest_time(bs, "end") or bs.mtime
